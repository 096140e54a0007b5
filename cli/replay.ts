/**
 * `npm run replay -- FILE [--check-states] [--model M | --variant V]`: replay a
 * counterexample file step by step, without random generation, and print what
 * each step did. Exit 1 if the violation reproduces, 0 if the program now passes,
 * 2 for a file that cannot be read or bad options (one line saying why), 3 if
 * --check-states finds a recorded state the replay does not reproduce.
 */
import type { ModelName } from '../model/machine.ts';
import { VARIANTS, findVariant } from '../model/variants.ts';
import type { Memory, Page } from '../spec/memory.ts';
import { pagesOf } from '../spec/memory.ts';
import { TraceError } from '../counterexamples/itf.ts';
import { loadTrace, machineFor, readTraceFile, replayTrace } from '../counterexamples/replay.ts';
import type { TraceStep } from '../counterexamples/trace.ts';
import { hartsMachineFor, replayHartsTrace } from '../counterexamples/harts-trace.ts';
import { HART_VARIANTS, findHartVariant } from '../model/vcpu-variants.ts';
import { type Main, UsageError, execute, isMain, oneFile, parseOptions, runCommand } from './command.ts';
import { type Io, type Style, bufferIo, paint, printable } from './output.ts';

const USAGE = 'usage: npm run replay -- FILE [--check-states] [--model npt|tsp|ssp | --variant NAME]';
const MODEL_NAMES: readonly ModelName[] = ['npt', 'tsp', 'ssp'];

type Flat = Map<string, string>;

/** Flatten a state variable into path -> text, to diff consecutive states (tables and TLB: small, bounded by the universe). */
function flatten(v: unknown, path: string, out: Flat): Flat {
  if (v !== null && typeof v === 'object' && '#bigint' in v) out.set(path, `0x${BigInt((v as { '#bigint': string })['#bigint']).toString(16)}`);
  else if (Array.isArray(v)) for (const x of v) out.set(`${path} ${String(x)}`, '');
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) flatten(x, path === '' ? k : `${path} ${k}`, out);
  else out.set(path, String(v));
  return out;
}

function changes(prev: unknown, next: unknown, label: string): string[] {
  const a = flatten(prev, label, new Map());
  const b = flatten(next, label, new Map());
  const lines: string[] = [];
  for (const [k, x] of b) {
    if (!a.has(k)) lines.push(`+ ${k}${x === '' ? '' : ` = ${x}`}`);
    else if (a.get(k) !== x) lines.push(`~ ${k}: ${a.get(k)} -> ${x}`);
  }
  for (const k of a.keys()) if (!b.has(k)) lines.push(`- ${k}`);
  return lines;
}

const h = (x: bigint): string => `0x${x.toString(16)}`;
const slots = (p: Page): number[] => [...p.keys()].sort((x, y) => x - y);

/**
 * What a step changed in guest memory. Pages a step did not touch are the same
 * objects in both states (memory is persistent), so only touched pages are read:
 * the cost follows the step, not the size of memory.
 */
function memoryChanges(prev: { readonly memory: Memory | null; readonly pages: ReadonlyMap<bigint, Page> }, next: Memory): { lines: string[]; memory: Memory; pages: ReadonlyMap<bigint, Page> } {
  if (next === prev.memory) return { lines: [], memory: next, pages: prev.pages };
  const pages = new Map(pagesOf(next));
  const lines: string[] = [];
  const addr = (page: bigint, slot: number) => `mem[${h((page << 12n) + BigInt(slot) * 8n)}]`;
  for (const [page, words] of pages) {
    const old = prev.pages.get(page);
    if (old === words) continue;
    for (const slot of slots(words)) {
      const v = words.get(slot) as bigint;
      const o = old?.get(slot);
      if (o === undefined) lines.push(`+ ${addr(page, slot)} = ${h(v)}`);
      else if (o !== v) lines.push(`~ ${addr(page, slot)}: ${h(o)} -> ${h(v)}`);
    }
  }
  for (const [page, old] of prev.pages) {
    const words = pages.get(page);
    if (words === old) continue;
    for (const slot of slots(old)) if (words?.has(slot) !== true) lines.push(`- ${addr(page, slot)}`);
  }
  return { lines, memory: next, pages };
}

