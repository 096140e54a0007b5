/**
 * `npm run exhaustive -- --depth K`: every program up to K steps over a small
 * configuration, on every model (or a seeded-bug variant in its place), with every
 * property checked at every step (properties/exhaustive.ts). Prints, per model,
 * the depth completed, the steps run, the distinct states and the time, the
 * events seen, and a reproduce line; a failure is saved as the ITF counterexample
 * the random suite writes, a shortest one. `--shard i/n` runs one part and
 * `--out FILE` keeps its figures; `--merge FILE...` adds the parts up.
 * Exit 0 if every property held and every event floor was met, 1 if not, 2 for bad options.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import Table from 'cli-table3';
import { hex } from '../spec/address.ts';
import type { ModelName } from '../model/machine.ts';
import { MODELS, MODEL_NAMES } from '../model/models.ts';
import { VARIANTS, findVariant } from '../model/variants.ts';
import { CONFIGS, type ExhaustiveConfig, findConfig } from '../properties/exhaustive-configs.ts';
import { MIN_FLOOR_DEPTH, floorsFor } from '../properties/exhaustive.ts';
import { parseCount } from '../properties/seed.ts';
import { describeEvent } from '../properties/run.ts';
import { saveCounterexample, saveHartsCounterexample } from '../counterexamples/store.ts';
import { UsageError, isMain, listOf, parseOptions, runCommand } from './command.ts';
import { type Io, paint, tableStyle } from './output.ts';
import { type SearchFigures, type SearchOutcome, type SearchTask, machineOf, runSearch } from './exhaustive-task.ts';
import { type HartsSearchOutcome, type HartsSearchTask, hartsMachineOf, runHartsSearch } from './exhaustive-harts-task.ts';
import { HART_VARIANTS, findHartVariant } from '../model/vcpu-variants.ts';
import { VCPU_MODELS } from '../model/vcpus.ts';
import { MAX_HARTS } from '../spec/harts.ts';
import { HARTS_MIN_FLOOR_DEPTH, hartsAlphabet, hartsExhaustiveFloors } from '../properties/exhaustive-harts.ts';
import { describeVcpuStep } from '../properties/harts-run.ts';
import { envWorkers, runPool, workerCount } from './pool.ts';

const USAGE = 'usage: npm run exhaustive -- [--depth K] [--config NAME] [--model npt,tsp,ssp | --variant NAME] [--harts N] [--shard I/N] [--seconds S] [--out FILE] [--list] | --merge FILE...';

export const DEFAULT_DEPTH = 6;
/** With several harts: every program of 2 harts up to 4 steps takes 8 to 14 s per model on one thread; 5 about ten times as long. */
export const DEFAULT_HARTS_DEPTH = 4;


/** Events printed after the table, in this order. */
const SHOWN_EVENTS = [
  'access', 'stale-allowed', 'stale-taken', 'shadow-resync', 'hidden-fault', 'asid-switch-no-fence', 'host-remap', 'host-write-protect', 'hw-tlb-flush',
  'ad-update', 'dirty-required', 'vm-exit', 'm-trap',
];

interface ExhaustiveOptions {
  readonly depth: number;
  readonly config: ExhaustiveConfig;
  readonly models: readonly ModelName[] | null;
  readonly variant: string | null;
  readonly shard: { readonly index: number; readonly count: number } | null;
  readonly out: string | null;
  /** Stop after this many seconds, at the depth completed by then. */
  readonly seconds: number | null;
  /** Harts: 1, or 2 to 4 for the several-hart search. */
  readonly harts: number;
}

function parseShard(raw: string): { index: number; count: number } {
  const m = /^([0-9]+)\/([0-9]+)$/.exec(raw);
  const index = m === null ? NaN : Number(m[1]);
  const count = m === null ? NaN : Number(m[2]);
  if (!(count >= 1 && index >= 1 && index <= count && count <= 1024)) throw new UsageError(`--shard '${raw}' is not I/N with 1 <= I <= N <= 1024`);
  return { index: index - 1, count };
}

