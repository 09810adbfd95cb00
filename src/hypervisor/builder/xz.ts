/**
 * .xz container decoding for kernel payloads.
 *
 * Linux compresses an x86 kernel with `xz --check=crc32 --x86 --lzma2=dict=32MiB`
 * (scripts/xz_wrap.sh): an LZMA2 filter preceded by the x86 BCJ branch-conversion filter. The
 * installed @napi-rs/lzma (lzma-rs) decodes .xz only with a bare LZMA2 filter chain and rejects
 * BCJ ("Unknown filter id 4"), so this module walks the container itself (format: the .xz file
 * format specification 1.1.0, tukaani.org), gives each block's raw LZMA2 data to lzma-rs's raw
 * LZMA2 decoder and undoes the BCJ filter here.
 *
 * Walking the LZMA2 chunk headers before decoding yields the exact decompressed size of every
 * block, so a hostile payload is refused before anything large is allocated.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { lzma2 } from '@napi-rs/lzma';
import { fail } from './errors.js';
import { hex, readU32 } from './u64.js';

const STREAM_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FOOTER_MAGIC = [0x59, 0x5a]; // "YZ"
const FILTER_X86 = 0x04;
const FILTER_LZMA2 = 0x21;
const CHECK_NONE = 0;
const CHECK_CRC32 = 1;
const CHECK_CRC64 = 4;
const CHECK_SHA256 = 10;
/** Size of the integrity check for each of the 16 check ids (spec 2.1.1.2). */
const CHECK_SIZES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];

export interface XzResult {
  data: Uint8Array;
  /** Bytes of input consumed (streams plus stream padding). */
  consumed: number;
  blocks: number;
  checks: string[];
}

/**
 * Decodes every .xz stream in `input` (concatenated streams and stream padding are allowed),
 * refusing to produce more than `limit` bytes.
 */
export function decodeXz(input: Uint8Array, limit: number, limitText = `the limit of ${limit} bytes`): XzResult {
  const parts: Uint8Array[] = [];
  const checks: string[] = [];
  let total = 0;
  let blocks = 0;
  let pos = 0;
  while (pos < input.length) {
    if (pos > 0 && isZeroWord(input, pos)) {
      pos += 4; // stream padding between or after streams
      continue;
    }
    const s = decodeStream(input, pos, limit - total, limitText);
    for (const p of s.parts) parts.push(p);
    total += s.size;
    blocks += s.blocks;
    checks.push(s.check);
    pos = s.end;
  }
  if (parts.length === 0) fail('xz payload holds no stream');
  return { data: concat(parts, total), consumed: pos, blocks, checks };
}

interface StreamResult { parts: Uint8Array[]; size: number; blocks: number; check: string; end: number }

function decodeStream(b: Uint8Array, start: number, limit: number, limitText: string): StreamResult {
  need(b, start, 12, 'stream header');
  for (let i = 0; i < 6; i++) {
    if (b[start + i] !== STREAM_MAGIC[i]) fail(`xz stream at ${hex(start)} has a bad magic`);
  }
  const flags = b.subarray(start + 6, start + 8);
  if (flags[0] !== 0 || (flags[1] & 0xf0) !== 0) fail('xz stream header uses unknown flags');
  if (crc32(flags) !== readU32(b, start + 8)) fail('xz stream header CRC32 mismatch');
  const checkId = flags[1] & 0x0f;
  const checkSize = CHECK_SIZES[checkId];
  if (checkId !== CHECK_NONE && checkId !== CHECK_CRC32 && checkId !== CHECK_CRC64 && checkId !== CHECK_SHA256) {
    fail(`xz check type ${checkId} is not supported (only none, CRC32, CRC64, SHA-256)`);
  }

  const parts: Uint8Array[] = [];
  const records: Array<{ unpadded: number; uncompressed: number }> = [];
  let size = 0;
  let pos = start + 12;
  for (;;) {
    need(b, pos, 1, 'block header');
    if (b[pos] === 0) break; // index indicator
    const blk = decodeBlock(b, pos, start, checkId, checkSize, limit - size, limitText);
    parts.push(blk.data);
    size += blk.data.length;
    records.push({ unpadded: blk.unpadded, uncompressed: blk.data.length });
    pos = blk.end;
  }

  const indexStart = pos;
  pos = checkIndex(b, indexStart, records);
  need(b, pos, 12, 'stream footer');
  const backwardSize = (readU32(b, pos + 4) + 1) * 4;
  if (crc32(b.subarray(pos + 4, pos + 10)) !== readU32(b, pos)) fail('xz stream footer CRC32 mismatch');
  if (backwardSize !== pos - indexStart) fail('xz stream footer backward size does not match the index');
  if (b[pos + 8] !== flags[0] || b[pos + 9] !== flags[1]) fail('xz stream footer flags differ from the header');
  if (b[pos + 10] !== FOOTER_MAGIC[0] || b[pos + 11] !== FOOTER_MAGIC[1]) fail('xz stream footer has a bad magic');
  return { parts, size, blocks: records.length, check: checkName(checkId), end: pos + 12 };
}

