/**
 * `npm start`: every property against every model (or a seeded-bug variant in
 * place of its model), then a summary table, the event counts, and how to
 * reproduce the run. Exit 0 if everything passed, 1 if a property failed or was
 * vacuous, 2 for bad options.
 */
import { UsageError, runCommand } from './command.ts';
import { parseArgs, styleText } from 'node:util';
import Table from 'cli-table3';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import { type AnyMachine, type ModelName, erase } from '../model/machine.ts';
import { VARIANTS, findVariant } from '../model/variants.ts';
import { PROPERTIES } from '../properties/catalogue.ts';
import { describeCommand } from '../properties/commands.ts';
import { EVENT_NAMES, type PropertyName, describeEvent } from '../properties/run.ts';
import { DEFAULT_BUDGET, type PropertyResult, checkProperty } from '../properties/suite.ts';
import { buildTrace, writeTrace } from '../counterexamples/trace.ts';

const USAGE = `usage: npm start -- [--runs N] [--steps N] [--seed S] [--model npt,tsp,ssp] [--property NAME,...] [--variant NAME] [--list]`;


function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${raw}'`);
  return n;
}

function parseSeed(raw: string | undefined): number {
  if (raw === undefined) return (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || Math.abs(n) > 0xffffffff) throw new UsageError(`--seed must be a 32-bit integer (decimal or 0x hex), got '${raw}'`);
  return n | 0;
}

function listOf<T extends string>(name: string, raw: string | undefined, known: readonly T[]): readonly T[] {
  if (raw === undefined) return known;
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const item of items) {
    if (!(known as readonly string[]).includes(item)) throw new UsageError(`unknown ${name} '${item}' (known: ${known.join(', ')})`);
  }
  return items as T[];
}

