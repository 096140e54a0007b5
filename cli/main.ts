/**
 * `npm start`: every property against every model (or a seeded-bug variant in
 * place of its model), then a summary table and the event counts, then each model
 * with several vCPUs against the N-hart reference (cli/harts-check.ts), and how to
 * reproduce the run. Exit 0 if everything passed, 1 if a property failed or was
 * vacuous, 2 for bad options. The checks run on every core (cli/check-pool.ts).
 */
import { UsageError, isMain, listOf, parseOptions, runCommand } from './command.ts';
import { type Io, styleText, tableStyle } from './output.ts';
import Table from 'cli-table3';
import type { ModelName } from '../model/machine.ts';
import { MODEL_NAMES } from '../model/models.ts';
import { VARIANTS, type Variant, findVariant } from '../model/variants.ts';
import { PROPERTIES, type PropertyName } from '../properties/catalogue.ts';
import { COVERAGE_NAMES } from '../properties/coverage.ts';
import { EVENT_NAMES } from '../properties/run.ts';
import { DEFAULT_BUDGET } from '../properties/suite.ts';
import { drawSeed, parseCount, parseSeed } from '../properties/seed.ts';
import { runChecks, workerCount } from './check-pool.ts';
import { envWorkers } from './pool.ts';
import type { CheckOutcome, CheckTask } from './checks.ts';
import { HARTS_MAX_COMMANDS, type HartsCheck, type HartsTask, hartsFailureLines, runHartsChecks, saveHartsFailure } from './harts-check.ts';
import { HART_VARIANTS, type HartVariant, findHartVariant } from '../model/vcpu-variants.ts';
import { MAX_HARTS } from '../spec/harts.ts';
import { HARTS_SHOWN_EVENTS, WELL_BEHAVED_FLOORS } from '../properties/harts-run.ts';

const USAGE = `usage: npm start -- [--runs N] [--steps N] [--seed S] [--model npt,tsp,ssp] [--property NAME,...] [--variant NAME] [--harts N] [--harts-runs N] [--list]`;

/** Several-hart programs per model by default: with one hart's 1,000, within the one-minute envelope (README). */
export const DEFAULT_HARTS_RUNS = 200;


export interface StartOptions {
  readonly help: boolean;
  readonly list: boolean;
  readonly runs: number;
  readonly maxCommands: number;
  readonly seed: number;
  /** As given (null: all of them). */
  readonly models: readonly ModelName[] | null;
  readonly properties: readonly PropertyName[] | null;
  readonly variant: Variant | undefined;
  /** A several-hart variant in place of its model (only the several-hart check runs). */
  readonly hartVariant: HartVariant | undefined;
  /** vCPUs of the several-hart check (1: none), and its programs per model. */
  readonly harts: number;
  readonly hartsRuns: number;
}

