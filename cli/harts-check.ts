/**
 * The several-hart part of `npm start`: each model (or a several-hart variant in
 * place of its model) with N vCPUs (model/vcpus.ts) against the N-hart reference
 * (spec/harts.ts), in lockstep (properties/harts-run.ts: every property per hart as
 * its scope says, isolation across harts, SBI return values and traps), on random
 * multi-hart programs, one in four well-behaved, half of them Svadu, with the floors
 * of properties/harts-run.ts `hartsFloors` and `WELL_BEHAVED_FLOORS`.
 */
import fc from 'fast-check';
import type { ModelName } from '../model/machine.ts';
import { type HartVariant, findHartVariant } from '../model/vcpu-variants.ts';
import { runPool } from './pool.ts';
import { type AnyVcpuMachine, VCPU_MODELS } from '../model/vcpus.ts';
import { hartsProgramArb, resolveHartsProgram } from '../properties/harts-commands.ts';
import {
  type HartsStats, type HartsViolation, WELL_BEHAVED_FLOORS, addHartsStats, describeVcpuStep, emptyHartsStats, hartsFloors, runHartsProgram,
} from '../properties/harts-run.ts';
import { AD_MODES, type AdMode } from '../properties/pools.ts';
import type { HartsProgram } from '../properties/harts-run.ts';
import { type SaveResult, saveHartsCounterexample } from '../counterexamples/store.ts';

/** Commands per several-hart program at most (as properties/harts.test.ts). */
export const HARTS_MAX_COMMANDS = 30;

export interface HartsCheck {
  readonly model: ModelName;
  /** The model, and the variant run in its place. */
  readonly label: string;
  readonly harts: number;
  readonly verdict: 'pass' | 'fail' | 'vacuous';
  /** Arbitrary programs run (up to the first failure), and their statistics: what the floors are stated on. */
  readonly runs: number;
  readonly stats: HartsStats;
  /** Well-behaved programs run (one in four drawn), and their statistics. */
  readonly wellBehavedRuns: number;
  readonly wellBehavedStats: HartsStats;
  readonly seconds: number;
  readonly floorMisses: readonly { readonly event: string; readonly per100: number; readonly floor: number }[];
  /** The failing program (minimised by fast-check) as it ran, one line per step, and what failed. */
  readonly failure: {
    readonly violation: HartsViolation; readonly trace: readonly string[]; readonly program: HartsProgram; readonly ad: AdMode; readonly path: string;
  } | null;
  /** The name of the several-hart variant run in place of the model, if any (a name: a check crosses threads as plain data). */
  readonly variant: string | null;
  readonly seed: number;
}

/** `runs` programs of `harts` harts on the machine, stopping at the first failure. */
export function checkHarts(model: ModelName, harts: number, runs: number, seed: number, variant: HartVariant | null): HartsCheck {
  const machine: AnyVcpuMachine = variant?.machine ?? VCPU_MODELS[model];
  const stats = emptyHartsStats();
  const wellBehavedStats = emptyHartsStats();
  let done = 0;
  let wellBehavedDone = 0;
  let failed = false;
  const started = performance.now();
  const programArb = fc.oneof(
    { arbitrary: hartsProgramArb(harts, HARTS_MAX_COMMANDS, 'arbitrary'), weight: 3 },
    { arbitrary: hartsProgramArb(harts, HARTS_MAX_COMMANDS, 'well-behaved'), weight: 1 },
  );
  const arb = fc.tuple(programArb, fc.constantFrom(...AD_MODES));
  // fast-check shrinks a failing program (whole commands, then their arguments); the statistics are those of
  // the programs up to the first failure, as a one-hart check counts them.
  const details = fc.check(
    fc.property(arb, ([commands, ad]) => {
      const r = runHartsProgram(machine, resolveHartsProgram(commands), { ad });
      if (!failed && commands.guest === 'well-behaved') {
        wellBehavedDone++;
        addHartsStats(wellBehavedStats, r.stats);
      } else if (!failed) {
        done++;
        addHartsStats(stats, r.stats);
      }
      if (r.violation !== null) failed = true;
      return r.violation === null;
    }),
    { numRuns: runs, seed: seed | 0 },
  );
  let failure: HartsCheck['failure'] = null;
  if (details.failed && details.counterexample !== null) {
    const [[commands, ad]] = details.counterexample;
    const program = resolveHartsProgram(commands);
    const r = runHartsProgram(machine, program, { ad, record: true });
    if (r.violation !== null) failure = { violation: r.violation, trace: r.trace, program, ad, path: details.counterexamplePath ?? '' };
  }
  const seconds = (performance.now() - started) / 1000;
  const below = (floors: Readonly<Record<string, number>>, st: HartsStats, n: number, label: string) => Object.entries(floors).flatMap(([event, floor]) => {
    const per100 = ((st.events.get(event) ?? 0) * 100) / Math.max(1, n);
    return per100 < floor ? [{ event: `${event}${label}`, per100, floor }] : [];
  });
  const floorMisses = failure !== null ? [] : [
    ...below(hartsFloors(model), stats, done, ''), ...below(WELL_BEHAVED_FLOORS, wellBehavedStats, wellBehavedDone, ' (well-behaved)'),
  ];
  return {
    model, label: variant === null ? model : `${model} (${variant.name})`, harts, variant: variant?.name ?? null, seed, runs: done, stats, wellBehavedRuns: wellBehavedDone, wellBehavedStats, seconds, floorMisses, failure,
    verdict: failure !== null ? 'fail' : floorMisses.length > 0 ? 'vacuous' : 'pass',
  };
}

