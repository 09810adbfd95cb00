// The PV start-of-day layout, as libxenguest builds it for a 64-bit guest
// (tools/libs/guest/xg_dom_core.c xc_dom_build_image, xg_dom_x86.c alloc_magic_pages_pv,
// alloc_pgtables_pv/count_pgtables, setup_pgtables_pv, alloc_p2m_list_x86_64,
// start_info_x86_64, vcpu_x86_64): from VIRT_BASE upward the kernel, the initrd, the p2m
// list (unless INIT_P2M places it elsewhere), start_info, xenstore and console pages, the
// bootstrap page tables, the boot stack, then mapped slack to a 4 MiB boundary with at least
// 512 KiB of padding. With INIT_P2M the p2m list and its own page tables come after that,
// mapped at the address the note gives.

import { start_info } from '../abi/xen.js';
import { View } from '../abi/layout.js';
import type { DomainMemory } from '../domain_memory.js';
import { PAGE_SIZE } from '../domain_memory.js';
import type { KernelImage } from './kernel-image.js';
import { KernelImageError } from './errors.js';

const PAGE = 4096n;
const MASK64 = (1n << 64n) - 1n;
const VADDR_MASK = (1n << 48n) - 1n;
const PTE_P = 1n, PTE_RW = 2n, PTE_US = 4n, PTE_A = 0x20n, PTE_D = 0x40n;
/** lvl_prot of alloc_pgtables_x86_64: L1 entries P|RW|A, upper levels P|RW|A|D|US. */
const PROT_L1 = PTE_P | PTE_RW | PTE_A;
const PROT_UPPER = PTE_P | PTE_RW | PTE_A | PTE_D | PTE_US;

/** SIF_* flags (public/xen.h). */
export const SIF_MOD_START_PFN = 1 << 3;

export interface StartOfDayInput {
  kernel: KernelImage;
  ramdisk?: Uint8Array;
  cmdline: string;
  storeEvtchn: number;
  consoleEvtchn: number;
}

export interface StartOfDay {
  /** Registers of vCPU 0 at entry (addresses as bigint, 64-bit exact). */
  rip: bigint;
  rsp: bigint;
  rsi: bigint;
  /** MFN of the L4 table (cr3), pinned by the builder. */
  l4Mfn: number;
  /** All bootstrap page-table frames (L4 first), for the hypervisor's type tracking. */
  pageTableMfns: number[];
  startInfoPfn: number;
  storeMfn: number;
  consoleMfn: number;
  /** Virtual address of the p2m list. */
  p2mVaddr: bigint;
  /** Frames that hold the kernel image, for diagnostics. */
  kernelPfns: [number, number];
}

interface Mapping {
  from: bigint; // first byte (48-bit masked)
  to: bigint; // last byte (inclusive)
  pfn: number; // first PFN mapped
  /** Per level (index 0 = L1 .. 3 = L4): the address range covered and the first table PFN. */
  lvls: { from: bigint; to: bigint; pfn: number; count: number }[];
  tables: number;
}

class Allocator {
  virtEnd: bigint;
  pfnEnd = 0;
  constructor(
    readonly virtBase: bigint,
    readonly totalPages: number,
  ) {
    this.virtEnd = virtBase;
  }
  /** xc_dom_alloc_segment: `start` may only move forward. */
  segment(what: string, start: bigint | undefined, size: bigint): { vstart: bigint; pfn: number; pages: number } {
    const vstart = start ?? this.virtEnd;
    if (vstart < this.virtEnd) throw new Error(`segment ${what} overlaps the previous one`);
    const pages = Number((size + PAGE - 1n) / PAGE);
    const pfn = Number((vstart - this.virtBase) / PAGE);
    if (pfn + pages > this.totalPages) {
      throw new RangeError(`not enough memory for ${what}: needs PFN ${pfn + pages}, domain has ${this.totalPages}`);
    }
    this.virtEnd = vstart + BigInt(pages) * PAGE;
    this.pfnEnd = pfn + pages;
    return { vstart, pfn, pages };
  }
  page(what: string): number {
    return this.segment(what, undefined, PAGE).pfn;
  }
}

