// A real disk image with a hold-back valve: requests touching chosen sectors wait for a gate to
// open before they reach the image, so a test can make I/O complete in the order it wants and
// see what the backend does meanwhile. Every call is logged in order.

import type { DiskImage, SectorNumber } from '../../../src/devices/block/image/index.js';

export class GatedImage implements DiskImage {
  readonly events: string[] = [];
  private readonly gates = new Map<number, { open: Promise<void>; release: () => void }>();

  constructor(readonly inner: DiskImage) {}

  get path(): string { return this.inner.path; }
  get format(): DiskImage['format'] { return this.inner.format; }
  get sectorCount(): number { return this.inner.sectorCount; }
  get readOnly(): boolean { return this.inner.readOnly; }

  /** Requests starting at `sector` wait until release(sector). */
  hold(sector: number): void {
    let release!: () => void;
    const open = new Promise<void>((r) => (release = r));
    this.gates.set(sector, { open, release });
  }

  release(sector: number): void {
    this.gates.get(sector)?.release();
    this.gates.delete(sector);
  }

  private async gate(sector: SectorNumber): Promise<void> {
    const g = this.gates.get(Number(sector));
    if (g) await g.open;
  }

  async read(sector: SectorNumber, buf: Uint8Array): Promise<void> {
    this.events.push(`read ${sector}+${buf.length / 512}`);
    await this.gate(sector);
    await this.inner.read(sector, buf);
    this.events.push(`read ${sector} done`);
  }

  async write(sector: SectorNumber, buf: Uint8Array): Promise<void> {
    this.events.push(`write ${sector}+${buf.length / 512}`);
    await this.gate(sector);
    await this.inner.write(sector, buf);
    this.events.push(`write ${sector} done`);
  }

  async flush(): Promise<void> {
    this.events.push('flush');
    await this.inner.flush();
    this.events.push('flush done');
  }

  async discard(sector: SectorNumber, count: SectorNumber): Promise<void> {
    this.events.push(`discard ${sector}+${count}`);
    await this.inner.discard(sector, count);
    this.events.push(`discard ${sector} done`);
  }

  async close(): Promise<void> {
    this.events.push('close');
    await this.inner.close();
  }
}
