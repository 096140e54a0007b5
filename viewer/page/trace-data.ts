/**
 * The embedded payload (viewer/payload.ts) unpacked on demand: a state's
 * variables are found through one index per variable made at load (linear in the
 * trace, no values copied), and a state's guest memory is rebuilt from the
 * changes only when a step asks for it, from the nearest checkpoint, so that
 * stepping through a 10,000-step trace costs a few changes per key press.
 */
import type { ItfValue, MemoryDelta, PackedState, Payload, PlainVar } from '../payload.ts';
import { PAYLOAD_VERSION, PLAIN_VARS } from '../payload.ts';
import { fencesHart, hartCount } from './harts.ts';

export type Memory = ReadonlyMap<bigint, bigint>;

/** States between memory checkpoints: a jump rebuilds at most this many states' changes. */
const CHECKPOINT_EVERY = 256;
/** Rebuilt memories kept: the current step and the one before it are asked for on every render. */
const KEEP = 4;

export class TraceData {
  readonly count: number;
  readonly states: readonly PackedState[];
  private readonly holder = new Map<PlainVar, Int32Array>();
  /** For each state, the last state before it that records memory (-1: none). */
  private readonly memoryBefore: Int32Array;
  private readonly checkpoints = new Map<number, Map<bigint, bigint>>();
  private readonly recent: { k: number; memory: Map<bigint, bigint> }[] = [];
  private changes: Map<bigint, number[]> | null = null;
  private fenceSteps: number[] | null = null;

  constructor(readonly payload: Payload) {
    if (payload.version !== PAYLOAD_VERSION) throw new Error(`this page reads payload version ${PAYLOAD_VERSION}, the file embeds ${String(payload.version)}`);
    this.states = payload.states;
    this.count = payload.states.length;
    for (const v of PLAIN_VARS) {
      const at = new Int32Array(this.count);
      for (let k = 0; k < this.count; k++) {
        const s = payload.states[k] as PackedState;
        at[k] = v in s.values ? k : s.same.includes(v) && k > 0 ? (at[k - 1] as number) : -1;
      }
      this.holder.set(v, at);
    }
    this.memoryBefore = new Int32Array(this.count);
    let last = -1;
    for (let k = 0; k < this.count; k++) {
      this.memoryBefore[k] = last;
      if (payload.states[k]?.memory !== undefined) last = k;
    }
  }

  state(k: number): PackedState {
    const s = this.states[k];
    if (s === undefined) throw new RangeError(`no state ${k}`);
    return s;
  }

  /** A variable's value at state k, or undefined where the state does not record it. */
  value(k: number, v: PlainVar): ItfValue | undefined {
    const at = this.holder.get(v)?.[k] ?? -1;
    return at < 0 ? undefined : this.state(at).values[v];
  }

  /** Whether state k records guest memory. */
  hasMemory(k: number): boolean {
    return this.state(k).memory !== undefined;
  }

  /** The last state before k that records memory, or -1. */
  lastMemoryBefore(k: number): number {
    return this.memoryBefore[k] ?? -1;
  }

  /** Guest memory at state k (address -> word), or null where the state does not record it. */
  memory(k: number): Memory | null {
    if (!this.hasMemory(k)) return null;
    const kept = this.recent.find((r) => r.k === k);
    if (kept !== undefined) return kept.memory;
    // Start from the nearest rebuilt memory at or before k: a kept one, or a checkpoint.
    let from = -1;
    let base: ReadonlyMap<bigint, bigint> = new Map();
    for (const r of this.recent) if (r.k < k && r.k > from) ({ k: from, memory: base } = r);
    for (let c = Math.floor(k / CHECKPOINT_EVERY) * CHECKPOINT_EVERY; c > from; c -= CHECKPOINT_EVERY) {
      const m = this.checkpoints.get(c);
      if (m !== undefined) {
        from = c;
        base = m;
        break;
      }
    }
    const mem = new Map(base);
    for (let j = from + 1; j <= k; j++) {
      const d = this.states[j]?.memory;
      if (d === undefined) continue;
      apply(mem, d);
      if (j % CHECKPOINT_EVERY === 0 && j < k && !this.checkpoints.has(j)) this.checkpoints.set(j, new Map(mem));
    }
    if (k % CHECKPOINT_EVERY === 0) this.checkpoints.set(k, mem);
    this.recent.push({ k, memory: mem });
    if (this.recent.length > KEEP) this.recent.shift();
    return mem;
  }

  /**
   * The states whose recorded memory changed the word at `addr` (written, changed
   * or removed), ascending: an index made once, on the first question.
   */
  changesOf(addr: bigint): readonly number[] {
    if (this.changes === null) {
      const index = new Map<bigint, number[]>();
      const note = (a: string, k: number): void => {
        const key = BigInt(a);
        const list = index.get(key);
        if (list === undefined) index.set(key, [k]);
        else list.push(k);
      };
      this.states.forEach((s, k) => {
        if (s.memory === undefined) return;
        for (const [a] of s.memory.set) note(a, k);
        for (const a of s.memory.del) note(a, k);
      });
      this.changes = index;
    }
    return this.changes.get(addr) ?? [];
  }

  /** The last step at or before k that changed the guest word at `addr` (0: it holds its boot value), or null when memory was never recorded. */
  lastChange(addr: bigint, k: number): number | null {
    const list = this.changesOf(addr);
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((list[mid] as number) <= k) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? (this.hasMemory(0) ? 0 : null) : (list[lo - 1] as number);
  }

  /** The steps whose action is a guest fence (SFENCE.VMA, or in a several-hart trace an SBI remote fence), ascending. */
  fences(): readonly number[] {
    if (this.fenceSteps === null) {
      this.fenceSteps = [];
      this.states.forEach((s, k) => {
        const kind = (s.action as { kind?: unknown }).kind;
        if (kind === 'sfence' || kind === 'sbi') this.fenceSteps?.push(k);
      });
    }
    return this.fenceSteps;
  }

  /** The guest fences in (after, upTo]; with `hart`, those that fenced that hart (its own SFENCE.VMA, an SBI call naming it). */
  fencesBetween(after: number, upTo: number, hart?: number): number[] {
    const all = this.fences().filter((f) => f > after && f <= upTo);
    if (hart === undefined) return all;
    const harts = hartCount(this.payload.meta) ?? 1;
    return all.filter((f) => fencesHart(this.state(f).action, this.value(f, 'hart'), hart, harts));
  }
}

function apply(mem: Map<bigint, bigint>, d: MemoryDelta): void {
  for (const [a, w] of d.set) mem.set(BigInt(a), BigInt(w));
  for (const a of d.del) mem.delete(BigInt(a));
}
