// x86-64 page-table entry bits (Intel SDM vol. 3, 4.5), low and high 32-bit halves.

export const PTE_P = 1 << 0;
export const PTE_RW = 1 << 1;
export const PTE_US = 1 << 2;
export const PTE_PWT = 1 << 3;
export const PTE_PCD = 1 << 4;
export const PTE_A = 1 << 5;
export const PTE_D = 1 << 6;
/** PS at L2/L3 (large page); PAT at L1. */
export const PTE_PS = 1 << 7;
export const PTE_G = 1 << 8;
/** NX is bit 63: bit 31 of the high half. */
export const PTE_NX_HI = 1 << 31;
/** Physical-address bits 32..51 of the high half. */
export const PTE_ADDR_HI = 0xfffff;

/** Frame number held in an entry (bits 12..51). */
export function pteFrame(lo: number, hi: number): number {
  return (hi & PTE_ADDR_HI) * 1048576 + (lo >>> 12);
}

/** 48-bit unsigned form of a canonical linear address held as a signed double. */
export function linear48(a: number): number {
  return a < 0 ? a + 2 ** 48 : a;
}

/** Table indices (9 bits each) of a linear address at levels 4..1. */
export function pageIndex(u48: number, level: number): number {
  return Math.floor(u48 / 2 ** (12 + 9 * (level - 1))) % 512;
}
