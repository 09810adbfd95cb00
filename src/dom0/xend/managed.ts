// Managed domains (`xm new` / `xm start` / `xm delete`): configs xend keeps while the domain
// is not running, one file per domain in STATE_DIR/domains/NAME.json. xend 4.4 kept them as
// /var/lib/xend/domains/UUID/config.sxp (XendDomain.managed_config_save); tsxen keeps the
// checked DomainConfig xm sent, so a later start needs neither the original file nor its
// directory.

import { configFields, imageFields } from '../model/from-config.js';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { DomainConfig } from '../model/index.js';
import type { DeviceConfig, DomainInfo } from '../model/info.js';
import { decodeLine, encodeLine } from './protocol.js';

interface StoredDomain {
  readonly version: 1;
  readonly config: DomainConfig;
}

export class ManagedDomains {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private file(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  /** Every managed config, by name. A file that does not read back is reported, not fatal. */
  all(onBad?: (file: string, why: string) => void): Map<string, DomainConfig> {
    const out = new Map<string, DomainConfig>();
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      const path = join(this.dir, f);
      try {
        const cfg = this.read(path);
        out.set(cfg.name, cfg);
      } catch (e) {
        onBad?.(path, (e as Error).message);
      }
    }
    return out;
  }

  get(name: string): DomainConfig | undefined {
    try {
      return this.read(this.file(name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  private read(path: string): DomainConfig {
    const v = decodeLine(readFileSync(path, 'utf8')) as Partial<StoredDomain>;
    if (v === null || typeof v !== 'object' || v.version !== 1 || v.config === undefined) {
      throw new Error(`${path}: not a tsxen managed domain file`);
    }
    const c = v.config;
    if (typeof c.name !== 'string' || typeof c.kernel !== 'string') throw new Error(`${path}: config has no name or kernel`);
    return c;
  }

  /** Store a config; a config without a uuid gets one now, so every start keeps it. */
  put(config: DomainConfig): DomainConfig {
    const cfg: DomainConfig = { ...config, uuid: config.uuid ?? randomUUID() };
    const path = this.file(cfg.name);
    const tmp = `${path}.${process.pid}.tmp`;
    const stored: StoredDomain = { version: 1, config: cfg };
    writeFileSync(tmp, encodeLine(stored), { mode: 0o600 });
    renameSync(tmp, path);
    return cfg;
  }

  delete(name: string): void {
    rmSync(this.file(name));
  }

  rename(from: string, to: string): void {
    const cfg = this.get(from);
    if (cfg === undefined) throw new Error(`no managed domain '${from}'`);
    this.put({ ...cfg, name: to });
    this.delete(from);
  }
}

/**
 * What `xm list` knows about a managed domain that is not running: its config, no domid, no
 * state (XendConfig.to_sxp of a halted domain).
 */
export function dormantDomainInfo(cfg: DomainConfig): DomainInfo {
  const platform: Record<string, number> = { videoram: cfg.videoram, tsc_mode: cfg.tscMode, nomigrate: cfg.nomigrate };
  if (cfg.localtime) platform.localtime = 1;
  const devices: DeviceConfig[] = [];
  for (const d of cfg.disk) {
    const uname = d.spec.split(',')[0]?.trim() ?? '';
    devices.push({
      class: d.type === 'tap' || d.type === 'tap2' ? d.type : 'vbd',
      backend: 0,
      dev: `${d.vdev}:${d.devType}`,
      uname: uname === '' ? null : uname,
      mode: d.mode,
    });
  }
  for (const v of cfg.vif) {
    devices.push({
      class: 'vif',
      backend: 0,
      ...(v.mac !== null ? { mac: v.mac } : {}),
      ...(v.bridge !== null ? { bridge: v.bridge } : {}),
      ...(v.script !== null ? { script: v.script } : {}),
      ...(v.ip.length > 0 ? { ip: v.ip.join(' ') } : {}),
      ...(v.vifname !== null ? { vifname: v.vifname } : {}),
      ...(v.model !== null ? { model: v.model } : {}),
      type: v.type,
    });
  }
  return {
    domid: null,
    name: cfg.name,
    uuid: cfg.uuid ?? '00000000-0000-0000-0000-000000000000',
    ...configFields(cfg),
    cpuTime: 0,
    image: {
      ...imageFields(cfg),
      platform,
      notes: [],
    },
    status: 'halted',
    state: { running: false, blocked: false, paused: false, shutdown: false, crashed: false, dying: false },
    devices,
  };
}
