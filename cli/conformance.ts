/**
 * `npm run conformance -- [--scenarios N] [--seed S] [--batch N] [--mutation M]`:
 * run random scenarios on QEMU's RISC-V system emulator and check every outcome
 * against the reference. Exit 0 if all agree, 1 on a disagreement (each is printed
 * and saved under counterexamples/conformance/), 2 for bad options or no QEMU.
 */
import { UsageError, isMain, parseOptions, runCommand } from './command.ts';
import { type Io, styleText } from './output.ts';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hex } from '../spec/address.ts';
import { CATEGORIES, MUTATIONS, type Mutation } from '../conformance/categories.ts';
import { describeOp } from '../conformance/protocol.ts';
import { conformanceUnavailable } from '../conformance/qemu.ts';
import { DEVIATIONS, type DeviationId } from '../conformance/deviations.ts';
import { runConformance } from '../conformance/run.ts';
import { drawSeed, fastCheckSeed, parseCount, parseSeed } from '../properties/seed.ts';

const USAGE = `usage: npm run conformance -- [--scenarios N] [--seed S] [--batch N] [--mutation ${MUTATIONS.join('|')}]`;

export interface ConformanceOptions {
  readonly help: boolean;
  readonly scenarios: number;
  readonly seed: number;
  readonly batchSize: number;
  readonly mutation: Mutation | null;
}

/** The options, checked: every bad one is a UsageError or a BadValueError with one line. */
export function conformanceOptions(argv: readonly string[], draw: () => number = drawSeed): ConformanceOptions {
  const { values } = parseOptions(argv, {
    scenarios: { type: 'string' }, seed: { type: 'string' }, batch: { type: 'string' }, mutation: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.mutation !== undefined && !(MUTATIONS as readonly string[]).includes(values.mutation)) {
    throw new UsageError(`unknown mutation '${values.mutation}' (known: ${MUTATIONS.join(', ')})`);
  }
  return {
    help: values.help === true,
    scenarios: values.scenarios === undefined ? 10_000 : parseCount(values.scenarios, '--scenarios'),
    seed: values.seed === undefined ? draw() : parseSeed(values.seed),
    batchSize: values.batch === undefined ? 5_000 : parseCount(values.batch, '--batch'),
    mutation: (values.mutation ?? null) as Mutation | null,
  };
}

export const conformanceReproduce = (o: ConformanceOptions): string =>
  `npm run conformance -- --scenarios ${o.scenarios} --seed ${o.seed}${o.mutation === null ? '' : ` --mutation ${o.mutation}`}`;

export function main(argv: readonly string[], io: Io): number {
  const o = conformanceOptions(argv);
  if (o.help) {
    io.out(USAGE);
    return 0;
  }
  const { scenarios, seed, batchSize } = o;
  const mutation = o.mutation;
  const unavailable = conformanceUnavailable();
  if (unavailable !== null) throw new UsageError(unavailable);
  io.out(styleText('bold', `conformance: ${scenarios} scenarios against QEMU, seed ${seed}${mutation === null ? '' : `, reference mutated: ${mutation}`}`));
  const report = runConformance({
    scenarios, seed: fastCheckSeed(seed), batchSize, categories: CATEGORIES, mutation,
    onBatch: (done, total, s) => io.out(`  ${done}/${total} scenarios, ${s.toFixed(1)} s`),
  });
  io.out(`${report.scenarios} scenarios, ${report.operations} operations in ${report.seconds.toFixed(1)} s (${(report.scenarios / report.seconds).toFixed(0)} scenarios/s)`);
  io.out(`mix: ${[...report.mix].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  for (const [id, n] of report.explained) {
    const d = DEVIATIONS[id as DeviationId];
    io.out(styleText('yellow', `explained deviation x${n}: ${d.id}: ${d.description} (${d.source})`));
  }
  const dir = 'counterexamples/conformance';
  const file = `${dir}/seed${seed}${mutation === null ? '' : `-${mutation}`}.json`;
  rmSync(file, { force: true });
  if (report.disagreements.length > 0) {
    mkdirSync(dir, { recursive: true });
    for (const d of report.disagreements.slice(0, 5)) {
      const g = d.generated;
      io.out(styleText('red', `\nscenario ${d.index} (${g.category}, ${g.scenario.mode}-mode): op ${d.disagreement.op}: ${d.disagreement.message}`));
      g.scenario.ops.forEach((op, i) => {
        const r = d.results[i];
        io.out(`  ${i === d.disagreement.op ? '>' : ' '} ${String(i).padStart(2)} ${describeOp(op).padEnd(44)} ${r === undefined ? '-' : `${r.where} cause=${r.cause} tval=${hex(r.tval)} value=${hex(r.value)}`}`);
      });
    }
    writeFileSync(file, `${JSON.stringify(report.disagreements.map((d) => ({ index: d.index, category: d.generated.category, disagreement: d.disagreement, scenario: d.generated.scenario, results: d.results })), (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v), 1)}\n`);
    io.out(styleText('red', `\n${report.disagreements.length} disagreements (saved: ${file}); reproduce: ${conformanceReproduce(o)}`));
    return 1;
  }
  io.out(styleText('green', `no disagreement; reproduce: ${conformanceReproduce(o)}`));
  return 0;
}

if (isMain(import.meta.url)) runCommand('conformance', main);
