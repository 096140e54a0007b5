/**
 * Replay a counterexample file without any random generation: load and validate
 * it whole, rebuild the events it recorded, run them on the model (or variant) it
 * names, and compare. The replay depends on the recorded actions only, never on
 * the generator or fast-check's version.
 */
import { readFileSync, statSync } from 'node:fs';
import { type AnyMachine, type MachineEvent, type ModelName } from '../model/machine.ts';
import { MODELS } from '../model/models.ts';
import { findVariant } from '../model/variants.ts';
import type { Violation } from '../properties/run.ts';
import { type CounterexampleMeta, type DecodedTrace, type ItfValue, TraceError, memoryToItf, parseTrace } from './itf.ts';
import { type RecordedRun, type TraceStep, recordRun, traceSteps } from './trace.ts';

export type LoadedTrace = DecodedTrace;

/** JSON.parse needs the whole text as one string, and V8 strings stop short of 512 MiB. */
const MAX_FILE_BYTES = 500 * 2 ** 20;

/** A file's text; a file that cannot be read is a TraceError saying why. */
export function readTraceFile(file: string): string {
  try {
    if (statSync(file).size > MAX_FILE_BYTES) throw new TraceError(`cannot read ${file}: larger than ${MAX_FILE_BYTES / 2 ** 20} MiB`);
    return readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof TraceError) throw e;
    throw new TraceError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Read and check a file (`read` stands in for the file system in tests); every problem is a TraceError with a one-line reason. */
export function loadTrace(file: string, read: (file: string) => string = readTraceFile): LoadedTrace {
  return parseTrace(read(file));
}


/** The machine a trace names: its variant, or its model. */
export function machineFor(meta: CounterexampleMeta, override?: { model?: ModelName; variant?: string }): { machine: AnyMachine; label: string } {
  if (override?.model !== undefined) return { machine: MODELS[override.model], label: override.model };
  const name = override?.variant ?? meta.variant;
  if (name !== 'none') {
    const v = findVariant(name);
    if (v === undefined) throw new TraceError(`unknown variant '${name}'`);
    return { machine: v.machine, label: `${v.base} (variant ${v.name})` };
  }
  return { machine: MODELS[meta.model], label: meta.model };
}

export interface ReplayResult {
  readonly violation: Violation | null;
  /** With checkStates: the first recorded state that differs from the replayed one. */
  readonly mismatch: string | null;
  readonly run: RecordedRun;
  /** The replayed states, boot state first, made as they are read. */
  steps(): Iterable<TraceStep>;
}

const shown = (v: ItfValue | undefined): string => {
  const s = v === undefined ? 'nothing' : JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 120)}...` : s;
};

/** The first place two values differ (objects by key, whatever their order), or null. Values are depth-bounded by the schema. */
function difference(a: ItfValue | undefined, b: ItfValue | undefined, path: string): string | null {
  if (a === b) return null;
  if (typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const d = difference(a[i] as ItfValue | undefined, b[i] as ItfValue | undefined, `${path}[${i}]`);
        if (d !== null) return d;
      }
      return null;
    }
    const x = a as { readonly [k: string]: ItfValue };
    const y = b as { readonly [k: string]: ItfValue };
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
      const d = difference(x[k], y[k], `${path}.${k}`);
      if (d !== null) return d;
    }
    return null;
  }
  return `${path} was ${shown(a)}, the replay gives ${shown(b)}`;
}

function stateValue(s: TraceStep, v: string): ItfValue | undefined {
  switch (v) {
    case 'step': return s.index;
    case 'hart': return s.hart;
    case 'action': return s.action;
    case 'priv': return s.priv;
    case 'guestSatp': return s.guestSatp;
    // As large as memory: converted only for the states that record it.
    case 'guestMemory': return memoryToItf(s.guestMemory);
    case 'tables': return s.tables;
    case 'tlb': return s.tlb;
    case 'harts': return s.harts;
    case 'observation': return s.observation;
    case 'allowed': return s.allowed;
    case 'traps': return s.traps;
    case 'exits': return s.exits;
    case 'violation': return s.violation;
    default: return undefined;
  }
}

/** The first recorded state the replay does not reproduce, in one line. Linear in the file: each recorded value is compared once. */
export function firstMismatch(t: LoadedTrace, steps: Iterable<TraceStep>, reached: number): string | null {
  let i = 0;
  for (const got of steps) {
    const want = t.states[i];
    if (want === undefined) break;
    for (const v of Object.keys(want)) {
      if (v === '#meta') continue;
      const d = difference(want[v] as ItfValue, stateValue(got, v), `'${v}'`);
      if (d !== null) return `state ${i}: ${d}`;
    }
    i++;
  }
  return reached === t.states.length ? null : `the file records ${t.states.length} states, the replay reached ${reached}`;
}

export function replayTrace(t: LoadedTrace, machine: AnyMachine, opts: { checkStates?: boolean; events?: readonly MachineEvent[] } = {}): ReplayResult {
  if (t.harts !== null) throw new TraceError(`a trace of ${t.harts.count} harts is replayed by counterexamples/harts-trace.ts (replayHartsTrace), not on a one-hart machine`);
  const run = recordRun(machine, opts.events ?? t.events, {
    property: t.meta.property, guest: t.meta.guest, ad: t.meta.ad ?? 'svade', universe: t.universe, initialMemory: t.initialMemory,
  });
  const steps = (): Iterable<TraceStep> => traceSteps(run);
  return { violation: run.violation, mismatch: opts.checkStates === true ? firstMismatch(t, traceSteps(run), run.records.length + 1) : null, run, steps };
}
