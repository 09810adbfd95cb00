// Node permissions: xenstored's "n0 r1 w2 b3" strings and perm_for_conn().
// Reference: tools/xenstored/core.c (perm_for_conn, perm_allows_conn) and
// tools/libs/store / tools/xenstore/xs_lib.c (xs_strings_to_perms, xs_perm_to_string).

import { XsError } from './wire.js';

export const XS_PERM_NONE = 0x00;
export const XS_PERM_READ = 0x01;
export const XS_PERM_WRITE = 0x02;
/** Internal only: the connection owns the node (or is privileged). */
export const XS_PERM_OWNER = 0x08;

export interface XsPerm {
  /** Domain id the entry is about; entry 0 names the owner. */
  readonly id: number;
  /** XS_PERM_READ | XS_PERM_WRITE bits; for entry 0 the access of everyone not listed. */
  readonly perms: number;
}

export type XsPerms = readonly XsPerm[];

/** Who is asking: the connection's domain, whether it is privileged, and its SET_TARGET. */
export interface PermSubject {
  readonly domid: number;
  readonly privileged: boolean;
  readonly targetDomid: number | null;
}

const LETTER: Record<number, string> = {
  [XS_PERM_NONE]: 'n',
  [XS_PERM_READ]: 'r',
  [XS_PERM_WRITE]: 'w',
  [XS_PERM_READ | XS_PERM_WRITE]: 'b',
};

export function permToString(p: XsPerm): string {
  const letter = LETTER[p.perms & (XS_PERM_READ | XS_PERM_WRITE)];
  return `${letter}${p.id}`;
}

/**
 * Parses one entry like xs_strings_to_perms(): a letter n/r/w/b then a domid in C strtol
 * base-0 syntax (decimal, 0x hex, leading-0 octal). Unlike the C code, a domid outside
 * 0..65535 is rejected rather than wrapped.
 */
export function parsePerm(s: string): XsPerm {
  const letter = s[0];
  let perms: number;
  switch (letter) {
    case 'n': perms = XS_PERM_NONE; break;
    case 'r': perms = XS_PERM_READ; break;
    case 'w': perms = XS_PERM_WRITE; break;
    case 'b': perms = XS_PERM_READ | XS_PERM_WRITE; break;
    default:
      throw new XsError('EINVAL', `permission '${s}' must start with n, r, w or b`);
  }
  const num = s.slice(1);
  let id: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(num)) id = parseInt(num.slice(2), 16);
  else if (/^0[0-7]*$/.test(num)) id = parseInt(num, 8);
  else if (/^[1-9][0-9]*$/.test(num)) id = parseInt(num, 10);
  else throw new XsError('EINVAL', `permission '${s}' has no valid domain id`);
  if (!(id >= 0 && id <= 0xffff)) throw new XsError('EINVAL', `permission '${s}': domain id out of range`);
  return { id, perms };
}

export function parsePerms(strings: readonly string[]): XsPerm[] {
  return strings.map(parsePerm);
}

function allows(subject: PermSubject, p: XsPerm): boolean {
  return p.id === subject.domid || (subject.targetDomid !== null && p.id === subject.targetDomid);
}

/** perm_for_conn(): the access bits (READ/WRITE/OWNER) a subject has on a node. */
export function permFor(subject: PermSubject, perms: XsPerms): number {
  const all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
  if (subject.privileged || allows(subject, perms[0]!)) return all;
  for (let i = 1; i < perms.length; i++) {
    if (allows(subject, perms[i]!)) return perms[i]!.perms & all;
  }
  return perms[0]!.perms & all;
}

export function permsEqual(a: XsPerms, b: XsPerms): boolean {
  return a.length === b.length && a.every((p, i) => p.id === b[i]!.id && p.perms === b[i]!.perms);
}
