// xend's control socket: it answers xm's requests with the Toolstack and keeps the managed
// domains. One bad request, or a client that goes away mid-request, costs that request only:
// every answer is written to a connection that may already be gone, and every failure
// becomes an error answer (xend's XML-RPC server turned exceptions into Faults the same way).

import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';

import { XendError, type DomainEnd, type Toolstack } from '../toolstack/types.js';
import type { DomainConfig } from '../model/index.js';
import type { DiskSpec } from '../../devices/block/disk-spec.js';
import type { VifSpec } from '../../devices/net/vif-spec.js';
import type { DomainInfo } from '../model/info.js';
import type { Replay } from '../xenconsoled/console.js';
import { ManagedDomains, dormantDomainInfo } from './managed.js';
import { LineSplitter, PROTOCOL_VERSION, encodeLine, parseRequest, type Request, type WireError } from './protocol.js';
import { errorMessage } from '../../hypervisor/errors.js';

/** xm's exit status for an unknown domain (XendClient.ERROR_INVALID_DOMAIN). */
const INVALID_DOMAIN = 3;

/** An answer that turns the connection into a console stream once written. */
class StreamAnswer {
  constructor(
    readonly result: unknown,
    readonly domid: number,
    readonly replay: Replay,
    /** Runs once the console is attached (create -c unpauses the new domain here). */
    readonly afterAttach?: () => void,
  ) {}
}

export interface XendServerOptions {
  toolstack: Toolstack;
  logger: Logger;
  /** STATE_DIR/domains. */
  domainsDir: string;
  /** xend.log, for `xm log`. */
  logFile: string;
  /** Called after answering 'stop'. */
  onStop?: () => void;
}

function str(args: Record<string, unknown>, key: string): string {
  const v = args[key];
  if (typeof v !== 'string') throw new XendError(`request argument '${key}' must be a string`);
  return v;
}