/** count_pgtables: tables needed per level for [from, to], sharing with earlier mappings. */
function countTables(maps: Mapping[], from: bigint, to: bigint, pfn: number, firstTablePfn: number): Mapping {
  const m: Mapping = { from: from & VADDR_MASK, to: to & VADDR_MASK, pfn, lvls: [], tables: 0 };
  const lv: Mapping['lvls'] = [];
  for (let l = 3; l >= 0; l--) {
    const entry = { from: 0n, to: 0n, pfn: firstTablePfn + m.tables, count: 0 };
    lv[l] = entry;
    if (l === 3) {
      if (maps.length === 0) {
        entry.to = VADDR_MASK;
        entry.count = 1;
        m.tables++;
      }
      continue;
    }
    const bits = 12n + BigInt(l + 1) * 9n;
    const mask = (1n << bits) - 1n;
    entry.from = m.from & ~mask;
    entry.to = m.to | mask;
    for (const other of maps) {
      const o = other.lvls[l];
      if (o.from === o.to) continue;
      if (entry.from >= o.from && entry.to <= o.to) {
        entry.from = 0n;
        entry.to = 0n;
        break;
      }
      if (entry.from >= o.from && entry.from <= o.to) entry.from = o.to + 1n;
      if (entry.to >= o.from && entry.to <= o.to) entry.to = o.from - 1n;
    }
    if (entry.from < entry.to) entry.count = Number((entry.to - entry.from) >> bits) + 1;
    m.tables += entry.count;
  }
  m.lvls = lv;
  return m;
}

/** Lay out and write the start-of-day state into `mem`. Throws KernelImageError when it cannot fit. */
export function buildStartOfDay(mem: DomainMemory, input: StartOfDayInput): StartOfDay {
  try {
    return build(mem, input);
  } catch (e) {
    if (e instanceof RangeError) {
      throw new KernelImageError(input.kernel.name, `memory too small for kernel + ramdisk: ${e.message}`);
    }
    throw e;
  }
}

