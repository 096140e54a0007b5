/**
 * Detection benchmark (`npm run bench:detection -- [SEEDS] [VARIANT...]`): for each
 * seeded-bug variant and each of SEEDS seeds (default 100), run the properties that
 * catch it with the default budget (1,000 programs of at most 50 commands) and
 * report in how many seeds `npm start -- --variant NAME` fails, the median and
 * worst number of programs until the first failure, the minimised length, the
 * median seconds of the check that failed first (its programs up to the first
 * failing one, and with its minimisation),
 * the median of the shortest counterexample any property gave, and in how many
 * seeds each property the registry lists caught it.
 * A benchmark that prints figures, not a timed test.
 */
import { VARIANTS, type Variant } from '../model/variants.ts';
import { HART_VARIANTS, type HartVariant } from '../model/vcpu-variants.ts';
import { checkHarts } from '../cli/harts-check.ts';
import { DEFAULT_HARTS_RUNS } from '../cli/main.ts';
import { PROPERTIES } from '../properties/catalogue.ts';
import { parseCount } from '../properties/seed.ts';
import { DEFAULT_BUDGET, checkProperty } from '../properties/suite.ts';
import { UsageError, isMain, parseOptions, runCommand } from '../cli/command.ts';
import type { Io } from '../cli/output.ts';

const USAGE = 'usage: npm run bench:detection -- [SEEDS] [VARIANT...]';

/** A figure of a variant no seed caught is '-', not NaN or -Infinity. */
export const median = (xs: readonly number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? '-' : String(s[Math.floor((s.length - 1) / 2)]);
};
/** Seconds of the check that caught the bug first (its programs, the minimisation of the failing one). */
export const medianSeconds = (xs: readonly number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? '-' : (s[Math.floor((s.length - 1) / 2)] ?? 0).toFixed(2);
};
const worst = (xs: readonly number[]): string => (xs.length === 0 ? '-' : String(Math.max(...xs)));

export interface Detection {
  readonly variant: string;
  readonly seeds: number;
  /** Seeds in which some property caught it. */
  readonly caught: number;
  /**
   * Per catching seed, of the property that failed after the fewest programs: programs, steps of its
   * shrunk counterexample, seconds until the first failing program, and seconds with its shrinking.
   */
  readonly programs: readonly number[];
  readonly lengths: readonly number[];
  readonly secondsToFailure: readonly number[];
  readonly secondsWithShrinking: readonly number[];
  /** Per catching seed, the shortest shrunk counterexample any property gave. */
  readonly shortest: readonly number[];
  readonly seconds: number;
  readonly byProperty: Readonly<Record<string, number>>;
}

/** Run the properties that catch variant `v` with the default budget and seeds 1..`seeds`. */
export function detect(v: Variant, seeds: number): Detection {
  const started = performance.now();
  const programs: number[] = [];
  const lengths: number[] = [];
  const secondsToFailure: number[] = [];
  const secondsWithShrinking: number[] = [];
  const shortest: number[] = [];
  const byProperty: Record<string, number> = Object.fromEntries(v.caughtBy.map((name) => [name, 0]));
  let caught = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    let best: { runs: number; length: number; seconds: number; withShrinking: number } | null = null;
    let least: number | null = null;
    for (const name of v.caughtBy) {
      const spec = PROPERTIES.find((p) => p.name === name);
      if (spec === undefined) throw new Error(`unknown property ${name}`);
      const t0 = performance.now();
      const r = checkProperty(spec, v.machine, { ...DEFAULT_BUDGET, seed });
      const seconds = (performance.now() - t0) / 1000;
      if (r.counterexample === null) continue;
      byProperty[name] = (byProperty[name] ?? 0) + 1;
      const length = r.counterexample.events.length;
      least = least === null ? length : Math.min(least, length);
      // r.seconds: the programs up to the first failing one; `seconds` adds its shrinking.
      if (best === null || r.runs < best.runs) best = { runs: r.runs, length, seconds: r.seconds, withShrinking: seconds };
    }
    if (best !== null && least !== null) {
      caught++;
      programs.push(best.runs);
      lengths.push(best.length);
      secondsToFailure.push(best.seconds);
      secondsWithShrinking.push(best.withShrinking);
      shortest.push(least);
    }
  }
  return { variant: v.name, seeds, caught, programs, lengths, secondsToFailure, secondsWithShrinking, shortest, seconds: (performance.now() - started) / 1000, byProperty };
}