function int(args: Record<string, unknown>, key: string): number {
  const v = args[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new XendError(`request argument '${key}' must be an integer`);
  return v;
}

function bool(args: Record<string, unknown>, key: string): boolean {
  const v = args[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new XendError(`request argument '${key}' must be true or false`);
  return v;
}

/** A DomainConfig from the wire: xm checked it; this only makes sure it is one. */
function configArg(args: Record<string, unknown>): DomainConfig {
  const c = args.config;
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new XendError("request argument 'config' must be a domain config");
  const o = c as Record<string, unknown>;
  for (const k of ['name', 'kernel', 'cmdline', 'extra', 'file']) {
    if (typeof o[k] !== 'string') throw new XendError(`domain config: '${k}' must be a string`);
  }
  for (const k of ['memory', 'maxmem', 'vcpus', 'maxvcpus']) {
    if (typeof o[k] !== 'number') throw new XendError(`domain config: '${k}' must be a number`);
  }
  if (!Array.isArray(o.disk) || !Array.isArray(o.vif) || !Array.isArray(o.cpus)) {
    throw new XendError("domain config: 'disk', 'vif' and 'cpus' must be lists");
  }
  if (typeof o.vcpuAvail !== 'bigint') throw new XendError("domain config: 'vcpuAvail' must be a bigint");
  return c as DomainConfig;
}

export class XendServer {
  readonly toolstack: Toolstack;
  readonly log: Logger;
  readonly managed: ManagedDomains;
  private readonly logFile: string;
  private readonly onStop?: () => void;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** How each domain ended, by domid (domids are never reused, so this cannot go stale). */
  private readonly ended = new Map<number, DomainEnd>();
  /** Waiters for a rebooting domain: name -> callbacks given the new domid. */
  private readonly recreated = new Map<string, ((domid: number) => void)[]>();
  private stopping = false;

  constructor(opts: XendServerOptions) {
    this.toolstack = opts.toolstack;
    this.log = opts.logger;
    this.logFile = opts.logFile;
    this.onStop = opts.onStop;
    this.managed = new ManagedDomains(opts.domainsDir);
    const ts = this.toolstack;
    ts.on('created', (domid: number, name: string) => {
      this.log.info({ domid, name, event: 'created' }, `Domain ${name} (${domid}) created`);
      const waiters = this.recreated.get(name);
      if (waiters) {
        this.recreated.delete(name);
        for (const w of waiters) w(domid);
      }
    });
    ts.on('shutdown', (end: DomainEnd) => {
      const msg = `Domain ${end.name} (${end.domid}) shut down: ${end.reason}${end.detail ? ` (${end.detail})` : ''}`;
      if (end.reason === 'crash' || end.reason === 'watchdog') this.log.error({ ...end, event: 'shutdown' }, msg);
      else this.log.info({ ...end, event: 'shutdown' }, msg);
    });
    ts.on('gone', (end: DomainEnd) => {
      this.ended.set(end.domid, end);
      this.log.info({ ...end, event: 'gone' }, `Domain ${end.name} (${end.domid}) is gone: ${end.reason}${end.detail ? ` (${end.detail})` : ''}`);
    });
  }

  /** Listen on the control socket, owner-only. */
  listen(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const srv = createServer((s) => this.serve(s));
      srv.once('error', reject);
      srv.listen(path, () => {
        srv.off('error', reject);
        srv.on('error', (e) => this.log.error({ err: e }, `control socket error: ${e.message}`));
        try {
          chmodSync(path, 0o600);
        } catch (e) {
          srv.close();
          reject(e);
          return;
        }
        this.server = srv;
        resolve();
      });
    });
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const s of this.sockets) s.destroy();
    const srv = this.server;
    this.server = null;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  // ---------------------------------------------------------------------------------------
  // Connections
  // ---------------------------------------------------------------------------------------

  /** Serve one client connection (also usable with any Duplex-like socket in tests). */
  serve(sock: Socket): void {
    this.sockets.add(sock);
    const lines = new LineSplitter();
    let busy = false;
    let streaming = false;
    sock.on('error', (e) => this.log.debug({ err: e }, `client connection error: ${e.message}`));
    sock.on('close', () => this.sockets.delete(sock));

    const pump = (): void => {
      while (!busy && !streaming && !sock.destroyed) {
        let line: string | null;
        try {
          line = lines.next();
        } catch (e) {
          this.answerError(sock, e);
          sock.end();
          return;
        }
        if (line === null) return;
        if (line.trim() === '') continue;
        let req: Request;
        try {
          req = parseRequest(line);
        } catch (e) {
          this.answerError(sock, e);
          continue;
        }
        busy = true;
        void this.dispatch(req).then(
          (result) => {
            busy = false;
            if (result instanceof StreamAnswer) {
              streaming = true;
              sock.off('data', onData);
              this.startConsoleStream(sock, result, lines.rest());
              return;
            }
            this.write(sock, encodeLine({ ok: true, result: result ?? null }));
            if (req.op === 'stop') {
              sock.end();
              this.onStop?.();
              return;
            }
            pump();
          },
          (e: unknown) => {
            busy = false;
            this.answerError(sock, e, req);
            pump();
          },
        );
      }
    };
    const onData = (chunk: Buffer): void => {
      try {
        lines.push(chunk);
      } catch (e) {
        this.answerError(sock, e);
        sock.destroy();
        return;
      }
      pump();
    };
    sock.on('data', onData);
  }

  private write(sock: Socket, s: string): void {
    if (sock.destroyed || sock.writableEnded) return;
    sock.write(s);
  }

  private answerError(sock: Socket, e: unknown, req?: Request): void {
    const err: WireError =
      e instanceof XendError
        ? { message: e.message, exitCode: e.exitCode }
        : { message: errorMessage(e), exitCode: 1 };
    const ctx = req ? { op: req.op, dom: req.args.dom } : {};
    if (e instanceof XendError) this.log.info(ctx, `request failed: ${err.message}`);
    else this.log.error({ ...ctx, err: e }, `request failed: ${err.message}`);
    this.write(sock, encodeLine({ ok: false, error: err }));
  }

  private startConsoleStream(sock: Socket, a: StreamAnswer, head: Buffer): void {
    let console;
    try {
      console = this.toolstack.console(a.domid);
    } catch (e) {
      this.answerError(sock, e);
      sock.end();
      // A domain created for this console must not stay paused because the console failed.
      a.afterAttach?.();
      return;
    }
    this.write(sock, encodeLine({ ok: true, result: a.result }));
    const name = console.name;
    this.log.debug({ domid: a.domid, name }, 'console client attached');
    let attachment;
    try {
      attachment = console.attach(sock, {
        replay: a.replay,
        onClose: (reason) => {
          this.log.debug({ domid: a.domid, name, reason }, 'console client detached');
          // The domain is gone (or the console broke): the client sees end of stream.
          if (reason !== 'detached' && !sock.destroyed) sock.end();
        },
      });
    } catch (e) {
      this.log.warn({ domid: a.domid, name, err: e }, `console attach failed: ${(e as Error).message}`);
      sock.end();
      return;
    }
    const type = (bytes: Buffer): void => {
      if (bytes.length === 0) return;
      try {
        if (!console.write(bytes)) {
          sock.pause();
          console.once('drain', () => sock.resume());
        }
      } catch (e) {
        this.log.warn({ domid: a.domid, name, err: e }, `console input refused: ${(e as Error).message}`);
        sock.end();
      }
    };
    type(head);
    sock.on('data', type);
    sock.on('close', () => attachment.detach());
    sock.on('end', () => {
      // The client closed its side (stdin at EOF) but still reads the output: keep streaming.
    });
    a.afterAttach?.();
  }

  // ---------------------------------------------------------------------------------------
  // Requests
  // ---------------------------------------------------------------------------------------

  private running(): DomainInfo[] {
    return this.toolstack.list();
  }

  private runningByName(name: string): DomainInfo | undefined {
    return this.running().find((d) => d.name === name);
  }

  /** Managed domains that are not running, as `xm list` shows them. */
  private dormant(): DomainInfo[] {
    const names = new Set(this.running().map((d) => d.name));
    const out: DomainInfo[] = [];
    const all = this.managed.all((file, why) => this.log.warn({ file }, `managed domain ignored: ${why}`));
    for (const [name, cfg] of [...all].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!names.has(name)) out.push(dormantDomainInfo(cfg));
    }
    return out;
  }

  /** xend.domain(dom): a running domain by name or id, else a dormant managed one. */
  private domainInfo(dom: string): DomainInfo {
    try {
      return this.toolstack.lookup(dom);
    } catch (e) {
      const cfg = this.managed.get(dom);
      if (cfg !== undefined && this.runningByName(dom) === undefined) return dormantDomainInfo(cfg);
      throw e;
    }
  }

  /**
   * The domid of a running domain. A managed domain that is not running is "not started"
   * (XendDomain.domain_pause/unpause/destroy); anything else unknown is an invalid domain.
   */
  private domid(dom: string, privilegedAction?: string): number {
    const info = this.domainInfo(dom);
    if (info.domid === null) throw new XendError(`Domain '${dom}' is not started`);
    if (info.domid === 0 && privilegedAction !== undefined) {
      throw new XendError(`Cannot ${privilegedAction} privileged domain ${dom}`);
    }
    return info.domid;
  }

  /** XendDomainInfo._checkName: one VM per name, running or managed. */
  private checkNameFree(name: string, uuid: string | null): void {
    const running = this.runningByName(name);
    if (running !== undefined && running.uuid !== uuid) {
      throw new XendError(`VM name '${name}' already exists as domain ${running.domid}`);
    }
    const managed = this.managed.get(name);
    if (managed !== undefined && managed.uuid !== uuid) throw new XendError(`VM name '${name}' already exists`);
  }

  private async create(config: DomainConfig, paused: boolean): Promise<{ domid: number; name: string }> {
    this.checkNameFree(config.name, config.uuid);
    this.log.info({ name: config.name, file: config.file }, `Creating domain ${config.name} from ${config.file}`);
    try {
      const r = await this.toolstack.create(config, { paused });
      this.log.info({ domid: r.domid, name: r.name, paused }, `Started domain ${r.name} (id=${r.domid})`);
      return r;
    } catch (e) {
      this.log.error({ name: config.name, err: e }, `Creating domain ${config.name} failed: ${(e as Error).message}`);
      throw e;
    }
  }

  private async waitGone(domid: number): Promise<DomainEnd> {
    const known = this.ended.get(domid);
    if (known !== undefined) return known;
    const end = await this.toolstack.waitGone(domid);
    this.ended.set(domid, end);
    return end;
  }

  /** xm reboot -w: the domain comes back under the same name with a new domid, or not. */
  private waitReboot(domid: number, name: string, timeoutMs: number): Promise<{ rebooted: boolean; domid?: number }> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const cb = (newDomid: number): void => {
        if (timer) clearTimeout(timer);
        resolve({ rebooted: true, domid: newDomid });
      };
      const list = this.recreated.get(name) ?? [];
      list.push(cb);
      this.recreated.set(name, list);
      void this.waitGone(domid).then(
        () => {
          // shutdown.py's RECREATING_TIMEOUT: the new domain gets this long to appear.
          timer = setTimeout(() => {
            const l = this.recreated.get(name);
            if (l) this.recreated.set(name, l.filter((f) => f !== cb));
            const now = this.runningByName(name);
            resolve(now !== undefined && now.domid !== domid && now.domid !== null ? { rebooted: true, domid: now.domid } : { rebooted: false });
          }, timeoutMs);
        },
        () => resolve({ rebooted: false }),
      );
    });
  }

  private readLog(): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile, 'utf8');
  }

  async dispatch(req: Request): Promise<unknown> {
    if (this.stopping) throw new XendError('xend is stopping');
    const a = req.args;
    const ts = this.toolstack;
    switch (req.op) {
      case 'ping':
        return { pid: process.pid, version: PROTOCOL_VERSION };
      case 'stop':
        this.log.info('xend stopping on request');
        return null;
      case 'list': {
        const doms = a.doms;
        if (Array.isArray(doms) && doms.length > 0) return doms.map((d) => this.domainInfo(String(d)));
        return [...this.running(), ...this.dormant()];
      }
      case 'domain':
        return this.domainInfo(str(a, 'dom'));
      case 'info':
        return ts.info();
      case 'create': {
        const config = configArg(a);
        const wantConsole = bool(a, 'console');
        const paused = bool(a, 'paused');
        // With a console the domain starts paused until the console is attached, so the
        // client sees its output from the first byte.
        const r = await this.create(config, paused || wantConsole);
        if (!wantConsole) return r;
        return new StreamAnswer(r, r.domid, 'buffer', paused ? undefined : () => this.unpauseQuietly(r.domid, r.name));
      }
      case 'new': {
        const config = configArg(a);
        this.checkNameFree(config.name, config.uuid);
        const stored = this.managed.put(config);
        this.log.info({ name: stored.name, uuid: stored.uuid }, `Creating new managed domain: ${stored.name}`);
        return { name: stored.name, uuid: stored.uuid };
      }
      case 'start': {
        const dom = str(a, 'dom');
        const cfg = this.managed.get(dom);
        if (cfg === undefined) {
          // A running unmanaged domain is not startable either: xend looked in managed ones.
          throw new XendError(`Domain '${dom}' does not exist.`, INVALID_DOMAIN);
        }
        const running = this.runningByName(dom);
        if (running !== undefined) throw new XendError('Domain is already running');
        const r = await this.create(cfg, bool(a, 'paused'));
        return r;
      }
      case 'delete': {
        const dom = str(a, 'dom');
        const cfg = this.managed.get(dom);
        if (cfg === undefined) throw new XendError(`Domain '${dom}' does not exist.`, INVALID_DOMAIN);
        if (this.runningByName(dom) !== undefined) throw new XendError('Domain is not halted.');
        this.managed.delete(dom);
        this.log.info({ name: dom }, `Removed managed domain ${dom}`);
        return null;
      }
      case 'destroy': {
        const dom = str(a, 'dom');
        const domid = this.domid(dom, 'destroy');
        this.log.info({ domid, name: this.nameOf(domid) }, `Destroying domain ${dom}`);
        await ts.destroy(domid);
        return null;
      }
      case 'shutdown': {
        const kind = str(a, 'kind');
        if (kind !== 'poweroff' && kind !== 'reboot' && kind !== 'halt') throw new XendError(`unknown shutdown kind '${kind}'`);
        const targets: { domid: number; name: string }[] = [];
        if (bool(a, 'all')) {
          for (const d of this.running()) if (d.domid !== null && d.domid !== 0) targets.push({ domid: d.domid, name: d.name });
        } else {
          const dom = str(a, 'dom');
          const domid = this.domid(dom, 'shut down');
          targets.push({ domid, name: this.nameOf(domid) });
        }
        for (const t of targets) {
          this.log.info({ ...t, kind }, `Shutting down domain ${t.name} (${kind})`);
          ts.shutdown(t.domid, kind);
        }
        return targets;
      }
      case 'wait':
        return this.waitGone(int(a, 'domid'));
      case 'waitReboot':
        return this.waitReboot(int(a, 'domid'), str(a, 'name'), typeof a.timeoutMs === 'number' ? a.timeoutMs : 30_000);
      case 'pause': {
        const domid = this.domid(str(a, 'dom'), 'pause');
        ts.pause(domid);
        this.log.info({ domid, name: this.nameOf(domid) }, 'Domain paused');
        return null;
      }
      case 'unpause': {
        const domid = this.domid(str(a, 'dom'), 'unpause');
        ts.unpause(domid);
        this.log.info({ domid, name: this.nameOf(domid) }, 'Domain unpaused');
        return null;
      }
      case 'rename': {
        const dom = str(a, 'dom');
        const name = str(a, 'name');
        if (!/^[A-Za-z0-9_\-.:+]+$/.test(name)) throw new XendError('Invalid VM Name');
        const info = this.domainInfo(dom);
        if (info.domid === 0) throw new XendError(`Cannot rename privileged domain ${dom}`);
        this.checkNameFree(name, info.uuid);
        if (info.domid === null) this.managed.rename(info.name, name);
        else {
          ts.rename(info.domid, name);
          if (this.managed.get(info.name) !== undefined) this.managed.rename(info.name, name);
        }
        this.log.info({ domid: info.domid, name, was: info.name }, `Domain ${info.name} renamed to ${name}`);
        return null;
      }
      case 'sysrq': {
        const domid = this.domid(str(a, 'dom'));
        const key = str(a, 'key');
        this.log.info({ domid, name: this.nameOf(domid), key }, `sysrq ${key}`);
        ts.sysrq(domid, key);
        return null;
      }
      case 'memSet':
        ts.setMemoryTarget(this.domid(str(a, 'dom')), int(a, 'mib'));
        return null;
      case 'memMax':
        ts.setMaxMemory(this.domid(str(a, 'dom')), int(a, 'mib'));
        return null;
      case 'vcpuSet':
        ts.setVcpus(this.domid(str(a, 'dom')), int(a, 'n'));
        return null;
      case 'console': {
        const dom = str(a, 'dom');
        const domid = this.domid(dom);
        const replay = a.replay === undefined ? 'buffer' : str(a, 'replay');
        if (replay !== 'buffer' && replay !== 'screen' && replay !== 'none') throw new XendError(`unknown console replay '${replay}'`);
        return new StreamAnswer({ domid, name: this.nameOf(domid) }, domid, replay);
      }
      case 'dmesg':
        return ts.dmesg(bool(a, 'clear'));
      case 'log':
        return this.readLog();
      case 'blockList':
        return ts.blockList(this.domid(str(a, 'dom')));
      case 'blockAttach':
        await ts.blockAttach(this.domid(str(a, 'dom')), a.spec as DiskSpec);
        return null;
      case 'blockDetach':
        await ts.blockDetach(this.domid(str(a, 'dom')), str(a, 'dev'), bool(a, 'force'));
        return null;
      case 'networkList':
        return ts.networkList(this.domid(str(a, 'dom')));
      case 'networkAttach':
        await ts.networkAttach(this.domid(str(a, 'dom')), a.spec as VifSpec);
        return null;
      case 'networkDetach':
        await ts.networkDetach(this.domid(str(a, 'dom')), int(a, 'devid'), bool(a, 'force'));
        return null;
      default:
        throw new XendError(`unknown request '${req.op}'`);
    }
  }

  private nameOf(domid: number): string {
    return this.running().find((d) => d.domid === domid)?.name ?? String(domid);
  }

  private unpauseQuietly(domid: number, name: string): void {
    try {
      this.toolstack.unpause(domid);
    } catch (e) {
      this.log.error({ domid, name, err: e }, `Failed to unpause domain ${name}: ${(e as Error).message}`);
    }
  }
}
