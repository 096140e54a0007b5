/**
 * One task of `npm start`: properties that draw the same guests, against a model or
 * a seeded-bug variant in its place, checked in one pass where none fails
 * (properties/suite.ts `checkProperties`), each failure's counterexample minimised
 * and saved.
 * Plain data in and out, so that it runs the same in the main thread and in a
 * worker (cli/check-pool.ts).
 */
import { type AnyMachine, type ModelName } from '../model/machine.ts';
import { MODELS } from '../model/models.ts';
import { findVariant } from '../model/variants.ts';
import { type PropertyName, findProperty } from '../properties/catalogue.ts';
import { describeCommand } from '../properties/commands.ts';
import { type RunStats, describeEvent } from '../properties/run.ts';
import { type Budget, type FloorMiss, type PropertyResult, checkProperties } from '../properties/suite.ts';
import { saveCounterexample } from '../counterexamples/store.ts';
import type { Style } from './output.ts';

export interface CheckTask {
  /** Properties of one guest kind: they draw the same programs. */
  readonly properties: readonly PropertyName[];
  readonly model: ModelName;
  /** A seeded-bug variant run in place of the model, or null. */
  readonly variant: string | null;
  readonly budget: Budget;
}

/** A line to print, with the style a terminal shows it in. */
export interface Line {
  readonly style: Style | null;
  readonly text: string;
}

export interface CheckOutcome {
  readonly property: PropertyName;
  readonly model: ModelName;
  /** The model, and the variant run in its place. */
  readonly label: string;
  readonly verdict: PropertyResult['verdict'];
  readonly runs: number;
  readonly stats: RunStats;
  readonly seconds: number;
  readonly floorMisses: readonly FloorMiss[];
  /** What `npm start` prints for this check after its tables: the counterexample, and where it was saved. */
  readonly report: readonly Line[];
}


export function runCheck(task: CheckTask): CheckOutcome[] {
  const specs = task.properties.map((name) => {
    const spec = findProperty(name);
    if (spec === undefined) throw new Error(`unknown property ${name}`);
    return spec;
  });
  const variant = task.variant === null ? undefined : findVariant(task.variant);
  if (task.variant !== null && variant === undefined) throw new Error(`unknown variant ${task.variant}`);
  const base = MODELS[task.model];
  const machine = variant?.machine ?? base;
  // A variant's evidence must pass on the model it breaks (properties/suite.ts minimises with both).
  return checkProperties(specs, machine, task.budget, variant === undefined ? {} : { correct: base }).map((r) => ({
    property: r.property.name,
    model: task.model,
    label: variant === undefined ? task.model : `${task.model} (${variant.name})`,
    verdict: r.verdict,
    runs: r.runs,
    stats: r.stats,
    seconds: r.seconds,
    floorMisses: r.floorMisses,
    report: r.counterexample === null ? [] : counterexampleReport(r, task, variant?.machine ?? null, base),
  }));
}

/** The minimal program as it ran, then the trace saved for it (or why it was not). */
function counterexampleReport(r: PropertyResult, task: CheckTask, variantMachine: AnyMachine | null, base: AnyMachine): Line[] {
  const c = r.counterexample;
  if (c === null) return [];
  const lines: Line[] = [{ style: 'red', text: `\n${r.property.name} fails on ${r.model}: ${c.violation.message}` }];
  const plain = (text: string): void => void lines.push({ style: null, text });
  if (c.program !== null) {
    plain(`minimal program (${c.guest} guest, ${c.program.length} commands, from fast-check path ${r.path ?? '-'}):`);
    for (const cmd of c.program) plain(`  ${describeCommand(cmd)}`);
    plain(`as it ran (${c.events.length} steps, the last one fails):`);
  } else {
    plain(`minimal program (${c.guest} guest, minimised step by step, from fast-check path ${r.path ?? '-'}): ${c.events.length} steps, the last one fails:`);
  }
  c.events.forEach((e, i) => plain(`  ${String(i).padStart(3)}  ${describeEvent(e)}`));
  // The evidence names the machine it fails on: the variant, or its correct model if that fails too.
  const onVariant = variantMachine !== null && c.failsOn === variantMachine;
  if (task.variant !== null && !onVariant) {
    lines.push({ style: 'red', text: `the program fails on the correct ${task.model} too: this is evidence against ${task.model}, not ${task.variant}` });
  }
  const file = `counterexamples/runs/${onVariant ? task.variant : r.model}-${r.property.name}-seed${task.budget.seed}.itf.json`;
  const saved = saveCounterexample({
    file, machine: c.failsOn, correct: onVariant ? base : null, variant: onVariant ? (task.variant ?? 'none') : 'none', property: r.property.name,
    guest: c.guest, ad: c.ad, events: c.events, seed: task.budget.seed, path: r.path ?? '',
  });
  if (saved.saved) plain(`saved: ${file}\nreplay: npm run replay -- ${file}\nview: npm run view -- ${file}`);
  else lines.push({ style: 'red', text: `not saved: ${saved.reason}` });
  return lines;
}
