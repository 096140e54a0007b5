/**
 * `npm run bench`: every figure the project states about its speed, measured in
 * one run and written to bench/results.json and bench/RESULTS.md (the README
 * links the latter). Figures are ratios where they can be (this machine is shared
 * and noisy); each target is printed beside its figure. Nothing here is a test: a
 * slow machine gives slower figures, never a failure.
 *
 *   npm run bench -- [--seeds N] [--minimum-seconds S] [--only SECTION,...]
 *
 * Sections: throughput, memory, start, detection, harts, exhaustive, minimum. With --only,
 * the other sections keep the figures of their last run (each says when and at
 * which commit it was measured).
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { VARIANTS } from '../model/variants.ts';
import { UsageError, isMain, parseOptions, runCommand } from '../cli/command.ts';
import type { Io } from '../cli/output.ts';
import { parseCount } from '../properties/seed.ts';
import { type Detection, detect, detectHarts } from './detection.ts';
import { HART_VARIANTS } from '../model/vcpu-variants.ts';
import { DEFAULT_HARTS_RUNS } from '../cli/main.ts';
import { type DepthFigure, type VariantMinimum, depthSix, reach, shardSpeedup, variantMinimums, variantsAtDepthSix } from './exhaustive.ts';
import { type MemoryScaling, memoryScaling, throughput } from './throughput.ts';

const SECTIONS = ['throughput', 'memory', 'start', 'detection', 'harts', 'exhaustive', 'minimum'] as const;
type Section = (typeof SECTIONS)[number];

const USAGE = `usage: npm run bench -- [--seeds N] [--minimum-seconds S] [--only ${SECTIONS.join(',')}]`;

const medianOf = (xs: readonly number[]): number | null => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : (s[Math.floor((s.length - 1) / 2)] ?? null);
};

/** `npm start` at the default budget, as a user runs it: its wall time and verdict line. */
function startWall(): { seconds: number; passed: boolean; summary: string; properties: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', '--seed', '1'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  const summary = r.stdout.split('\n').find((l) => l.startsWith('all properties hold') || / checks failed/.test(l)) ?? `exit ${r.status ?? '?'}`;
  const properties = Number((/^ssp-spec: (\d+) properties/m.exec(r.stdout) ?? [])[1] ?? 0);
  return { seconds, passed: r.status === 0, summary, properties };
}

const fixed = (x: number, d = 2): string => x.toFixed(d);
const yes = (ok: boolean): string => (ok ? 'met' : '**not met**');

/** What results.json holds: each section's figures, and when and where each was measured. */
interface Results {
  throughput?: ReturnType<typeof throughput> & Measured;
  memory?: { rows: MemoryScaling[] } & Measured;
  start?: ReturnType<typeof startWall> & Measured;
  detection?: { seeds: number; variants: Detection[] } & Measured;
  /** The several-hart variants, as `npm start -- --variant NAME` checks them (2 harts). */
  harts?: { seeds: number; variants: Detection[] } & Measured;
  exhaustive?: { depthSix: ReturnType<typeof depthSix>; reach60: DepthFigure[]; shards: ReturnType<typeof shardSpeedup>; variantsAtDepthSix: ReturnType<typeof variantsAtDepthSix> } & Measured;
  minimum?: { budgetSeconds: number; variants: VariantMinimum[] } & Measured;
}
interface Measured {
  readonly date: string;
  readonly node: string;
  readonly cpus: number;
  readonly commit: string;
}

/** The commit the run started at (and whether files differed from it), read once: a commit made while it runs is not what ran. */
const COMMIT = ((): string => {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout.trim() !== '';
  return head === '' ? 'unknown' : `${head}${dirty ? ' (with uncommitted changes)' : ''}`;
})();

function measured(): Measured {
  return { date: new Date().toISOString(), node: process.version, cpus: cpus().length, commit: COMMIT };
}

const when = (m: Measured): string => `_measured ${m.date.slice(0, 16).replace('T', ' ')} UTC at ${m.commit}, Node ${m.node}, ${m.cpus} cores_`;

