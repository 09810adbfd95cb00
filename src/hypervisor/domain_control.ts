// The words a domain's worker thread and dom0's main thread share besides guest memory: the
// doorbells that carry event-channel notifications across the threads (a bitmap per direction,
// one bit per guest port, plus a futex word to wake the other side), the ports the guest has
// offered to dom0 (so dom0 can bind one synchronously, as EVTCHNOP_bind_interdomain does), the
// grant-table size, run commands (pause, destroy) and per-vCPU statistics for `xm list`.
// Only Atomics touch these words: both threads run at once.

import { NR_EVENT_CHANNELS } from './event_channel.js';

const WORDS = NR_EVENT_CHANNELS / 32;

/** Int32 indices. */
const enum W {
  /** Bumped (and notified) whenever the worker has something to look at. */
  Wake = 0,
  Cmd = 1,
  RunState = 2,
  GrantFrames = 3,
  /** Bumped (and notified) when the worker set bits in the to-dom0 bitmap. */
  ToDom0Seq = 4,
  /** Offers dom0 has claimed that the worker has not connected yet. */
  Claims = 5,
  Online = 6,
  Blocked = 7,
  ToGuest = 16,
  ToDom0 = ToGuest + WORDS,
  Offer = ToDom0 + WORDS,
  End = Offer + NR_EVENT_CHANNELS,
}

export const MAX_VCPUS = 32;
const CPU_NS_BYTE = W.End * 4;
const BYTES = CPU_NS_BYTE + MAX_VCPUS * 8;

export const CMD_PAUSE = 1;
export const CMD_DESTROY = 2;

export const enum RunState {
  Running = 0,
  /** Every vCPU blocked (waiting for an event or timer). */
  Idle = 1,
  Paused = 2,
  Stopped = 3,
}

export const enum Offer {
  None = 0,
  /** The guest holds an unbound port whose remote domain is dom0. */
  Unbound = 1,
  /** dom0 has bound it; the worker connects the guest's end on its next look. */
  Claimed = 2,
}

export class DomainControl {
  readonly i32: Int32Array;
  private readonly cpuNs: Float64Array;

  constructor(readonly sab: SharedArrayBuffer = new SharedArrayBuffer(BYTES)) {
    if (sab.byteLength !== BYTES) throw new Error(`domain control block is ${sab.byteLength} bytes, expected ${BYTES}`);
    this.i32 = new Int32Array(sab, 0, W.End);
    this.cpuNs = new Float64Array(sab, CPU_NS_BYTE, MAX_VCPUS);
  }

  // ---- dom0 → worker ----

  /** Wake the worker (it re-reads commands and doorbells). */
  wake(): void {
    Atomics.add(this.i32, W.Wake, 1);
    Atomics.notify(this.i32, W.Wake);
  }
  wakeSeq(): number {
    return Atomics.load(this.i32, W.Wake);
  }
  /** Worker: sleep until woken or `ms` pass, unless woken since `seq` was read. */
  sleep(seq: number, ms: number): void {
    Atomics.wait(this.i32, W.Wake, seq, ms);
  }

  /** dom0 raises the guest's end of an interdomain port. */
  ringGuest(port: number): void {
    Atomics.or(this.i32, W.ToGuest + (port >>> 5), 1 << (port & 31));
    this.wake();
  }

  setCommand(bit: number, on: boolean): void {
    if (on) Atomics.or(this.i32, W.Cmd, bit);
    else Atomics.and(this.i32, W.Cmd, ~bit);
    this.wake();
  }
  command(bit: number): boolean {
    return (Atomics.load(this.i32, W.Cmd) & bit) !== 0;
  }

  /** Worker: take the ports dom0 rang since the last call. */
  takeGuestDoorbells(each: (port: number) => void): void {
    takeBits(this.i32, W.ToGuest, each);
  }

  // ---- worker → dom0 ----