/** One several-hart check as a task of `npm start`'s worker pool (cli/pool.ts): plain data. */
export interface HartsTask {
  readonly model: ModelName;
  readonly harts: number;
  readonly runs: number;
  readonly seed: number;
  readonly variant: string | null;
}

function hartVariantNamed(name: string): HartVariant {
  const v = findHartVariant(name);
  if (v === undefined) throw new Error(`no several-hart variant '${name}'`);
  return v;
}

export const runHartsTask = (t: HartsTask): HartsCheck => checkHarts(t.model, t.harts, t.runs, t.seed, t.variant === null ? null : hartVariantNamed(t.variant));

/** Run the tasks on `workers` threads, calling `done` with each check in task order. */
export function runHartsChecks(tasks: readonly HartsTask[], workers: number, done: (c: HartsCheck, index: number) => void): void {
  runPool(new URL('./harts-worker.ts', import.meta.url), tasks, workers, runHartsTask, done);
}

/**
 * Save a failing several-hart check as a trace in counterexamples/runs/ (counterexamples/store.ts's
 * contract: kept only if it replays to the same failure, and for a variant passes on the correct model).
 */
export function saveHartsFailure(c: HartsCheck, dir = 'counterexamples/runs'): SaveResult | null {
  if (c.failure === null) return null;
  const f = c.failure;
  const variant = c.variant === null ? null : hartVariantNamed(c.variant);
  const name = variant?.name ?? c.model;
  const file = `${dir}/${name}-harts${c.harts}-${f.violation.check}-seed${c.seed}.itf.json`;
  return saveHartsCounterexample({
    file, machine: variant?.machine ?? VCPU_MODELS[c.model], correct: variant === null ? null : VCPU_MODELS[variant.base],
    variant: variant?.name ?? 'none', program: f.program, ad: f.ad, seed: c.seed, path: f.path,
  });
}

/** What `npm start` prints after a failing several-hart check (`saved`: what saving its trace gave). */
export function hartsFailureLines(c: HartsCheck, saved: SaveResult | null = null): string[] {
  if (c.failure === null) return [];
  const v = c.failure.violation;
  return [
    `\n${v.check} fails on ${c.label} with ${c.harts} harts at step ${v.step + 1} (${describeVcpuStep(v.at)}): ${v.message}`,
    `the program as it ran (${c.failure.trace.length} steps, the last one fails; ${c.failure.ad}, from fast-check path ${c.failure.path === '' ? '-' : c.failure.path}):`,
    ...c.failure.trace.map((l) => `  ${l}`),
    ...(saved === null ? [] : saved.saved
      ? [`saved: ${saved.file}`, `replay: npm run replay -- ${saved.file}`, `view: npm run view -- ${saved.file}`]
      : [`not saved: ${saved.reason}`]),
  ];
}
