// The Python 2 behaviours xm's output depends on. Expected values are what CPython 2.7
// printed for the same inputs.

import { describe, expect, it } from 'vitest';

import { DEVICE_CLASS_ORDER, PLATFORM_KEY_ORDER } from '../../src/xm/format/domain-sxpr.js';
import {
  py2DictOrder,
  py2StrHash,
  pyFixed,
  pyReprFloat,
  pyReprStr,
  pyRound,
  pyStrFloat,
} from '../../src/xm/format/pycompat.js';

describe('%-formatting of floats', () => {
  it('rounds ties to even on the exact binary value, like CPython', () => {
    const cases: [number, string, string][] = [
      [0.25, '0.2', '0'],
      [0.35, '0.3', '0'],
      [2.5, '2.5', '2'],
      [1.25, '1.2', '1'],
      [12345678.25, '12345678.2', '12345678'],
      [-0.05, '-0.1', '-0'],
      [0, '0.0', '0'],
    ];
    for (const [x, one, zero] of cases) {
      expect(pyFixed(x, 1), `'%.1f' % ${x}`).toBe(one);
      expect(pyFixed(x, 0), `'%.0f' % ${x}`).toBe(zero);
    }
  });

  it('gives str(float) 12 significant digits and repr the shortest round trip', () => {
    const cases: [number, string, string][] = [
      [1423227315.62, '1423227315.62', '1423227315.62'],
      [21.912345678, '21.912345678', '21.912345678'],
      [123456789012.0, '1.23456789012e+11', '123456789012.0'],
      [12345678901.0, '12345678901.0', '12345678901.0'],
      [1e16, '1e+16', '1e+16'],
      [0.0001, '0.0001', '0.0001'],
      [0.00001, '1e-05', '1e-05'],
      [5.0, '5.0', '5.0'],
      [0.1 + 0.2, '0.3', '0.30000000000000004'],
      [-2.5e-7, '-2.5e-07', '-2.5e-07'],
    ];
    for (const [x, str, repr] of cases) {
      expect(pyStrFloat(x), `str(${x})`).toBe(str);
      expect(pyReprFloat(x), `repr(${x})`).toBe(repr);
    }
  });

  it('rounds half away from zero like Python 2 round()', () => {
    expect(pyRound(75.5)).toBe(76);
    expect(pyRound(-75.5)).toBe(-76);
    expect(pyRound(2.4999)).toBe(2);
  });
});

describe('repr() of strings', () => {
  it('quotes and escapes as Python 2 did, bytes of UTF-8 as \\x', () => {
    const cases: [string, string][] = [
      ['', "''"],
      ['a b', "'a b'"],
      ["it's", '"it\'s"'],
      ['say "hi"', '\'say "hi"\''],
      ['both \' "', "'both \\' \"'"],
      ['tab\tnl\n', "'tab\\tnl\\n'"],
      ['\\x', "'\\\\x'"],
      ['\x01\x7f', "'\\x01\\x7f'"],
      ['café', "'caf\\xc3\\xa9'"],
    ];
    for (const [s, r] of cases) expect(pyReprStr(s)).toBe(r);
  });
});

describe('Python 2.7 dict order', () => {
  it('hashes strings as CPython 2.7 on 64-bit', () => {
    // hash('a') and hash('domain') under python2.7, as unsigned 64-bit.
    expect(py2StrHash('a')).toBe(12416037344n);
    expect(py2StrHash('')).toBe(0n);
  });

  it("orders XendConfig's XENAPI_CFG_TO_LEGACY_CFG display as xend iterated it", () => {
    const keys = [
      'uuid', 'VCPUs_max', 'cpus', 'name_label', 'actions_after_shutdown', 'actions_after_reboot',
      'actions_after_crash', 'PV_bootloader', 'PV_bootloader_args', 'Description', 'pool_name',
    ];
    expect(py2DictOrder(keys, keys.length)).toEqual([
      'pool_name', 'PV_bootloader', 'VCPUs_max', 'cpus', 'actions_after_shutdown', 'Description',
      'actions_after_crash', 'uuid', 'PV_bootloader_args', 'name_label', 'actions_after_reboot',
    ]);
  });

  it('derives the platform-key and device-class orders used by xm list --long', () => {
    // XENAPI_PLATFORM_CFG_TYPES and XendDevices.controllers in source order.
    const platform = [
      'acpi', 'apic', 'boot', 'device_model', 'loader', 'display', 'fda', 'fdb', 'keymap', 'isa',
      'localtime', 'monitor', 'monitor_path', 'nographic', 'nomigrate', 'pae', 'rtc_timeoffset',
      'parallel', 'serial', 'sdl', 'opengl', 'soundhw', 'stdvga', 'videoram', 'usb', 'usbdevice',
      'hpet', 'vnc', 'vncconsole', 'vncdisplay', 'vnclisten', 'timer_mode', 'tsc_mode', 'vpt_align',
      'viridian', 'vncpasswd', 'vncunused', 'xauthority', 'pci', 'vhpt', 'guest_os_type', 'hap',
      'nestedhvm', 'xen_extended_power_mgmt', 'pci_msitranslate', 'pci_power_mgmt',
      'xen_platform_pci', 'gfx_passthru', 'oos',
    ];
    expect(py2DictOrder(platform, platform.length)).toEqual(PLATFORM_KEY_ORDER);
    const controllers = ['vbd', 'vif', 'vif2', 'pci', 'ioports', 'irq', 'tap', 'tap2', 'vfb', 'vkbd', 'console', 'vscsi', 'vusb'];
    expect(py2DictOrder(controllers, controllers.length)).toEqual(DEVICE_CLASS_ORDER);
  });

  it('grows the table as keys are added one by one', () => {
    // d = {}; for k in keys: d[k] = 1; d.keys() under python2.7.
    const keys = ['backend', 'dev', 'uname', 'mode', 'uuid', 'bootable', 'protocol'];
    expect(py2DictOrder(keys)).toEqual(['protocol', 'uuid', 'bootable', 'dev', 'uname', 'mode', 'backend']);
  });
});
