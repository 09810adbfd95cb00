import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EM_X86_64, ET_REL, IMAGES_DIR, parseElf64, parseSetupHeader } from './formats.js';

const ko = readFileSync(join(IMAGES_DIR, 'xen-netfront.ko'));
const elf = parseElf64(ko);
const section = (name: string): Buffer => {
  const s = elf.sections.find((x) => x.name === name);
  if (!s) throw new Error(`xen-netfront.ko has no ${name} section`);
  return ko.subarray(s.offset, s.offset + s.size);
};
const modinfo = section('.modinfo').toString('latin1').split('\0').filter((s) => s !== '');

describe('xen-netfront.ko', () => {
  it('is an x86-64 ELF relocatable object', () => {
    expect(elf.type).toBe(ET_REL);
    expect(elf.machine).toBe(EM_X86_64);
    expect(elf.sections.some((s) => s.name === '.text')).toBe(true);
    expect(elf.sections.some((s) => s.name === '.gnu.linkonce.this_module')).toBe(true);
  });

  it('has a .modinfo naming xen_netfront, GPL, the xen:vif alias', () => {
    expect(modinfo).toContain('name=xen_netfront');
    expect(modinfo).toContain('license=GPL');
    expect(modinfo).toContain('alias=xen:vif');
  });

  it('was built for vmlinuz-tiny: vermagic matches the kernel release, SMP, mod_unload', () => {
    const release = parseSetupHeader(readFileSync(join(IMAGES_DIR, 'vmlinuz-tiny'))).kernelVersion.split(' ')[0];
    expect(modinfo).toContain(`vermagic=${release} SMP mod_unload `);
  });

  it('is stripped of debug sections', () => {
    expect(elf.sections.filter((s) => s.name.startsWith('.debug')).map((s) => s.name)).toEqual([]);
    expect(ko.length).toBeLessThan(200_000);
  });
});
