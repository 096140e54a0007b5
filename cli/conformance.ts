/**
 * `npm run conformance -- [--scenarios N] [--seed S] [--batch N] [--mutation M]`:
 * run random scenarios on QEMU's RISC-V system emulator and check every outcome
 * against the reference. Exit 0 if all agree, 1 on a disagreement (each is printed
 * and saved under counterexamples/conformance/), 2 for bad options or no QEMU.
 */
import { UsageError, runCommand } from './command.ts';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs, styleText } from 'node:util';
import { hex } from '../spec/address.ts';
import { CATEGORIES, MUTATIONS, type Mutation } from '../conformance/categories.ts';
import { describeOp } from '../conformance/protocol.ts';
import { conformanceUnavailable } from '../conformance/qemu.ts';
import { DEVIATIONS, type DeviationId } from '../conformance/deviations.ts';
import { runConformance } from '../conformance/run.ts';

const USAGE = `usage: npm run conformance -- [--scenarios N] [--seed S] [--batch N] [--mutation ${MUTATIONS.join('|')}]`;

function int(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < (name === 'seed' ? -(2 ** 31) : 1)) throw new UsageError(`--${name} must be ${name === 'seed' ? 'an integer' : 'a positive integer'}, got '${raw}'`);
  return n;
}

function main(argv: readonly string[]): number {
  const { values } = parseArgs({
    args: [...argv],
    options: { scenarios: { type: 'string' }, seed: { type: 'string' }, batch: { type: 'string' }, mutation: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const scenarios = int('scenarios', values.scenarios, 10_000);
  const seed = int('seed', values.seed, (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0);
  const batchSize = int('batch', values.batch, 5_000);
  if (values.mutation !== undefined && !(MUTATIONS as readonly string[]).includes(values.mutation)) {
    throw new UsageError(`unknown mutation '${values.mutation}' (known: ${MUTATIONS.join(', ')})`);
  }
  const mutation = (values.mutation ?? null) as Mutation | null;
  const unavailable = conformanceUnavailable();
  if (unavailable !== null) throw new UsageError(unavailable);
  console.log(styleText('bold', `conformance: ${scenarios} scenarios against QEMU, seed ${seed}${mutation === null ? '' : `, reference mutated: ${mutation}`}`));
  const report = runConformance({
    scenarios, seed, batchSize, categories: CATEGORIES, mutation,
    onBatch: (done, total, s) => console.log(`  ${done}/${total} scenarios, ${s.toFixed(1)} s`),
  });
  console.log(`${report.scenarios} scenarios, ${report.operations} operations in ${report.seconds.toFixed(1)} s (${(report.scenarios / report.seconds).toFixed(0)} scenarios/s)`);
  console.log(`mix: ${[...report.mix].map(([c, n]) => `${c} ${n}`).join(', ')}`);
  for (const [id, n] of report.explained) {
    const d = DEVIATIONS[id as DeviationId];
    console.log(styleText('yellow', `explained deviation x${n}: ${d.id}: ${d.description} (${d.source})`));
  }
  const dir = 'counterexamples/conformance';
  const file = `${dir}/seed${seed}${mutation === null ? '' : `-${mutation}`}.json`;
  rmSync(file, { force: true });
  if (report.disagreements.length > 0) {
    mkdirSync(dir, { recursive: true });
    for (const d of report.disagreements.slice(0, 5)) {
      const g = d.generated;
      console.log(styleText('red', `\nscenario ${d.index} (${g.category}, ${g.scenario.mode}-mode): op ${d.disagreement.op}: ${d.disagreement.message}`));
      g.scenario.ops.forEach((op, i) => {
        const r = d.results[i];
        console.log(`  ${i === d.disagreement.op ? '>' : ' '} ${String(i).padStart(2)} ${describeOp(op).padEnd(44)} ${r === undefined ? '-' : `${r.where} cause=${r.cause} tval=${hex(r.tval)} value=${hex(r.value)}`}`);
      });
    }
    writeFileSync(file, `${JSON.stringify(report.disagreements.map((d) => ({ index: d.index, category: d.generated.category, disagreement: d.disagreement, scenario: d.generated.scenario, results: d.results })), (_k, v: unknown) => (typeof v === 'bigint' ? hex(v) : v), 1)}\n`);
    console.log(styleText('red', `\n${report.disagreements.length} disagreements (saved: ${file}); reproduce: npm run conformance -- --scenarios ${scenarios} --seed ${seed}${mutation === null ? '' : ` --mutation ${mutation}`}`));
    return 1;
  }
  console.log(styleText('green', `no disagreement; reproduce: npm run conformance -- --scenarios ${scenarios} --seed ${seed}`));
  return 0;
}

runCommand('conformance', main);
