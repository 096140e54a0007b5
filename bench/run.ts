/**
 * `npm run bench`: every figure the project states about its speed, measured in
 * one run and written to bench/results.json and bench/RESULTS.md (the README
 * links the latter). Figures are ratios where they can be (this machine is shared
 * and noisy); each target is printed beside its figure. Nothing here is a test: a
 * slow machine gives slower figures, never a failure.
 *
 *   npm run bench -- [--seeds N] [--minimum-seconds S] [--only SECTION,...]
 *
 * Sections: throughput, memory, start, detection, exhaustive, minimum.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { VARIANTS } from '../model/variants.ts';
import { UsageError, isMain, parseOptions, runCommand } from '../cli/command.ts';
import type { Io } from '../cli/output.ts';
import { parseCount } from '../properties/seed.ts';
import { type Detection, detect } from './detection.ts';
import { depthSix, reach, shardSpeedup, variantMinimums, variantsAtDepthSix } from './exhaustive.ts';
import { memoryScaling, throughput } from './throughput.ts';

const SECTIONS = ['throughput', 'memory', 'start', 'detection', 'exhaustive', 'minimum'] as const;
type Section = (typeof SECTIONS)[number];

const USAGE = `usage: npm run bench -- [--seeds N] [--minimum-seconds S] [--only ${SECTIONS.join(',')}]`;

const medianOf = (xs: readonly number[]): number | null => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : (s[Math.floor((s.length - 1) / 2)] ?? null);
};

/** `npm start` at the default budget, as a user runs it: its wall time and verdict line. */
function startWall(): { seconds: number; passed: boolean; summary: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', '--seed', '1'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  const summary = r.stdout.split('\n').find((l) => l.startsWith('all properties hold') || / checks failed/.test(l)) ?? `exit ${r.status ?? '?'}`;
  return { seconds, passed: r.status === 0, summary };
}

