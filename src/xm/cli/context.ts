// What every xm command gets: its name and raw arguments, output streams, and a connection to
// this user's xend (started on first use).

import type { ArgsOf, CallArgs, OpName, ResultOf, StreamOp } from '../../dom0/xend/protocol.js';
import { connectXend, XendConnection, type ConsoleStream } from '../../dom0/xend/client.js';
import { statePaths, type StatePaths } from '../../dom0/xend/paths.js';
import { XmExit } from './errors.js';
import { cmdHelp } from './help.js';

export class Ctx {
  private conn: XendConnection | null = null;
  readonly paths: StatePaths = statePaths();

  constructor(
    /** The command as xm resolved it, e.g. 'list'. */
    readonly cmd: string,
    /** The arguments after the command, as typed. */
    readonly raw: readonly string[],
  ) {}

  out(s: string): void {
    process.stdout.write(s);
  }

  err(s: string): void {
    process.stderr.write(s);
  }

  /** main.err(): "Error: MSG" on stderr. */
  error(msg: string): void {
    this.err(`Error: ${msg}\n`);
  }

  /** main.usage(cmd): the command's help on stdout, exit 1. */
  usage(extra?: string): never {
    this.out(cmdHelp(this.cmd, extra));
    throw new XmExit(1);
  }

  /**
   * main.arg_check: the number of arguments (options included, '--' not) must be lo, or
   * between lo and hi.
   */
  argCheck(lo: number, hi = -1): void {
    const n = this.raw.filter((a) => a !== '--').length;
    if (hi === -1) {
      if (n !== lo) {
        this.error(`'xm ${this.cmd}' requires ${lo} argument${lo === 1 ? '' : 's'}.\n`);
        this.usage();
      }
    } else if (n < lo || n > hi) {
      this.error(`'xm ${this.cmd}' requires between ${lo} and ${hi} arguments.\n`);
      this.usage();
    }
  }

  async xend(): Promise<XendConnection> {
    this.conn ??= await connectXend({ paths: this.paths });
    return this.conn;
  }

  async call<K extends OpName>(op: K, ...args: CallArgs<K>): Promise<ResultOf<K>> {
    return (await this.xend()).request(op, ...args);
  }

  /** A request that turns this command's connection into a console stream. */
  async stream<K extends StreamOp>(op: K, args: ArgsOf<K>): Promise<ConsoleStream<ResultOf<K>>> {
    const c = await this.xend();
    this.conn = null;
    return c.stream(op, args);
  }

  close(): void {
    this.conn?.close();
    this.conn = null;
  }
}