/** The command line that runs the same search again. */
export function reproduceLine(o: ExhaustiveOptions): string {
  return [
    'npm run exhaustive --', `--depth ${o.depth}`, `--config ${o.config.name}`,
    ...(o.models !== null && o.variant === null ? [`--model ${o.models.join(',')}`] : []),
    ...(o.variant !== null ? [`--variant ${o.variant}`] : []),
    ...(o.shard !== null ? [`--shard ${o.shard.index + 1}/${o.shard.count}`] : []),
    ...(o.seconds !== null ? [`--seconds ${o.seconds}`] : []),
    ...(o.harts > 1 ? [`--harts ${o.harts}`] : []),
  ].join(' ');
}

const number = (n: number): string => n.toLocaleString('en-US');

/** One search's figures, as the table prints them and a report file keeps them. */
interface Row extends SearchFigures {
  readonly model: ModelName;
  readonly variant: string | null;
  readonly failure: {
    readonly property: string; readonly step: number; readonly message: string; readonly program: readonly string[]; readonly file: string | null; readonly shard: number | null;
  } | null;
}

/** What `--out` writes and `--merge` reads. */
interface Report {
  readonly format: typeof REPORT_FORMAT;
  readonly config: string;
  readonly depth: number;
  readonly harts: number;
  readonly shard: { readonly index: number; readonly count: number } | null;
  readonly rows: readonly Row[];
}

const REPORT_FORMAT = 'ssp-spec-exhaustive/1';

const REPORT_SCHEMA = {
  type: 'object',
  required: ['format', 'config', 'depth', 'harts', 'shard', 'rows'],
  properties: {
    format: { const: REPORT_FORMAT },
    config: { type: 'string' },
    depth: { type: 'integer', minimum: 1 },
    harts: { const: 1 },
    shard: { anyOf: [{ type: 'null' }, { type: 'object', required: ['index', 'count'], properties: { index: { type: 'integer', minimum: 0 }, count: { type: 'integer', minimum: 1 } } }] },
    rows: {
      type: 'array',
      items: {
        type: 'object',
        required: ['model', 'variant', 'depthCompleted', 'transitions', 'distinct', 'seconds', 'events', 'commands', 'failure'],
        properties: {
          model: { enum: MODEL_NAMES },
          variant: { type: ['string', 'null'] },
          depthCompleted: { type: 'integer', minimum: 0 },
          transitions: { type: 'integer', minimum: 0 },
          distinct: { type: 'integer', minimum: 0 },
          seconds: { type: 'number', minimum: 0 },
          events: { type: 'object', additionalProperties: { type: 'integer' } },
          commands: { type: 'object', additionalProperties: { type: 'integer' } },
          failure: {
            anyOf: [{ type: 'null' }, {
              type: 'object',
              required: ['property', 'step', 'message', 'program', 'file', 'shard'],
              properties: { property: { type: 'string' }, step: { type: 'integer' }, message: { type: 'string' }, program: { type: 'array', items: { type: 'string' } } },
            }],
          },
        },
      },
    },
  },
} as const;

const validateReport = new Ajv({ allErrors: false, strict: false }).compile(REPORT_SCHEMA);

const label = (r: { readonly model: string; readonly variant: string | null }): string => (r.variant === null ? r.model : `${r.variant} (${r.model})`);

/** The floors of a search: the events it must have seen once it completed a depth, and that depth. */
interface SearchFloors {
  readonly of: (model: ModelName) => readonly string[];
  readonly fromDepth: number;
  /** The events printed after the table, in this order. */
  readonly shown: readonly string[];
}

const oneHartFloors = (config: ExhaustiveConfig): SearchFloors => ({ of: (m) => floorsFor(m, config), fromDepth: MIN_FLOOR_DEPTH, shown: SHOWN_EVENTS });

const hartsFloors: SearchFloors = {
  of: hartsExhaustiveFloors,
  fromDepth: HARTS_MIN_FLOOR_DEPTH,
  shown: ['access', 'stale-allowed', 'stale-allowed-unfenced-hart', 'remote-fence', 'remote-flush', 'cross-hart-race', 'resync-seen-by-other-hart', 'unsync-for-other-hart', 'hidden-fault', 'vm-exit', 'm-trap'],
};