interface BlockResult { data: Uint8Array; unpadded: number; end: number }

function decodeBlock(
  b: Uint8Array, pos: number, streamStart: number, checkId: number, checkSize: number, limit: number,
  limitText: string,
): BlockResult {
  const headerSize = (b[pos] + 1) * 4;
  need(b, pos, headerSize, 'block header');
  const headerEnd = pos + headerSize - 4;
  if (crc32(b.subarray(pos, headerEnd)) !== readU32(b, headerEnd)) fail(`xz block header at ${hex(pos)}: CRC32 mismatch`);
  const flags = b[pos + 1];
  if (flags & 0x3c) fail(`xz block header at ${hex(pos)} uses reserved flags`);
  const cur = { p: pos + 2 };
  const compressedSize = flags & 0x40 ? readVarint(b, cur, headerEnd) : undefined;
  const uncompressedSize = flags & 0x80 ? readVarint(b, cur, headerEnd) : undefined;
  const filters: Array<{ id: number; props: Uint8Array }> = [];
  for (let i = 0; i <= (flags & 3); i++) {
    const id = readVarint(b, cur, headerEnd);
    const propsSize = readVarint(b, cur, headerEnd);
    if (cur.p + propsSize > headerEnd) fail(`xz block header at ${hex(pos)}: filter properties overrun the header`);
    filters.push({ id, props: b.subarray(cur.p, cur.p + propsSize) });
    cur.p += propsSize;
  }
  for (let p = cur.p; p < headerEnd; p++) if (b[p] !== 0) fail(`xz block header at ${hex(pos)}: non-zero padding`);

  // The chains a kernel (or a plain `xz`) produces: [x86 BCJ,] LZMA2.
  const last = filters[filters.length - 1];
  if (last.id !== FILTER_LZMA2) fail(`xz filter chain ends in filter ${hex(last.id)}, not LZMA2`);
  if (last.props.length !== 1 || last.props[0] > 40) fail('xz LZMA2 filter has bad properties');
  let bcjStart: number | undefined;
  if (filters.length === 2) {
    const f = filters[0];
    if (f.id !== FILTER_X86) fail(`unsupported xz filter ${hex(f.id)} (only the x86 BCJ filter 0x4 is supported before LZMA2)`);
    if (f.props.length === 4) bcjStart = readU32(f.props, 0);
    else if (f.props.length === 0) bcjStart = 0;
    else fail('xz x86 BCJ filter has bad properties');
  } else if (filters.length > 2) {
    fail(`xz block uses ${filters.length} filters; only [x86 BCJ,] LZMA2 is supported`);
  }

  const dataStart = pos + headerSize;
  const chunks = scanLzma2(b, dataStart, limit, limitText);
  const compressedLen = chunks.end - dataStart;
  if (compressedSize !== undefined && compressedSize !== compressedLen) {
    fail(`xz block at ${hex(pos)}: header says ${compressedSize} compressed bytes, data has ${compressedLen}`);
  }
  if (uncompressedSize !== undefined && uncompressedSize !== chunks.size) {
    fail(`xz block at ${hex(pos)}: header says ${uncompressedSize} bytes, LZMA2 data holds ${chunks.size}`);
  }
  let data: Uint8Array;
  try {
    data = lzma2.decompressSync(b.subarray(dataStart, chunks.end));
  } catch (e) {
    return fail(`corrupt xz payload: ${(e as Error).message}`);
  }
  if (data.length !== chunks.size) fail(`corrupt xz payload: LZMA2 gave ${data.length} bytes, chunks declare ${chunks.size}`);
  if (bcjStart !== undefined) bcjX86Decode(data, bcjStart);

  let p = chunks.end;
  while ((p - streamStart) % 4 !== 0) {
    need(b, p, 1, 'block padding');
    if (b[p++] !== 0) fail(`xz block at ${hex(pos)}: non-zero block padding`);
  }
  need(b, p, checkSize, 'block check');
  verifyCheck(checkId, data, b.subarray(p, p + checkSize));
  return { data, unpadded: headerSize + compressedLen + checkSize, end: p + checkSize };
}

