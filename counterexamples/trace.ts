/**
 * Write a failing program as an ITF trace: one state per step with the guest's
 * memory (its page tables included), the hypervisor's tables, the hart's TLB, the
 * mode, the observation against the allowed set, and the exit counters; `#meta`
 * says which property failed on which model or variant, with the seed and path.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Gva, hex } from '../spec/address.ts';
import type { Memory } from '../spec/memory.ts';
import { type HostState, guestMemoryView } from '../model/host.ts';
import type { AnyMachine, MachineEvent, MachineSnapshot } from '../model/machine.ts';
import type { Satp } from '../spec/guest-action.ts';
import type { Trap } from '../spec/privilege.ts';
import type { GuestKind } from '../properties/commands.ts';
import { type AdMode, VAS, bootMemory, configFor } from '../properties/pools.ts';
import { type PropertyName, findProperty } from '../properties/catalogue.ts';
import { type TracedStep, type Violation, describeEvent, runProgram } from '../properties/run.ts';
import { type CounterexampleMeta, type ItfState, type ItfTrace, type ItfValue, SCHEMA_VERSION, big, eventToItf, memoryToItf, toItf } from './itf.ts';

const packageVersion = (pkg: string): string =>
  (JSON.parse(readFileSync(new URL(pkg, import.meta.url), 'utf8')) as { version: string }).version;

export const SPEC_VERSION = packageVersion('../package.json');
export const FAST_CHECK_VERSION = packageVersion('../node_modules/fast-check/package.json');

export const TRACE_VARS = ['step', 'action', 'priv', 'guestSatp', 'guestMemory', 'tables', 'tlb', 'observation', 'allowed', 'traps', 'exits', 'violation'] as const;

export interface TraceRun {
  readonly property: PropertyName;
  readonly guest: GuestKind;
  /** Svade (the default) or Svadu. */
  readonly ad?: AdMode;
  readonly universe?: readonly Gva[];
  readonly initialMemory?: Memory;
}

/** A run of a program with every step's result kept: what a trace's states are made from. */
export interface RecordedRun {
  readonly machine: AnyMachine;
  readonly initialMemory: Memory;
  readonly ad: AdMode;
  readonly records: readonly TracedStep[];
  readonly violation: Violation | null;
}

/** Run the events on the machine beside the reference, checking the property, keeping every step; stops at a violation. */
export function recordRun(machine: AnyMachine, events: readonly MachineEvent[], run: TraceRun): RecordedRun {
  const initialMemory = run.initialMemory ?? bootMemory();
  const property = findProperty(run.property);
  if (property === undefined) throw new Error(`recordRun: no property '${run.property}' in properties/catalogue.ts`);
  const r = runProgram(machine, events, {
    properties: [property], guest: run.guest, record: true, initialMemory, universe: run.universe ?? VAS, ad: run.ad ?? 'svade',
  });
  return { machine, initialMemory, ad: run.ad ?? 'svade', records: r.trace, violation: r.violation };
}

/**
 * One state of a trace, its guest memory kept as the persistent Memory: as ITF it
 * is as large as memory, so it is converted only when asked (itfState), and a
 * display can diff two states' memories page by page, unchanged pages being
 * shared, at a cost that does not grow with the trace.
 */
export interface TraceStep {
  readonly index: number;
  /** The hart that ran the step, in a several-hart trace (counterexamples/harts-trace.ts); absent for one hart and the boot state. */
  readonly hart?: number;
  /** What ran; null for the boot state. */
  readonly event: MachineEvent | null;
  readonly action: ItfValue;
  readonly priv: string;
  readonly guestSatp: ItfValue;
  readonly guestMemory: Memory;
  readonly tables: ItfValue;
  readonly tlb: readonly string[];
  /**
   * A several-hart trace: every hart's own state, hart 0 first (each a record of its
   * guestSatp, its tlb and, for shadow paging, the shadow it has loaded and the shadow
   * pages out of sync for it); absent for one hart.
   */
  readonly harts?: ItfValue;
  readonly observation: string;
  readonly allowed: readonly string[];
  readonly traps: readonly string[];
  readonly exits: { readonly [reason: string]: number };
  readonly violation: string;
}

/** State 0 of a trace: the boot state, from the machine's snapshot before any step. */
export function bootTraceStep(snap: MachineSnapshot, initialMemory: Memory): TraceStep {
  return {
    index: 0, event: null, action: { kind: 'init', text: 'boot' }, priv: 'VS', guestSatp: { mode: 'bare' }, guestMemory: initialMemory,
    tables: toItf(snap.tables), tlb: [...snap.tlb], observation: '', allowed: [], traps: [], exits: {}, violation: '',
  };
}

/**
 * What each state after the boot one carries along, one step at a time: the guest's view
 * of memory (most steps leave the host's memory and p2m as they were, the same objects,
 * and then the view already made serves), the traps as lines, and the exits so far.
 */
export function traceFollower(initialMemory: Memory): (h: HostState, traps: readonly Trap[]) => Pick<TraceStep, 'guestMemory' | 'traps' | 'exits'> {
  const exits = new Map<string, number>();
  let host: HostState | null = null;
  let guestMemory = initialMemory;
  return (h, traps) => {
    if (host === null || h.mem !== host.mem || h.p2m !== host.p2m || h.backs !== host.backs) guestMemory = guestMemoryView(h);
    host = h;
    for (const t of traps) if (t.cost !== 'none') exits.set(`${t.cost} ${t.reason}`, (exits.get(`${t.cost} ${t.reason}`) ?? 0) + 1);
    return {
      guestMemory,
      traps: traps.map((t) => `cause ${t.cause} ${t.from}->${t.to} ${t.cost} (${t.reason})`),
      exits: Object.fromEntries([...exits].sort()),
    };
  };
}