/** The events floors ask for that a row never saw (none below the floors' depth or once it failed: a failure is a verdict of its own). */
function floorMisses(r: Row, floors: SearchFloors): string[] {
  if (r.depthCompleted < floors.fromDepth || r.failure !== null) return [];
  return floors.of(r.model).filter((e) => (r.events[e] ?? 0) === 0);
}

/** Print the rows, their events and failures; the exit code. */
function printRows(io: Io, header: string, rows: readonly Row[], floors: SearchFloors, depth: number, reproduce: string, wall: number): number {
  io.out(paint(io, 'bold', header));
  const table = new Table({ head: ['machine', 'depth completed', 'steps run', 'distinct states', 'seconds', 'verdict'], style: tableStyle(io) });
  let bad = 0;
  for (const r of rows) {
    const misses = floorMisses(r, floors);
    const verdict = r.failure !== null ? paint(io, 'red', `FAIL ${r.failure.property}`) : misses.length > 0 ? paint(io, 'yellow', 'VACUOUS') : paint(io, 'green', 'PASS');
    if (r.failure !== null || misses.length > 0) bad++;
    table.push([label(r), `${r.depthCompleted} of ${depth}`, number(r.transitions), number(r.distinct), r.seconds.toFixed(1), verdict]);
  }
  io.out(table.toString());
  const events = new Table({ head: ['steps with', ...rows.map(label)], style: tableStyle(io) });
  const commandKinds = [...new Set(rows.flatMap((r) => Object.keys(r.commands)))].sort();
  for (const k of commandKinds) events.push([`command ${k}`, ...rows.map((r) => number(r.commands[k] ?? 0))]);
  for (const e of floors.shown) events.push([e, ...rows.map((r) => number(r.events[e] ?? 0))]);
  io.out(events.toString());
  for (const r of rows) {
    for (const e of floorMisses(r, floors)) io.out(paint(io, 'yellow', `vacuous: ${label(r)} never saw ${e} (every search of depth ${floors.fromDepth} or more must)`));
    if (r.failure === null) continue;
    io.out(paint(io, 'red', `\n${r.failure.property} fails on ${label(r)} at step ${r.failure.step + 1}: ${r.failure.message}`));
    io.out(`a shortest failing program (${r.failure.program.length} steps${r.failure.shard === null ? '' : `, shard ${r.failure.shard + 1}`}):`);
    r.failure.program.forEach((line, i) => io.out(`  ${String(i).padStart(3)}  ${line}`));
    if (r.failure.file !== null) io.out(`saved: ${r.failure.file}\nreplay: npm run replay -- ${r.failure.file}\nview: npm run view -- ${r.failure.file}`);
  }
  const reached = Math.min(...rows.map((r) => r.depthCompleted));
  if (bad === 0 && reached < depth) io.out(paint(io, 'yellow', `\nstopped by --seconds: depth ${reached} completed on every machine, not ${depth}`));
  io.out(bad === 0 ? paint(io, 'green', `${reached < depth ? '' : '\n'}every property holds on every program of up to ${reached} steps (${wall.toFixed(1)} s)`) : paint(io, 'red', `\n${bad} of ${rows.length} searches failed (${wall.toFixed(1)} s)`));
  io.out(`reproduce: ${reproduce}`);
  return bad === 0 ? 0 : 1;
}

/** The row of an outcome, its counterexample saved (and checked by replaying it) if it failed. */
function rowOf(o: SearchOutcome, config: ExhaustiveConfig, io: Io): Row {
  const { task } = o;
  let failure: Row['failure'] = null;
  if (o.failure !== null) {
    const machine = machineOf(task);
    const name = task.variant ?? task.model;
    const file = `counterexamples/runs/exhaustive-${name}-${o.failure.property}-${config.name}-depth${o.failure.events.length}.itf.json`;
    const saved = saveCounterexample({
      file, machine, correct: task.variant === null ? null : MODELS[task.model], variant: task.variant ?? 'none', property: o.failure.property,
      guest: 'arbitrary', ad: config.ad ?? 'svade', events: o.failure.events, seed: 0, path: '', universe: config.universe, exhaustive: { config: config.name, depth: task.depth },
    });
    if (!saved.saved) io.out(paint(io, 'red', `${label(task)}: counterexample not saved: ${saved.reason}`));
    failure = {
      property: o.failure.property, step: o.failure.step, message: o.failure.message, program: o.failure.events.map(describeEvent),
      file: saved.saved ? saved.file : null, shard: task.shard === null ? null : task.shard.index,
    };
  }
  return {
    model: task.model, variant: task.variant, depthCompleted: o.depthCompleted, transitions: o.transitions, distinct: o.distinct,
    seconds: o.seconds, events: o.events, commands: o.commands, failure,
  };
}