  ringDom0(port: number): void {
    Atomics.or(this.i32, W.ToDom0 + (port >>> 5), 1 << (port & 31));
    Atomics.add(this.i32, W.ToDom0Seq, 1);
    Atomics.notify(this.i32, W.ToDom0Seq);
  }
  dom0Seq(): number {
    return Atomics.load(this.i32, W.ToDom0Seq);
  }
  /** dom0: resolves when the worker rings after `seq` (Atomics.waitAsync: the main thread never blocks). */
  waitDom0(seq: number): Promise<unknown> {
    const r = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.i32, W.ToDom0Seq, seq);
    return r.async ? r.value : Promise.resolve(r.value);
  }
  /** Wake a dom0 waiter without ringing a port (the domain stopped). */
  pokeDom0(): void {
    Atomics.add(this.i32, W.ToDom0Seq, 1);
    Atomics.notify(this.i32, W.ToDom0Seq);
  }
  takeDom0Doorbells(each: (port: number) => void): void {
    takeBits(this.i32, W.ToDom0, each);
  }

  // ---- ports offered to dom0 ----

  setOffer(port: number, o: Offer): void {
    Atomics.store(this.i32, W.Offer + port, o);
  }
  offer(port: number): Offer {
    return Atomics.load(this.i32, W.Offer + port) as Offer;
  }
  /** dom0: bind the guest's unbound port; false when it is not (or no longer) offered. */
  claim(port: number): boolean {
    if (!Number.isInteger(port) || port <= 0 || port >= NR_EVENT_CHANNELS) return false;
    if (Atomics.compareExchange(this.i32, W.Offer + port, Offer.Unbound, Offer.Claimed) !== Offer.Unbound) return false;
    Atomics.add(this.i32, W.Claims, 1);
    this.wake();
    return true;
  }
  /** Worker: take one claimed offer (the guest sends on it before the next look). */
  takeClaim(port: number): boolean {
    if (Atomics.compareExchange(this.i32, W.Offer + port, Offer.Claimed, Offer.None) !== Offer.Claimed) return false;
    Atomics.sub(this.i32, W.Claims, 1);
    return true;
  }
  /** Worker: connect every claimed offer. */
  takeClaims(each: (port: number) => void): void {
    if (Atomics.load(this.i32, W.Claims) === 0) return;
    for (let p = 1; p < NR_EVENT_CHANNELS; p++) {
      if (Atomics.compareExchange(this.i32, W.Offer + p, Offer.Claimed, Offer.None) === Offer.Claimed) {
        Atomics.sub(this.i32, W.Claims, 1);
        each(p);
      }
    }
  }

  // ---- shared facts ----

  get grantFrames(): number {
    return Atomics.load(this.i32, W.GrantFrames);
  }
  set grantFrames(n: number) {
    Atomics.store(this.i32, W.GrantFrames, n);
  }

  get runState(): RunState {
    return Atomics.load(this.i32, W.RunState) as RunState;
  }
  set runState(s: RunState) {
    Atomics.store(this.i32, W.RunState, s);
  }

  /** Worker: publish which vCPUs are online/blocked and their CPU time. */
  publishVcpus(vcpus: readonly { online: boolean; blocked: boolean; cpuTimeNs: number }[]): void {
    let online = 0;
    let blocked = 0;
    for (let i = 0; i < vcpus.length && i < MAX_VCPUS; i++) {
      if (vcpus[i].online) online |= 1 << i;
      if (vcpus[i].blocked) blocked |= 1 << i;
      this.cpuNs[i] = vcpus[i].cpuTimeNs;
    }
    Atomics.store(this.i32, W.Online, online);
    Atomics.store(this.i32, W.Blocked, blocked);
  }
  vcpuOnline(i: number): boolean {
    return ((Atomics.load(this.i32, W.Online) >>> i) & 1) === 1;
  }
  vcpuBlocked(i: number): boolean {
    return ((Atomics.load(this.i32, W.Blocked) >>> i) & 1) === 1;
  }
  /** ns; a plain read: a torn value is impossible for an aligned Float64 on x86/arm64 hosts. */
  vcpuCpuNs(i: number): number {
    return this.cpuNs[i];
  }
}

/** Node 20 has Atomics.waitAsync (ES2024); our ES2022 lib does not declare it. */
interface AtomicsWaitAsync {
  waitAsync(a: Int32Array, index: number, value: number, timeout?: number): { async: false; value: string } | { async: true; value: Promise<string> };
}

function takeBits(i32: Int32Array, base: number, each: (port: number) => void): void {
  for (let w = 0; w < WORDS; w++) {
    if (Atomics.load(i32, base + w) === 0) continue;
    let bits = Atomics.exchange(i32, base + w, 0);
    while (bits !== 0) {
      const b = 31 - Math.clz32(bits & -bits);
      bits &= bits - 1;
      each(w * 32 + b);
    }
  }
}
