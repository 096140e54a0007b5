/**
 * `npm run counterexamples -- [VARIANT…]`: regenerate the committed counterexample of every
 * seeded-bug variant (or of those named) (counterexamples/seeded/NAME.itf.json): the first property
 * that catches it, with a fixed seed, minimised as `npm start` minimises. A file is
 * written only if, read back and replayed, it fails under its variant and passes
 * under the correct model (counterexamples/store.ts).
 */
import { VARIANTS } from '../model/variants.ts';
import { MODELS } from '../model/models.ts';
import { PROPERTIES } from '../properties/catalogue.ts';
import { DEFAULT_BUDGET, checkProperty } from '../properties/suite.ts';
import { saveCounterexample, saveHartsCounterexample } from '../counterexamples/store.ts';
import { HART_VARIANTS, findHartVariant } from '../model/vcpu-variants.ts';
import { VCPU_MODELS } from '../model/vcpus.ts';
import { minimiseHartsProgram } from '../counterexamples/harts-trace.ts';
import { checkHarts } from './harts-check.ts';
import { parseOptions, runCommand } from './command.ts';
import type { Io } from './output.ts';

const SEED = 20261126;
/** Several-hart variants: programs of this many harts, at most this many programs (each is caught within a few). */
const HARTS = 2;
const HARTS_RUNS = 200;

function main(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseOptions(argv, { help: { type: 'boolean', short: 'h' } }, true);
  if (values.help === true) {
    io.out('usage: npm run counterexamples -- [VARIANT...] (every variant if none is named; the seed is fixed, so the files only change when the models do)');
    return 0;
  }
  const unknown = positionals.filter((n) => !VARIANTS.some((v) => v.name === n) && findHartVariant(n) === undefined);
  if (unknown.length > 0) {
    io.err(`unknown variant: ${unknown.join(', ')} (npm start -- --list names them)`);
    return 2;
  }
  let exitCode = 0;
  for (const v of VARIANTS.filter((x) => positionals.length === 0 || positionals.includes(x.name))) {
    let written = false;
    for (const name of v.caughtBy) {
      const spec = PROPERTIES.find((p) => p.name === name);
      if (spec === undefined) throw new Error(`${v.name}: unknown property ${name}`);
      const correct = MODELS[v.base];
      const r = checkProperty(spec, v.machine, { ...DEFAULT_BUDGET, seed: SEED }, { correct });
      if (r.counterexample === null) continue;
      const { events, guest, ad, failsOn } = r.counterexample;
      if (failsOn !== v.machine) throw new Error(`${v.name}: the counterexample fails on the correct ${v.base} too`);
      const file = new URL(`../counterexamples/seeded/${v.name}.itf.json`, import.meta.url).pathname;
      const saved = saveCounterexample({ file, machine: v.machine, correct, variant: v.name, property: spec.name, guest, ad, events, seed: SEED, path: r.path ?? '' });
      if (!saved.saved) throw new Error(`${v.name}: ${saved.reason}`);
      io.out(`${v.name}: ${spec.name} after ${r.runs} programs, ${events.length} steps -> ${file}`);
      written = true;
      break;
    }
    if (!written) {
      io.err(`${v.name}: no property caught it with seed ${SEED}`);
      exitCode = 1;
    }
  }
  // Several-hart variants: the lockstep runner's first failure with the fixed seed, shrunk by fast-check, then cut to 1-minimal.
  for (const v of HART_VARIANTS.filter((x) => positionals.length === 0 || positionals.includes(x.name))) {
    const c = checkHarts(v.base, HARTS, HARTS_RUNS, SEED, v);
    if (c.failure === null) {
      io.err(`${v.name}: not caught with ${HARTS} harts in ${HARTS_RUNS} programs with seed ${SEED}`);
      exitCode = 1;
      continue;
    }
    const program = minimiseHartsProgram(v.machine, c.failure.program, { ad: c.failure.ad });
    const file = new URL(`../counterexamples/seeded/${v.name}.itf.json`, import.meta.url).pathname;
    const saved = saveHartsCounterexample({
      file, machine: v.machine, correct: VCPU_MODELS[v.base], variant: v.name, program, ad: c.failure.ad, seed: SEED, path: c.failure.path,
    });
    if (!saved.saved) throw new Error(`${v.name}: ${saved.reason}`);
    io.out(`${v.name}: ${c.failure.violation.check} with ${HARTS} harts after ${c.runs} programs, ${program.steps.length} steps -> ${file}`);
  }
  return exitCode;
}

runCommand('counterexamples', main);
