/**
 * Exhaustive-search benchmarks (`npm run bench:exhaustive`, and part of `npm run
 * bench`): how long depth 6 over the default configuration takes on both cores;
 * how deep each model gets in 60 s; what two shards on two cores gain over one
 * search; and, per seeded variant, the true minimal length of a program failing
 * its committed trace's property (over the default alphabet and the trace's own
 * events) against the length of that trace, which the random suite shrank. Prints figures; asserts
 * nothing about time.
 */
import { existsSync, readdirSync } from 'node:fs';
import { VARIANTS } from '../model/variants.ts';
import type { MachineEvent, ModelName } from '../model/machine.ts';
import { MODEL_NAMES } from '../model/models.ts';
import { findProperty } from '../properties/catalogue.ts';
import { type ExhaustiveConfig, findConfig } from '../properties/exhaustive-configs.ts';
import { exhaustiveSearch } from '../properties/exhaustive.ts';
import { loadTrace } from '../counterexamples/replay.ts';
import { type SearchOutcome, type SearchTask, runSearch } from '../cli/exhaustive-task.ts';
import { runPool } from '../cli/pool.ts';
import { isMain, parseOptions, runCommand } from '../cli/command.ts';
import type { Io } from '../cli/output.ts';

const WORKER = new URL('../cli/exhaustive-worker.ts', import.meta.url);

const defaultConfig = (): ExhaustiveConfig => {
  const c = findConfig('default');
  if (c === undefined) throw new Error('no default configuration');
  return c;
};

/** Run searches on `workers` threads; the wall time and each outcome. */
function timed(tasks: readonly SearchTask[], workers: number): { wall: number; outcomes: SearchOutcome[] } {
  const t0 = performance.now();
  const outcomes: SearchOutcome[] = [];
  runPool(WORKER, tasks, workers, runSearch, (o) => outcomes.push(o));
  return { wall: (performance.now() - t0) / 1000, outcomes };
}

const task = (model: ModelName, depth: number, extra: Partial<SearchTask> = {}): SearchTask =>
  ({ config: 'default', depth, model, variant: null, shard: null, seconds: null, ...extra });

export interface DepthFigure {
  readonly model: string;
  readonly depthCompleted: number;
  readonly transitions: number;
  readonly distinct: number;
  readonly seconds: number;
  readonly passed: boolean;
}

const figure = (o: SearchOutcome): DepthFigure => ({
  model: o.task.model, depthCompleted: o.depthCompleted, transitions: o.transitions, distinct: o.distinct, seconds: o.seconds, passed: o.failure === null,
});

/** Depth 6 over the default configuration, the three models on two threads (what `npm run exhaustive` does). */
export function depthSix(): { wall: number; models: DepthFigure[] } {
  const r = timed(MODEL_NAMES.map((m) => task(m, 6)), 2);
  return { wall: r.wall, models: r.outcomes.map(figure) };
}

/** How deep each model gets in `seconds`, the three on two threads. */
export function reach(seconds: number): DepthFigure[] {
  return timed(MODEL_NAMES.map((m) => task(m, 12, { seconds })), 2).outcomes.map(figure);
}

/** One search of `model` at `depth` on one thread, against its two shards on two threads. */
export function shardSpeedup(model: ModelName, depth: number): { whole: number; shards: number; speedup: number; transitionsWhole: number; transitionsShards: number } {
  const whole = timed([task(model, depth)], 1);
  const shards = timed([0, 1].map((index) => task(model, depth, { shard: { index, count: 2 } })), 2);
  const sum = (os: SearchOutcome[]) => os.reduce((n, o) => n + o.transitions, 0);
  return { whole: whole.wall, shards: shards.wall, speedup: whole.wall / shards.wall, transitionsWhole: sum(whole.outcomes), transitionsShards: sum(shards.outcomes) };
}

export interface VariantMinimum {
  readonly variant: string;
  readonly property: string;
  /** Steps of the committed trace (counterexamples/seeded/), the random suite's shrunk program. */
  readonly shrunk: number;
  /** The least length of a failing program over the alphabet, or null if the search stopped first. */
  readonly minimum: number | null;
  /** Every program up to this many steps passes (minimum - 1 when found). */
  readonly passesUpTo: number;
  readonly alphabet: number;
  readonly seconds: number;
}

const key = (e: MachineEvent): string => JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

