// The config parsers and entry choice, on configs shaped like real ones (Debian 12's grub.cfg,
// a Debian-etch-era menu.lst, extlinux-update's extlinux.conf), against what pygrub picks.

import { describe, expect, it } from 'vitest';
import { parseGrub2, grubWords } from '../../../src/dom0/pygrub/grub2.js';
import { parseGrubLegacy } from '../../../src/dom0/pygrub/grub-legacy.js';
import { parseExtlinux } from '../../../src/dom0/pygrub/extlinux.js';
import { chooseEntry, ConfigSyntaxError, leafTitle, splitCommand } from '../../../src/dom0/pygrub/menu.js';
import { shown } from '../../../src/dom0/pygrub/errors.js';
import { parsePygrubArgs, pygrubOptionsFromConfig, shellSplit } from '../../../src/dom0/pygrub/args.js';
import { debianGrubCfg, UUID } from './helpers.js';

const V1 = '6.1.0-18-cloud-amd64';
const V2 = '6.1.0-17-cloud-amd64';

function syntaxError(f: () => unknown): ConfigSyntaxError {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigSyntaxError) return err;
    throw err;
  }
  throw new Error('no error');
}

describe('grub.cfg (grub2)', () => {
  it("reads Debian 12's grub.cfg: entries flattened across the submenu, default 0", () => {
    const menu = parseGrub2(debianGrubCfg([V1, V2]), '/boot/grub/grub.cfg');
    expect(menu.entries.map((e) => e.title)).toEqual([
      'Debian GNU/Linux',
      `Debian GNU/Linux, with Linux ${V1}`,
      `Debian GNU/Linux, with Linux ${V2}`,
      'UEFI Firmware Settings',
    ]);
    expect(menu.default).toBe('0');
    const e = menu.entries[0];
    expect(e.kernel).toBe(`/boot/vmlinuz-${V1}`);
    expect(e.initrd).toEqual([`/boot/initrd.img-${V1}`]);
    expect(e.args).toBe(`root=UUID=${UUID} ro  console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0`);
    expect(menu.entries[2].kernel).toBe(`/boot/vmlinuz-${V2}`);
    expect(menu.entries[3].kernel).toBeNull();
    expect(chooseEntry(menu).index).toBe(0);
  });

  it('GRUB_DEFAULT=saved: ${saved_entry} reads as 0, as pygrub', () => {
    const menu = parseGrub2(debianGrubCfg([V1], { defaultLine: 'set default="${saved_entry}"' }), 'g');
    expect(menu.default).toBe('0');
  });

  it('default as a number, a title, and a "submenu>title" path', () => {
    const num = parseGrub2(debianGrubCfg([V1, V2], { defaultLine: 'set default="2"' }), 'g');
    expect(chooseEntry(num).index).toBe(2);
    const title = parseGrub2(debianGrubCfg([V1, V2], { defaultLine: `set default='Debian GNU/Linux, with Linux ${V2}'` }), 'g');
    expect(chooseEntry(title).index).toBe(2);
    const path = parseGrub2(
      debianGrubCfg([V1, V2], { defaultLine: `set default="Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux ${V2}"` }),
      'g',
    );
    expect(chooseEntry(path).index).toBe(2);
    const none = parseGrub2(debianGrubCfg([V1], { defaultLine: 'set default="no such title"' }), 'g');
    const r = chooseEntry(none);
    expect(r.index).toBe(0);
    expect(r.warnings[0]).toMatch(/names no entry/);
    const past = parseGrub2(debianGrubCfg([V1], { defaultLine: 'set default=7' }), 'g');
    expect(chooseEntry(past).index).toBe(0);
  });

  it('--entry: index or exact title; an unknown one keeps the default, with a warning', () => {
    const menu = parseGrub2(debianGrubCfg([V1, V2]), 'g');
    expect(chooseEntry(menu, '2').index).toBe(2);
    expect(chooseEntry(menu, ' 1 ').index).toBe(1);
    expect(chooseEntry(menu, `Debian GNU/Linux, with Linux ${V2}`).index).toBe(2);
    const bad = chooseEntry(menu, '9');
    expect(bad.index).toBe(0);
    expect(bad.warnings.join()).toMatch(/--entry "9" names no entry/);
    expect(chooseEntry(menu, '-1').index).toBe(0);
    expect(chooseEntry(menu, 'Nope').warnings).toHaveLength(1);
  });

  it("GRUB quoting in titles: 'it'\\''s', double quotes, unquoted", () => {
    expect(grubWords(`menuentry 'it'\\''s' --class x {`, 1)).toEqual(['menuentry', "it's", '--class', 'x', '{']);
    const menu = parseGrub2(
      [`menuentry "say \\"hi\\"" {`, 'linux /k a=1', '}', 'menuentry plain {', '  linux16 (hd0,msdos1)/k2', '  initrd16 /i1 /i2', '}'].join('\n'),
      'g',
    );
    expect(menu.entries.map((e) => e.title)).toEqual(['say "hi"', 'plain']);
    expect(menu.entries[1].kernel).toBe('/k2');
    expect(menu.entries[1].initrd).toEqual(['/i1', '/i2']);
  });

  it("a hostile default: pygrub's submenu-path loop is quadratic, ours is not", () => {
    const menu = parseGrub2(`set default="${'a>'.repeat(300_000)}b c"\nmenuentry 'b c' {\n linux /k\n}\n`, 'g');
    const t0 = Date.now();
    expect(chooseEntry(menu).index).toBe(0);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(leafTitle('Sub>Menu>Title')).toBe('Title');
    expect(leafTitle('A>B>C')).toBe('B>C'); // as pygrub: a leaf needs two characters
    expect(leafTitle('A >B')).toBe('A >B'); // a blank before '>' is not a separator
    expect(leafTitle('A>B')).toBe('A>B'); // nor one with a single character after it
  });

  it('guest text in messages: control characters escaped, long text cut', () => {
    const err = syntaxError(() => parseGrub2(`menuentry '\u001b[2J${'x'.repeat(500)}' {\n`, 'g'));
    expect(err.message).toMatch(/^line 1: menuentry "\\x1b\[2Jx{116}…" is not closed/);
    expect(shown('a\u0007b\u009bc')).toBe('a\\x07b\\x9bc');
  });

  it('broken configs name the line', () => {
    expect(syntaxError(() => parseGrub2('set default=0\n}\n', 'g')).message).toBe('line 2: "}" closes no menuentry or submenu');
    expect(syntaxError(() => parseGrub2("menuentry 'a' {\n linux /k\n\n", 'g')).message).toMatch(/^line 1: menuentry "a" is not closed/);
    expect(syntaxError(() => parseGrub2("menuentry 'a' {\nmenuentry 'b' {\n}\n}\n", 'g')).message).toMatch(/^line 2: menuentry inside menuentry "a"/);
    expect(syntaxError(() => parseGrub2("submenu 'x' {\nmenuentry 'b' {\n}\n", 'g')).message).toMatch(/^line 1: submenu is not closed/);
    expect(syntaxError(() => parseGrub2("menuentry 'a\n", 'g')).message).toMatch(/^line 1: (unterminated single quote|menuentry needs)/);
    expect(syntaxError(() => parseGrub2('menuentry {\n}\n', 'g')).message).toMatch(/^line 1: menuentry needs a title/);
  });

  it('splits commands as GrubConf.grub_split', () => {
    expect(splitCommand('default=1')).toEqual(['default', '1']);
    expect(splitCommand('default 1')).toEqual(['default', '1']);
    expect(splitCommand('linux\t/vmlinuz root=/dev/xvda1')).toEqual(['linux', '/vmlinuz root=/dev/xvda1']);
    expect(splitCommand('hiddenmenu')).toEqual(['hiddenmenu', '']);
  });
});