function searchMain(o: ExhaustiveOptions, io: Io): number {
  const variant = o.variant === null ? undefined : findVariant(o.variant);
  const models = variant !== undefined ? [variant.base] : (o.models ?? MODEL_NAMES);
  const tasks: SearchTask[] = models.map((model) => ({ config: o.config.name, depth: o.depth, model, variant: variant?.name ?? null, shard: o.shard, seconds: o.seconds }));
  const workers = workerCount(tasks.length, envWorkers());
  const header = `exhaustive: every program of up to ${o.depth} steps over configuration ${o.config.name} (${o.config.alphabet.length} events), 1 hart${o.shard === null ? '' : `, shard ${o.shard.index + 1}/${o.shard.count}`}${workers > 1 ? ` (${workers} threads)` : ''}`;
  io.out(`configuration ${o.config.name}: ${o.config.description}`);
  const started = performance.now();
  const rows: Row[] = [];
  runPool(new URL('./exhaustive-worker.ts', import.meta.url), tasks, workers, runSearch, (outcome) => {
    rows.push(rowOf(outcome, o.config, io));
  });
  const wall = (performance.now() - started) / 1000;
  if (o.out !== null) {
    const report: Report = { format: REPORT_FORMAT, config: o.config.name, depth: o.depth, harts: 1, shard: o.shard, rows };
    writeFileSync(o.out, `${JSON.stringify(report, null, 1)}\n`);
  }
  return printRows(io, header, rows, oneHartFloors(o.config), o.depth, reproduceLine(o), wall);
}

/** The row of a several-hart outcome, its counterexample saved (and checked by replaying it) if it failed. */
function hartsRowOf(o: HartsSearchOutcome, config: ExhaustiveConfig, io: Io): Row {
  const { task } = o;
  let failure: Row['failure'] = null;
  if (o.failure !== null) {
    const name = task.variant ?? task.model;
    const file = `counterexamples/runs/exhaustive-${name}-harts${task.harts}-${o.failure.check}-${config.name}-depth${o.failure.steps.length}.itf.json`;
    const saved = saveHartsCounterexample({
      file, machine: hartsMachineOf(task), correct: task.variant === null ? null : VCPU_MODELS[task.model], variant: task.variant ?? 'none',
      program: { harts: task.harts, steps: o.failure.steps }, ad: config.ad ?? 'svade', seed: 0, path: '', universe: config.universe,
      exhaustive: { config: config.name, depth: task.depth },
    });
    if (!saved.saved) io.out(paint(io, 'red', `${label(task)}: counterexample not saved: ${saved.reason}`));
    failure = {
      property: o.failure.check, step: o.failure.step, message: o.failure.message, program: o.failure.steps.map(describeVcpuStep),
      file: saved.saved ? saved.file : null, shard: null,
    };
  }
  return {
    model: task.model, variant: task.variant, depthCompleted: o.depthCompleted, transitions: o.transitions, distinct: o.distinct,
    seconds: o.seconds, events: o.events, commands: o.commands, failure,
  };
}