/**
 * A several-hart variant (model/vcpu-variants.ts) as `npm start -- --variant NAME`
 * checks it: `DEFAULT_HARTS_RUNS` programs with 2 harts, seeds 1..`seeds`. Its one
 * check covers every property per hart, isolation across harts and the SBI returns
 * and traps; `byProperty` counts which check failed first.
 */
export function detectHarts(v: HartVariant, seeds: number): Detection {
  const started = performance.now();
  const programs: number[] = [];
  const lengths: number[] = [];
  const secondsToFailure: number[] = [];
  const secondsWithShrinking: number[] = [];
  const byProperty: Record<string, number> = Object.fromEntries(v.caughtBy.map((name) => [name, 0]));
  for (let seed = 1; seed <= seeds; seed++) {
    const t0 = performance.now();
    const c = checkHarts(v.base, 2, DEFAULT_HARTS_RUNS, seed, v);
    const seconds = (performance.now() - t0) / 1000;
    if (c.failure === null) continue;
    byProperty[c.failure.violation.check] = (byProperty[c.failure.violation.check] ?? 0) + 1;
    programs.push(c.runs);
    lengths.push(c.failure.trace.length);
    // The check's own seconds include fast-check's shrinking: the split is not measured here.
    secondsToFailure.push(seconds);
    secondsWithShrinking.push(seconds);
  }
  return { variant: v.name, seeds, caught: programs.length, programs, lengths, secondsToFailure, secondsWithShrinking, shortest: lengths, seconds: (performance.now() - started) / 1000, byProperty };
}

export function main(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseOptions(argv, { help: { type: 'boolean', short: 'h' } }, true);
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  const [first, ...only] = positionals;
  const seeds = first === undefined ? 100 : parseCount(first, 'SEEDS (the first argument)');
  for (const name of only) {
    if (![...VARIANTS, ...HART_VARIANTS].some((v) => v.name === name)) {
      throw new UsageError(`unknown variant '${name}' (known: ${[...VARIANTS, ...HART_VARIANTS].map((v) => v.name).join(', ')})`);
    }
  }
  io.out(`variant | caught in | median programs to failure | worst | median steps (minimised) | median shortest steps (any property) | median seconds to failure | with shrinking | seconds | caught by each property`);
  for (const v of VARIANTS.filter((x) => only.length === 0 || only.includes(x.name))) {
    const d = detect(v, seeds);
    const each = Object.entries(d.byProperty).map(([name, n]) => `${name} ${n}`).join(', ');
    io.out(`${v.name} | ${d.caught}/${seeds} | ${median(d.programs)} | ${worst(d.programs)} | ${median(d.lengths)} | ${median(d.shortest)} | ${medianSeconds(d.secondsToFailure)} | ${medianSeconds(d.secondsWithShrinking)} | ${d.seconds.toFixed(0)} | ${each}`);
  }
  // Several-hart variants: one check (2 harts), so "seconds to failure" already includes its shrinking.
  for (const v of HART_VARIANTS.filter((x) => only.length === 0 || only.includes(x.name))) {
    const d = detectHarts(v, seeds);
    const each = Object.entries(d.byProperty).map(([name, n]) => `${name} ${n}`).join(', ');
    io.out(`${v.name} (2 harts) | ${d.caught}/${seeds} | ${median(d.programs)} | ${worst(d.programs)} | ${median(d.lengths)} | ${median(d.shortest)} | ${medianSeconds(d.secondsToFailure)} | ${medianSeconds(d.secondsWithShrinking)} | ${d.seconds.toFixed(0)} | ${each}`);
  }
  return 0;
}

if (isMain(import.meta.url)) runCommand('bench:detection', main);
