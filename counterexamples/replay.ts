/**
 * Replay a counterexample file without any random generation: load and validate
 * it, rebuild the events it recorded, run them on the model (or variant) it names,
 * and compare. The replay depends on the recorded actions only, never on the
 * generator or fast-check's version.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { type Gva, hex, isCanonicalSv39, vpnOf } from '../spec/address.ts';
import { inRam } from '../spec/config.ts';
import type { Memory } from '../spec/memory.ts';
import { npt } from '../model/npt.ts';
import { tsp } from '../model/tsp.ts';
import { ssp } from '../model/ssp.ts';
import { type AnyMachine, type MachineEvent, type ModelName, erase } from '../model/machine.ts';
import { findVariant } from '../model/variants.ts';
import type { GuestKind } from '../properties/commands.ts';
import { guestConfig } from '../properties/pools.ts';
import { PROPERTY_NAMES, type PropertyName, type Violation } from '../properties/run.ts';
import {
  type CounterexampleMeta, type ItfState, type ItfTrace, SCHEMA_VERSION, TraceError, eventFromItf, memoryFromItf, universeFromMeta,
} from './itf.ts';
import { traceStates } from './trace.ts';

const schema: object = JSON.parse(readFileSync(new URL('./schema.json', import.meta.url), 'utf8')) as object;
const validate = new Ajv({ allErrors: false, strict: false }).compile(schema);

export interface LoadedTrace {
  readonly meta: CounterexampleMeta;
  readonly events: readonly MachineEvent[];
  readonly initialMemory: Memory;
  readonly universe: readonly Gva[];
  readonly states: readonly ItfState[];
}

/** Read and check a file; every problem is a TraceError with a one-line reason. */
export function loadTrace(file: string): LoadedTrace {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TraceError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TraceError(`malformed JSON: ${(e as Error).message}`);
  }
  const schemaVersion = (json as { '#meta'?: { schema?: unknown } } | null)?.['#meta']?.schema;
  if (typeof schemaVersion === 'string' && schemaVersion !== SCHEMA_VERSION) {
    throw new TraceError(`wrong schema version '${schemaVersion}' (this replay reads '${SCHEMA_VERSION}')`);
  }
  if (!validate(json)) {
    const err = validate.errors?.[0];
    throw new TraceError(`not a counterexample trace: ${err?.instancePath || '/'} ${err?.message ?? 'does not match the schema'}`);
  }
  const trace = json as ItfTrace;
  const meta = trace['#meta'];
  if (!(PROPERTY_NAMES as readonly string[]).includes(meta.property)) throw new TraceError(`unknown property '${meta.property}'`);
  const [first, ...rest] = trace.states;
  if (first === undefined || (first.action as { kind?: unknown }).kind !== 'init') throw new TraceError('state 0 must be the boot state (action init)');
  const universe = universeFromMeta(meta);
  const initialMemory = memoryFromItf(first.guestMemory);
  const events = rest.map((st, i) => checkRange(eventFromItf(st.action as { readonly [k: string]: unknown }, i + 1), i + 1, universe));
  return { meta, events, initialMemory, universe, states: trace.states };
}

function checkRange(e: MachineEvent, step: number, universe: readonly Gva[]): MachineEvent {
  const bad = (what: string) => new TraceError(`state ${step}: ${what} is out of range`);
  if (e.kind === 'access' && isCanonicalSv39(e.va) && !universe.some((u) => vpnOf(u) === vpnOf(e.va))) {
    throw bad(`virtual address ${hex(e.va)} (not in the trace's universe)`);
  }
  if (e.kind === 'access' && e.va % 8n !== 0n) throw bad(`unaligned virtual address ${hex(e.va)}`);
  if (e.kind === 'ptStore' && (!inRam(guestConfig, e.addr) || e.addr % 8n !== 0n)) throw bad(`page-table store address ${hex(e.addr)}`);
  if ((e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect') && !inRam(guestConfig, e.gpn << 12n)) {
    throw bad(`guest page ${hex(e.gpn)}`);
  }
  if (e.kind === 'satp' && e.satp.mode === 'sv39' && (e.satp.asid < 0 || e.satp.asid >= 1 << 16)) throw bad(`ASID ${e.satp.asid}`);
  return e;
}

const MODELS: Record<ModelName, AnyMachine> = { npt: erase(npt), tsp: erase(tsp), ssp: erase(ssp) };

/** The machine a trace names: its variant, or its model. */
export function machineFor(meta: CounterexampleMeta, override?: { model?: ModelName; variant?: string }): { machine: AnyMachine; label: string } {
  if (override?.model !== undefined) return { machine: MODELS[override.model], label: override.model };
  const name = override?.variant ?? meta.variant;
  if (name !== 'none') {
    const v = findVariant(name);
    if (v === undefined) throw new TraceError(`unknown variant '${name}'`);
    return { machine: v.machine, label: `${v.base} (variant ${v.name})` };
  }
  const m = MODELS[meta.model as ModelName];
  if (m === undefined) throw new TraceError(`unknown model '${meta.model}'`);
  return { machine: m, label: meta.model };
}

export interface ReplayResult {
  readonly states: readonly ItfState[];
  readonly violation: Violation | null;
  /** With checkStates: the first recorded state that differs from the replayed one. */
  readonly mismatch: string | null;
}

export function replayTrace(t: LoadedTrace, machine: AnyMachine, opts: { checkStates?: boolean; events?: readonly MachineEvent[] } = {}): ReplayResult {
  const { states, violation } = traceStates(machine, opts.events ?? t.events, {
    property: t.meta.property as PropertyName, guest: t.meta.guest as GuestKind, universe: t.universe, initialMemory: t.initialMemory,
  });
  let mismatch: string | null = null;
  if (opts.checkStates) {
    for (let i = 0; i < Math.max(states.length, t.states.length) && mismatch === null; i++) {
      const want = t.states[i];
      const got = states[i];
      if (want === undefined || got === undefined) {
        mismatch = `the file records ${t.states.length} states, the replay reached ${states.length}`;
        break;
      }
      for (const v of Object.keys(want)) {
        if (v === '#meta') continue;
        if (JSON.stringify(want[v]) !== JSON.stringify(got[v])) {
          mismatch = `state ${i}: '${v}' was ${JSON.stringify(want[v])}, the replay gives ${JSON.stringify(got[v])}`;
          break;
        }
      }
    }
  }
  return { states, violation, mismatch };
}
