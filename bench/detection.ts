/**
 * Detection benchmark (`npm run bench:detection -- [SEEDS] [VARIANT...]`): for each
 * seeded-bug variant and each of SEEDS seeds (default 100), run the properties that
 * catch it with the default budget (1,000 programs of at most 50 commands) and
 * report in how many seeds `npm start -- --variant NAME` fails, the median and
 * worst number of programs until the first failure, and the minimised length.
 * A benchmark that prints figures, not a timed test.
 */
import { VARIANTS } from '../model/variants.ts';
import { PROPERTIES } from '../properties/catalogue.ts';
import { parseCount } from '../properties/seed.ts';
import { DEFAULT_BUDGET, checkProperty } from '../properties/suite.ts';
import { UsageError, isMain, parseOptions, runCommand } from '../cli/command.ts';
import type { Io } from '../cli/output.ts';

const USAGE = 'usage: npm run bench:detection -- [SEEDS] [VARIANT...]';

/** A figure of a variant no seed caught is '-', not NaN or -Infinity. */
const median = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? '-' : String(s[Math.floor((s.length - 1) / 2)]);
};
const worst = (xs: number[]): string => (xs.length === 0 ? '-' : String(Math.max(...xs)));

export function main(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseOptions(argv, { help: { type: 'boolean', short: 'h' } }, true);
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  const [first, ...only] = positionals;
  const seeds = first === undefined ? 100 : parseCount(first, 'SEEDS (the first argument)');
  for (const name of only) {
    if (!VARIANTS.some((v) => v.name === name)) throw new UsageError(`unknown variant '${name}' (known: ${VARIANTS.map((v) => v.name).join(', ')})`);
  }
  io.out(`variant | caught in | median programs to failure | worst | median steps (minimised) | seconds`);
  for (const v of VARIANTS.filter((x) => only.length === 0 || only.includes(x.name))) {
    const started = performance.now();
    const toFailure: number[] = [];
    const lengths: number[] = [];
    let caught = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      let best: { runs: number; length: number } | null = null;
      for (const name of v.caughtBy) {
        const spec = PROPERTIES.find((p) => p.name === name);
        if (spec === undefined) throw new Error(`unknown property ${name}`);
        const r = checkProperty(spec, v.machine, { ...DEFAULT_BUDGET, seed });
        if (r.counterexample !== null && (best === null || r.runs < best.runs)) best = { runs: r.runs, length: r.counterexample.events.length };
      }
      if (best !== null) {
        caught++;
        toFailure.push(best.runs);
        lengths.push(best.length);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    io.out(`${v.name} | ${caught}/${seeds} | ${median(toFailure)} | ${worst(toFailure)} | ${median(lengths)} | ${seconds.toFixed(0)}`);
  }
  return 0;
}

if (isMain(import.meta.url)) runCommand('bench:detection', main);