/**
 * Walks LZMA2 chunk headers: control 0x00 ends the data, 0x01/0x02 are stored chunks with a
 * 16-bit size, 0x80-0xff are LZMA chunks with a 21-bit unpacked size, a 16-bit packed size and,
 * from 0xc0 up, a properties byte.
 */
function scanLzma2(b: Uint8Array, start: number, limit: number, limitText: string): { end: number; size: number } {
  let p = start;
  let size = 0;
  for (;;) {
    need(b, p, 1, 'LZMA2 chunk');
    const c = b[p];
    if (c === 0x00) return { end: p + 1, size };
    if (c === 0x01 || c === 0x02) {
      need(b, p, 3, 'LZMA2 chunk header');
      const n = ((b[p + 1] << 8) | b[p + 2]) + 1;
      size += n;
      p += 3 + n;
    } else if (c >= 0x80) {
      const hdr = c >= 0xc0 ? 6 : 5;
      need(b, p, hdr, 'LZMA2 chunk header');
      size += (((c & 0x1f) << 16) | (b[p + 1] << 8) | b[p + 2]) + 1;
      p += hdr + ((b[p + 3] << 8) | b[p + 4]) + 1;
    } else {
      fail(`corrupt xz payload: bad LZMA2 control byte ${hex(c)} at ${hex(p)}`);
    }
    if (size > limit) fail(`corrupt xz payload: it decompresses to more than ${limitText}`);
  }
}

function checkIndex(b: Uint8Array, start: number, records: Array<{ unpadded: number; uncompressed: number }>): number {
  const cur = { p: start + 1 };
  const end = b.length;
  const count = readVarint(b, cur, end);
  if (count !== records.length) fail(`xz index lists ${count} blocks, the stream has ${records.length}`);
  for (const r of records) {
    const unpadded = readVarint(b, cur, end);
    const uncompressed = readVarint(b, cur, end);
    if (unpadded !== r.unpadded || uncompressed !== r.uncompressed) fail('xz index does not match the blocks');
  }
  while ((cur.p - start) % 4 !== 0) {
    need(b, cur.p, 1, 'index padding');
    if (b[cur.p++] !== 0) fail('xz index has non-zero padding');
  }
  need(b, cur.p, 4, 'index CRC32');
  if (crc32(b.subarray(start, cur.p)) !== readU32(b, cur.p)) fail('xz index CRC32 mismatch');
  return cur.p + 4;
}

/** xz multibyte integer: 7 bits per byte, little end first, at most 9 bytes. */
function readVarint(b: Uint8Array, cur: { p: number }, end: number): number {
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 9; i++) {
    if (cur.p >= end) fail('truncated xz payload: integer runs past its field');
    const byte = b[cur.p++];
    v += (byte & 0x7f) * scale;
    if (!(byte & 0x80)) {
      if (byte === 0 && i > 0) fail('xz integer is not minimally encoded');
      if (!Number.isSafeInteger(v)) fail('xz integer is out of range');
      return v;
    }
    scale *= 128;
  }
  return fail('xz integer is longer than 9 bytes');
}

function verifyCheck(id: number, data: Uint8Array, stored: Uint8Array): void {
  switch (id) {
    case CHECK_NONE:
      return;
    case CHECK_CRC32:
      if (crc32(data) !== readU32(stored, 0)) fail('corrupt xz payload: CRC32 of the decompressed data does not match');
      return;
    case CHECK_CRC64: {
      const [lo, hi] = crc64(data);
      if (lo !== readU32(stored, 0) || hi !== readU32(stored, 4)) fail('corrupt xz payload: CRC64 of the decompressed data does not match');
      return;
    }
    case CHECK_SHA256: {
      const digest = createHash('sha256').update(data).digest();
      if (!digest.equals(stored)) fail('corrupt xz payload: SHA-256 of the decompressed data does not match');
      return;
    }
    default:
      fail(`xz check type ${id} is not supported`);
  }
}

