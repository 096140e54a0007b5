/**
 * Exhaustive bounded checking with several harts: every program up to depth K over
 * a several-hart alphabet, run on a machine with several vCPUs beside the N-hart
 * reference with every check of properties/harts-run.ts (every property per hart as
 * its scope says, isolation across harts, SBI returns and traps), as the one-hart
 * search (properties/exhaustive.ts) runs the one-hart properties.
 *
 * Breadth-first, and a run whose state (the N-hart reference, the machine, every
 * hart's property folds: properties/canonical.ts) was reached before is not explored
 * again: the first violation found is at the least depth any program fails at. The
 * result is a function of the alphabet, the hart count and the depth.
 *
 * The alphabet (`hartsAlphabet`) is the one-hart configuration's per-hart events on
 * every hart (accesses, satp writes, fences), its page-table stores and host events
 * made on hart 0 (a store is one write to the one memory whichever hart makes it; a
 * host event runs on the hypervisor thread of hart 0, and reaches the others by
 * IPI), and SBI remote fences from every hart: of the whole address space to every
 * hart, and of the first page to the harts other than the caller.
 */
import type { ModelName } from '../model/machine.ts';
import type { AnyVcpuMachine, VcpuStep } from '../model/vcpus.ts';
import { canonicaliser } from './canonical.ts';
import type { ExhaustiveConfig } from './exhaustive-configs.ts';
import { type HartsLockstep, type HartsStats, type HartsViolation, emptyHartsStats, startHartsLockstep, stepHartsLockstep } from './harts-run.ts';
import { bootMemory } from './pools.ts';

const ONES = (1n << 64n) - 1n;

/** The several-hart alphabet of a one-hart configuration (see above), in a fixed order. */
export function hartsAlphabet(config: ExhaustiveConfig, harts: number): VcpuStep[] {
  const out: VcpuStep[] = [];
  const everyHart = Array.from({ length: harts }, (_v, h) => h);
  for (const e of config.alphabet) {
    if (e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect') out.push({ kind: 'host', hart: 0, event: e });
    else if (e.kind === 'ptStore') out.push({ kind: 'guest', hart: 0, action: e });
    else for (const hart of everyHart) out.push({ kind: 'guest', hart, action: e });
  }
  const page = config.universe[0];
  for (const hart of everyHart) {
    out.push({ kind: 'sbi', hart, call: { kind: 'remoteSfenceVma', hartMask: 0n, hartMaskBase: ONES, startAddr: 0n, size: 0n } });
    const others = ((1 << harts) - 1) & ~(1 << hart);
    if (page !== undefined) out.push({ kind: 'sbi', hart, call: { kind: 'remoteSfenceVma', hartMask: BigInt(others), hartMaskBase: 0n, startAddr: BigInt.asUintN(64, page), size: 4096n } });
  }
  return out;
}

/**
 * Events a several-hart exhaustive run must have seen once it reaches depth 4 (every
 * model: a remote fence, a hart a fence missed offered a stale outcome, another
 * hart flushed for a change; shadow paging: a resync another hart sees).
 */
export function hartsExhaustiveFloors(model: ModelName): readonly string[] {
  return ['remote-fence', 'stale-allowed', 'stale-allowed-unfenced-hart', 'remote-flush', ...(model === 'npt' ? [] : ['resync-seen-by-other-hart'])];
}
export const HARTS_MIN_FLOOR_DEPTH = 4;

export interface HartsSearchOptions {
  readonly config: ExhaustiveConfig;
  readonly harts: number;
  readonly depth: number;
  readonly machine: AnyVcpuMachine;
  /** Stop after this many steps, with the depths completed by then. */
  readonly maxTransitions?: number;
  /** Whether a failing program counts (for a variant: one the correct model passes); one that does not is neither reported nor continued. */
  readonly accept?: (steps: readonly VcpuStep[]) => boolean;
  readonly onDepth?: (level: { readonly depth: number; readonly transitions: number; readonly fresh: number; readonly seconds: number }) => void;
}

export interface HartsSearchResult {
  readonly depthCompleted: number;
  readonly transitions: number;
  readonly distinct: number;
  readonly stats: HartsStats;
  readonly failure: { readonly steps: readonly VcpuStep[]; readonly violation: HartsViolation } | null;
  readonly seconds: number;
}

interface Path {
  readonly step: VcpuStep;
  readonly before: Path | null;
}

const stepsOf = (p: Path | null): VcpuStep[] => {
  const out: VcpuStep[] = [];
  for (let q = p; q !== null; q = q.before) out.push(q.step);
  return out.reverse();
};

/** The part of a run its future depends on: the statistics-only bookkeeping left out. */
const stateOf = (run: HartsLockstep): readonly unknown[] => [run.ref, run.machine, run.folds];

export function exhaustiveHartsSearch(opts: HartsSearchOptions): HartsSearchResult {
  const started = performance.now();
  const { context, run: initial } = startHartsLockstep(opts.machine, opts.harts, 'arbitrary', { ad: opts.config.ad ?? 'svade', initialMemory: bootMemory(), universe: opts.config.universe });
  const alphabet = hartsAlphabet(opts.config, opts.harts);
  const stats = emptyHartsStats();
  const canonical = canonicaliser();
  const visited = new Set<string>([canonical.name(stateOf(initial))]);
  let frontier: { readonly run: HartsLockstep; readonly path: Path | null }[] = [{ run: initial, path: null }];
  let transitions = 0;
  const result = (depthCompleted: number, failure: HartsSearchResult['failure']): HartsSearchResult => ({
    depthCompleted, transitions, distinct: visited.size, stats, failure, seconds: (performance.now() - started) / 1000,
  });
  for (let d = 1; d <= opts.depth; d++) {
    const t0 = performance.now();
    let level = 0;
    const next: typeof frontier = [];
    for (const { run, path } of frontier) {
      for (const step of alphabet) {
        if (opts.maxTransitions !== undefined && transitions >= opts.maxTransitions) return result(d - 1, null);
        transitions++;
        level++;
        const here: Path = { step, before: path };
        const r = stepHartsLockstep(context, run, step, d - 1, stats);
        if (r.kind === 'violation') {
          const steps = stepsOf(here);
          if (opts.accept === undefined || opts.accept(steps)) return result(d - 1, { steps, violation: r.violation });
          continue;
        }
        if (d === opts.depth) continue;
        const key = canonical.name(stateOf(r.next));
        if (visited.has(key)) continue;
        visited.add(key);
        next.push({ run: r.next, path: here });
      }
    }
    opts.onDepth?.({ depth: d, transitions: level, fresh: next.length, seconds: (performance.now() - t0) / 1000 });
    frontier = next;
  }
  return result(opts.depth, null);
}
