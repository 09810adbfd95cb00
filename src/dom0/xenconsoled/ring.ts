// The shared console page, struct xencons_interface (xen/include/public/io/console.h), as
// dom0 sees it. The guest's vCPU worker writes out[] and out_prod, and reads in[] and moves
// in_cons, concurrently with us; every index is read once per step with Atomics and
// checked before it is used to address the page. A pair more than a ring apart can only
// come from a broken or hostile guest: RingError, and the console stops using the page.
// Reference: tools/console/daemon/io.c (buffer_append, ring_free_bytes, handle_tty_read).

import { off } from '../../hypervisor/abi/layout.js';
import { xencons_interface } from '../../hypervisor/abi/xen.js';

export const XENCONS_IN_SIZE = xencons_interface.fields.in.count;
export const XENCONS_OUT_SIZE = xencons_interface.fields.out.count;

const IN_OFF = off(xencons_interface, 'in');
const OUT_OFF = off(xencons_interface, 'out');
const IDX_BASE = off(xencons_interface, 'in_cons');
// Int32Array slots counted from in_cons; the header lays the four u32 indices out contiguously.
const IN_CONS = (off(xencons_interface, 'in_cons') - IDX_BASE) / 4;
const IN_PROD = (off(xencons_interface, 'in_prod') - IDX_BASE) / 4;
const OUT_CONS = (off(xencons_interface, 'out_cons') - IDX_BASE) / 4;
const OUT_PROD = (off(xencons_interface, 'out_prod') - IDX_BASE) / 4;

/** The guest left indices no correct frontend can produce. */
export class RingError extends Error {
  override readonly name = 'RingError';
}

export class ConsoleRing {
  private readonly idx: Int32Array;
  private readonly inRing: Uint8Array;
  private readonly outRing: Uint8Array;

  /** `page` is the console frame inside the domain's memory buffer. */
  constructor(readonly page: Uint8Array) {
    if (!(page instanceof Uint8Array)) throw new TypeError('xenconsoled: the console page must be a Uint8Array view of the guest frame');
    if (page.byteLength < xencons_interface.size) {
      throw new RangeError(`xenconsoled: the console page view is ${page.byteLength} bytes, struct xencons_interface needs ${xencons_interface.size}`);
    }
    if ((page.byteOffset + IDX_BASE) % 4 !== 0) {
      throw new RangeError(`xenconsoled: the console page view starts at byte ${page.byteOffset}, its indices must be 4-byte aligned`);
    }
    this.idx = new Int32Array(page.buffer, page.byteOffset + IDX_BASE, 4);
    this.inRing = page.subarray(IN_OFF, IN_OFF + XENCONS_IN_SIZE);
    this.outRing = page.subarray(OUT_OFF, OUT_OFF + XENCONS_OUT_SIZE);
  }

  /** Bytes the guest has produced and we have not consumed; throws RingError if the indices are impossible. */
  outputPending(): number {
    const cons = Atomics.load(this.idx, OUT_CONS) >>> 0;
    const prod = Atomics.load(this.idx, OUT_PROD) >>> 0;
    const size = (prod - cons) >>> 0;
    if (size > XENCONS_OUT_SIZE) {
      throw new RingError(`out_prod ${prod} - out_cons ${cons} = ${size} exceeds the ${XENCONS_OUT_SIZE}-byte output ring`);
    }
    return size;
  }

  /**
   * Copies out everything the guest has produced and releases it (out_cons = out_prod, as
   * io.c buffer_append does); an empty array when there is nothing.
   */
  readOutput(): Uint8Array {
    // Read both indices once: out_prod may move on under us, and only the value we checked
    // may bound the copy.
    const cons = Atomics.load(this.idx, OUT_CONS) >>> 0;
    const prod = Atomics.load(this.idx, OUT_PROD) >>> 0;
    const size = (prod - cons) >>> 0;
    if (size === 0) return new Uint8Array(0);
    if (size > XENCONS_OUT_SIZE) {
      throw new RingError(`out_prod ${prod} - out_cons ${cons} = ${size} exceeds the ${XENCONS_OUT_SIZE}-byte output ring`);
    }
    const out = new Uint8Array(size);
    const start = cons % XENCONS_OUT_SIZE;
    const first = Math.min(size, XENCONS_OUT_SIZE - start);
    out.set(this.outRing.subarray(start, start + first), 0);
    if (first < size) out.set(this.outRing.subarray(0, size - first), first);
    Atomics.store(this.idx, OUT_CONS, prod | 0);
    return out;
  }

  /** Room in in[] for input right now; throws RingError if the indices are impossible. */
  inputFree(): number {
    const cons = Atomics.load(this.idx, IN_CONS) >>> 0;
    const prod = Atomics.load(this.idx, IN_PROD) >>> 0;
    const used = (prod - cons) >>> 0;
    if (used > XENCONS_IN_SIZE) {
      throw new RingError(`in_prod ${prod} - in_cons ${cons} = ${used} exceeds the ${XENCONS_IN_SIZE}-byte input ring`);
    }
    return XENCONS_IN_SIZE - used;
  }

  /** Copies as much of `bytes` into in[] as fits, then publishes in_prod; returns how many went in. */
  writeInput(bytes: Uint8Array): number {
    const cons = Atomics.load(this.idx, IN_CONS) >>> 0;
    const prod = Atomics.load(this.idx, IN_PROD) >>> 0;
    const used = (prod - cons) >>> 0;
    if (used > XENCONS_IN_SIZE) {
      throw new RingError(`in_prod ${prod} - in_cons ${cons} = ${used} exceeds the ${XENCONS_IN_SIZE}-byte input ring`);
    }
    const n = Math.min(bytes.length, XENCONS_IN_SIZE - used);
    if (n === 0) return 0;
    const start = prod % XENCONS_IN_SIZE;
    const first = Math.min(n, XENCONS_IN_SIZE - start);
    this.inRing.set(bytes.subarray(0, first), start);
    if (first < n) this.inRing.set(bytes.subarray(first, n), 0);
    // Data before the index: Atomics.store is sequentially consistent, so the guest that
    // sees the new in_prod sees the bytes (io.c: xen_wmb() before intf->in_prod = prod).
    Atomics.store(this.idx, IN_PROD, (prod + n) | 0);
    return n;
  }
}