function checkName(id: number): string {
  return id === CHECK_NONE ? 'none' : id === CHECK_CRC32 ? 'crc32' : id === CHECK_CRC64 ? 'crc64' : 'sha256';
}

let crc64Tables: [Uint32Array, Uint32Array] | undefined;

/** CRC-64/XZ (ECMA-182 polynomial, reflected), kept in two 32-bit halves to avoid bigint per byte. */
function crc64(data: Uint8Array): [number, number] {
  if (!crc64Tables) {
    const tlo = new Uint32Array(256);
    const thi = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let lo = i;
      let hi = 0;
      for (let k = 0; k < 8; k++) {
        const carry = lo & 1;
        lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
        hi >>>= 1;
        if (carry) {
          lo = (lo ^ 0xd7870f42) >>> 0;
          hi = (hi ^ 0xc96c5795) >>> 0;
        }
      }
      tlo[i] = lo;
      thi[i] = hi;
    }
    crc64Tables = [tlo, thi];
  }
  const [tlo, thi] = crc64Tables;
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const idx = (lo ^ data[i]) & 0xff;
    lo = (((lo >>> 8) | (hi << 24)) ^ tlo[idx]) >>> 0;
    hi = ((hi >>> 8) ^ thi[idx]) >>> 0;
  }
  return [(~lo) >>> 0, (~hi) >>> 0];
}

/** Which of the previous three bytes' E8/E9 status bits still allow a conversion. */
const X86_MASK_ALLOWED = [true, true, true, false, true, false, false, false];
const X86_MASK_BIT = [0, 1, 2, 2, 3, 3, 3, 3];

function isMsbyte(v: number): boolean {
  return v === 0x00 || v === 0xff;
}

/**
 * Undoes the x86 BCJ filter in place: the encoder turned the relative 32-bit targets of
 * CALL (E8) and JMP (E9) into absolute ones so that repeated calls to one function compress
 * well; decoding subtracts the position again. `startOffset` is the filter's start-offset
 * property. Behaviour follows the reference decoder (Linux lib/xz/xz_dec_bcj.c, bcj_x86),
 * applied to a whole block at once; the last four bytes are never converted.
 */
export function bcjX86Decode(buf: Uint8Array, startOffset = 0): void {
  if (buf.length <= 4) return;
  const limit = buf.length - 4;
  let prevPos = -1;
  let prevMask = 0;
  for (let i = 0; i < limit; i++) {
    if ((buf[i] & 0xfe) !== 0xe8) continue;
    const distance = i - prevPos;
    if (distance > 3) {
      prevMask = 0;
    } else {
      prevMask = (prevMask << (distance - 1)) & 7;
      if (prevMask !== 0) {
        const b = buf[i + 4 - X86_MASK_BIT[prevMask]];
        if (!X86_MASK_ALLOWED[prevMask] || isMsbyte(b)) {
          prevPos = i;
          prevMask = (prevMask << 1) | 1;
          continue;
        }
      }
    }
    prevPos = i;
    if (!isMsbyte(buf[i + 4])) {
      prevMask = (prevMask << 1) | 1;
      continue;
    }
    let src = readU32(buf, i + 1);
    let dest: number;
    for (;;) {
      dest = (src - (startOffset + i + 5)) >>> 0;
      if (prevMask === 0) break;
      const shift = X86_MASK_BIT[prevMask] * 8;
      if (!isMsbyte((dest >>> (24 - shift)) & 0xff)) break;
      src = (dest ^ (2 ** (32 - shift) - 1)) >>> 0;
    }
    // Sign-extend bit 24 into the top byte: targets are within +-16 MiB.
    dest &= 0x01ffffff;
    if (dest & 0x01000000) dest |= 0xff000000;
    buf[i + 1] = dest & 0xff;
    buf[i + 2] = (dest >>> 8) & 0xff;
    buf[i + 3] = (dest >>> 16) & 0xff;
    buf[i + 4] = (dest >>> 24) & 0xff;
    i += 4;
  }
}

function need(b: Uint8Array, pos: number, n: number, what: string): void {
  if (pos + n > b.length) fail(`truncated xz payload: ${what} at ${hex(pos)} runs past the end (${hex(b.length)} bytes)`);
}

function isZeroWord(b: Uint8Array, p: number): boolean {
  return p + 4 <= b.length && b[p] === 0 && b[p + 1] === 0 && b[p + 2] === 0 && b[p + 3] === 0;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
