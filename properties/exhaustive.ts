/**
 * Exhaustive bounded checking: every program up to depth K over a configuration's
 * alphabet (properties/exhaustive-configs.ts), run on one machine beside the
 * reference with every property that applies to it checked at every step, as the
 * random suite runs them (properties/run.ts).
 *
 * The search is breadth-first over lockstep runs, and a run whose state (the
 * reference's memory, satp, saturated cache and in-flight roots; the machine;
 * every property's fold state: properties/canonical.ts) was reached before by a
 * program no longer is not explored again: from equal states every continuation
 * gives the same verdicts. So the states at depth d are exactly those some
 * program of d steps reaches and no shorter one does, and the first violation
 * found is at the least depth any program fails at: a shortest counterexample.
 * Depth by depth, state by state in the order found, event by event in the
 * alphabet's order: the result is a function of the configuration and the depth.
 *
 * A shard `i/n` explores the programs whose first two events are the i-th of
 * every n such prefixes (all shards explore depth 1 alike), so n shards together
 * explore every program, each with its own visited set; a state two shards
 * reach is explored by both.
 */
import type { AnyMachine, MachineEvent, ModelName } from '../model/machine.ts';
import type { PropertySpec } from './catalogue.ts';
import type { AnyProperty } from './property.ts';
import { canonicaliser } from './canonical.ts';
import type { ExhaustiveConfig } from './exhaustive-configs.ts';
import { bootMemory } from './pools.ts';
import { type EventName, type Lockstep, type RunOptions, type RunStats, type Violation, emptyStats, startLockstep, stepLockstep } from './run.ts';

/**
 * Events an exhaustive run must have seen, per model, once it reaches MIN_FLOOR_DEPTH: a run
 * that never saw them checked nothing about them (a configuration too small, or a model that
 * never does what it claims to).
 */
export const EXHAUSTIVE_FLOORS: Readonly<Record<ModelName, readonly EventName[]>> = {
  npt: ['stale-allowed', 'asid-switch-no-fence', 'host-remap', 'host-write-protect', 'vm-exit'],
  tsp: ['stale-allowed', 'asid-switch-no-fence', 'host-remap', 'host-write-protect', 'hidden-fault', 'hw-tlb-flush'],
  ssp: ['stale-allowed', 'asid-switch-no-fence', 'host-remap', 'host-write-protect', 'hidden-fault', 'shadow-resync', 'hw-tlb-flush'],
};
export const MIN_FLOOR_DEPTH = 4;

/** The floors of a search on `model` over `config`: those of EXHAUSTIVE_FLOORS its alphabet can give rise to. */
export function floorsFor(model: ModelName, config: ExhaustiveConfig): readonly EventName[] {
  const has = (kind: MachineEvent['kind']): boolean => config.alphabet.some((e) => e.kind === kind);
  const floors = EXHAUSTIVE_FLOORS[model].filter((e) => (e === 'host-remap' ? has('hostRemap') : e === 'host-write-protect' ? has('hostWriteProtect') : true));
  // A Svadu configuration must reach what it is for: A/D set for the guest, and stores that had to set D.
  return config.ad === 'svadu' ? [...floors, 'ad-update', 'dirty-required'] : floors;
}

/** Shards split the programs by their first SHARD_PREFIX events. */
export const SHARD_PREFIX = 2;

export interface Shard {
  /** 0-based. */
  readonly index: number;
  readonly count: number;
}

export interface SearchOptions {
  readonly config: ExhaustiveConfig;
  readonly depth: number;
  readonly machine: AnyMachine;
  readonly properties: readonly PropertySpec[];
  readonly shard?: Shard;
  /**
   * Stop once this many seconds have passed, with the depths completed by then: the result is
   * then a function of the machine's speed too (a benchmark's "how deep in a minute").
   */
  readonly seconds?: number;
  /** Stop after this many steps, with the depths completed by then (a bounded search inside the shrinker). */
  readonly maxTransitions?: number;
  /**
   * Whether a failing program counts: one that does not (for a variant, a program the correct
   * model fails too) is neither reported nor continued, and the search goes on.
   */
  readonly accept?: (events: readonly MachineEvent[]) => boolean;
  /** Called after each completed depth (progress on a terminal). */
  readonly onDepth?: (level: DepthFigures) => void;
}

export interface DepthFigures {
  readonly depth: number;
  /** Steps run from the states of the depth before (each an event of the alphabet from one state). */
  readonly transitions: number;
  /** States first reached at this depth (0 at the last depth: its states are checked, not kept). */
  readonly fresh: number;
  readonly seconds: number;
}