/** `npm start`'s options, checked: every bad one is a UsageError or a BadValueError with one line. */
export function startOptions(argv: readonly string[], draw: () => number = drawSeed): StartOptions {
  const { values } = parseOptions(argv, {
    runs: { type: 'string' },
    steps: { type: 'string' },
    seed: { type: 'string' },
    model: { type: 'string' },
    property: { type: 'string' },
    variant: { type: 'string' },
    harts: { type: 'string' },
    'harts-runs': { type: 'string' },
    list: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const variant = values.variant === undefined ? undefined : findVariant(values.variant);
  const hartVariant = values.variant === undefined ? undefined : findHartVariant(values.variant);
  if (values.variant !== undefined && variant === undefined && hartVariant === undefined) {
    throw new UsageError(`unknown variant '${values.variant}' (known: ${[...VARIANTS, ...HART_VARIANTS].map((v) => v.name).join(', ')})`);
  }
  const harts = values.harts === undefined ? 2 : parseCount(values.harts, '--harts');
  if (harts > MAX_HARTS) throw new UsageError(`--harts ${harts}: from 1 to ${MAX_HARTS} harts`);
  if (hartVariant !== undefined && harts < 2) throw new UsageError(`--variant ${hartVariant.name} is a several-hart variant: it needs --harts 2 or more`);
  return {
    help: values.help === true,
    list: values.list === true,
    runs: values.runs === undefined ? DEFAULT_BUDGET.runs : parseCount(values.runs, '--runs'),
    maxCommands: values.steps === undefined ? DEFAULT_BUDGET.maxCommands : parseCount(values.steps, '--steps'),
    seed: values.seed === undefined ? draw() : parseSeed(values.seed),
    models: listOf<ModelName>('model', values.model, MODEL_NAMES),
    properties: listOf<PropertyName>('property', values.property, PROPERTIES.map((p) => p.name)),
    variant,
    hartVariant,
    harts,
    hartsRuns: values['harts-runs'] === undefined ? DEFAULT_HARTS_RUNS : parseCount(values['harts-runs'], '--harts-runs'),
  };
}

/** The command line that runs the same checks again. */
export function reproduceLine(o: StartOptions): string {
  return [
    `npm start --`, `--seed ${o.seed}`,
    ...(o.runs !== DEFAULT_BUDGET.runs ? [`--runs ${o.runs}`] : []),
    ...(o.maxCommands !== DEFAULT_BUDGET.maxCommands ? [`--steps ${o.maxCommands}`] : []),
    ...(o.models !== null && o.variant === undefined ? [`--model ${o.models.join(',')}`] : []),
    ...(o.properties !== null ? [`--property ${o.properties.join(',')}`] : []),
    ...(o.variant !== undefined ? [`--variant ${o.variant.name}`] : []),
    ...(o.hartVariant !== undefined ? [`--variant ${o.hartVariant.name}`] : []),
    ...(o.harts !== 2 ? [`--harts ${o.harts}`] : []),
    ...(o.hartsRuns !== DEFAULT_HARTS_RUNS ? [`--harts-runs ${o.hartsRuns}`] : []),
  ].join(' ');
}

export function main(argv: readonly string[], io: Io): number {
  const o = startOptions(argv);
  if (o.help) {
    io.out(USAGE);
    return 0;
  }
  if (o.list) {
    for (const p of PROPERTIES) io.out(`property ${p.name}: ${p.sentence}`);
    for (const v of VARIANTS) io.out(`variant ${v.name} (${v.base}): ${v.description}`);
    for (const v of HART_VARIANTS) io.out(`variant ${v.name} (${v.base}, several harts): ${v.description}`);
    return 0;
  }
  const { runs, maxCommands, seed, variant, hartVariant } = o;
  const modelNames = variant !== undefined ? [variant.base] : hartVariant !== undefined ? [hartVariant.base] : (o.models ?? MODEL_NAMES);
  const propertyNames = o.properties ?? PROPERTIES.map((p) => p.name);
  // One task per model and guest kind: its properties draw the same programs and are checked in one pass.
  const selected = PROPERTIES.filter((p) => propertyNames.includes(p.name));
  // A several-hart variant runs the several-hart check alone.
  const tasks: CheckTask[] = hartVariant !== undefined ? [] : modelNames.flatMap((model) => (['arbitrary', 'both'] as const).flatMap((guests) => {
    const properties = selected.filter((p) => p.guests === guests && p.models.includes(model)).map((p) => p.name);
    return properties.length === 0 ? [] : [{ properties, model, variant: variant?.name ?? null, budget: { runs, maxCommands, seed } }];
  }));
  const workers = workerCount(tasks.length, envWorkers());

  const reproduce = reproduceLine(o);
  if (hartVariant === undefined) {
    io.out(styleText('bold', `ssp-spec: ${propertyNames.length} properties x ${modelNames.length} models, ${runs} programs of at most ${maxCommands} commands each, seed ${seed}${workers > 1 ? ` (${workers} threads)` : ''}`));
  } else io.out(styleText('bold', `ssp-spec: the several-hart variant ${hartVariant.name} in place of ${hartVariant.base}, seed ${seed}`));
  if (variant !== undefined) io.out(`variant ${variant.name}: ${variant.description}`);
  if (hartVariant !== undefined) io.out(`variant ${hartVariant.name}: ${hartVariant.description}`);

  const started = performance.now();
  const results: CheckOutcome[] = [];
  runChecks(tasks, workers, (outcomes) => {
    for (const r of outcomes) {
      results.push(r);
      io.out(`  ${verdictText(r.verdict)} ${r.property} on ${r.label}: ${r.runs} programs, ${r.stats.steps} commands, ${r.seconds.toFixed(1)} s`);
    }
  });
  // The table as before tasks were grouped: property by property, each on every model.
  results.sort((a, b) => propertyNames.indexOf(a.property) - propertyNames.indexOf(b.property) || modelNames.indexOf(a.model) - modelNames.indexOf(b.model));
  if (results.length > 0) {
    const summary = new Table({ head: ['model', 'property', 'programs', 'commands', 'verdict', 'seconds'], style: tableStyle(io) });
    for (const r of results) summary.push([r.model, r.property, r.runs, r.stats.steps, verdictText(r.verdict), r.seconds.toFixed(1)]);
    io.out(`\n${summary.toString()}`);
    io.out('(the properties of a model that draw the same guests are checked in one pass when none fails; they share its seconds)');
  }

  const refinement = results.filter((r) => r.property === 'refinement');
  const events = new Table({ head: ['per 100 programs (refinement run)', ...refinement.map((r) => r.model)], style: tableStyle(io) });
  for (const name of EVENT_NAMES) {
    events.push([name, ...refinement.map((r) => ((r.stats.events.get(name) ?? 0) * 100 / Math.max(1, r.runs)).toFixed(1))]);
  }
  for (const name of COVERAGE_NAMES) {
    events.push([`coverage ${name}`, ...refinement.map((r) => ((r.stats.coverage.get(name) ?? 0) * 100 / Math.max(1, r.runs)).toFixed(1))]);
  }
  const mix = [...new Set(refinement.flatMap((r) => [...r.stats.commands.keys()]))].sort();
  for (const kind of mix) events.push([`command ${kind}`, ...refinement.map((r) => ((r.stats.commands.get(kind) ?? 0) * 100 / Math.max(1, r.runs)).toFixed(1))]);
  if (refinement.length > 0) io.out(events.toString());

  for (const r of results) {
    for (const miss of r.floorMisses) {
      io.out(styleText('yellow', `vacuous: ${r.property} on ${r.model}: ${miss.event} reached ${miss.per100.toFixed(1)} per 100 programs, floor ${miss.floor}`));
    }
    for (const line of r.report) io.out(line.style === null ? line.text : styleText(line.style, line.text));
  }
  // Several harts: each model (or a several-hart variant) with o.harts vCPUs; a one-hart variant has no several-hart machine.
  const hartsChecks: HartsCheck[] = [];
  if (o.harts >= 2 && variant === undefined) {
    io.out(styleText('bold', `\nseveral harts: ${o.harts} vCPUs, ${o.hartsRuns} programs of at most ${HARTS_MAX_COMMANDS} commands per model (one in four well-behaved, half of them Svadu), seed ${seed}`));
    const hartsTasks: HartsTask[] = modelNames.map((model) => ({ model, harts: o.harts, runs: o.hartsRuns, seed, variant: hartVariant?.name ?? null }));
    runHartsChecks(hartsTasks, workerCount(hartsTasks.length, envWorkers()), (c) => {
      hartsChecks.push(c);
      io.out(`  ${verdictText(c.verdict)} every property per hart, isolation across harts, SBI returns and traps on ${c.label}: ${c.runs} arbitrary and ${c.wellBehavedRuns} well-behaved programs, ${c.stats.steps + c.wellBehavedStats.steps} steps, ${c.seconds.toFixed(1)} s`);
    });
    const table = new Table({ head: [`per 100 programs (${o.harts} harts)`, ...hartsChecks.map((c) => c.model)], style: tableStyle(io) });
    for (const e of HARTS_SHOWN_EVENTS) table.push([e, ...hartsChecks.map((c) => ((c.stats.events.get(e) ?? 0) * 100 / Math.max(1, c.runs)).toFixed(1))]);
    // The command mix: what the arbitrary programs ran, per 100 programs.
    for (const k of [...new Set(hartsChecks.flatMap((c) => [...c.stats.commands.keys()]))].sort()) {
      table.push([`command ${k}`, ...hartsChecks.map((c) => ((c.stats.commands.get(k) ?? 0) * 100 / Math.max(1, c.runs)).toFixed(1))]);
    }
    // Well-behaved programs are counted apart: they are where every allowed set has one element.
    for (const e of Object.keys(WELL_BEHAVED_FLOORS)) {
      table.push([`${e} (well-behaved)`, ...hartsChecks.map((c) => ((c.wellBehavedStats.events.get(e) ?? 0) * 100 / Math.max(1, c.wellBehavedRuns)).toFixed(1))]);
    }
    io.out(table.toString());
    for (const c of hartsChecks) {
      for (const miss of c.floorMisses) io.out(styleText('yellow', `vacuous: several harts on ${c.model}: ${miss.event} reached ${miss.per100.toFixed(1)} per 100 programs, floor ${miss.floor}`));
      for (const line of hartsFailureLines(c, saveHartsFailure(c))) io.out(line.startsWith('\n') || line.startsWith('not saved') ? styleText('red', line) : line);
    }
  }
  const wall = (performance.now() - started) / 1000;
  const checks = results.length + hartsChecks.length;
  const failed = results.filter((r) => r.verdict !== 'pass').length + hartsChecks.filter((c) => c.verdict !== 'pass').length;
  io.out(`\n${failed === 0 ? styleText('green', 'all properties hold') : styleText('red', `${failed} of ${checks} checks failed`)} (${wall.toFixed(1)} s)`);
  io.out(`reproduce: ${reproduce}`);
  return failed === 0 ? 0 : 1;
}


function verdictText(v: CheckOutcome['verdict']): string {
  return v === 'pass' ? styleText('green', 'PASS') : v === 'fail' ? styleText('red', 'FAIL') : styleText('yellow', 'VACUOUS');
}

if (isMain(import.meta.url)) runCommand('ssp-spec', main);