const fixed = (x: number, d = 2): string => x.toFixed(d);
const yes = (ok: boolean): string => (ok ? 'met' : '**not met**');

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

  const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, seeds };
  const md: string[] = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench\` on ${String(results.date).slice(0, 10)} (Node ${process.version}, ${cpus().length} cores). Ratios are measured within one run; absolute figures depend on the machine and its load. The raw figures are in [results.json](results.json).`,
    '',
  ];
  const say = (line: string): void => io.out(line);

  if (want('throughput')) {
    say('throughput ...');
    const t = throughput();
    results.throughput = t;
    md.push('## Throughput (300 sample programs, seed 7)', '', `Baseline, one Sv39 hart over plain mutable Maps with nothing checked (bench/baseline.ts): **${fixed(t.baseline, 0)} commands/s**.`, '');
    md.push('| model | alone (commands/s) | beside the reference | every property checked | checked / alone (target >= 0.1) | alone / baseline |', '|---|---|---|---|---|---|');
    for (const m of t.models) md.push(`| ${m.model} | ${fixed(m.alone, 0)} | ${fixed(m.beside, 0)} | ${fixed(m.checked, 0)} | ${fixed(m.checked / m.alone, 3)} (${yes(m.checked / m.alone >= 0.1)}) | ${fixed(m.alone / t.baseline, 3)} |`);
    md.push('');
  }
  if (want('memory')) {
    say('memory scaling ...');
    const m = memoryScaling();
    results.memory = m;
    md.push('## A step\'s cost against the size of guest memory (100 programs beside the reference)', '');
    md.push('| model | 2,000 pages / none | 30,000 pages / none (target <= 1.2) |', '|---|---|---|');
    for (const x of m) md.push(`| ${x.model} | ${fixed(x.pages2000)} | ${fixed(x.pages30000)} (${yes(x.pages30000 <= 1.2)}) |`);
    md.push('');
  }
  if (want('start')) {
    say('npm start ...');
    const s = startWall();
    results.start = s;
    md.push('## `npm start` at the default budget (7 properties x 3 models, 1,000 programs of up to 50 commands, seed 1)', '', `Wall time **${fixed(s.seconds, 1)} s** on both cores (target <= 60 s: ${yes(s.seconds <= 60)}); ${s.summary}.`, '');
  }
  if (want('detection')) {
    say(`detection, ${seeds} seeds per variant ...`);
    const ds: Detection[] = VARIANTS.map((v) => detect(v, seeds));
    results.detection = ds;
    md.push(`## Detection of the seeded variants (${seeds} seeds each, default budget)`, '');
    md.push('| variant | caught | median programs to failure | median seconds to failure (target < 0.5) | with shrinking | median shrunk steps | median shortest (any property) |', '|---|---|---|---|---|---|---|');
    for (const d of ds) {
      const sec = medianOf(d.secondsToFailure);
      const shrinking = medianOf(d.secondsWithShrinking);
      md.push(`| ${d.variant} | ${d.caught}/${d.seeds} | ${medianOf(d.programs) ?? '-'} | ${sec === null ? '-' : `${fixed(sec)} (${yes(sec < 0.5)})`} | ${shrinking === null ? '-' : fixed(shrinking)} | ${medianOf(d.lengths) ?? '-'} | ${medianOf(d.shortest) ?? '-'} |`);
    }
    md.push('');
  }
  if (want('exhaustive')) {
    say('exhaustive ...');
    const six = depthSix();
    const r60 = reach(60);
    const shards = shardSpeedup('npt', 6);
    const found = variantsAtDepthSix();
    results.exhaustive = { depthSix: six, reach60: r60, shards, variantsAtDepthSix: found };
    md.push('## Exhaustive search (default configuration, 13 events)', '');
    md.push(`Depth 6, the three models on two threads: **${fixed(six.wall, 1)} s** wall (target < 60 s: ${yes(six.wall < 60 && six.models.every((m) => m.passed))}).`, '');
    md.push('| model | steps run | distinct states | seconds | verdict | depth completed in 60 s |', '|---|---|---|---|---|---|');
    for (const m of six.models) md.push(`| ${m.model} | ${m.transitions} | ${m.distinct} | ${fixed(m.seconds, 1)} | ${m.passed ? 'pass' : 'FAIL'} | ${r60.find((x) => x.model === m.model)?.depthCompleted ?? '-'} |`);
    md.push('', `Two shards on two threads against one search (npt, depth 6): ${fixed(shards.whole, 1)} s against ${fixed(shards.shards, 1)} s, **${fixed(shards.speedup)}x** (steps ${shards.transitionsWhole} against ${shards.transitionsShards}: a state both shards reach is explored by both).`, '');
    md.push('Seeded variants at depth 6 over the default configuration:', '', '| variant | shortest failing program | seconds |', '|---|---|---|');
    for (const v of found) md.push(`| ${v.variant} | ${v.found === null ? 'none within depth 6 (its bug needs an event the configuration lacks)' : `${v.found} steps`} | ${fixed(v.seconds, 1)} |`);
    md.push('');
  }
  if (want('minimum')) {
    say(`minimum lengths, up to ${minimumSeconds} s each ...`);
    const ms = variantMinimums(minimumSeconds);
    results.minimum = ms;
    md.push(`## Shrunk counterexamples against their exhaustive minimum`, '', 'For each committed trace (counterexamples/seeded/, shrunk by the random suite), the least length of a program failing the same property on the same variant over the default alphabet and the trace\'s own steps, searched up to one step short of the trace.', '');
    md.push('| variant | property | shrunk | exhaustive minimum | within one step |', '|---|---|---|---|---|');
    for (const m of ms) {
      const within = m.minimum !== null ? m.shrunk - m.minimum <= 1 : m.shrunk - (m.passesUpTo + 1) <= 1;
      md.push(`| ${m.variant} | ${m.property} | ${m.shrunk} | ${m.minimum ?? `> ${m.passesUpTo} (stopped after ${fixed(m.seconds, 0)} s)`} | ${yes(within)} |`);
    }
    md.push('');
  }
  const dir = new URL('./', import.meta.url).pathname;
  writeFileSync(`${dir}results.json`, `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(`${dir}RESULTS.md`, `${md.join('\n')}\n`);
  io.out(`written: bench/results.json, bench/RESULTS.md`);
  return 0;
}

if (isMain(import.meta.url)) runCommand('bench', main);
