/**
 * `npm run counterexamples`: regenerate the committed counterexample of every
 * seeded-bug variant (counterexamples/seeded/NAME.itf.json): the first property
 * that catches it, with a fixed seed, minimized step by step. Each file must fail
 * under its variant and pass under the correct model.
 */
import { VARIANTS } from '../model/variants.ts';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import { erase } from '../model/machine.ts';
import { PROPERTIES } from '../properties/catalogue.ts';
import { runProgram } from '../properties/run.ts';
import { DEFAULT_BUDGET, checkProperty } from '../properties/suite.ts';
import { buildTrace, writeTrace } from '../counterexamples/trace.ts';
import { parseOptions, runCommand } from './command.ts';
import type { Io } from './output.ts';

const SEED = 20261126;
const base = { npt: erase(npt), tsp: erase(tsp), ssp: erase(ssp) };

function main(argv: readonly string[], io: Io): number {
  const { values } = parseOptions(argv, { help: { type: 'boolean', short: 'h' } });
  if (values.help === true) {
    io.out('usage: npm run counterexamples (no options: the seed is fixed, so the files only change when the models do)');
    return 0;
  }
  let exitCode = 0;
  for (const v of VARIANTS) {
    let written = false;
    for (const name of v.caughtBy) {
      const spec = PROPERTIES.find((p) => p.name === name);
      if (spec === undefined) throw new Error(`${v.name}: unknown property ${name}`);
      const r = checkProperty(spec, v.machine, { ...DEFAULT_BUDGET, seed: SEED });
      if (r.counterexample === null) continue;
      const { events, guest } = r.counterexample;
      const correct = runProgram(base[v.base], events, { checks: new Set([spec.name]), guest });
      if (correct.violation !== null) throw new Error(`${v.name}: the counterexample fails on the correct ${v.base} too: ${correct.violation.message}`);
      const file = new URL(`../counterexamples/seeded/${v.name}.itf.json`, import.meta.url).pathname;
      writeTrace(file, buildTrace({ machine: v.machine, variant: v.name, property: spec.name, guest, events, seed: SEED, path: r.path ?? '' }));
      io.out(`${v.name}: ${spec.name} after ${r.runs} programs, ${events.length} steps -> ${file}`);
      written = true;
      break;
    }
    if (!written) {
      io.err(`${v.name}: no property caught it with seed ${SEED}`);
      exitCode = 1;
    }
  }
  return exitCode;
}

runCommand('counterexamples', main);
