/**
 * `npm run replay -- FILE [--check-states] [--model M | --variant V]`: replay a
 * counterexample file step by step, without random generation, and print what
 * each step did. Exit 1 if the violation reproduces, 0 if the program now passes,
 * 2 for a file that cannot be read (one line saying why), 3 if --check-states
 * finds a recorded state the replay does not reproduce.
 */
import { runCommand } from './command.ts';
import { parseArgs, styleText } from 'node:util';
import Table from 'cli-table3';
import type { ModelName } from '../model/machine.ts';
import { TraceError, type ItfState } from '../counterexamples/itf.ts';
import { loadTrace, machineFor, replayTrace } from '../counterexamples/replay.ts';

const USAGE = 'usage: npm run replay -- FILE [--check-states] [--model npt|tsp|ssp | --variant NAME]';

type Flat = Map<string, string>;

/** Flatten a state variable into path -> text, to diff consecutive states. */
function flatten(v: unknown, path: string, out: Flat): Flat {
  if (v !== null && typeof v === 'object' && '#bigint' in v) out.set(path, `0x${BigInt((v as { '#bigint': string })['#bigint']).toString(16)}`);
  else if (v !== null && typeof v === 'object' && '#map' in v) {
    for (const [k, x] of (v as { '#map': [unknown, unknown][] })['#map']) flatten(x, `${path}[${flatten(k, '', new Map()).get('') ?? '?'}]`, out);
  } else if (Array.isArray(v)) for (const x of v) out.set(`${path} ${String(x)}`, '');
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) flatten(x, path === '' ? k : `${path} ${k}`, out);
  else out.set(path, String(v));
  return out;
}

function changes(prev: ItfState | undefined, next: ItfState, v: string, label: string): string[] {
  const a = flatten(prev?.[v], label, new Map());
  const b = flatten(next[v], label, new Map());
  const lines: string[] = [];
  for (const [k, x] of b) {
    if (!a.has(k)) lines.push(`+ ${k}${x === '' ? '' : ` = ${x}`}`);
    else if (a.get(k) !== x) lines.push(`~ ${k}: ${a.get(k)} -> ${x}`);
  }
  for (const k of a.keys()) if (!b.has(k)) lines.push(`- ${k}`);
  return lines;
}

function main(argv: readonly string[]): number {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      'check-states': { type: 'boolean' },
      model: { type: 'string' },
      variant: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new TraceError(`expected one file, got ${positionals.length}\n${USAGE}`);
  const file = positionals[0] as string;
  if (values.model !== undefined && !['npt', 'tsp', 'ssp'].includes(values.model)) throw new TraceError(`unknown model '${values.model}'`);
  const t = loadTrace(file);
  const { machine, label } = machineFor(t.meta, { model: values.model as ModelName | undefined, variant: values.variant });
  const r = replayTrace(t, machine, { checkStates: values['check-states'] === true });

  console.log(styleText('bold', `${file}: ${t.meta.property} on ${label}, ${t.events.length} steps (recorded: ${t.meta.description})`));
  const table = new Table({ head: ['#', 'action', 'outcome', 'allowed', 'exits', 'changes (guest memory, tables, TLB)'], style: { compact: true }, wordWrap: true, colWidths: [5, 34, 26, 30, 22, 70] });
  r.states.forEach((st, i) => {
    if (i === 0) return;
    const prev = r.states[i - 1];
    const action = (st.action as { text?: string }).text ?? '';
    const outcome = String(st.observation);
    const allowed = (st.allowed as string[]).join('\n');
    const ok = outcome === '' ? '' : (st.allowed as string[]).includes(outcome) ? styleText('green', `${outcome} ✓`) : styleText('red', `${outcome} ✗`);
    const traps = (st.traps as string[]).filter((x) => !x.includes(' none ')).map((x) => x.replace(/^cause (\d+) \S+ (\S+) \((.*)\)$/, '$2 $3 ($1)')).join('\n');
    const delta = [...changes(prev, st, 'guestMemory', 'mem'), ...changes(prev, st, 'tables', 'table'), ...changes(prev, st, 'tlb', 'tlb')];
    table.push([String(i), action, ok, allowed, traps, delta.join('\n')]);
  });
  console.log(table.toString());
  if (r.mismatch !== null) {
    console.log(styleText('yellow', `recorded state differs: ${r.mismatch}`));
    return 3;
  }
  if (r.violation !== null) {
    console.log(styleText('red', `violation reproduces at step ${r.violation.step + 1}: ${r.violation.property}: ${r.violation.message}`));
    return 1;
  }
  console.log(styleText('green', `no violation: ${t.meta.property} holds on ${label} for this program`));
  return 0;
}

runCommand('replay', main, [TraceError]);