/** Column widths of the step table; the last column (changes) is not padded. A several-hart trace adds the hart after the step number. */
const WIDTHS = [4, 34, 26, 30, 24] as const;
const HEAD = ['#', 'action', 'outcome', 'allowed', 'exits', 'changes (guest memory, tables, TLB)'];
const HARTS_WIDTHS = [4, 4, 34, 26, 30, 24] as const;
const HARTS_HEAD = ['#', 'hart', 'action', 'outcome', 'allowed', 'exits', 'changes (guest memory, tables, each hart: satp, TLB, shadow)'];

/** A several-hart state's `harts` keyed `hart I`, so that its changes read `+ hart 1 tlb …`. */
const byHart = (harts: unknown): unknown => (Array.isArray(harts) ? Object.fromEntries(harts.map((h: unknown, i) => [`hart ${i}`, h])) : harts);

/**
 * What a step changed in the harts' own state: with several harts every hart's (satp, TLB,
 * loaded shadow, out-of-sync pages: the replay makes them, whether or not the file has
 * them); with one, its TLB.
 */
const hartChanges = (prev: TraceStep, st: TraceStep): string[] =>
  prev.harts !== undefined && st.harts !== undefined ? changes(byHart(prev.harts), byHart(st.harts), '') : changes(prev.tlb, st.tlb, 'tlb');

/** A cell's text cut into lines of at most `width` characters, at spaces where it can. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(' ')) {
      let w = word;
      while (w.length > width) {
        if (line !== '') out.push(line);
        out.push(w.slice(0, width));
        w = w.slice(width);
        line = '';
      }
      if (line === '') line = w;
      else if (line.length + 1 + w.length <= width) line += ` ${w}`;
      else {
        out.push(line);
        line = w;
      }
    }
    out.push(line);
  }
  return out;
}

interface Cell {
  readonly text: string;
  readonly style?: Style;
}

/**
 * One row of the table as lines, printed as soon as it is made: a table library
 * lays out all rows at once, which for a long trace is slow (its layout is
 * quadratic in rows) and ends in a string too long to build.
 */
function rowLines(io: Io, cells: readonly Cell[], widths: readonly number[]): string[] {
  const columns = cells.map((c, i) => {
    const width = widths[i];
    return { lines: width === undefined ? c.text.split('\n') : wrap(c.text, width), width, style: c.style };
  });
  const height = Math.max(...columns.map((c) => c.lines.length));
  const lines: string[] = [];
  for (let r = 0; r < height; r++) {
    const parts = columns.map((c, i) => {
      const raw = c.lines[r] ?? '';
      const text = c.width === undefined ? raw : i === 0 ? raw.padStart(c.width) : raw.padEnd(c.width);
      return c.style === undefined || raw === '' ? text : paint(io, c.style, text);
    });
    lines.push(parts.join(' │ ').trimEnd());
  }
  return lines;
}

const rule = (widths: readonly number[]): string => [...widths.map((w) => '─'.repeat(w + 2)), '─'.repeat(36)].join('┼').slice(1);

/** The step table, row by row; lines go out 64 KiB at a time (a write per line costs more than making it). */
function printSteps(io: Io, steps: Iterable<TraceStep>, harts: boolean): void {
  const widths = harts ? HARTS_WIDTHS : WIDTHS;
  const RULE = rule(widths);
  io.out(paint(io, 'bold', rowLines({ ...io, color: false }, (harts ? HARTS_HEAD : HEAD).map((text) => ({ text })), widths).join('\n')));
  let chunk: string[] = [];
  let size = 0;
  const out = (line: string): void => {
    chunk.push(line);
    size += line.length + 1;
    if (size < 65536) return;
    io.out(chunk.join('\n'));
    chunk = [];
    size = 0;
  };
  let prev: TraceStep | null = null;
  let seen: { readonly memory: Memory | null; readonly pages: ReadonlyMap<bigint, Page> } = { memory: null, pages: new Map() };
  for (const st of steps) {
    const mem = memoryChanges(seen, st.guestMemory);
    seen = mem;
    if (prev !== null) {
      const outcome = st.observation;
      const ok = st.allowed.includes(outcome);
      const traps = st.traps.filter((x) => !x.includes(' none ')).map((x) => x.replace(/^cause (\d+) \S+ (\S+) \((.*)\)$/, '$2 $3 ($1)'));
      const delta = [...mem.lines, ...changes(prev.tables, st.tables, 'table'), ...hartChanges(prev, st)];
      out(RULE);
      for (const line of rowLines(io, [
        { text: String(st.index) },
        ...(harts ? [{ text: st.hart === undefined ? '' : String(st.hart) }] : []),
        { text: (st.action as { text?: string }).text ?? '' },
        outcome === '' ? { text: '' } : { text: `${outcome} ${ok ? '✓' : '✗'}`, style: ok ? 'green' : 'red' },
        { text: st.allowed.join('\n') },
        { text: traps.join('\n') },
        { text: delta.join('\n') },
      ], widths)) out(line);
    }
    prev = st;
  }
  if (chunk.length > 0) io.out(chunk.join('\n'));
}