function main(argv: readonly string[]): number {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      runs: { type: 'string' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      model: { type: 'string' },
      property: { type: 'string' },
      variant: { type: 'string' },
      list: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    for (const p of PROPERTIES) console.log(`property ${p.name}: ${p.sentence}`);
    for (const v of VARIANTS) console.log(`variant ${v.name} (${v.base}): ${v.description}`);
    return 0;
  }
  const runs = positiveInt('runs', values.runs, DEFAULT_BUDGET.runs);
  const maxCommands = positiveInt('steps', values.steps, DEFAULT_BUDGET.maxCommands);
  const seed = parseSeed(values.seed);
  const modelNames = listOf<ModelName>('model', values.model, ['npt', 'tsp', 'ssp']);
  const propertyNames = listOf<PropertyName>('property', values.property, PROPERTIES.map((p) => p.name));
  const variant = values.variant === undefined ? undefined : findVariant(values.variant);
  if (values.variant !== undefined && variant === undefined) {
    throw new UsageError(`unknown variant '${values.variant}' (known: ${VARIANTS.map((v) => v.name).join(', ')})`);
  }
  const base: Record<ModelName, AnyMachine> = { npt: erase(npt), tsp: erase(tsp), ssp: erase(ssp) };
  const machines = (variant === undefined ? modelNames : [variant.base]).map((m) => (variant?.base === m ? variant.machine : base[m]));

  const reproduce = [
    `npm start --`, `--seed ${seed}`,
    ...(runs !== DEFAULT_BUDGET.runs ? [`--runs ${runs}`] : []),
    ...(maxCommands !== DEFAULT_BUDGET.maxCommands ? [`--steps ${maxCommands}`] : []),
    ...(values.model !== undefined && variant === undefined ? [`--model ${modelNames.join(',')}`] : []),
    ...(values.property !== undefined ? [`--property ${propertyNames.join(',')}`] : []),
    ...(variant !== undefined ? [`--variant ${variant.name}`] : []),
  ].join(' ');
  console.log(styleText('bold', `ssp-spec: ${propertyNames.length} properties x ${machines.length} models, ${runs} programs of at most ${maxCommands} commands each, seed ${seed}`));
  if (variant !== undefined) console.log(`variant ${variant.name}: ${variant.description}`);

  const started = performance.now();
  const results: PropertyResult[] = [];
  for (const spec of PROPERTIES.filter((p) => propertyNames.includes(p.name))) {
    for (const machine of machines.filter((m) => spec.models.includes(m.name))) {
      const r = checkProperty(spec, machine, { runs, maxCommands, seed });
      results.push(r);
      const label = variant?.machine === machine ? `${machine.name} (${variant.name})` : machine.name;
      console.log(`  ${verdictText(r.verdict)} ${spec.name} on ${label}: ${r.runs} programs, ${r.stats.steps} commands, ${r.seconds.toFixed(1)} s`);
    }
  }
  const wall = (performance.now() - started) / 1000;

  const summary = new Table({ head: ['model', 'property', 'programs', 'commands', 'verdict', 'seconds'], style: { compact: true } });
  for (const r of results) summary.push([r.model, r.property.name, r.runs, r.stats.steps, verdictText(r.verdict), r.seconds.toFixed(1)]);
  console.log(`\n${summary.toString()}`);

  const events = new Table({ head: ['per 100 programs (refinement run)', ...results.filter((r) => r.property.name === 'refinement').map((r) => r.model)], style: { compact: true } });
  const refinement = results.filter((r) => r.property.name === 'refinement');
  for (const name of EVENT_NAMES) {
    events.push([name, ...refinement.map((r) => ((r.stats.events.get(name) ?? 0) * 100 / Math.max(1, r.runs)).toFixed(1))]);
  }
  const mix = [...new Set(refinement.flatMap((r) => [...r.stats.commands.keys()]))].sort();
  for (const kind of mix) events.push([`command ${kind}`, ...refinement.map((r) => ((r.stats.commands.get(kind) ?? 0) * 100 / Math.max(1, r.runs)).toFixed(1))]);
  if (refinement.length > 0) console.log(events.toString());

  for (const r of results) {
    for (const miss of r.floorMisses) {
      console.log(styleText('yellow', `vacuous: ${r.property.name} on ${r.model}: ${miss.event} reached ${miss.per100.toFixed(1)} per 100 programs, floor ${miss.floor}`));
    }
    if (r.counterexample !== null) {
      printCounterexample(r);
      const name = variant !== undefined && variant.base === r.model ? variant.name : 'none';
      const file = `counterexamples/runs/${name === 'none' ? r.model : name}-${r.property.name}-seed${seed}.itf.json`;
      writeTrace(file, buildTrace({
        machine: machines.find((m) => m.name === r.model) ?? base[r.model as ModelName], variant: name, property: r.property.name,
        guest: r.counterexample.guest, events: r.counterexample.events, seed, path: r.path ?? '',
      }));
      console.log(`saved: ${file}
replay: npm run replay -- ${file}`);
    }
  }
  const failed = results.filter((r) => r.verdict !== 'pass').length;
  console.log(`\n${failed === 0 ? styleText('green', 'all properties hold') : styleText('red', `${failed} of ${results.length} checks failed`)} (${wall.toFixed(1)} s)`);
  console.log(`reproduce: ${reproduce}`);
  return failed === 0 ? 0 : 1;
}

function verdictText(v: PropertyResult['verdict']): string {
  return v === 'pass' ? styleText('green', 'PASS') : v === 'fail' ? styleText('red', 'FAIL') : styleText('yellow', 'VACUOUS');
}

function printCounterexample(r: PropertyResult): void {
  const c = r.counterexample;
  if (c === null) return;
  console.log(styleText('red', `\n${r.property.name} fails on ${r.model}: ${c.violation.message}`));
  console.log(`shrunk program (${c.guest} guest, ${c.program.length} commands, fast-check path ${r.path ?? '-'}):`);
  for (const cmd of c.program) console.log(`  ${describeCommand(cmd)}`);
  console.log(`as it ran (${c.events.length} steps, the last one fails):`);
  c.events.forEach((e, i) => console.log(`  ${String(i).padStart(3)}  ${describeEvent(e)}`));
}

runCommand('ssp-spec', main, [], USAGE);