/** satp as a trace records it. */
export const satpToItf = (satp: Satp): ItfValue => (satp.mode === 'bare' ? { mode: 'bare' } : { mode: 'sv39', asid: satp.asid, root: big(satp.rootPpn) });

/** The states of a recorded run, boot state first, made one at a time (a long trace is never all in memory as ITF). */
export function* traceSteps(r: RecordedRun): Generator<TraceStep> {
  const { machine } = r;
  yield bootTraceStep(machine.view.snapshot(machine.init(configFor(r.ad), r.initialMemory)), r.initialMemory);
  const follow = traceFollower(r.initialMemory);
  for (let i = 0; i < r.records.length; i++) {
    const traced = r.records[i] as TracedStep;
    // A step the machine could not complete leaves its state as it was, with no traps and nothing observed.
    const rec = traced.kind === 'step' ? traced.record : null;
    const event = traced.kind === 'step' ? traced.record.event : traced.event;
    const s = traced.kind === 'step' ? traced.record.after : traced.before;
    const carried = follow(machine.view.host(s), rec?.result.traps ?? []);
    const snap = machine.view.snapshot(s);
    const reached = rec?.access?.reached;
    yield {
      index: i + 1,
      event,
      action: eventToItf(event, describeEvent(event)),
      priv: event.kind === 'access' ? (event.priv === 'U' ? 'VU' : 'VS') : event.kind.startsWith('host') ? 'HS' : 'VS',
      guestSatp: satpToItf(machine.view.guestSatp(s)),
      tables: toItf(snap.tables),
      tlb: [...snap.tlb],
      observation: reached?.kind === 'guest' ? reached.key : '',
      allowed: [...(rec?.access?.allowedKeys ?? [])],
      ...carried,
      violation: r.violation !== null && i === r.violation.step ? r.violation.message : '',
    };
  }
}

/** A step as the ITF state a file records. */
export function itfState(s: TraceStep): ItfState {
  return {
    '#meta': { index: s.index }, step: s.index, ...(s.hart === undefined ? {} : { hart: s.hart }), action: s.action, priv: s.priv, guestSatp: s.guestSatp, guestMemory: memoryToItf(s.guestMemory),
    tables: s.tables, tlb: s.tlb, ...(s.harts === undefined ? {} : { harts: s.harts }), observation: s.observation, allowed: s.allowed, traps: s.traps, exits: s.exits, violation: s.violation,
  };
}

/** Run the events on the machine and record one ITF state per step (state 0 is the boot state); stops at a violation. */
export function traceStates(machine: AnyMachine, events: readonly MachineEvent[], run: TraceRun): { states: ItfState[]; violation: Violation | null } {
  const r = recordRun(machine, events, run);
  return { states: [...traceSteps(r)].map(itfState), violation: r.violation };
}

export interface TraceSource {
  readonly machine: AnyMachine;
  readonly variant: string;
  readonly property: PropertyName;
  readonly guest: GuestKind;
  /** Svade (the default) or Svadu. */
  readonly ad?: AdMode;
  readonly events: readonly MachineEvent[];
  readonly seed: number;
  readonly path: string;
  /** The virtual addresses the reference is exact on (default: the generator's pool). */
  readonly universe?: readonly Gva[];
  /** For a trace `npm run exhaustive` found: its configuration and depth. */
  readonly exhaustive?: { readonly config: string; readonly depth: number };
}

/** The trace of a failing program, ending at the failing step. */
export function buildTrace(src: TraceSource): ItfTrace {
  const universe = src.universe ?? VAS;
  const ad = src.ad ?? 'svade';
  const { states, violation } = traceStates(src.machine, src.events, { property: src.property, guest: src.guest, universe, ad });
  if (violation === null) throw new Error('buildTrace: the program does not fail');
  const meta: CounterexampleMeta = {
    format: 'ITF',
    'format-description': 'https://apalache-mc.org/docs/adr/015adr-trace.html',
    source: 'ssp-spec',
    schema: SCHEMA_VERSION,
    description: `${src.property} fails on ${src.machine.name}${src.variant === 'none' ? '' : ` (variant ${src.variant})`}${ad === 'svadu' ? ' with a Svadu guest' : ''} at step ${violation.step + 1}${src.exhaustive === undefined ? '' : ` (a shortest program over exhaustive configuration ${src.exhaustive.config})`}: ${violation.message}`,
    property: src.property,
    model: src.machine.name,
    variant: src.variant,
    guest: src.guest,
    // Written only for Svadu, so that every file from before A/D modes reads as it always did.
    ...(ad === 'svadu' ? { ad } : {}),
    seed: src.seed,
    path: src.path,
    ...(src.exhaustive === undefined ? {} : { exhaustive: src.exhaustive }),
    fastCheck: FAST_CHECK_VERSION,
    specVersion: SPEC_VERSION,
    universe: universe.map(hex),
    violation: { step: violation.step + 1, message: violation.message },
  };
  return { '#meta': meta, params: [], vars: [...TRACE_VARS], states };
}

export function writeTrace(file: string, trace: ItfTrace): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(trace, null, 1)}\n`);
}