/** RESULTS.md from the figures: each target beside its figure. */
function render(r: Results): string {
  const md: string[] = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (see the README). Ratios are measured within one run; absolute figures depend on the machine and its load. The raw figures are in [results.json](results.json).',
    '',
  ];
  if (r.throughput !== undefined) {
    const t = r.throughput;
    md.push(`## Throughput (${t.programs} sample programs, ${t.commands} commands, seed 7)`, '', when(t), '', `Baseline, one Sv39 hart over plain mutable Maps with nothing checked (bench/baseline.ts): **${fixed(t.baseline, 0)} commands/s**.`, '');
    md.push('| model | alone (commands/s) | beside the reference | every property checked | checked / alone (target >= 0.1) | alone / baseline |', '|---|---|---|---|---|---|');
    for (const m of t.models) md.push(`| ${m.model} | ${fixed(m.alone, 0)} | ${fixed(m.beside, 0)} | ${fixed(m.checked, 0)} | ${fixed(m.checked / m.alone, 3)} (${yes(m.checked / m.alone >= 0.1)}) | ${fixed(m.alone / t.baseline, 3)} |`);
    md.push('');
  }
  if (r.memory !== undefined) {
    md.push('## A step\'s cost against the size of guest memory (100 programs beside the reference)', '', when(r.memory), '');
    md.push('| model | 2,000 pages / none | 30,000 pages / none (target <= 1.2) |', '|---|---|---|');
    for (const x of r.memory.rows) md.push(`| ${x.model} | ${fixed(x.pages2000)} | ${fixed(x.pages30000)} (${yes(x.pages30000 <= 1.2)}) |`);
    md.push('');
  }
  if (r.start !== undefined) {
    const s = r.start;
    // Figures from before the count was recorded were of 7 properties.
    md.push(`## \`npm start\` at the default budget (${s.properties ?? 7} properties x 3 models, 1,000 programs of up to 50 commands, seed 1)`, '', when(s), '', `Wall time **${fixed(s.seconds, 1)} s** on both cores (target <= 60 s: ${yes(s.seconds <= 60)}); ${s.summary}.`, '');
  }
  if (r.detection !== undefined) {
    md.push(`## Detection of the seeded variants (${r.detection.seeds} seeds each, default budget)`, '', when(r.detection), '');
    md.push('Seconds to failure: the check whose property failed after the fewest programs, up to its first failing program; "with shrinking" adds the minimisation.', '');
    md.push('| variant | caught | median programs to failure | median seconds to failure (target < 0.5) | with shrinking | median shrunk steps | median shortest (any property) |', '|---|---|---|---|---|---|---|');
    for (const d of r.detection.variants) {
      const sec = medianOf(d.secondsToFailure);
      const shrinking = medianOf(d.secondsWithShrinking);
      md.push(`| ${d.variant} | ${d.caught}/${d.seeds} | ${medianOf(d.programs) ?? '-'} | ${sec === null ? '-' : `${fixed(sec)} (${yes(sec < 0.5)})`} | ${shrinking === null ? '-' : fixed(shrinking)} | ${medianOf(d.lengths) ?? '-'} | ${medianOf(d.shortest) ?? '-'} |`);
    }
    md.push('');
  }
  if (r.harts !== undefined) {
    md.push(`## Detection of the several-hart variants (${r.harts.seeds} seeds each, 2 harts, ${DEFAULT_HARTS_RUNS} programs at most)`, '', when(r.harts), '');
    md.push('Each seed runs `npm start -- --variant NAME --seed S`\'s several-hart check: every property per hart, isolation across harts, SBI returns and traps; the seconds include shrinking.', '');
    md.push('| variant | caught | median programs to failure | worst | median seconds to failure (target < 0.5) | median shrunk steps | caught first by |', '|---|---|---|---|---|---|---|');
    for (const d of r.harts.variants) {
      const sec = medianOf(d.secondsToFailure);
      const by = Object.entries(d.byProperty).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
      md.push(`| ${d.variant} | ${d.caught}/${d.seeds} | ${medianOf(d.programs) ?? '-'} | ${d.programs.length === 0 ? '-' : Math.max(...d.programs)} | ${sec === null ? '-' : `${fixed(sec)} (${yes(sec < 0.5)})`} | ${medianOf(d.lengths) ?? '-'} | ${by} |`);
    }
    md.push('');
  }
  if (r.exhaustive !== undefined) {
    const { depthSix: six, reach60, shards, variantsAtDepthSix: found } = r.exhaustive;
    md.push('## Exhaustive search (default configuration, 13 events)', '', when(r.exhaustive), '');
    md.push(`Depth 6, the three models on two threads: **${fixed(six.wall, 1)} s** wall (target < 60 s: ${yes(six.wall < 60 && six.models.every((m) => m.passed))}).`, '');
    md.push('| model | steps run | distinct states | seconds | verdict | depth completed in 60 s |', '|---|---|---|---|---|---|');
    for (const m of six.models) md.push(`| ${m.model} | ${m.transitions} | ${m.distinct} | ${fixed(m.seconds, 1)} | ${m.passed ? 'pass' : 'FAIL'} | ${reach60.find((x) => x.model === m.model)?.depthCompleted ?? '-'} |`);
    md.push('', `Two shards on two threads against one search (npt, depth 6): ${fixed(shards.whole, 1)} s against ${fixed(shards.shards, 1)} s, **${fixed(shards.speedup)}x** (steps ${shards.transitionsWhole} against ${shards.transitionsShards}: a state both shards reach is explored by both).`, '');
    md.push('Seeded variants at depth 6 over the default configuration (the `svadu` one for a variant of Svadu guests):', '', '| variant | configuration | shortest failing program | seconds |', '|---|---|---|---|');
    // A variant none of whose programs over the default events fails by depth 6 is not thereby missed: when the
    // section below found it failing within 6 steps once its trace's own events join the alphabet, say so.
    const withOwnEvents = (variant: string): string => {
      const m = r.minimum?.variants.filter((x) => x.variant === variant && x.minimum !== null && x.minimum <= 6);
      const least = m === undefined || m.length === 0 ? null : Math.min(...m.map((x) => x.minimum as number));
      return least === null ? '' : `; with its trace's own events added, ${least} steps (below)`;
    };
    // Figures written before the configuration column name none: they were all on the default one.
    for (const v of found) md.push(`| ${v.variant} | ${v.config ?? 'default'} | ${v.found === null ? `none within depth 6 over the ${v.config ?? 'default'} events${withOwnEvents(v.variant)}` : `${v.found} steps`} | ${fixed(v.seconds, 1)} |`);
    md.push('');
  }
  if (r.minimum !== undefined) {
    md.push('## Shrunk counterexamples against their exhaustive minimum', '', when(r.minimum), '');
    md.push(`For each committed trace (counterexamples/seeded/, shrunk by the random suite), the least length of a program failing the same property on the same variant over the default alphabet and the trace's own steps, searched up to one step short of the trace (at most ${r.minimum.budgetSeconds} s each).`, '');
    md.push('| variant | property | shrunk | exhaustive minimum | within one step |', '|---|---|---|---|---|');
    for (const m of r.minimum.variants) {
      // With the search stopped, the minimum is at least passesUpTo + 1: within one step if the trace is no longer than that plus one.
      const within = m.minimum !== null ? m.shrunk - m.minimum <= 1 : m.shrunk - (m.passesUpTo + 1) <= 1;
      md.push(`| ${m.variant} | ${m.property} | ${m.shrunk} | ${m.minimum ?? `> ${m.passesUpTo} (stopped after ${fixed(m.seconds, 0)} s)`} | ${yes(within)} |`);
    }
    md.push('');
  }
  return `${md.join('\n')}\n`;
}