describe('menu.lst (grub legacy)', () => {
  const MENU = `# menu.lst - See: grub(8), info grub, update-grub(8)
default		1
timeout		5
hiddenmenu
color cyan/blue white/blue

## ## End Default Options ##
# kopt=root=/dev/xvda1 ro

title		Debian GNU/Linux, kernel 2.6.32-5-xen-amd64
root		(hd0,0)
kernel		/boot/vmlinuz-2.6.32-5-xen-amd64 root=/dev/xvda1 ro console=hvc0
initrd		/boot/initrd.img-2.6.32-5-xen-amd64

title		Debian GNU/Linux, kernel 2.6.32-5-amd64 (single-user mode)
root		(hd0,0)
kernel		(hd0,0)/boot/vmlinuz-2.6.32-5-amd64 root=/dev/xvda1 ro single
initrd		(hd0,0)/boot/initrd.img-2.6.32-5-amd64
savedefault
`;
  it('titles, kernel lines with a device prefix, numeric default', () => {
    const menu = parseGrubLegacy(MENU, '/boot/grub/menu.lst');
    expect(menu.entries.map((e) => [e.title, e.kernel, e.args, e.initrd])).toEqual([
      ['Debian GNU/Linux, kernel 2.6.32-5-xen-amd64', '/boot/vmlinuz-2.6.32-5-xen-amd64', 'root=/dev/xvda1 ro console=hvc0', ['/boot/initrd.img-2.6.32-5-xen-amd64']],
      ['Debian GNU/Linux, kernel 2.6.32-5-amd64 (single-user mode)', '/boot/vmlinuz-2.6.32-5-amd64', 'root=/dev/xvda1 ro single', ['/boot/initrd.img-2.6.32-5-amd64']],
    ]);
    expect(chooseEntry(menu).index).toBe(1);
    expect(chooseEntry(parseGrubLegacy(MENU.replace('default\t\t1', 'default saved'), 'm')).index).toBe(0);
    expect(chooseEntry(parseGrubLegacy(MENU.replace('default\t\t1', 'default=1'), 'm')).index).toBe(1);
  });

  it("an unmatched '(' in a path names the line", () => {
    expect(syntaxError(() => parseGrubLegacy('title x\nkernel (hd0,0/vmlinuz\n', 'm')).message).toMatch(/^line 2: unable to find matching '\)'/);
  });
});

