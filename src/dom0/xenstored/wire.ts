// The xenstore wire protocol: message types, error names, the 16-byte header and payload
// helpers. Names and numbers follow xen/include/public/io/xs_wire.h (the copy Debian's
// libxen-dev installs as /usr/include/xen/io/xs_wire.h, Xen 4.17).

export enum XsType {
  CONTROL = 0,
  DIRECTORY = 1,
  READ = 2,
  GET_PERMS = 3,
  WATCH = 4,
  UNWATCH = 5,
  TRANSACTION_START = 6,
  TRANSACTION_END = 7,
  INTRODUCE = 8,
  RELEASE = 9,
  GET_DOMAIN_PATH = 10,
  WRITE = 11,
  MKDIR = 12,
  RM = 13,
  SET_PERMS = 14,
  WATCH_EVENT = 15,
  ERROR = 16,
  IS_DOMAIN_INTRODUCED = 17,
  RESUME = 18,
  SET_TARGET = 19,
  // 20 was XS_RESTRICT, removed from the protocol.
  RESET_WATCHES = 21,
  DIRECTORY_PART = 22,
}

/** XS_TYPE_COUNT of the 4.17 header: anything at or above is unknown to this daemon. */
export const XS_TYPE_COUNT = 23;

export function xsTypeName(type: number): string {
  const name = (XsType as unknown as Record<number, string | undefined>)[type];
  return name ?? `**UNKNOWN(${type})**`;
}

/**
 * The error names xenstored may send, in xs_wire.h's xsd_errors order. The wire carries the
 * name, never the number.
 */
export const XSD_ERRORS = [
  'EINVAL', 'EACCES', 'EEXIST', 'EISDIR', 'ENOENT', 'ENOMEM', 'ENOSPC', 'EIO',
  'ENOTEMPTY', 'ENOSYS', 'EROFS', 'EBUSY', 'EAGAIN', 'EISCONN', 'E2BIG', 'EPERM',
] as const;
export type XsErrno = (typeof XSD_ERRORS)[number];

export function isXsErrno(name: string): name is XsErrno {
  return (XSD_ERRORS as readonly string[]).includes(name);
}

/** A request failed with a xenstore error; `errno` is the name that goes on the wire. */
export class XsError extends Error {
  constructor(readonly errno: XsErrno, detail?: string) {
    super(detail ? `${errno}: ${detail}` : errno);
    this.name = 'XsError';
  }
}

export const XSD_SOCKMSG_SIZE = 16;
export const XENSTORE_PAYLOAD_MAX = 4096;
export const XENSTORE_ABS_PATH_MAX = 3072;
export const XENSTORE_REL_PATH_MAX = 2048;

// struct xenstore_domain_interface, laid on the guest's store page.
export const XENSTORE_RING_SIZE = 1024;
export const XS_RING_REQ = 0;
export const XS_RING_RSP = 1024;
export const XS_RING_REQ_CONS = 2048;
export const XS_RING_REQ_PROD = 2052;
export const XS_RING_RSP_CONS = 2056;
export const XS_RING_RSP_PROD = 2060;
export const XS_RING_SERVER_FEATURES = 2064;
export const XS_RING_CONNECTION = 2068;
export const XS_RING_ERROR = 2072;
/** Bytes of the page the interface occupies. */
export const XS_RING_INTERFACE_SIZE = 2076;

export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
export const XENSTORE_SERVER_FEATURE_ERROR = 2;
/** WATCH takes an optional depth (docs/misc/xenstore-ring.txt, bit 2). */
export const XENSTORE_SERVER_FEATURE_WATCHDEPTH = 4;

export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;

export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1;
export const XENSTORE_ERROR_RINGIDX = 2;
export const XENSTORE_ERROR_PROTO = 3;

/** DOMID_SELF from xen.h: IS_DOMAIN_INTRODUCED answers T for it. */
export const DOMID_SELF = 0x7ff0;
/** DOMID_FIRST_RESERVED from xen.h: real domain ids are below it. */
export const DOMID_FIRST_RESERVED = 0x7ff0;

export interface XsMessage {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
}