export function main(argv: readonly string[], io: Io): number {
  const { values } = parseOptions(argv, {
    seeds: { type: 'string' }, 'minimum-seconds': { type: 'string' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  const seeds = values.seeds === undefined ? 100 : parseCount(values.seeds, '--seeds');
  const minimumSeconds = values['minimum-seconds'] === undefined ? 300 : parseCount(values['minimum-seconds'], '--minimum-seconds');
  const only = values.only === undefined ? [...SECTIONS] : values.only.split(',').map((s) => s.trim());
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new UsageError(`unknown section '${s}' (known: ${SECTIONS.join(', ')})`);
  const want = (s: Section): boolean => only.includes(s);

  const dir = new URL('./', import.meta.url).pathname;
  // Sections not measured now keep the figures of their last run.
  let results: Results = {};
  if (existsSync(`${dir}results.json`)) {
    try {
      results = JSON.parse(readFileSync(`${dir}results.json`, 'utf8')) as Results;
    } catch {
      results = {};
    }
  }
  if (want('throughput')) {
    io.out('throughput ...');
    results.throughput = { ...throughput(), ...measured() };
  }
  if (want('memory')) {
    io.out('memory scaling ...');
    results.memory = { rows: memoryScaling(), ...measured() };
  }
  if (want('start')) {
    io.out('npm start ...');
    results.start = { ...startWall(), ...measured() };
  }
  if (want('detection')) {
    io.out(`detection, ${seeds} seeds per variant ...`);
    results.detection = { seeds, variants: VARIANTS.map((v) => detect(v, seeds)), ...measured() };
  }
  if (want('harts')) {
    io.out(`several-hart variants, ${seeds} seeds per variant ...`);
    results.harts = { seeds, variants: HART_VARIANTS.map((v) => detectHarts(v, seeds)), ...measured() };
  }
  if (want('exhaustive')) {
    io.out('exhaustive ...');
    results.exhaustive = { depthSix: depthSix(), reach60: reach(60), shards: shardSpeedup('npt', 6), variantsAtDepthSix: variantsAtDepthSix(), ...measured() };
  }
  if (want('minimum')) {
    io.out(`minimum lengths, up to ${minimumSeconds} s each ...`);
    results.minimum = { budgetSeconds: minimumSeconds, variants: variantMinimums(minimumSeconds), ...measured() };
  }
  writeFileSync(`${dir}results.json`, `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(`${dir}RESULTS.md`, render(results));
  io.out('written: bench/results.json, bench/RESULTS.md');
  return 0;
}

if (isMain(import.meta.url)) runCommand('bench', main);