export interface SearchResult {
  /** The deepest depth every program of which was checked. */
  readonly depthCompleted: number;
  /** Steps run in all (states explored): one per state and event. */
  readonly transitions: number;
  /** Distinct states reached before the last depth, the initial one included. */
  readonly distinct: number;
  readonly perDepth: readonly DepthFigures[];
  /** Commands, events and coverage over every step run. */
  readonly stats: RunStats;
  /** A shortest failing program, and its violation at its last step; null if every program up to the depth passed. */
  readonly failure: { readonly events: readonly MachineEvent[]; readonly violation: Violation } | null;
  readonly seconds: number;
}

/** A program as a list that shares its prefix with its parent's. */
interface Path {
  readonly event: MachineEvent;
  readonly eventIndex: number;
  readonly before: Path | null;
}

const eventsOf = (p: Path | null): MachineEvent[] => {
  const out: MachineEvent[] = [];
  for (let q = p; q !== null; q = q.before) out.push(q.event);
  return out.reverse();
};

/** The index, among all prefixes of SHARD_PREFIX events, of the program's first SHARD_PREFIX events. */
const prefixIndex = (p: Path, alphabetSize: number): number => {
  let n = 0;
  const indices: number[] = [];
  for (let q: Path | null = p; q !== null; q = q.before) indices.push(q.eventIndex);
  for (const i of indices.reverse().slice(0, SHARD_PREFIX)) n = n * alphabetSize + i;
  return n;
};

/** The part of a lockstep run its future depends on: the statistics-only bookkeeping and the properties' shortcuts left out. */
const stateOf = (run: Lockstep, properties: readonly PropertySpec[]): readonly unknown[] =>
  [run.ref, run.machine, run.properties.map((s, k) => {
    const { key } = properties[k] as AnyProperty;
    return key === undefined ? s : key(s);
  })];

export function exhaustiveSearch(opts: SearchOptions): SearchResult {
  const { config, machine, depth } = opts;
  const started = performance.now();
  const deadline = opts.seconds === undefined ? null : started + opts.seconds * 1000;
  const runOptions: RunOptions = { properties: opts.properties, guest: 'arbitrary', initialMemory: bootMemory(), universe: config.universe, ad: config.ad ?? 'svade' };
  const stats = emptyStats();
  const initial = startLockstep(machine, runOptions);
  const canonical = canonicaliser();
  const visited = new Set<string>([canonical.name(stateOf(initial, opts.properties))]);
  let frontier: { readonly run: Lockstep; readonly path: Path | null }[] = [{ run: initial, path: null }];
  const perDepth: DepthFigures[] = [];
  let transitions = 0;
  const alphabet = config.alphabet;
  const result = (depthCompleted: number, failure: SearchResult['failure']): SearchResult => ({
    depthCompleted, transitions, distinct: visited.size, perDepth, stats, failure, seconds: (performance.now() - started) / 1000,
  });
  for (let d = 1; d <= depth; d++) {
    const t0 = performance.now();
    let levelTransitions = 0;
    const next: typeof frontier = [];
    for (const { run, path } of frontier) {
      for (let k = 0; k < alphabet.length; k++) {
        const event = alphabet[k] as MachineEvent;
        const here: Path = { event, eventIndex: k, before: path };
        if (opts.shard !== undefined && d === SHARD_PREFIX && prefixIndex(here, alphabet.length) % opts.shard.count !== opts.shard.index) continue;
        transitions++;
        levelTransitions++;
        if (deadline !== null && (transitions & 63) === 0 && performance.now() > deadline) return result(d - 1, null);
        if (opts.maxTransitions !== undefined && transitions >= opts.maxTransitions) return result(d - 1, null);
        const step = stepLockstep(machine, runOptions, run, event, d - 1, stats);
        if (step.kind === 'violation') {
          const events = eventsOf(here);
          if (opts.accept === undefined || opts.accept(events)) return result(d - 1, { events, violation: step.violation });
          continue;
        }
        // The last depth's states are checked, not kept: nothing goes on from them.
        if (d === depth) continue;
        const key = canonical.name(stateOf(step.next, opts.properties));
        if (visited.has(key)) continue;
        visited.add(key);
        next.push({ run: step.next, path: here });
      }
    }
    const figures: DepthFigures = { depth: d, transitions: levelTransitions, fresh: next.length, seconds: (performance.now() - t0) / 1000 };
    perDepth.push(figures);
    opts.onDepth?.(figures);
    frontier = next;
  }
  return result(depth, null);
}