export function encodeMessage(type: number, reqId: number, txId: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(XSD_SOCKMSG_SIZE + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type >>> 0, true);
  dv.setUint32(4, reqId >>> 0, true);
  dv.setUint32(8, txId >>> 0, true);
  dv.setUint32(12, payload.length, true);
  out.set(payload, XSD_SOCKMSG_SIZE);
  return out;
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder('latin1');

/** Paths, tokens and perm strings are bytes on the wire; latin1 maps them 1:1 to JS strings. */
export function bytesToString(b: Uint8Array): string {
  return latin1.decode(b);
}

export function stringToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) {
      // Only the in-process API can hand us such a string; UTF-8 is what a C client would send.
      return encoder.encode(s);
    }
    out[i] = c;
  }
  return out;
}

/** Strings each followed by a nul, the payload form of most requests and replies. */
export function joinStrings(parts: readonly string[]): Uint8Array {
  const bytes = parts.map(stringToBytes);
  const total = bytes.reduce((n, b) => n + b.length + 1, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const b of bytes) {
    out.set(b, off);
    off += b.length + 1;
  }
  return out;
}

/**
 * Splits at nuls like xenstored's get_strings(): only nul-terminated strings count, bytes after
 * the last nul are ignored.
 */
export function splitStrings(payload: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === 0) {
      out.push(bytesToString(payload.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/** onearg(): exactly one nul, at the end; otherwise the request is malformed. */
export function oneArg(payload: Uint8Array): string | null {
  if (payload.length === 0) return null;
  const nul = payload.indexOf(0);
  if (nul !== payload.length - 1) return null;
  return bytesToString(payload.subarray(0, nul));
}

export function countNuls(payload: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < payload.length; i++) if (payload[i] === 0) n++;
  return n;
}

/**
 * Incremental reader of a byte stream of xsd_sockmsg frames. Returns the header as soon as
 * it is complete so a transport can reject an oversized length before buffering the body,
 * as xenstored's handle_input() does.
 */
export class MessageReader {
  private header = new Uint8Array(XSD_SOCKMSG_SIZE);
  private headerUsed = 0;
  private body: Uint8Array | null = null;
  private bodyUsed = 0;
  private type = 0;
  private reqId = 0;
  private txId = 0;

  /** How many more bytes the current frame needs. */
  wanted(): number {
    if (this.body === null) return XSD_SOCKMSG_SIZE - this.headerUsed;
    return this.body.length - this.bodyUsed;
  }

  reset(): void {
    this.headerUsed = 0;
    this.body = null;
    this.bodyUsed = 0;
  }

  /**
   * Consumes up to wanted() bytes from `chunk`. Returns the number consumed and, when a
   * frame completed, the message; `tooLong` reports a header whose len exceeds
   * XENSTORE_PAYLOAD_MAX (the caller must drop the connection).
   */
  feed(chunk: Uint8Array): { used: number; message?: XsMessage; tooLong?: number } {
    if (this.body === null) {
      const n = Math.min(chunk.length, XSD_SOCKMSG_SIZE - this.headerUsed);
      this.header.set(chunk.subarray(0, n), this.headerUsed);
      this.headerUsed += n;
      if (this.headerUsed < XSD_SOCKMSG_SIZE) return { used: n };
      const dv = new DataView(this.header.buffer);
      this.type = dv.getUint32(0, true);
      this.reqId = dv.getUint32(4, true);
      this.txId = dv.getUint32(8, true);
      const len = dv.getUint32(12, true);
      if (len > XENSTORE_PAYLOAD_MAX) return { used: n, tooLong: len };
      this.body = new Uint8Array(len);
      this.bodyUsed = 0;
      if (len === 0) return { used: n, message: this.take() };
      return { used: n };
    }
    const n = Math.min(chunk.length, this.body.length - this.bodyUsed);
    this.body.set(chunk.subarray(0, n), this.bodyUsed);
    this.bodyUsed += n;
    if (this.bodyUsed < this.body.length) return { used: n };
    return { used: n, message: this.take() };
  }

  private take(): XsMessage {
    const msg: XsMessage = { type: this.type, reqId: this.reqId, txId: this.txId, payload: this.body ?? new Uint8Array(0) };
    this.reset();
    return msg;
  }
}
