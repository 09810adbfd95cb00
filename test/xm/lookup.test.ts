// Where `xm create NAME` finds its config: NAME itself, the Xen config dir
// ($TSXEN_CONFIG_DIR or /etc/xen), then the project's images/, each as NAME and NAME.cfg.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import {
  ConfigNotFoundError,
  configCandidates,
  defaultConfigDir,
  findConfigFile,
  loadDomainConfig,
  projectImagesDir,
} from '../../src/xm/config/index.js';

function tree(): { root: string; cwd: string; etc: string; images: string } {
  const root = mkdtempSync(join(tmpdir(), 'tsxen-xmlookup-'));
  const dirs = { root, cwd: join(root, 'cwd'), etc: join(root, 'etc'), images: join(root, 'images') };
  for (const d of [dirs.cwd, dirs.etc, dirs.images]) mkdirSync(d);
  return dirs;
}

const CFG = "kernel = '/k'\nmemory = 64\n";

describe('config lookup', () => {
  const saved = process.env.TSXEN_CONFIG_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.TSXEN_CONFIG_DIR;
    else process.env.TSXEN_CONFIG_DIR = saved;
  });

  it('searches the name, the config dir, then images/, each with and without .cfg', () => {
    const t = tree();
    expect(configCandidates('busybox', { cwd: t.cwd, configDir: t.etc, imagesDir: t.images })).toEqual([
      join(t.cwd, 'busybox'),
      join(t.cwd, 'busybox.cfg'),
      join(t.etc, 'busybox'),
      join(t.etc, 'busybox.cfg'),
      join(t.images, 'busybox'),
      join(t.images, 'busybox.cfg'),
    ]);
    expect(configCandidates('/abs/x.cfg', { cwd: t.cwd, configDir: t.etc, imagesDir: null })).toEqual(['/abs/x.cfg']);
  });

  it('takes the first that exists', () => {
    const t = tree();
    const opts = { cwd: t.cwd, configDir: t.etc, imagesDir: t.images };
    writeFileSync(join(t.images, 'busybox.cfg'), CFG);
    expect(findConfigFile('busybox', opts)).toBe(join(t.images, 'busybox.cfg'));
    writeFileSync(join(t.etc, 'busybox'), CFG);
    expect(findConfigFile('busybox', opts)).toBe(join(t.etc, 'busybox'));
    writeFileSync(join(t.cwd, 'busybox.cfg'), CFG);
    expect(findConfigFile('busybox', opts)).toBe(join(t.cwd, 'busybox.cfg'));
    // A directory of that name is not a config.
    mkdirSync(join(t.etc, 'dir'));
    expect(() => findConfigFile('dir', { ...opts, imagesDir: null })).toThrow(ConfigNotFoundError);
  });

  it("fails with xm's message and the places it looked", () => {
    const t = tree();
    let err: unknown;
    try {
      findConfigFile('nosuch', { cwd: t.cwd, configDir: t.etc, imagesDir: t.images });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigNotFoundError);
    expect((err as ConfigNotFoundError).message).toBe('Unable to open config file: nosuch');
    expect((err as ConfigNotFoundError).searched).toHaveLength(6);
  });

  it('honours TSXEN_CONFIG_DIR', () => {
    const t = tree();
    process.env.TSXEN_CONFIG_DIR = t.etc;
    expect(defaultConfigDir()).toBe(t.etc);
    writeFileSync(join(t.etc, 'small'), CFG);
    expect(findConfigFile('small', { cwd: t.cwd, imagesDir: null })).toBe(join(t.etc, 'small'));
    delete process.env.TSXEN_CONFIG_DIR;
    expect(defaultConfigDir()).toBe('/etc/xen');
  });

  it("finds the checkout's images/ directory", () => {
    expect(projectImagesDir()).toBe(join(new URL('../..', import.meta.url).pathname, 'images'));
  });

  it('loads and parses, naming the domain after the argument', () => {
    const t = tree();
    writeFileSync(join(t.etc, 'small.cfg'), CFG);
    const c = loadDomainConfig('small', { cwd: t.cwd, configDir: t.etc, imagesDir: null, checkFiles: false, vars: ['vcpus=2'] });
    expect([c.file, c.name, c.memory, c.vcpus]).toEqual([join(t.etc, 'small.cfg'), 'small', 64, 2]);
  });

  it('refuses XML configs', () => {
    const t = tree();
    writeFileSync(join(t.etc, 'x.xml'), '<vm/>');
    expect(() => loadDomainConfig('x.xml', { cwd: t.cwd, configDir: t.etc, imagesDir: null })).toThrow(/XML domain configs are not supported/);
  });
});
