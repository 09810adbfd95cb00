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

import type { DomainConfig, DomainInfo, FrontendDevice, HostInfo } from '../model/index.js';
import type { DiskSpec } from '../../devices/block/disk-spec.js';
import type { VifSpec } from '../../devices/net/vif-spec.js';
import type { DomainEnd } from '../toolstack/types.js';

export const PROTOCOL_VERSION = 1;

/** A request's arguments and its result. */
interface Op<A, R> {
  readonly args: A;
  readonly result: R;
}

type NoArgs = Record<never, never>;
type Started = { domid: number; name: string };
type Dom = { dom: string };

/**
 * Every request xend answers, with what it takes and gives: the one table xm (and xl) call
 * through and xend serves, so a wrong op or argument is a compile error on either side (as
 * xenstored's wire_funcs[] keeps one row per message type).
 */
export interface XendOps {
  ping: Op<NoArgs, { pid: number; version: number }>;
  stop: Op<NoArgs, null>;
  list: Op<{ doms?: readonly string[] }, DomainInfo[]>;
  domain: Op<Dom, DomainInfo>;
  info: Op<NoArgs, HostInfo>;
  /** With console set the connection becomes the console stream after the answer. */
  create: Op<{ config: DomainConfig; paused?: boolean; console?: boolean }, Started>;
  new: Op<{ config: DomainConfig }, { name: string; uuid: string | null }>;
  start: Op<Dom & { paused?: boolean }, Started>;
  delete: Op<Dom, null>;
  destroy: Op<Dom, null>;
  /** One domain, or every guest with `all`; answers whom it asked. */
  shutdown: Op<{ dom?: string; all?: boolean; kind: string }, Started[]>;
  wait: Op<{ domid: number }, DomainEnd>;
  waitReboot: Op<{ domid: number; name: string; timeoutMs?: number }, { rebooted: boolean; domid?: number }>;
  pause: Op<Dom, null>;
  unpause: Op<Dom, null>;
  rename: Op<Dom & { name: string }, null>;
  sysrq: Op<Dom & { key: string }, null>;
  memSet: Op<Dom & { mib: number }, null>;
  memMax: Op<Dom & { mib: number }, null>;
  vcpuSet: Op<Dom & { n: number }, null>;
  /** The connection becomes the console stream after the answer. */
  console: Op<Dom & { replay?: string }, Started>;
  dmesg: Op<{ clear?: boolean }, string>;
  log: Op<NoArgs, string>;
  blockList: Op<Dom, FrontendDevice[]>;
  blockAttach: Op<Dom & { spec: DiskSpec }, null>;
  blockDetach: Op<Dom & { dev: string; force?: boolean }, null>;
  networkList: Op<Dom, FrontendDevice[]>;
  networkAttach: Op<Dom & { spec: VifSpec }, null>;
  networkDetach: Op<Dom & { devid: number; force?: boolean }, null>;
}

export type OpName = keyof XendOps;
/** The ops whose answer turns the connection into a console stream. */
export type StreamOp = 'create' | 'console';
export type ArgsOf<K extends OpName> = XendOps[K]['args'];
export type ResultOf<K extends OpName> = XendOps[K]['result'];
/** The argument list of a call: the args object may be left out when every argument is optional. */
export type CallArgs<K extends OpName> = NoArgs extends ArgsOf<K> ? [args?: ArgsOf<K>] : [args: ArgsOf<K>];

/** How an argument is checked on the wire (a trailing '?' makes it optional). */
type Kind<T> = T extends boolean ? 'bool' : T extends number ? 'int' : T extends string ? 'string'
  : T extends readonly string[] ? 'strings' : T extends DomainConfig ? 'config' : 'object';
type ArgSpec<A> = { readonly [P in keyof A]-?: undefined extends A[P] ? `${Kind<Exclude<A[P], undefined>>}?` : Kind<A[P]> };

