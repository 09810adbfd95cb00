// A domain's memory: one SharedArrayBuffer holding guest RAM (MFN == PFN) followed by the
// frames the hypervisor owns for it (shared_info, grant-table frames, the read-only
// machine-to-phys table). MFNs are domain-local, so a guest can never name another domain's
// memory; dom0's backends (main thread) and the domain's vCPUs (its worker) share the buffer.

import { DomainControl } from './domain_control.js';

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

/** Grant-table frames a domain may set up (Xen's default max_grant_frames is 64; Linux asks for what it needs). */
export const GNTTAB_MAX_FRAMES = 32;

export interface DomainMemoryLayout {
  /** Guest RAM frames: PFN 0 .. nrPages-1. */
  readonly nrPages: number;
  readonly sharedInfoMfn: number;
  readonly grantMfnBase: number;
  readonly grantFrames: number;
  readonly m2pMfnBase: number;
  readonly m2pFrames: number;
  /** Total frames in the buffer. */
  readonly totalFrames: number;
}

export function domainMemoryLayout(nrPages: number): DomainMemoryLayout {
  const sharedInfoMfn = nrPages;
  const grantMfnBase = sharedInfoMfn + 1;
  const m2pMfnBase = grantMfnBase + GNTTAB_MAX_FRAMES;
  // One 8-byte entry per machine frame the guest can see: RAM and the hypervisor frames.
  const m2pFrames = Math.ceil(((m2pMfnBase + 64) * 8) / PAGE_SIZE);
  return {
    nrPages,
    sharedInfoMfn,
    grantMfnBase,
    grantFrames: GNTTAB_MAX_FRAMES,
    m2pMfnBase,
    m2pFrames,
    totalFrames: m2pMfnBase + m2pFrames,
  };
}

export class DomainMemory {
  readonly ram: Uint8Array;
  readonly i32: Int32Array;
  readonly layout: DomainMemoryLayout;
  /** The words the domain's threads share besides memory (doorbells, grant-table size, stats). */
  readonly ctl: DomainControl;

  /** Allocate for nrPages of RAM, or attach to existing buffers (the other thread's view). */
  constructor(
    nrPages: number,
    readonly sab: SharedArrayBuffer = new SharedArrayBuffer(domainMemoryLayout(nrPages).totalFrames * PAGE_SIZE),
    ctl?: SharedArrayBuffer,
  ) {
    this.layout = domainMemoryLayout(nrPages);
    this.ctl = new DomainControl(ctl);
    if (sab.byteLength !== this.layout.totalFrames * PAGE_SIZE) {
      throw new Error(`domain memory buffer is ${sab.byteLength} bytes, layout needs ${this.layout.totalFrames * PAGE_SIZE}`);
    }
    this.ram = new Uint8Array(sab);
    this.i32 = new Int32Array(sab);
  }

  get nrPages(): number {
    return this.layout.nrPages;
  }

  /** Byte offset of a machine frame, or -1 if the frame is outside this domain. */
  frameOffset(mfn: number): number {
    return Number.isInteger(mfn) && mfn >= 0 && mfn < this.layout.totalFrames ? mfn * PAGE_SIZE : -1;
  }

  /** Whether mfn is guest RAM (the guest may map it writable). */
  isRam(mfn: number): boolean {
    return Number.isInteger(mfn) && mfn >= 0 && mfn < this.layout.nrPages;
  }

  frame(mfn: number): Uint8Array {
    const o = this.frameOffset(mfn);
    if (o < 0) throw new RangeError(`machine frame ${mfn} is outside the domain`);
    return this.ram.subarray(o, o + PAGE_SIZE);
  }
}