/** `--harts N` (2 to 4): every program of several harts up to the depth (properties/exhaustive-harts.ts). */
function hartsSearchMain(o: ExhaustiveOptions & { readonly harts: number }, io: Io): number {
  const variant = o.variant === null ? undefined : findHartVariant(o.variant);
  const models = variant !== undefined ? [variant.base] : (o.models ?? MODEL_NAMES);
  const tasks: HartsSearchTask[] = models.map((model) => ({ config: o.config.name, harts: o.harts, depth: o.depth, model, variant: variant?.name ?? null }));
  const workers = workerCount(tasks.length, envWorkers());
  const alphabet = hartsAlphabet(o.config, o.harts).length;
  const header = `exhaustive: every program of up to ${o.depth} steps of ${o.harts} harts over configuration ${o.config.name} (${alphabet} steps: its per-hart events on every hart, its page-table stores and host events on hart 0, two SBI remote fences from every hart)${workers > 1 ? ` (${workers} threads)` : ''}`;
  io.out(`configuration ${o.config.name}: ${o.config.description}`);
  const started = performance.now();
  const rows: Row[] = [];
  runPool(new URL('./exhaustive-harts-worker.ts', import.meta.url), tasks, workers, runHartsSearch, (outcome) => {
    rows.push(hartsRowOf(outcome, o.config, io));
  });
  return printRows(io, header, rows, hartsFloors, o.depth, reproduceLine(o), (performance.now() - started) / 1000);
}

