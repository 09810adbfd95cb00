// xend's control socket: it answers xm's requests with the Toolstack and keeps the managed
// domains. One bad request, or a client that goes away mid-request, costs that request only:
// every answer is written to a connection that may already be gone, and every failure
// becomes an error answer (xend's XML-RPC server turned exceptions into Faults the same way).

import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';

import { XendError, type DomainEnd, type Toolstack } from '../toolstack/types.js';
import type { DomainConfig } from '../model/index.js';
import type { DomainInfo } from '../model/info.js';
import type { Replay } from '../xenconsoled/console.js';
import { ManagedDomains, dormantDomainInfo } from './managed.js';
import {
  ArgumentError, LineSplitter, PROTOCOL_VERSION, checkArgs, encodeLine, isOpName, parseRequest,
  type ArgsOf, type OpName, type Request, type ResultOf, type WireError,
} from './protocol.js';
import { errorMessage } from '../../hypervisor/errors.js';

/** xm's exit status for an unknown domain (XendClient.ERROR_INVALID_DOMAIN). */
const INVALID_DOMAIN = 3;

/** An answer that turns the connection into a console stream once written. */
class StreamAnswer<R = unknown> {
  constructor(
    readonly result: R,
    readonly domid: number,
    readonly replay: Replay,
    /** Runs once the console is attached (create -c unpauses the new domain here). */
    readonly afterAttach?: () => void,
  ) {}
}

/** What a handler gives: its result, now or later, or a console stream answered with it. */
type Answer<R> = R | Promise<R> | StreamAnswer<R> | Promise<StreamAnswer<R>> | Promise<R | StreamAnswer<R>>;

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


export class XendServer {
  readonly toolstack: Toolstack;
  readonly log: Logger;
  readonly managed: ManagedDomains;
  private readonly logFile: string;
  private readonly onStop?: () => void;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
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

  /** How a domain ended, now or once it does (the toolstack keeps ends it has seen). */
  private waitGone(domid: number): Promise<DomainEnd> {
    return this.toolstack.waitGone(domid);
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
    if (!isOpName(req.op)) throw new XendError(`unknown request '${req.op}'`);
    return this.run(req.op, req.args);
  }

  private run<K extends OpName>(op: K, raw: Record<string, unknown>): Answer<ResultOf<K>> {
    let args: ArgsOf<K>;
    try {
      args = checkArgs(op, raw);
    } catch (e) {
      throw e instanceof ArgumentError ? new XendError(e.message) : e;
    }
    // One cast: TypeScript cannot follow K from the table's key to its value's parameter.
    return (this.handlers[op] as (a: ArgsOf<K>) => Answer<ResultOf<K>>)(args);
  }