/** The replay command; `read` gives a file's text (the file system, unless a test stands in for it). */
export const replayCommand = (read: (file: string) => string = readTraceFile): Main => (argv, io) => replayMain(argv, io, read);

function replayMain(argv: readonly string[], io: Io, read: (file: string) => string): number {
  const { values, positionals } = parseOptions(argv, {
    'check-states': { type: 'boolean' },
    model: { type: 'string' },
    variant: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }, true);
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  const file = oneFile(positionals, USAGE);
  if (values.model !== undefined && values.variant !== undefined) {
    throw new UsageError('--model and --variant cannot be used together: --model replays on a correct model, --variant on a seeded bug');
  }
  const model = values.model;
  if (model !== undefined && !(MODEL_NAMES as readonly string[]).includes(model)) {
    throw new UsageError(`unknown model '${model}' (known: ${MODEL_NAMES.join(', ')})`);
  }
  if (values.variant !== undefined && findVariant(values.variant) === undefined && findHartVariant(values.variant) === undefined) {
    throw new UsageError(`unknown variant '${values.variant}' (known: ${[...VARIANTS, ...HART_VARIANTS].map((v) => v.name).join(', ')})`);
  }
  const t = loadTrace(file, read);
  const override = { model: model as ModelName | undefined, variant: values.variant };
  const checkStates = values['check-states'] === true;
  // A several-hart trace runs through the several-hart lockstep runner: its check is any of the runner's (#meta.check).
  const replayed = t.harts === null
    ? (() => {
        const { machine, label } = machineFor(t.meta, override);
        const r = replayTrace(t, machine, { checkStates });
        return { label, r, steps: t.events.length, check: t.meta.property, found: r.violation === null ? null : { step: r.violation.step, check: r.violation.property, message: r.violation.message } };
      })()
    : (() => {
        const { machine, label } = hartsMachineFor(t.meta, override);
        const r = replayHartsTrace(t, machine, { checkStates });
        return { label, r, steps: t.harts.steps.length, check: 'every property per hart, isolation across harts, SBI returns and traps', found: r.violation };
      })();
  const { label, r, found } = replayed;

  const recorded = t.meta.description === '' ? '' : ` (recorded: ${printable(t.meta.description)})`;
  const guest = t.meta.ad === 'svadu' ? ', a Svadu guest (the hart sets A and D)' : '';
  const harts = t.harts === null ? '' : ` with ${t.harts.count} harts`;
  io.out(paint(io, 'bold', `${printable(file)}: ${t.harts === null ? t.meta.property : t.meta.check ?? t.meta.property} on ${label}${harts}, ${replayed.steps} steps${guest}${recorded}`));
  printSteps(io, r.steps(), t.harts !== null);
  if (r.mismatch !== null) {
    io.out(paint(io, 'yellow', `recorded state differs: ${printable(r.mismatch)}`));
    return 3;
  }
  if (found !== null) {
    io.out(paint(io, 'red', `violation reproduces at step ${found.step + 1}: ${found.check}: ${found.message}`));
    return 1;
  }
  io.out(paint(io, 'green', `no violation: ${replayed.check} holds on ${label}${harts} for this program`));
  return 0;
}

/**
 * The replay command run in this process (for tests): its exit code and what it
 * printed, never exiting. `read` may stand in for the file system.
 */
export function runReplay(argv: readonly string[], read?: (file: string) => string): { exitCode: number; stdout: string; stderr: string } {
  const io = bufferIo();
  const exitCode = execute('replay', replayCommand(read), argv, io, [TraceError]);
  return { exitCode, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

export const runReplayCommand = (): void => runCommand('replay', replayCommand(), [TraceError]);

if (isMain(import.meta.url)) runReplayCommand();