function build(mem: DomainMemory, input: StartOfDayInput): StartOfDay {
  const k = input.kernel;
  const nrPages = mem.nrPages;
  const virtBase = k.virtBase;
  const alloc = new Allocator(virtBase, nrPages);
  const ram = mem.ram;
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const va2pfn = (va: bigint) => Number((va - virtBase) / PAGE);
  const writeAt = (va: bigint, bytes: Uint8Array) => ram.set(bytes, Number(va - virtBase));

  // Kernel.
  const kseg = alloc.segment('kernel', k.virtKernelStart, k.virtKernelEnd - k.virtKernelStart);
  for (const s of k.segments) writeAt(s.guestVaddr, s.fileBytes); // memory is zero-filled: BSS needs nothing

  // Initrd, mapped (Linux 6.1 also accepts it unmapped via MOD_START_PFN; keep it mapped as xl does
  // unless the kernel asks otherwise).
  let modStart = 0n, modLen = 0n, flags = 0;
  if (input.ramdisk && !k.unmappedInitrd) {
    const seg = alloc.segment('ramdisk', undefined, BigInt(input.ramdisk.length));
    writeAt(seg.vstart, input.ramdisk);
    modStart = seg.vstart;
    modLen = BigInt(input.ramdisk.length);
  }

  // p2m list inside the initial mapping unless INIT_P2M names a place below VIRT_BASE.
  const p2mBytes = BigInt(Math.ceil((nrPages * 8) / PAGE_SIZE) * PAGE_SIZE);
  const p2mOutside = k.p2mBase !== undefined && k.p2mBase < virtBase && k.p2mBase % PAGE === 0n;
  let p2mSeg: { vstart: bigint; pfn: number; pages: number } | undefined;
  if (!p2mOutside) p2mSeg = alloc.segment('phys2mach', undefined, p2mBytes);

  const startInfoPfn = alloc.page('start info');
  const storePfn = alloc.page('xenstore');
  const consolePfn = alloc.page('console');

  // Bootstrap page tables: size them for [virt_base, 4 MiB-aligned end incl. padding].
  const maps: Mapping[] = [];
  const extra = 1 + (512 * 1024) / PAGE_SIZE; // boot stack + 512 KiB padding
  let pages = extra;
  let tryEnd: bigint;
  let map0: Mapping;
  for (;;) {
    tryEnd = (alloc.virtEnd + BigInt(pages) * PAGE) | ((1n << 22n) - 1n);
    map0 = countTables(maps, virtBase, tryEnd, 0, alloc.pfnEnd);
    pages = map0.tables + extra;
    if (alloc.virtEnd + BigInt(pages) * PAGE <= tryEnd + 1n) break;
  }
  maps.push(map0);
  const virtPgtabEnd = tryEnd + 1n;
  const ptSeg = alloc.segment('page tables', undefined, BigInt(map0.tables) * PAGE);
  const bootstackPfn = alloc.page('boot stack');
  // xc_dom_alloc_pad: everything the initial tables map must exist.
  if (va2pfn(virtPgtabEnd) > nrPages) {
    throw new RangeError(`initial mapping up to PFN ${va2pfn(virtPgtabEnd)} exceeds ${nrPages} pages`);
  }
  alloc.virtEnd = virtPgtabEnd;
  alloc.pfnEnd = va2pfn(virtPgtabEnd);

  // An initrd the kernel takes by PFN (MOD_START_PFN note, as Linux has) goes after the
  // initial mapping, unmapped; mod_len is then the page-rounded size (xc_dom_build_image).
  if (input.ramdisk && k.unmappedInitrd) {
    const seg = alloc.segment('ramdisk', undefined, BigInt(input.ramdisk.length));
    ram.set(input.ramdisk, seg.pfn * PAGE_SIZE);
    flags |= SIF_MOD_START_PFN;
    modStart = BigInt(seg.pfn);
    modLen = BigInt(seg.pages * PAGE_SIZE);
  }

  // INIT_P2M: the list plus its own page tables after everything else.
  let p2mVaddr: bigint;
  let p2mFirstPfn = 0, p2mFrames = 0;
  if (p2mOutside) {
    const from = k.p2mBase!;
    const m = countTables(maps, from, from + p2mBytes - 1n, alloc.pfnEnd, alloc.pfnEnd + Number(p2mBytes / PAGE));
    maps.push(m);
    const seg = alloc.segment('phys2mach', undefined, p2mBytes + BigInt(m.tables) * PAGE);
    p2mVaddr = from;
    p2mFirstPfn = seg.pfn;
    p2mFrames = seg.pages;
    p2mSeg = { vstart: from, pfn: seg.pfn, pages: seg.pages };
  } else {
    p2mVaddr = p2mSeg!.vstart;
  }

  // Fill the p2m: MFN == PFN for every page.
  const p2mOff = p2mSeg!.pfn * PAGE_SIZE;
  for (let pfn = 0; pfn < nrPages; pfn++) {
    dv.setUint32(p2mOff + pfn * 8, pfn, true);
    dv.setUint32(p2mOff + pfn * 8 + 4, 0, true);
  }

  // setup_pgtables_pv: entries for each level of each mapping; L1 entries that map page-table
  // frames are read-only (get_pg_prot).
  const ptPfns: number[] = [];
  for (const m of maps) for (let l = 3; l >= 0; l--) for (let t = 0; t < m.lvls[l].count; t++) ptPfns.push(m.lvls[l].pfn + t);
  const isPt = new Set(ptPfns);
  for (let l = 3; l >= 0; l--) {
    for (let i1 = 0; i1 < maps.length; i1++) {
      const m1 = maps[i1];
      const tbl = m1.lvls[l];
      if (tbl.count === 0) continue;
      const from = tbl.from, to = tbl.to;
      const shift = 12n + BigInt(l) * 9n;
      for (const m2 of maps) {
        const lvl = l > 0 ? m2.lvls[l - 1] : { from: m2.from, to: m2.to, pfn: m2.pfn, count: 1 };
        if (l > 0 && lvl.count === 0) continue;
        if (lvl.from >= to || lvl.to <= from) continue;
        const lo = lvl.from > from ? lvl.from : from;
        const hi = lvl.to < to ? lvl.to : to;
        const pS = Number((lo - from) >> shift);
        const pE = Number((hi - from) >> shift);
        let pfn = Number((lo - lvl.from) >> shift) + lvl.pfn;
        for (let p = pS; p <= pE; p++, pfn++) {
          // Tables of one level are consecutive frames: entry p lives in table p / 512.
          const tablePfn = tbl.pfn + Math.floor(p / 512);
          const eo = tablePfn * PAGE_SIZE + (p % 512) * 8;
          let prot = l > 0 ? PROT_UPPER : PROT_L1;
          if (l === 0 && isPt.has(pfn)) prot &= ~PTE_RW;
          const e = (BigInt(pfn) << 12n) | prot;
          dv.setBigUint64(eo, e & MASK64, true);
        }
      }
    }
  }

  // start_info.
  const si = new View(start_info, ram, startInfoPfn * PAGE_SIZE);
  const magic = new TextEncoder().encode(k.guestType);
  ram.set(magic.subarray(0, 31), si.addr('magic'));
  si.set('nr_pages', nrPages);
  si.set('shared_info', mem.layout.sharedInfoMfn * PAGE_SIZE);
  si.set('flags', flags);
  si.set('store_mfn', storePfn);
  si.set('store_evtchn', input.storeEvtchn);
  const cons = si.sub<'domU' | 'dom0'>('console').sub<'mfn' | 'evtchn'>('domU');
  cons.set('mfn', consolePfn);
  cons.set('evtchn', input.consoleEvtchn);
  si.set('pt_base', ptSeg.vstart);
  si.set('nr_pt_frames', map0.tables);
  si.set('mfn_list', p2mVaddr);
  si.set('mod_start', modStart);
  si.set('mod_len', modLen);
  if (p2mOutside) {
    si.set('first_p2m_pfn', p2mFirstPfn);
    si.set('nr_p2m_frames', p2mFrames);
  }
  const cmd = new TextEncoder().encode(input.cmdline).subarray(0, 1023);
  ram.set(cmd, si.addr('cmd_line'));

  // Hypercall page (older kernels): 32-byte stubs `mov $nr,%eax; syscall; ret`, iret's
  // `push %rax... ` variant (xen/arch/x86/x86_64/hypercall? pv/hypercall.c hypercall_page_initialise_ring3_kernel).
  if (k.hypercallPage !== undefined) writeHypercallPage(ram, Number(k.hypercallPage - virtBase));

  return {
    rip: k.virtEntry,
    rsp: virtBase + BigInt(bootstackPfn + 1) * PAGE,
    rsi: virtBase + BigInt(startInfoPfn) * PAGE,
    l4Mfn: ptSeg.pfn,
    pageTableMfns: ptPfns,
    startInfoPfn,
    storeMfn: storePfn,
    consoleMfn: consolePfn,
    p2mVaddr,
    kernelPfns: [kseg.pfn, kseg.pfn + kseg.pages],
  };
}

/**
 * Xen's ring-3-kernel hypercall page (xen/arch/x86/pv/hypercall.c,
 * pv_ring3_init_hypercall_page): for each hypercall nr at nr*32:
 *   51 41 53 b8 <nr:4> 0f 05 41 5b 59 c3   push %rcx; push %r11; mov $nr,%eax; syscall; pop %r11; pop %rcx; ret
 * and for iret (23): 51 41 53 50 b8 17 00 00 00 0f 05   push %rcx; push %r11; push %rax; mov $23,%eax; syscall
 */
function writeHypercallPage(ram: Uint8Array, off: number): void {
  for (let nr = 0; nr < 128; nr++) {
    const p = off + nr * 32;
    const stub = nr === 23
      ? [0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05]
      : [0x51, 0x41, 0x53, 0xb8, nr, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3];
    ram.set(stub, p);
  }
}