  /** One handler per op of XendOps (protocol.ts), each given its checked arguments. */
  private readonly handlers: { readonly [K in OpName]: (a: ArgsOf<K>) => Answer<ResultOf<K>> } = {
    ping: () => ({ pid: process.pid, version: PROTOCOL_VERSION }),
    stop: () => {
      this.log.info('xend stopping on request');
      return null;
    },
    list: (a) => {
      if (a.doms !== undefined && a.doms.length > 0) return a.doms.map((d) => this.domainInfo(d));
      return [...this.running(), ...this.dormant()];
    },
    domain: (a) => this.domainInfo(a.dom),
    info: () => this.toolstack.info(),
    create: async (a) => {
      const paused = a.paused ?? false;
      // With a console the domain starts paused until the console is attached, so the
      // client sees its output from the first byte.
      const r = await this.create(a.config, paused || a.console === true);
      if (a.console !== true) return r;
      return new StreamAnswer(r, r.domid, 'buffer', paused ? undefined : () => this.unpauseQuietly(r.domid, r.name));
    },
    new: (a) => {
      this.checkNameFree(a.config.name, a.config.uuid);
      const stored = this.managed.put(a.config);
      this.log.info({ name: stored.name, uuid: stored.uuid }, `Creating new managed domain: ${stored.name}`);
      return { name: stored.name, uuid: stored.uuid };
    },
    start: async (a) => {
      const cfg = this.managed.get(a.dom);
      // A running unmanaged domain is not startable either: xend looked in managed ones.
      if (cfg === undefined) throw new XendError(`Domain '${a.dom}' does not exist.`, INVALID_DOMAIN);
      if (this.runningByName(a.dom) !== undefined) throw new XendError('Domain is already running');
      return this.create(cfg, a.paused ?? false);
    },
    delete: (a) => {
      const cfg = this.managed.get(a.dom);
      if (cfg === undefined) throw new XendError(`Domain '${a.dom}' does not exist.`, INVALID_DOMAIN);
      if (this.runningByName(a.dom) !== undefined) throw new XendError('Domain is not halted.');
      this.managed.delete(a.dom);
      this.log.info({ name: a.dom }, `Removed managed domain ${a.dom}`);
      return null;
    },
    destroy: async (a) => {
      const domid = this.domid(a.dom, 'destroy');
      this.log.info({ domid, name: this.nameOf(domid) }, `Destroying domain ${a.dom}`);
      await this.toolstack.destroy(domid);
      return null;
    },
    shutdown: (a) => {
      const kind = a.kind;
      if (kind !== 'poweroff' && kind !== 'reboot' && kind !== 'halt') throw new XendError(`unknown shutdown kind '${kind}'`);
      const targets: { domid: number; name: string }[] = [];
      if (a.all === true) {
        for (const d of this.running()) if (d.domid !== null && d.domid !== 0) targets.push({ domid: d.domid, name: d.name });
      } else {
        if (a.dom === undefined) throw new XendError("request argument 'dom' is missing");
        const domid = this.domid(a.dom, 'shut down');
        targets.push({ domid, name: this.nameOf(domid) });
      }
      for (const t of targets) {
        this.log.info({ ...t, kind }, `Shutting down domain ${t.name} (${kind})`);
        this.toolstack.shutdown(t.domid, kind);
      }
      return targets;
    },
    wait: (a) => this.waitGone(a.domid),
    waitReboot: (a) => this.waitReboot(a.domid, a.name, a.timeoutMs ?? 30_000),
    pause: (a) => {
      const domid = this.domid(a.dom, 'pause');
      this.toolstack.pause(domid);
      this.log.info({ domid, name: this.nameOf(domid) }, 'Domain paused');
      return null;
    },
    unpause: (a) => {
      const domid = this.domid(a.dom, 'unpause');
      this.toolstack.unpause(domid);
      this.log.info({ domid, name: this.nameOf(domid) }, 'Domain unpaused');
      return null;
    },
    rename: (a) => {
      const { dom, name } = a;
      if (!/^[A-Za-z0-9_\-.:+]+$/.test(name)) throw new XendError('Invalid VM Name');
      const info = this.domainInfo(dom);
      if (info.domid === 0) throw new XendError(`Cannot rename privileged domain ${dom}`);
      this.checkNameFree(name, info.uuid);
      if (info.domid === null) this.managed.rename(info.name, name);
      else {
        this.toolstack.rename(info.domid, name);
        if (this.managed.get(info.name) !== undefined) this.managed.rename(info.name, name);
      }
      this.log.info({ domid: info.domid, name, was: info.name }, `Domain ${info.name} renamed to ${name}`);
      return null;
    },
    sysrq: (a) => {
      const domid = this.domid(a.dom);
      this.log.info({ domid, name: this.nameOf(domid), key: a.key }, `sysrq ${a.key}`);
      this.toolstack.sysrq(domid, a.key);
      return null;
    },
    memSet: (a) => {
      this.toolstack.setMemoryTarget(this.domid(a.dom), a.mib);
      return null;
    },
    memMax: (a) => {
      this.toolstack.setMaxMemory(this.domid(a.dom), a.mib);
      return null;
    },
    vcpuSet: (a) => {
      this.toolstack.setVcpus(this.domid(a.dom), a.n);
      return null;
    },
    console: (a) => {
      const domid = this.domid(a.dom);
      const replay = a.replay ?? 'buffer';
      if (replay !== 'buffer' && replay !== 'screen' && replay !== 'none') throw new XendError(`unknown console replay '${replay}'`);
      return new StreamAnswer({ domid, name: this.nameOf(domid) }, domid, replay);
    },
    dmesg: (a) => this.toolstack.dmesg(a.clear ?? false),
    log: () => this.readLog(),
    blockList: (a) => this.toolstack.blockList(this.domid(a.dom)),
    blockAttach: async (a) => {
      await this.toolstack.blockAttach(this.domid(a.dom), a.spec);
      return null;
    },
    blockDetach: async (a) => {
      await this.toolstack.blockDetach(this.domid(a.dom), a.dev, a.force ?? false);
      return null;
    },
    networkList: (a) => this.toolstack.networkList(this.domid(a.dom)),
    networkAttach: async (a) => {
      await this.toolstack.networkAttach(this.domid(a.dom), a.spec);
      return null;
    },
    networkDetach: async (a) => {
      await this.toolstack.networkDetach(this.domid(a.dom), a.devid, a.force ?? false);
      return null;
    },
  };

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
