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
import { saveCounterexample } from '../counterexamples/store.ts';
import { parseOptions, runCommand } from './command.ts';
import type { Io } from './output.ts';

const SEED = 20261126;

function main(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseOptions(argv, { help: { type: 'boolean', short: 'h' } }, true);
  if (values.help === true) {
    io.out('usage: npm run counterexamples -- [VARIANT...] (every variant if none is named; the seed is fixed, so the files only change when the models do)');
    return 0;
  }
  const unknown = positionals.filter((n) => !VARIANTS.some((v) => v.name === n));
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
  return exitCode;
}

runCommand('counterexamples', main);
