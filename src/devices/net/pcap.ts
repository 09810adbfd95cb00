// Classic libpcap capture files (https://www.tcpdump.org/manpages/pcap-savefile.5.html):
// a 24-byte global header, then per packet a 16-byte record header and the bytes. Written in
// the host's byte order with the microsecond magic, as libpcap itself writes them, so
// `tcpdump -r FILE` reads them. Each record is written synchronously: the file is complete
// whenever no write is in progress, and a capture survives the process dying.

import { closeSync, openSync, writeSync } from 'node:fs';

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** LINKTYPE_ETHERNET (DLT_EN10MB). */
export const LINKTYPE_ETHERNET = 1;
/** tcpdump's default snapshot length. */
export const PCAP_DEFAULT_SNAPLEN = 262144;

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class PcapWriter {
  private fd: number | null;
  packets = 0;

  /** Creates (truncates) `path` and writes the global header. Throws the fs error if it cannot. */
  constructor(
    readonly path: string,
    readonly snaplen = PCAP_DEFAULT_SNAPLEN,
    readonly linktype = LINKTYPE_ETHERNET,
  ) {
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
      throw new RangeError(`pcap snaplen ${snaplen} is out of range`);
    }
    this.fd = openSync(path, 'w', 0o644);
    const h = new DataView(new ArrayBuffer(24));
    h.setUint32(0, PCAP_MAGIC_USEC, LE);
    h.setUint16(4, PCAP_VERSION_MAJOR, LE);
    h.setUint16(6, PCAP_VERSION_MINOR, LE);
    h.setInt32(8, 0, LE); // thiszone: timestamps are UTC
    h.setUint32(12, 0, LE); // sigfigs
    h.setUint32(16, snaplen, LE);
    h.setUint32(20, linktype, LE);
    this.writeAll(new Uint8Array(h.buffer));
  }

  get closed(): boolean {
    return this.fd === null;
  }

  /** Appends one packet captured at `timeMs` (milliseconds since the epoch, fractional allowed). */
  write(frame: Uint8Array, timeMs: number): void {
    if (this.fd === null) throw new Error(`pcap capture ${this.path} is closed`);
    const incl = Math.min(frame.length, this.snaplen);
    const usecTotal = Math.max(0, Math.round(timeMs * 1000));
    const rec = new Uint8Array(16 + incl);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, Math.floor(usecTotal / 1e6), LE);
    dv.setUint32(4, usecTotal % 1e6, LE);
    dv.setUint32(8, incl, LE);
    dv.setUint32(12, frame.length, LE);
    rec.set(frame.subarray(0, incl), 16);
    this.writeAll(rec);
    this.packets++;
  }

  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    closeSync(fd);
  }

  private writeAll(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) off += writeSync(this.fd!, b, off, b.length - off);
  }
}
