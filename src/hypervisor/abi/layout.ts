// Guest-visible structures are described once, as field tables with C's natural alignment;
// offsets everywhere else come from these tables, never from literals scattered in code.

import { join64 } from '../../cpu/u64.js';

export type Prim = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64';

const PRIM_SIZE: Record<Prim, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

export interface Field {
  readonly offset: number;
  readonly type: Prim | Layout;
  /** Element count for arrays (1 for scalars). */
  readonly count: number;
  /** Size of one element. */
  readonly elemSize: number;
}

export interface Layout<N extends string = string> {
  readonly name: string;
  readonly size: number;
  readonly align: number;
  readonly fields: { readonly [K in N]: Field };
}

type Spec = readonly [string, Prim | Layout] | readonly [string, Prim | Layout, number];

/** Lay out fields in order with natural alignment, as a C compiler does for x86-64. */
export function struct<const S extends readonly Spec[]>(name: string, specs: S): Layout<S[number][0]> {
  let off = 0;
  let align = 1;
  const fields: Record<string, Field> = {};
  for (const spec of specs) {
    const [fname, type] = spec;
    const count = spec.length === 3 ? spec[2] : 1;
    const elemSize = typeof type === 'string' ? PRIM_SIZE[type] : type.size;
    const a = typeof type === 'string' ? PRIM_SIZE[type] : type.align;
    off = Math.ceil(off / a) * a;
    fields[fname] = { offset: off, type, count, elemSize };
    off += elemSize * count;
    align = Math.max(align, a);
  }
  const size = Math.ceil(off / align) * align;
  return { name, size, align, fields: fields as Layout<S[number][0]>['fields'] };
}

/** A union: every member at offset 0, size of the largest. */
export function union<const S extends readonly Spec[]>(name: string, specs: S): Layout<S[number][0]> {
  let size = 0;
  let align = 1;
  const fields: Record<string, Field> = {};
  for (const spec of specs) {
    const [fname, type] = spec;
    const count = spec.length === 3 ? spec[2] : 1;
    const elemSize = typeof type === 'string' ? PRIM_SIZE[type] : type.size;
    const a = typeof type === 'string' ? PRIM_SIZE[type] : type.align;
    fields[fname] = { offset: 0, type, count, elemSize };
    size = Math.max(size, elemSize * count);
    align = Math.max(align, a);
  }
  return { name, size: Math.ceil(size / align) * align, align, fields: fields as Layout<S[number][0]>['fields'] };
}

/** Offset of a (possibly nested, dotted) field: off(start_info, 'console.domU.mfn'). */
export function off(l: Layout, path: string): number {
  let o = 0;
  let cur: Layout = l;
  const parts = path.split('.');
  for (let k = 0; k < parts.length; k++) {
    const f = cur.fields[parts[k]];
    if (f === undefined) throw new Error(`${cur.name} has no field ${parts[k]}`);
    o += f.offset;
    if (k < parts.length - 1) {
      if (typeof f.type === 'string') throw new Error(`${cur.name}.${parts[k]} is not a struct`);
      cur = f.type;
    }
  }
  return o;
}

/**
 * Typed access to one structure instance in a byte buffer. 64-bit fields are read as numbers
 * (exact below 2^53: frame numbers, sizes, canonical addresses as signed values) or as bigint.
 */
export class View<N extends string = string> {
  private readonly dv: DataView;
  constructor(
    readonly layout: Layout<N>,
    bytes: Uint8Array,
    readonly base: number,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private field(name: N, index: number): { o: number; t: Prim } {
    const f = this.layout.fields[name];
    if (typeof f.type !== 'string') throw new Error(`${this.layout.name}.${name} is a struct`);
    if (index < 0 || index >= f.count) throw new RangeError(`${this.layout.name}.${name}[${index}]`);
    return { o: this.base + f.offset + index * f.elemSize, t: f.type };
  }

  get(name: N, index = 0): number {
    const { o, t } = this.field(name, index);
    const dv = this.dv;
    switch (t) {
      case 'u8': return dv.getUint8(o);
      case 'i8': return dv.getInt8(o);
      case 'u16': return dv.getUint16(o, true);
      case 'i16': return dv.getInt16(o, true);
      case 'u32': return dv.getUint32(o, true);
      case 'i32': return dv.getInt32(o, true);
      case 'u64': return join64(dv.getUint32(o + 4, true), dv.getUint32(o, true));
      case 'i64': return join64(dv.getInt32(o + 4, true), dv.getUint32(o, true));
    }
  }

  getBig(name: N, index = 0): bigint {
    const { o, t } = this.field(name, index);
    return t === 'i64' ? this.dv.getBigInt64(o, true) : this.dv.getBigUint64(o, true);
  }

  set(name: N, v: number | bigint, index = 0): void {
    const { o, t } = this.field(name, index);
    const dv = this.dv;
    if (t === 'u64' || t === 'i64') {
      dv.setBigUint64(o, BigInt.asUintN(64, BigInt(v)), true);
      return;
    }
    const n = Number(v);
    switch (t) {
      case 'u8': case 'i8': dv.setUint8(o, n & 0xff); break;
      case 'u16': case 'i16': dv.setUint16(o, n & 0xffff, true); break;
      default: dv.setUint32(o, n >>> 0, true); break;
    }
  }

  /** Byte offset (in the buffer) of a field, for Atomics or bulk copies. */
  addr(name: N, index = 0): number {
    const f = this.layout.fields[name];
    return this.base + f.offset + index * f.elemSize;
  }

  /** A nested structure field as its own view. */
  sub<M extends string>(name: N, index = 0): View<M> {
    const f = this.layout.fields[name];
    if (typeof f.type === 'string') throw new Error(`${this.layout.name}.${name} is not a struct`);
    return new View(f.type as Layout<M>, new Uint8Array(this.dv.buffer, this.dv.byteOffset, this.dv.byteLength), this.base + f.offset + index * f.elemSize);
  }
}