function readReport(file: string): Report {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: ${e instanceof SyntaxError ? 'not JSON' : 'cannot be read'} (${(e as Error).message.split('\n')[0] ?? ''})`);
  }
  if (!validateReport(raw)) {
    const err = validateReport.errors?.[0];
    throw new UsageError(`${file}: not an exhaustive report (${REPORT_FORMAT}): ${err === undefined ? 'invalid' : `${err.instancePath || '/'} ${err.message ?? ''}`}`);
  }
  return raw as unknown as Report;
}

/** Shards' reports added up: steps and states summed, the depth completed the least, the shortest failure kept. */
function mergeMain(files: readonly string[], io: Io): number {
  if (files.length === 0) throw new UsageError('--merge needs the report files of the shards');
  const reports = files.map(readReport);
  const [first] = reports as [Report, ...Report[]];
  for (const [i, r] of reports.entries()) {
    if (r.config !== first.config || r.depth !== first.depth) throw new UsageError(`${files[i] ?? ''}: configuration ${r.config} depth ${r.depth}, but ${files[0] ?? ''} has ${first.config} depth ${first.depth}`);
    if (r.shard === null) throw new UsageError(`${files[i] ?? ''}: not a shard (run with --shard I/N)`);
    if (r.shard.count !== first.shard?.count) throw new UsageError(`${files[i] ?? ''}: shard of ${r.shard.count}, but ${files[0] ?? ''} is a shard of ${first.shard?.count ?? 1}`);
  }
  const count = first.shard?.count ?? 1;
  const indices = reports.map((r) => r.shard?.index ?? 0);
  for (let i = 0; i < count; i++) {
    const n = indices.filter((x) => x === i).length;
    if (n !== 1) throw new UsageError(n === 0 ? `shard ${i + 1}/${count} is missing` : `shard ${i + 1}/${count} is given ${n} times`);
  }
  const config = findConfig(first.config);
  if (config === undefined) throw new UsageError(`${files[0] ?? ''}: unknown configuration '${first.config}'`);
  const keyOf = (r: Row): string => `${r.model}/${r.variant ?? ''}`;
  const keys = first.rows.map(keyOf);
  for (const [i, r] of reports.entries()) {
    if (r.rows.map(keyOf).join() !== keys.join()) throw new UsageError(`${files[i] ?? ''}: searched ${r.rows.map(label).join(', ')}, but ${files[0] ?? ''} searched ${first.rows.map(label).join(', ')}`);
  }
  const rows: Row[] = keys.map((_k, n) => {
    const parts = reports.map((r) => r.rows[n] as Row);
    const sum = (f: (r: Row) => number): number => parts.reduce((a, r) => a + f(r), 0);
    const add = (f: (r: Row) => Readonly<Record<string, number>>): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const r of parts) for (const [k, v] of Object.entries(f(r))) out[k] = (out[k] ?? 0) + v;
      return out;
    };
    const failures = parts.flatMap((r) => (r.failure === null ? [] : [r.failure])).sort((a, b) => a.program.length - b.program.length || (a.shard ?? 0) - (b.shard ?? 0));
    const base = parts[0] as Row;
    return {
      model: base.model, variant: base.variant, depthCompleted: Math.min(...parts.map((r) => r.depthCompleted)), transitions: sum((r) => r.transitions),
      distinct: sum((r) => r.distinct), seconds: Math.max(...parts.map((r) => r.seconds)), events: add((r) => r.events), commands: add((r) => r.commands),
      failure: failures[0] ?? null,
    };
  });
  const header = `exhaustive: ${count} shards merged, every program of up to ${first.depth} steps over configuration ${first.config} (distinct states summed over shards; seconds: the slowest shard)`;
  return printRows(io, header, rows, oneHartFloors(config), first.depth, `npm run exhaustive -- --merge ${files.join(' ')}`, Math.max(...rows.map((r) => r.seconds)));
}

export function main(argv: readonly string[], io: Io): number {
  const { values, positionals } = parseOptions(argv, {
    depth: { type: 'string' },
    config: { type: 'string' },
    model: { type: 'string' },
    variant: { type: 'string' },
    harts: { type: 'string' },
    shard: { type: 'string' },
    out: { type: 'string' },
    seconds: { type: 'string' },
    merge: { type: 'boolean' },
    list: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, true);
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  if (values.list === true) {
    for (const c of CONFIGS) {
      io.out(`config ${c.name}: ${c.description}`);
      io.out(`  pages: ${c.universe.map(hex).join(', ')}`);
      for (const e of c.alphabet) io.out(`  ${describeEvent(e)}`);
    }
    return 0;
  }
  if (values.merge === true) {
    const others = Object.keys(values).filter((k) => k !== 'merge');
    if (others.length > 0) throw new UsageError(`--merge takes only report files, not --${others[0] ?? ''}`);
    return mergeMain(positionals, io);
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}' (${USAGE})`);
  const harts = values.harts === undefined ? 1 : parseCount(values.harts, '--harts');
  if (harts > MAX_HARTS) throw new UsageError(`--harts ${harts}: from 1 to ${MAX_HARTS} harts`);
  if (harts > 1) {
    const alone = (['shard', 'out', 'seconds'] as const).find((k) => values[k] !== undefined);
    if (alone !== undefined) throw new UsageError(`--${alone} is for one hart: a search with --harts ${harts} runs whole, in one report`);
  }
  // Several harts search the configuration made for them unless told otherwise.
  const config = findConfig(values.config ?? (harts > 1 ? 'harts' : 'default'));
  if (config === undefined) throw new UsageError(`unknown configuration '${values.config ?? ''}' (known: ${CONFIGS.map((c) => c.name).join(', ')})`);
  if (values.variant !== undefined && harts === 1 && findVariant(values.variant) === undefined) {
    const several = findHartVariant(values.variant) !== undefined;
    throw new UsageError(several ? `--variant ${values.variant} is a several-hart variant: it needs --harts 2 or more` : `unknown variant '${values.variant}' (known: ${VARIANTS.map((v) => v.name).join(', ')})`);
  }
  if (values.variant !== undefined && harts > 1 && findHartVariant(values.variant) === undefined) {
    throw new UsageError(`unknown several-hart variant '${values.variant}' (known: ${HART_VARIANTS.map((v) => v.name).join(', ')})`);
  }
  if (values.variant !== undefined && values.model !== undefined) throw new UsageError('--model and --variant cannot be used together: a variant runs in place of its own model');
  const depth = values.depth === undefined ? (harts > 1 ? DEFAULT_HARTS_DEPTH : DEFAULT_DEPTH) : parseCount(values.depth, '--depth');
  if (depth > 12) throw new UsageError(`--depth ${depth}: at most 12 (the number of programs grows as the alphabet to the depth)`);
  const o: ExhaustiveOptions = {
    depth, config, models: listOf<ModelName>('model', values.model, MODEL_NAMES), variant: values.variant ?? null,
    shard: values.shard === undefined ? null : parseShard(values.shard), out: values.out ?? null,
    seconds: values.seconds === undefined ? null : parseCount(values.seconds, '--seconds'), harts,
  };
  return harts > 1 ? hartsSearchMain({ ...o, harts }, io) : searchMain(o, io);
}


if (isMain(import.meta.url)) runCommand('exhaustive', main);