describe('extlinux.conf', () => {
  it("Debian's extlinux-update layout: linux, append initrd=, default by label", () => {
    const conf = `## /boot/extlinux/extlinux.conf
default l1
prompt 1
timeout 50

label l0
	menu label Debian GNU/Linux, kernel ${V1}
	linux /boot/vmlinuz-${V1}
	append initrd=/boot/initrd.img-${V1} root=UUID=${UUID} ro quiet

label l1
	menu label Debian GNU/Linux, kernel ${V2}
	kernel vmlinuz-${V2} root=/dev/xvda1
	append initrd=initrd.img-${V2},extra.img root=UUID=${UUID} ro
`;
    const menu = parseExtlinux(conf, '/boot/extlinux/extlinux.conf');
    expect(menu.entries.map((e) => e.title)).toEqual(['l0', 'l1']);
    expect(menu.entries[0]).toMatchObject({ kernel: `/boot/vmlinuz-${V1}`, initrd: [`/boot/initrd.img-${V1}`], args: `root=UUID=${UUID} ro quiet` });
    // Relative paths are relative to the config's directory, as SYSLINUX reads them.
    expect(menu.entries[1]).toMatchObject({
      kernel: `/boot/extlinux/vmlinuz-${V2}`,
      initrd: [`/boot/extlinux/initrd.img-${V2}`, '/boot/extlinux/extra.img'],
      args: `root=UUID=${UUID} ro`,
    });
    expect(chooseEntry(menu).index).toBe(1);
  });

  it('mboot.c32: the kernel and initrd of the Xen + kernel + initrd modules', () => {
    const menu = parseExtlinux('LABEL xen\n KERNEL mboot.c32\n APPEND /xen.gz dom0_mem=1G --- /vmlinuz root=/dev/xvda1 ro --- /initrd.img\n', '/extlinux.conf');
    expect(menu.entries[0]).toMatchObject({ title: 'xen', kernel: '/vmlinuz', args: 'root=/dev/xvda1 ro', initrd: ['/initrd.img'] });
  });
});

describe('pygrub arguments', () => {
  it('parses what xend passes and bootloader_args', () => {
    expect(parsePygrubArgs('-q --entry=2')).toEqual({ quiet: true, entry: '2' });
    expect(parsePygrubArgs(['--kernel=/vmlinuz', '--ramdisk', '/initrd.img', '--args=root=/dev/xvda1 ro', '--quiet'])).toEqual({
      kernel: '/vmlinuz', ramdisk: '/initrd.img', args: 'root=/dev/xvda1 ro', quiet: true,
    });
    expect(parsePygrubArgs(`--entry="Debian GNU/Linux, with Linux ${V2}" --offset=1048576`)).toEqual({
      entry: `Debian GNU/Linux, with Linux ${V2}`, offset: 1048576,
    });
    expect(parsePygrubArgs('--output-format=sxp -n')).toEqual({});
    expect(() => parsePygrubArgs('--bogus')).toThrow(/unknown option --bogus/);
    expect(() => parsePygrubArgs('-x')).toThrow(/unknown option -x/);
    expect(() => parsePygrubArgs('--entry')).toThrow(/requires an argument/);
    expect(() => parsePygrubArgs('--offset=abc')).toThrow(/offset value must be an integer/);
    expect(() => parsePygrubArgs('disk.img')).toThrow(/unexpected argument/);
    expect(shellSplit(`a 'b c' "d \\"e\\"" f\\ g`)).toEqual(['a', 'b c', 'd "e"', 'f g']);
  });

  it('long options by unique prefix, as getopt', () => {
    expect(parsePygrubArgs('--ent=1 --qu')).toEqual({ entry: '1', quiet: true });
    expect(() => parsePygrubArgs('--output-d=/tmp --o=x')).toThrow(/--o is ambiguous \(--offset, --output, --output-format, --output-directory\)/);
  });

  it('what xend 4.4 passed: --kernel/--ramdisk/--args from the config, then bootargs (which win)', () => {
    expect(pygrubOptionsFromConfig({ bootargs: '-q --entry="Debian GNU/Linux"', args: 'root=/dev/xvda1 ro console=hvc0' })).toEqual({
      quiet: true, entry: 'Debian GNU/Linux', args: 'root=/dev/xvda1 ro console=hvc0',
    });
    expect(pygrubOptionsFromConfig({ kernel: '/vmlinuz', ramdisk: '/initrd.img', bootargs: '--kernel=/boot/other' })).toEqual({
      kernel: '/boot/other', ramdisk: '/initrd.img',
    });
    expect(pygrubOptionsFromConfig({})).toEqual({});
  });
});
