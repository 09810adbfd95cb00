/**
 * The x86 boot-protocol setup header of a bzImage, as far as a Xen PV domain builder needs it:
 * libxenguest reads only setup_sects, version, payload_offset and payload_length and hands the
 * payload (the compressed vmlinux ELF) to its ELF loader
 * (xen tools/libs/guest/xg_dom_bzimageloader.c, xc_dom_probe_bzimage_kernel). Offsets are from
 * Linux Documentation/x86/boot.rst.
 */
import { fail } from './errors.js';
import { hex, readU16, readU32 } from './u64.js';

const OFF_SETUP_SECTS = 0x1f1;
const OFF_HEADER = 0x202;
const OFF_VERSION = 0x206;
const OFF_KERNEL_VERSION = 0x20e;
const OFF_XLOADFLAGS = 0x236;
const OFF_PAYLOAD_OFFSET = 0x248;
const OFF_PAYLOAD_LENGTH = 0x24c;
const OFF_INIT_SIZE = 0x260;
/** sizeof(struct setup_header) in xg_dom_bzimageloader.c: everything up to payload_length. */
const SETUP_HEADER_END = 0x250;
/** payload_offset/payload_length appeared in boot protocol 2.08. */
const MIN_PROTOCOL = 0x0208;

export interface BzImageHeader {
  /** Boot protocol version, e.g. 0x020f for 2.15. */
  protocol: number;
  /** "2.15" */
  protocolText: string;
  setupSects: number;
  /** Start of the protected-mode code in the file: (setup_sects + 1) * 512. */
  protectedModeOffset: number;
  /** Absolute file offset of the compressed payload. */
  payloadOffset: number;
  payloadLength: number;
  /** The human-readable version string the header points to, if any. */
  kernelVersion?: string;
  /** xloadflags (protocol 2.12+), 0 before. */
  xloadflags: number;
  /** init_size (protocol 2.10+): memory the decompressor needs; 0 before. */
  initSize: number;
}

export function protocolText(v: number): string {
  return `${v >> 8}.${(v & 0xff).toString().padStart(2, '0')}`;
}

/** True when the bytes carry the "HdrS" setup-header magic at 0x202. */
export function hasSetupHeader(bytes: Uint8Array): boolean {
  return bytes.length >= OFF_HEADER + 4 &&
    bytes[OFF_HEADER] === 0x48 && bytes[OFF_HEADER + 1] === 0x64 &&
    bytes[OFF_HEADER + 2] === 0x72 && bytes[OFF_HEADER + 3] === 0x53;
}

export function parseBzImageHeader(bytes: Uint8Array): BzImageHeader {
  if (!hasSetupHeader(bytes)) fail('not a bzImage (no "HdrS" setup header at 0x202)');
  if (bytes.length < SETUP_HEADER_END) {
    fail(`truncated bzImage: ${bytes.length} bytes, the setup header alone needs ${SETUP_HEADER_END}`);
  }
  const protocol = readU16(bytes, OFF_VERSION);
  if (protocol < MIN_PROTOCOL) {
    fail(`boot protocol too old: ${protocolText(protocol)} (need >= ${protocolText(MIN_PROTOCOL)})`);
  }
  // Xen uses setup_sects as it is (no "0 means 4" rule of boot.rst: that only applies to
  // pre-2.00 images, which we refuse above anyway).
  const setupSects = bytes[OFF_SETUP_SECTS];
  const protectedModeOffset = (setupSects + 1) * 512;
  const relOffset = readU32(bytes, OFF_PAYLOAD_OFFSET);
  const payloadLength = readU32(bytes, OFF_PAYLOAD_LENGTH);
  const payloadOffset = protectedModeOffset + relOffset;
  if (payloadOffset >= bytes.length) {
    fail(`truncated payload: it would start at ${hex(payloadOffset)} ` +
      `(setup_sects ${setupSects}, payload_offset ${hex(relOffset)}) but the file is ${hex(bytes.length)} bytes`);
  }
  if (payloadOffset + payloadLength > bytes.length) {
    fail(`truncated payload: ${hex(payloadLength)} bytes at ${hex(payloadOffset)} end at ` +
      `${hex(payloadOffset + payloadLength)} but the file is ${hex(bytes.length)} bytes`);
  }
  if (payloadLength === 0) fail('bzImage has an empty payload (payload_length is 0)');
  return {
    protocol,
    protocolText: protocolText(protocol),
    setupSects,
    protectedModeOffset,
    payloadOffset,
    payloadLength,
    kernelVersion: readKernelVersion(bytes, setupSects),
    xloadflags: protocol >= 0x020c ? readU16(bytes, OFF_XLOADFLAGS) : 0,
    initSize: protocol >= 0x020a && bytes.length >= OFF_INIT_SIZE + 4 ? readU32(bytes, OFF_INIT_SIZE) : 0,
  };
}

/** boot.rst: kernel_version is an offset less 0x200, valid only inside the setup sectors. */
function readKernelVersion(bytes: Uint8Array, setupSects: number): string | undefined {
  const ptr = readU16(bytes, OFF_KERNEL_VERSION);
  if (ptr === 0 || ptr >= setupSects * 0x200) return undefined;
  const start = ptr + 0x200;
  let end = start;
  while (end < bytes.length && end - start < 256 && bytes[end] !== 0) end++;
  if (end >= bytes.length || bytes[end] !== 0) return undefined;
  return new TextDecoder('latin1').decode(bytes.subarray(start, end));
}

export function payloadOf(bytes: Uint8Array, hdr: BzImageHeader): Uint8Array {
  return bytes.subarray(hdr.payloadOffset, hdr.payloadOffset + hdr.payloadLength);
}
