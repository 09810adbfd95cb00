// Grant tables, version 1 (xen/common/grant_table.c; public/grant_table.h). The table lives in
// hypervisor frames of the granting domain's memory; the guest writes entries, and dom0's
// backends (main thread) access granted frames directly after checking the entry, setting
// GTF_reading/GTF_writing while in use exactly as Xen does for a mapping, so the frontend's
// gnttab_end_foreign_access() sees the frame busy.

import { GTF, grant_entry_v1 } from './abi/xen.js';
import type { DomainMemory } from './domain_memory.js';
import { PAGE_SIZE } from './domain_memory.js';

/** GNTST_* status codes (public/grant_table.h). */
export const GNTST = {
  okay: 0,
  general_error: -1,
  bad_domain: -2,
  bad_gntref: -3,
  bad_handle: -4,
  bad_virt_addr: -5,
  bad_dev_addr: -6,
  no_device_space: -7,
  permission_denied: -8,
  bad_page: -9,
  bad_copy_arg: -10,
  address_too_big: -11,
  eagain: -12,
} as const;

export class GrantError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'GrantError';
  }
}

const ENTRY = grant_entry_v1.size;
const FLAGS = grant_entry_v1.fields.flags.offset;
const DOMID = grant_entry_v1.fields.domid.offset;
const FRAME = grant_entry_v1.fields.frame.offset;

export class GrantTable {
  /** Frames the guest has set up (GNTTABOP_setup_table); entries beyond are invalid refs. Shared
   * with dom0's thread through the control block. */
  get nrFrames(): number {
    return this.mem.ctl.grantFrames;
  }
  set nrFrames(n: number) {
    this.mem.ctl.grantFrames = n;
  }
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  /** Active uses per reference (Xen's active-entry pin counts): flags clear on the last release. */
  private readonly pins = new Map<number, { reads: number; writes: number }>();

  constructor(readonly mem: DomainMemory) {
    this.u16 = new Uint16Array(mem.sab);
    this.u32 = new Uint32Array(mem.sab);
  }

  get nrEntries(): number {
    return (this.nrFrames * PAGE_SIZE) / ENTRY;
  }

  private entryOffset(gref: number): number {
    if (!Number.isInteger(gref) || gref < 0 || gref >= this.nrEntries) {
      throw new GrantError(GNTST.bad_gntref, `bad grant reference ${gref}`);
    }
    return this.mem.layout.grantMfnBase * PAGE_SIZE + gref * ENTRY;
  }

  /**
   * Begin access by `domid` to the frame behind `gref`; returns the frame's byte offset in the
   * granting domain's RAM. Mirrors Xen's _set_status_v1: the flags word is updated with a
   * compare-and-swap so a concurrent revoke by the guest is never missed.
   */
  acquire(gref: number, domid: number, write: boolean): number {
    const o = this.entryOffset(gref);
    const fi = (o + FLAGS) >> 1;
    for (let tries = 0; tries < 16; tries++) {
      const flags = Atomics.load(this.u16, fi);
      const entDomid = Atomics.load(this.u16, (o + DOMID) >> 1);
      if ((flags & GTF.type_mask) !== GTF.permit_access || entDomid !== domid) {
        throw new GrantError(GNTST.permission_denied, `grant ${gref} does not permit access by domain ${domid}`);
      }
      if (flags & GTF.sub_page) throw new GrantError(GNTST.general_error, `sub-page grant ${gref} is v2-only`);
      if (write && flags & GTF.readonly) {
        throw new GrantError(GNTST.permission_denied, `grant ${gref} is read-only`);
      }
      const busy = write ? GTF.writing | GTF.reading : GTF.reading;
      if (Atomics.compareExchange(this.u16, fi, flags, flags | busy) !== flags) continue;
      const frame = Atomics.load(this.u32, (o + FRAME) >> 2);
      if (!this.mem.isRam(frame)) {
        this.unpin(gref, fi, write, false);
        throw new GrantError(GNTST.bad_page, `grant ${gref} names frame ${frame} outside the domain's RAM`);
      }
      const p = this.pins.get(gref) ?? { reads: 0, writes: 0 };
      if (write) p.writes++;
      else p.reads++;
      this.pins.set(gref, p);
      return frame * PAGE_SIZE;
    }
    throw new GrantError(GNTST.eagain, `grant ${gref} flags kept changing`);
  }

  /** End access begun by acquire(). */
  release(gref: number, write: boolean): void {
    const o = this.entryOffset(gref);
    this.unpin(gref, (o + FLAGS) >> 1, write, true);
  }

  private unpin(gref: number, fi: number, write: boolean, counted: boolean): void {
    const p = this.pins.get(gref) ?? { reads: 0, writes: 0 };
    if (counted) {
      if (write) p.writes = Math.max(0, p.writes - 1);
      else p.reads = Math.max(0, p.reads - 1);
    }
    let bits = 0;
    if (p.writes === 0) bits |= GTF.writing;
    if (p.writes === 0 && p.reads === 0) bits |= GTF.reading;
    if (p.reads === 0 && p.writes === 0) this.pins.delete(gref);
    else this.pins.set(gref, p);
    this.clear(fi, bits);
  }

  private clear(fi: number, bits: number): void {
    for (;;) {
      const f = Atomics.load(this.u16, fi);
      if (Atomics.compareExchange(this.u16, fi, f, f & ~bits) === f) return;
    }
  }
}
