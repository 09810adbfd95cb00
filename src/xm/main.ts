#!/usr/bin/env node
// xm: the Xen 4.4 command line for tsxen (src/xm/cli). Usage: xm <subcommand> [args]
import { runXm } from './cli/index.js';

runXm(process.argv.slice(2)).then(
  (code) => {
    // Console streams and stdin may still hold the event loop open: the command is done.
    process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`Error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
