// The dom0 end of a PV console ring (public/io/console.h xencons_interface), minimal: drain
// guest output, feed queued input. Indices are read with Atomics and never trusted.
import { xencons_interface } from '../hypervisor/abi/xen.js';

const F = xencons_interface.fields;
const IN_SIZE = 1024;
const OUT_SIZE = 2048;

export class ConsoleRing {
  private readonly u32: Uint32Array;
  private pending: Uint8Array[] = [];
  broken = false;

  constructor(
    private readonly page: Uint8Array,
    private readonly notify: () => void,
  ) {
    this.u32 = new Uint32Array(page.buffer, page.byteOffset, 1024);
  }

  private idx(field: 'in_cons' | 'in_prod' | 'out_cons' | 'out_prod'): number {
    return Atomics.load(this.u32, F[field].offset >> 2);
  }

  drain(sink: (b: Uint8Array) => void): void {
    if (this.broken) return;
    const cons = this.idx('out_cons');
    const prod = this.idx('out_prod');
    const n = (prod - cons) >>> 0;
    if (n === 0) return;
    if (n > OUT_SIZE) {
      this.broken = true;
      return;
    }
    const out = new Uint8Array(n);
    for (let k = 0; k < n; k++) out[k] = this.page[F.out.offset + ((cons + k) % OUT_SIZE)];
    Atomics.store(this.u32, F.out_cons.offset >> 2, (cons + n) >>> 0);
    sink(out);
    this.notify();
  }

  write(b: Uint8Array): void {
    this.pending.push(b);
    this.flushInput();
  }

  flushInput(): void {
    if (this.broken || this.pending.length === 0) return;
    const cons = this.idx('in_cons');
    let prod = this.idx('in_prod');
    if (((prod - cons) >>> 0) > IN_SIZE) {
      this.broken = true;
      return;
    }
    let moved = false;
    while (this.pending.length && ((prod - cons) >>> 0) < IN_SIZE) {
      const b = this.pending[0];
      let k = 0;
      while (k < b.length && ((prod - cons) >>> 0) < IN_SIZE) {
        this.page[F.in.offset + (prod % IN_SIZE)] = b[k++];
        prod = (prod + 1) >>> 0;
      }
      moved = true;
      if (k === b.length) this.pending.shift();
      else this.pending[0] = b.subarray(k);
    }
    if (moved) {
      Atomics.store(this.u32, F.in_prod.offset >> 2, prod);
      this.notify();
    }
  }
}