/** Each op's arguments as xend checks them before its handler runs; the types above hold it to them. */
export const ARG_SPECS: { readonly [K in OpName]: ArgSpec<ArgsOf<K>> } = {
  ping: {},
  stop: {},
  list: { doms: 'strings?' },
  domain: { dom: 'string' },
  info: {},
  create: { config: 'config', paused: 'bool?', console: 'bool?' },
  new: { config: 'config' },
  start: { dom: 'string', paused: 'bool?' },
  delete: { dom: 'string' },
  destroy: { dom: 'string' },
  shutdown: { dom: 'string?', all: 'bool?', kind: 'string' },
  wait: { domid: 'int' },
  waitReboot: { domid: 'int', name: 'string', timeoutMs: 'int?' },
  pause: { dom: 'string' },
  unpause: { dom: 'string' },
  rename: { dom: 'string', name: 'string' },
  sysrq: { dom: 'string', key: 'string' },
  memSet: { dom: 'string', mib: 'int' },
  memMax: { dom: 'string', mib: 'int' },
  vcpuSet: { dom: 'string', n: 'int' },
  console: { dom: 'string', replay: 'string?' },
  dmesg: { clear: 'bool?' },
  log: {},
  blockList: { dom: 'string' },
  blockAttach: { dom: 'string', spec: 'object' },
  blockDetach: { dom: 'string', dev: 'string', force: 'bool?' },
  networkList: { dom: 'string' },
  networkAttach: { dom: 'string', spec: 'object' },
  networkDetach: { dom: 'string', devid: 'int', force: 'bool?' },
};

export function isOpName(op: string): op is OpName {
  return Object.hasOwn(ARG_SPECS, op);
}

/** A request argument of the wrong kind: xend answers it as a failed request. */
export class ArgumentError extends Error {}

/** Check `args` against op's spec; returns them typed. Unknown arguments are refused. */
export function checkArgs<K extends OpName>(op: K, args: Record<string, unknown>): ArgsOf<K> {
  const spec = ARG_SPECS[op] as Record<string, string>;
  for (const key of Object.keys(args)) {
    if (!Object.hasOwn(spec, key)) throw new ArgumentError(`request '${op}' takes no argument '${key}'`);
  }
  for (const [key, want] of Object.entries(spec)) {
    const v = args[key];
    const optional = want.endsWith('?');
    if (v === undefined) {
      if (optional) continue;
      throw new ArgumentError(`request argument '${key}' is missing`);
    }
    checkKind(key, optional ? want.slice(0, -1) : want, v);
  }
  return args as ArgsOf<K>;
}

function checkKind(key: string, kind: string, v: unknown): void {
  switch (kind) {
    case 'string':
      if (typeof v !== 'string') throw new ArgumentError(`request argument '${key}' must be a string`);
      return;
    case 'int':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new ArgumentError(`request argument '${key}' must be an integer`);
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw new ArgumentError(`request argument '${key}' must be true or false`);
      return;
    case 'strings':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ArgumentError(`request argument '${key}' must be a list of strings`);
      return;
    case 'config':
      checkConfig(v);
      return;
    case 'object':
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ArgumentError(`request argument '${key}' must be an object`);
      return;
    default:
      throw new ArgumentError(`request argument '${key}' has an unknown kind '${kind}'`);
  }
}

/** A DomainConfig from the wire: xm checked it; this only makes sure it is one. */
function checkConfig(c: unknown): void {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new ArgumentError("request argument 'config' must be a domain config");
  const o = c as Record<string, unknown>;
  for (const k of ['name', 'kernel', 'cmdline', 'extra', 'file']) {
    if (typeof o[k] !== 'string') throw new ArgumentError(`domain config: '${k}' must be a string`);
  }
  for (const k of ['memory', 'maxmem', 'vcpus', 'maxvcpus']) {
    if (typeof o[k] !== 'number') throw new ArgumentError(`domain config: '${k}' must be a number`);
  }
  if (!Array.isArray(o.disk) || !Array.isArray(o.vif) || !Array.isArray(o.cpus)) {
    throw new ArgumentError("domain config: 'disk', 'vif' and 'cpus' must be lists");
  }
  if (typeof o.vcpuAvail !== 'bigint') throw new ArgumentError("domain config: 'vcpuAvail' must be a bigint");
}

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
