// xend's control protocol, spoken over STATE_DIR/xend.sock (the job xend's XML-RPC server on
// /var/run/xend/xmlrpc.sock did for xm in Xen 4.4).
//
// Each request is one line of JSON, {"op": NAME, "args": {...}}, answered by one line:
// {"ok": true, "result": ...} or {"ok": false, "error": {"message", "exitCode"}}. A connection
// may carry any number of request/answer pairs, one at a time. Two ops turn the connection
// into a console stream once their answer line is written: 'console' and 'create' with
// console set. From then on it carries the guest console's raw bytes both ways until either
// side closes it.
//
// JSON has no 64-bit integers; bigints (ELF notes, vcpu_avail) travel as {"$bigint": "123"}.

export const PROTOCOL_VERSION = 1;

/** A longest request line; a config with every key fits many times over. */
export const MAX_LINE = 4 * 1024 * 1024;

export interface WireError {
  readonly message: string;
  /** xm's exit status: 3 for an unknown domain (XendClient.ERROR_INVALID_DOMAIN), else 1. */
  readonly exitCode: number;
}

export type Response = { ok: true; result: unknown } | { ok: false; error: WireError };

export interface Request {
  readonly op: string;
  readonly args: Record<string, unknown>;
}

function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? { $bigint: value.toString() } : value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$bigint' && typeof o.$bigint === 'string' && /^-?\d+$/.test(o.$bigint)) {
      return BigInt(o.$bigint);
    }
  }
  return value;
}

export function encodeLine(x: unknown): string {
  return `${JSON.stringify(x, replacer)}\n`;
}

export function decodeLine(line: string): unknown {
  return JSON.parse(line, reviver);
}

/** A request line from the wire, checked for shape. */
export function parseRequest(line: string): Request {
  let v: unknown;
  try {
    v = decodeLine(line);
  } catch (e) {
    throw new Error(`request is not JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('request must be a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.op !== 'string' || o.op === '') throw new Error('request has no "op" string');
  const args = o.args ?? {};
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new Error('request "args" must be an object');
  return { op: o.op, args: args as Record<string, unknown> };
}

export function parseResponse(line: string): Response {
  const v = decodeLine(line);
  if (v === null || typeof v !== 'object') throw new Error('xend answered something that is not a JSON object');
  const o = v as Record<string, unknown>;
  if (o.ok === true) return { ok: true, result: o.result };
  if (o.ok === false && o.error !== null && typeof o.error === 'object') {
    const e = o.error as Record<string, unknown>;
    return {
      ok: false,
      error: { message: String(e.message ?? 'unknown error'), exitCode: typeof e.exitCode === 'number' ? e.exitCode : 1 },
    };
  }
  throw new Error('xend answered a line without "ok"');
}

/**
 * Splits a byte stream into lines, one at a time, so that whatever follows a line that starts
 * a console stream stays raw (it may arrive in the same chunk).
 */
export class LineSplitter {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.buf.length > MAX_LINE && this.buf.indexOf(0x0a) < 0) {
      throw new Error(`line longer than ${MAX_LINE} bytes`);
    }
  }

  /** The next complete line without its '\n', or null. */
  next(): string | null {
    const nl = this.buf.indexOf(0x0a);
    if (nl < 0) return null;
    const line = this.buf.subarray(0, nl).toString('utf8');
    this.buf = this.buf.subarray(nl + 1);
    return line;
  }

  /** The bytes not yet taken as lines; empties the splitter. */
  rest(): Buffer {
    const r = this.buf;
    this.buf = Buffer.alloc(0);
    return r;
  }
}