/**
 * Each variant's true minimum over the default alphabet and its committed trace's events, searched
 * up to one step short of the trace (the trace itself is a program of the alphabet, so the minimum
 * is at most its length), within `seconds` each.
 */
export function variantMinimums(seconds: number, only: readonly string[] = []): VariantMinimum[] {
  const dir = new URL('../counterexamples/seeded/', import.meta.url).pathname;
  const files = new Set(readdirSync(dir));
  const out: VariantMinimum[] = [];
  for (const v of VARIANTS.filter((x) => only.length === 0 || only.includes(x.name))) {
    const file = `${v.name}.itf.json`;
    if (!files.has(file)) continue;
    const trace = loadTrace(`${dir}${file}`);
    const base = defaultConfig();
    const alphabet = [...base.alphabet];
    for (const e of trace.events) if (!alphabet.some((x) => key(x) === key(e))) alphabet.push(e);
    // Under the trace's own A/D mode: a Svadu trace's bug is invisible to a Svade guest.
    const config: ExhaustiveConfig = { ...base, name: `default+${v.name}`, universe: trace.universe, alphabet, ad: trace.meta.ad ?? 'svade' };
    const shrunk = trace.events.length;
    // The trace's own property: a shorter program failing another property would be another counterexample.
    const property = findProperty(trace.meta.property);
    if (property === undefined) throw new Error(`${file}: unknown property ${trace.meta.property}`);
    const r = exhaustiveSearch({ config, depth: Math.max(1, shrunk - 1), machine: v.machine, properties: [property], seconds });
    const minimum = r.failure !== null ? r.failure.events.length : r.depthCompleted === shrunk - 1 ? shrunk : null;
    out.push({ variant: v.name, property: property.name, shrunk, minimum, passesUpTo: minimum === null ? r.depthCompleted : minimum - 1, alphabet: alphabet.length, seconds: r.seconds });
  }
  return out;
}

/** Every variant at depth 6, on the default configuration, or the Svadu one for a variant whose trace is Svadu: found, and how short. */
export function variantsAtDepthSix(): { variant: string; config: string; found: number | null; seconds: number }[] {
  const dir = new URL('../counterexamples/seeded/', import.meta.url).pathname;
  const svadu = (name: string): boolean => existsSync(`${dir}${name}.itf.json`) && loadTrace(`${dir}${name}.itf.json`).meta.ad === 'svadu';
  const r = timed(VARIANTS.map((v) => task(v.base, 6, { variant: v.name, config: svadu(v.name) ? 'svadu' : 'default' })), 2);
  return r.outcomes.map((o) => ({ variant: o.task.variant ?? '', config: o.task.config, found: o.failure === null ? null : o.failure.events.length, seconds: o.seconds }));
}

export function main(argv: readonly string[], io: Io): number {
  const { values } = parseOptions(argv, { seconds: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help === true) {
    io.out('usage: npm run bench:exhaustive -- [--seconds S]   (S: the budget of each variant\'s minimum search, default 120)');
    return 0;
  }
  const budget = values.seconds === undefined ? 120 : Number(values.seconds);
  const six = depthSix();
  io.out(`depth 6, default configuration, 2 threads: ${six.wall.toFixed(1)} s wall; ${six.models.map((m) => `${m.model} ${m.transitions} steps ${m.distinct} states ${m.seconds.toFixed(1)} s`).join('; ')}`);
  const r = reach(60);
  io.out(`in 60 s: ${r.map((m) => `${m.model} depth ${m.depthCompleted} (${m.transitions} steps)`).join('; ')}`);
  const s = shardSpeedup('npt', 6);
  io.out(`npt depth 6: one search ${s.whole.toFixed(1)} s, two shards on two threads ${s.shards.toFixed(1)} s: ${s.speedup.toFixed(2)}x (steps ${s.transitionsWhole} vs ${s.transitionsShards})`);
  for (const v of variantsAtDepthSix()) io.out(`default depth 6: ${v.variant}: ${v.found === null ? 'not within depth 6' : `shortest ${v.found} steps`} (${v.seconds.toFixed(1)} s)`);
  for (const m of variantMinimums(budget)) {
    io.out(`minimum: ${m.variant}: shrunk ${m.shrunk}, exhaustive minimum ${m.minimum ?? `> ${m.passesUpTo}`} over ${m.alphabet} events (${m.seconds.toFixed(1)} s)`);
  }
  return 0;
}

if (isMain(import.meta.url)) runCommand('bench:exhaustive', main);
