// The guest's side of the console page, on its own thread as a domU's vCPUs are, written the
// way Linux 6.1's drivers/tty/hvc/hvc_xen.c does it:
//  - __write_console: read out_cons/out_prod, refuse impossible indices (-EINVAL), copy as
//    much as fits, publish out_prod after the data, notify if anything was sent;
//    domU_write_console loops until all is sent, yielding in between (here: waiting on the
//    event word, with a timeout, as a blocked vCPU would).
//  - domU_read_console: read in[] from in_cons to in_prod (up to the caller's buffer, which
//    hvc_console sizes at N_INBUF = 16), publish in_cons, notify the daemon if it read anything.
// Plain JS because the worker runs outside vitest's TypeScript transform.

import { parentPort, workerData } from 'node:worker_threads';

const { sab, pageOffset, evtSab } = workerData;
const page = new Uint8Array(sab, pageOffset, 4096);
// struct xencons_interface: in[1024] @0, out[2048] @1024, in_cons @3072, in_prod, out_cons, out_prod.
const IN = 0, OUT = 1024, IN_SIZE = 1024, OUT_SIZE = 2048;
const idx = new Int32Array(sab, pageOffset + 3072, 4);
const IN_CONS = 0, IN_PROD = 1, OUT_CONS = 2, OUT_PROD = 3;
// evt[0]: events dom0 raised on our console port.
const evt = new Int32Array(evtSab);

function notifyDaemon() {
  parentPort.postMessage({ op: 'kick' });
}

function waitEvent(seen, ms) {
  Atomics.wait(evt, 0, seen, ms);
}

function writeConsole(data, off, len) {
  const cons = Atomics.load(idx, OUT_CONS) >>> 0;
  let prod = Atomics.load(idx, OUT_PROD) >>> 0;
  if (((prod - cons) >>> 0) > OUT_SIZE) return -22;
  let sent = 0;
  while (sent < len && ((prod - cons) >>> 0) < OUT_SIZE) {
    page[OUT + (prod % OUT_SIZE)] = data[off + sent++];
    prod = (prod + 1) >>> 0;
  }
  Atomics.store(idx, OUT_PROD, prod | 0);
  if (sent) notifyDaemon();
  return sent;
}

function domUWrite(data, off, len, deadline) {
  while (len) {
    const seen = Atomics.load(evt, 0);
    const sent = writeConsole(data, off, len);
    if (sent < 0) return sent;
    off += sent;
    len -= sent;
    if (len) {
      if (Date.now() > deadline) return -110;
      waitEvent(seen, 20);
    }
  }
  return 0;
}

function readConsole(max) {
  let cons = Atomics.load(idx, IN_CONS) >>> 0;
  const prod = Atomics.load(idx, IN_PROD) >>> 0;
  if (((prod - cons) >>> 0) > IN_SIZE) return -22;
  const out = [];
  while (cons !== prod && out.length < max) {
    out.push(page[IN + (cons % IN_SIZE)]);
    cons = (cons + 1) >>> 0;
  }
  Atomics.store(idx, IN_CONS, cons | 0);
  if (out.length) notifyDaemon();
  return out;
}

parentPort.on('message', (m) => {
  const deadline = Date.now() + (m.timeoutMs ?? 10000);
  if (m.op === 'write') {
    // The tty layer hands hvc_xen the text in pieces; m.chunks cycles through piece sizes.
    const data = m.data;
    let off = 0, k = 0;
    while (off < data.length) {
      const n = Math.min(m.chunks[k++ % m.chunks.length], data.length - off);
      const rc = domUWrite(data, off, n, deadline);
      if (rc < 0) {
        parentPort.postMessage({ op: 'error', rc, at: off });
        return;
      }
      off += n;
    }
    parentPort.postMessage({ op: 'written', n: off });
  } else if (m.op === 'read') {
    // hvc_poll: read up to N_INBUF at a time until `want` bytes have come, sleeping on the
    // console event in between.
    const got = [];
    while (got.length < m.want) {
      const seen = Atomics.load(evt, 0);
      const r = readConsole(Math.min(m.max ?? 16, m.want - got.length));
      if (r === -22) {
        parentPort.postMessage({ op: 'error', rc: r, at: got.length });
        return;
      }
      for (const b of r) got.push(b);
      if (r.length === 0) {
        if (Date.now() > deadline) {
          parentPort.postMessage({ op: 'error', rc: -110, at: got.length });
          return;
        }
        waitEvent(seen, 20);
      }
    }
    parentPort.postMessage({ op: 'read', data: Uint8Array.from(got) });
  }
});
parentPort.postMessage({ op: 'up' });
