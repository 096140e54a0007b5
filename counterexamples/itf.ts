/**
 * Counterexample files in the Informal Trace Format (ITF, Apalache ADR-015):
 * `{"#meta": …, "vars": […], "states": [{"#meta": {"index": i}, var: value, …}]}`
 * with big integers as `{"#bigint": "…"}` and maps as `{"#map": [[k, v], …]}`, so
 * existing ITF viewers read them. This file encodes the values and the guest
 * actions and host events a trace records, and reads a file back: JSON, then the
 * schema (schema.json), then the ranges a schema cannot state on big integers
 * held in strings. A file is checked whole before anything of it runs.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { match } from 'ts-pattern';
import { type Gva, PAGE_SHIFT, gpa, gva, hex, isCanonicalSv39, vpnOf } from '../spec/address.ts';
import { inRam } from '../spec/config.ts';
import type { Memory } from '../spec/memory.ts';
import { emptyMemory, pagesOf, writeWord } from '../spec/memory.ts';
import type { AccessKind, Privilege } from '../spec/walk.ts';
import type { MachineEvent, ModelName, SnapshotValue } from '../model/machine.ts';
import { findVariant } from '../model/variants.ts';
import { findHartVariant } from '../model/vcpu-variants.ts';
import type { VcpuStep } from '../model/vcpus.ts';
import type { SbiCall, SbiRet } from '../spec/sbi.ts';
import type { GuestKind } from '../properties/commands.ts';
import { type AdMode, guestConfig } from '../properties/pools.ts';
import type { PropertyName } from '../properties/run.ts';
import type { HartsCheckName } from '../properties/harts-run.ts';
import { printable } from '../cli/output.ts';

export const SCHEMA_VERSION = 'ssp-spec-counterexample/1';

export type ItfValue =
  | string
  | boolean
  | number
  | { readonly '#bigint': string }
  | { readonly '#map': readonly (readonly [ItfValue, ItfValue])[] }
  | readonly ItfValue[]
  | { readonly [k: string]: ItfValue };

export interface ItfState {
  readonly '#meta': { readonly index: number };
  readonly [v: string]: ItfValue | { readonly index: number };
}

export interface CounterexampleMeta {
  readonly format: 'ITF';
  readonly 'format-description': string;
  readonly source: 'ssp-spec';
  readonly schema: string;
  readonly description: string;
  readonly property: PropertyName;
  readonly model: ModelName;
  /** The seeded-bug variant the trace was found on, or "none". */
  readonly variant: string;
  readonly guest: GuestKind;
  /** "svadu" for a guest whose hart sets A and D (henvcfg.ADUE=1); absent for Svade. */
  readonly ad?: AdMode;
  /** 0..2^32-1 (files written before seeds were unsigned may hold a negative one). */
  readonly seed: number;
  readonly path: string;
  /** When `npm run exhaustive` found the trace (seed 0, empty path): its configuration and the depth it searched. */
  readonly exhaustive?: { readonly config: string; readonly depth: number };
  readonly fastCheck: string;
  readonly specVersion: string;
  /** Virtual addresses (hex) the reference is exact on. */
  readonly universe: readonly string[];
  readonly violation: { readonly step: number; readonly message: string };
  /**
   * A several-hart trace (properties/harts-run.ts): how many harts the guest has (2..4); every
   * step state then names its `hart`. Absent in a one-hart trace, which names no hart.
   */
  readonly harts?: number;
  /** A several-hart trace: the lockstep runner's check that failed (a property, the SBI return value or traps, or a livelock). */
  readonly check?: HartsCheckName;
}

/** The checks of the several-hart runner (properties/harts-run.ts `HartsViolation.check`). */
export type { HartsCheckName } from '../properties/harts-run.ts';

export interface ItfTrace {
  readonly '#meta': CounterexampleMeta;
  readonly params: readonly string[];
  readonly vars: readonly string[];
  readonly states: readonly ItfState[];
}

export const big = (x: bigint): ItfValue => ({ '#bigint': x.toString() });

/** Snapshot data (model/machine.ts) as ITF values. */
export function toItf(v: SnapshotValue): ItfValue {
  if (typeof v === 'bigint') return big(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(toItf);
  return Object.fromEntries(Object.entries(v as { [k: string]: SnapshotValue }).map(([k, x]) => [k, toItf(x)]));
}

export function memoryToItf(mem: Memory): ItfValue {
  const entries: [ItfValue, ItfValue][] = [];
  for (const [page, words] of pagesOf(mem)) {
    for (const [slot, value] of [...words].sort(([a], [b]) => a - b)) entries.push([big((page << 12n) + BigInt(slot) * 8n), big(value)]);
  }
  return { '#map': entries };
}

export function eventToItf(e: MachineEvent, text: string): ItfValue {
  const base = { kind: e.kind, text };
  switch (e.kind) {
    case 'ptStore': return { ...base, addr: big(e.addr), value: big(e.value) };
    case 'access': return { ...base, va: big(e.va), access: e.access, priv: e.priv, value: big(e.value) };
    case 'satp':
      return e.satp.mode === 'bare'
        ? { ...base, mode: 'bare', asid: 0, root: big(0n) }
        : { ...base, mode: 'sv39', asid: e.satp.asid, root: big(e.satp.rootPpn) };
    case 'sfence': return { ...base, rs1: e.rs1 === null ? 'x0' : big(e.rs1), rs2: e.rs2 === null ? 'x0' : e.rs2 };
    case 'sum':
    case 'mxr': return { ...base, value: e.value };
    case 'hostRemap':
    case 'hostWriteProtect':
    case 'hostUnprotect': return { ...base, gpn: big(e.gpn) };
  }
}

/** An SBI call of a several-hart trace as an action: its kind, arguments (a0..a4) and the return value the machine gave. */
export function sbiToItf(call: SbiCall, ret: SbiRet | null, text: string): ItfValue {
  return {
    kind: 'sbi', text, call: call.kind, hartMask: big(call.hartMask), hartMaskBase: big(call.hartMaskBase), startAddr: big(call.startAddr), size: big(call.size),
    ...(call.kind === 'remoteSfenceVmaAsid' ? { asid: big(call.asid) } : {}),
    ...(ret === null ? {} : { error: ret.error, value: big(ret.value) }),
  };
}

/** A file that cannot be replayed: the one-line reason, printable whatever the file holds. */
export class TraceError extends Error {
  constructor(message: string) {
    super(printable(message));
  }
}

const schema: object = JSON.parse(readFileSync(new URL('./schema.json', import.meta.url), 'utf8')) as object;
// verbose: errors carry their schema node, whose `description` says in words what a pattern or an anyOf wants.
const validate = new Ajv({ allErrors: false, strict: false, discriminator: true, verbose: true }).compile(schema);

/** Where in the file: `state 4: action.access`, `#meta.seed`, `state 0: guestMemory entry 3 address`. */
function place(pointer: string): string {
  const segs = pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let prefix = '';
  if (segs[0] === 'states' && segs[1] !== undefined) {
    prefix = `state ${segs[1]}: `;
    segs.splice(0, 2);
  }
  let out = '';
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as string;
    if (s === '#bigint') continue;
    if (s === '#map' && segs[i + 1] !== undefined) {
      out += ` entry ${segs[i + 1]}${segs[i + 2] === undefined ? '' : segs[i + 2] === '0' ? ' address' : ' value'}`;
      i += 2;
    } else if (/^[0-9]+$/.test(s)) out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  if (out === '') return prefix === '' ? 'the file' : `${prefix}the state`;
  return `${prefix}${out}`;
}

const an: Record<string, string> = { integer: 'an integer', object: 'an object', array: 'an array', string: 'a string', boolean: 'a boolean', number: 'a number', null: 'null' };

/** Ajv's error as one line naming the step and the field. */
function schemaMessage(errors: readonly ErrorObject[]): string {
  // Ajv lists an anyOf's or a oneOf's failed branches before the error that sums them up; an if/then's summary says nothing.
  const e = [...errors].reverse().find((x) => x.keyword !== 'if') ?? errors[0];
  if (e === undefined) return 'the file does not match the counterexample schema';
  const at = place(e.instancePath);
  const described = (e.parentSchema as { description?: unknown } | undefined)?.description;
  const p = e.params as Record<string, unknown>;
  if (typeof described === 'string' && ['type', 'pattern', 'required', 'additionalProperties', 'anyOf', 'oneOf', 'minimum', 'maximum', 'maxLength', 'maxItems'].includes(e.keyword)) {
    return `${at} must be ${described}`;
  }
  return match(e.keyword)
    .with('required', () => `${place(`${e.instancePath}/${String(p.missingProperty)}`)} is missing`)
    .with('additionalProperties', () => `${at} has an unknown field '${String(p.additionalProperty)}'`)
    .with('enum', () => `${at} must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')}`)
    .with('const', () => `${at} must be ${JSON.stringify(p.allowedValue)}`)
    .with('type', () => `${at} must be ${an[String(p.type)] ?? String(p.type)}`)
    .with('minimum', () => `${at} must be at least ${String(p.limit)}`)
    .with('maximum', () => `${at} must be at most ${String(p.limit)}`)
    .with('minItems', () => `${at} must have at least ${String(p.limit)} items`)
    .with('maxItems', () => `${at} must have at most ${String(p.limit)} items`)
    .with('maxLength', () => `${at} must be at most ${String(p.limit)} characters long`)
    .with('uniqueItems', () => `${at} must not repeat an item (items ${String(p.j)} and ${String(p.i)} are equal)`)
    .with('propertyNames', () => `${at} has a field name that is not printable text`)
    .with('discriminator', () => {
      const kinds = ((e.parentSchema as { oneOf?: { properties?: { kind?: { const?: unknown } } }[] }).oneOf ?? []).map((b) => String(b.properties?.kind?.const));
      return p.error === 'tag'
        ? `${place(`${e.instancePath}/kind`)} must be a string`
        : `${place(`${e.instancePath}/kind`)} must be one of ${kinds.join(', ')} (got '${String(p.tagValue)}')`;
    })
    .otherwise(() => `${at} ${e.message ?? 'does not match the counterexample schema'}`);
}

/** JSON.parse's reason, without the raw input it quotes (over several lines, control characters and all), with the line and column when it gives a position. */
function jsonProblem(message: string, text: string): string {
  const reason = message.replace(/, ".*" is not valid JSON$/su, '').replace(/ (?:in JSON )?at position \d+.*$/su, '');
  const pos = / at position (\d+)/.exec(message);
  if (pos === null) return reason;
  const offset = Number(pos[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `${reason} at line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

type BigJson = { readonly '#bigint': string };
type ActionJson =
  | { readonly kind: 'ptStore'; readonly addr: BigJson; readonly value: BigJson }
  | { readonly kind: 'access'; readonly va: BigJson; readonly access: AccessKind; readonly priv: Privilege; readonly value: BigJson }
  | { readonly kind: 'satp'; readonly mode: 'bare' | 'sv39'; readonly asid?: number; readonly root?: BigJson }
  | { readonly kind: 'sfence'; readonly rs1: 'x0' | BigJson; readonly rs2: 'x0' | number }
  | { readonly kind: 'sum' | 'mxr'; readonly value: boolean }
  | { readonly kind: 'hostRemap' | 'hostWriteProtect' | 'hostUnprotect'; readonly gpn: BigJson }
  | {
      readonly kind: 'sbi'; readonly call: 'remoteSfenceVma' | 'remoteSfenceVmaAsid'; readonly hartMask: BigJson; readonly hartMaskBase: BigJson;
      readonly startAddr: BigJson; readonly size: BigJson; readonly asid?: BigJson;
    };
type MemoryJson = { readonly '#map': readonly (readonly [BigJson, BigJson])[] };

const U64_END = 1n << 64n;
const PPN_END = 1n << 44n;
const ramFirst = guestConfig.ramBasePage << PAGE_SHIFT;
const ramEnd = (guestConfig.ramBasePage + guestConfig.ramPages) << PAGE_SHIFT;
const RAM = `guest RAM ${hex(ramFirst)}..${hex(ramEnd - 1n)}`;

/** A trace that passed every check, decoded: what the replay runs. */
export interface DecodedTrace {
  readonly meta: CounterexampleMeta;
  readonly events: readonly MachineEvent[];
  readonly initialMemory: Memory;
  readonly universe: readonly Gva[];
  readonly states: readonly ItfState[];
  /** A several-hart trace: its hart count and its steps, each on its hart (`events` is then empty); null for one hart. */
  readonly harts: { readonly count: number; readonly steps: readonly VcpuStep[] } | null;
}

/**
 * Read a file's text as a counterexample: every problem is a TraceError with a
 * one-line reason naming the state and the field. Nothing of the file runs
 * before all of it is checked.
 */
export function parseTrace(raw: string): DecodedTrace {
  // A UTF-8 byte order mark is not JSON, but editors write it: it says nothing about the content.
  const text = raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TraceError(`malformed JSON: ${jsonProblem((e as Error).message, text)}`);
  }
  const version = (json as { '#meta'?: { schema?: unknown } } | null)?.['#meta']?.schema;
  if (typeof version === 'string' && version !== SCHEMA_VERSION) {
    throw new TraceError(`wrong schema version '${version.slice(0, 80)}' (this replay reads '${SCHEMA_VERSION}')`);
  }
  if (!validate(json)) throw new TraceError(schemaMessage(validate.errors ?? []));
  return decodeTrace(json as ItfTrace);
}

/** The checks JSON Schema cannot state, then the events: numbering, ranges of big integers, agreement between fields. */
function decodeTrace(trace: ItfTrace): DecodedTrace {
  const meta = trace['#meta'];
  const steps = trace.states.length - 1;
  const universe = meta.universe.map((x, i) => {
    const va = gva(BigInt(x));
    if (!isCanonicalSv39(va)) throw new TraceError(`#meta.universe[${i}] ${x} is out of range (not a canonical Sv39 address)`);
    return va;
  });
  const harts = meta.harts ?? null;
  if (harts === null && meta.check !== undefined) throw new TraceError('#meta.check is for a several-hart trace, but #meta.harts is missing');
  if (harts !== null && meta.check === undefined) throw new TraceError('#meta.check is missing (a several-hart trace says which check failed)');
  if (meta.variant !== 'none') {
    const hartVariant = findHartVariant(meta.variant);
    if (hartVariant !== undefined && harts === null) throw new TraceError(`#meta.harts is missing: '${meta.variant}' is a several-hart variant`);
    if (hartVariant === undefined && harts !== null) throw new TraceError(`#meta.variant '${meta.variant}' is a one-hart variant, but #meta.harts is ${harts}`);
    const base = hartVariant?.base ?? findVariant(meta.variant)?.base;
    if (base !== meta.model) throw new TraceError(`#meta.variant '${meta.variant}' is a variant of ${base ?? 'no model'}, but #meta.model is '${meta.model}'`);
  }
  if (meta.violation.step > steps) throw new TraceError(`#meta.violation.step ${meta.violation.step} is out of range (the trace has ${steps} steps)`);

  let initialMemory: Memory = emptyMemory;
  const events: MachineEvent[] = [];
  const hartSteps: VcpuStep[] = [];
  trace.states.forEach((st, i) => {
    const at = `state ${i}`;
    if (st['#meta'].index !== i) throw new TraceError(`${at}: #meta.index is ${st['#meta'].index}, expected ${i} (states are numbered in order)`);
    if (st.step !== i) throw new TraceError(`${at}: step is ${String(st.step)}, expected ${i} (states are numbered in order)`);
    const hart = st.hart as number | undefined;
    if (hart !== undefined && (harts === null || i === 0)) {
      throw new TraceError(`${at}: hart is for a step of a several-hart trace${harts === null ? ' (#meta.harts is missing)' : ' (state 0 is the boot state)'}`);
    }
    if (hart === undefined && harts !== null && i > 0) throw new TraceError(`${at}: hart is missing (#meta.harts is ${harts}: every step names its hart)`);
    if (hart !== undefined && harts !== null && hart >= harts) throw new TraceError(`${at}: hart ${hart} is out of range (#meta.harts is ${harts}: harts 0 to ${harts - 1})`);
    const u64 = (v: BigJson, field: string): bigint => {
      const x = BigInt(v['#bigint']);
      if (x >= U64_END) throw new TraceError(`${at}: ${field} ${hex(x)} is out of range (above 2^64 - 1)`);
      return x;
    };
    const inGuestRam = (v: BigJson, field: string): bigint => {
      const a = u64(v, field);
      if (!inRam(guestConfig, a)) throw new TraceError(`${at}: ${field} ${hex(a)} is out of range (outside ${RAM})`);
      if (a % 8n !== 0n) throw new TraceError(`${at}: ${field} ${hex(a)} is out of range (not 8-byte aligned)`);
      return a;
    };
    const ppn = (v: BigJson, field: string): bigint => {
      const x = u64(v, field);
      if (x >= PPN_END) throw new TraceError(`${at}: ${field} ${hex(x)} is out of range (a physical page number has 44 bits)`);
      return x;
    };
    const memory = st.guestMemory as MemoryJson | undefined;
    if (memory !== undefined) {
      const seen = new Set<bigint>();
      let mem = emptyMemory;
      memory['#map'].forEach(([k, v], j) => {
        const addr = inGuestRam(k, `guestMemory entry ${j} address`);
        if (seen.has(addr)) throw new TraceError(`${at}: guestMemory entry ${j} repeats address ${hex(addr)}`);
        seen.add(addr);
        const value = u64(v, `guestMemory entry ${j} value`);
        if (i === 0) mem = writeWord(mem, gpa(addr), value);
      });
      if (i === 0) initialMemory = mem;
    }
    const satp = st.guestSatp as { readonly root?: BigJson } | undefined;
    if (satp?.root !== undefined) ppn(satp.root, 'guestSatp.root');
    const each = st.harts as readonly { readonly guestSatp: { readonly root?: BigJson } }[] | undefined;
    if (each !== undefined && harts === null) throw new TraceError(`${at}: harts is for a several-hart trace (#meta.harts is missing)`);
    if (each !== undefined && each.length !== harts) throw new TraceError(`${at}: harts has ${each.length} hart states, #meta.harts is ${String(harts)}`);
    each?.forEach((h, j) => {
      if (h.guestSatp.root !== undefined) ppn(h.guestSatp.root, `harts[${j}].guestSatp.root`);
    });
    const tables = st.tables as { readonly [k: string]: { readonly [k: string]: ItfValue } } | undefined;
    for (const [name, t] of Object.entries(tables ?? {})) {
      for (const [k, v] of Object.entries(t)) if (typeof v === 'object' && '#bigint' in v) u64(v as BigJson, `tables['${name}']['${k}']`);
    }
    if (i === 0) return;
    const a = st.action as ActionJson;
    if (a.kind === 'sbi') {
      if (harts === null || hart === undefined) throw new TraceError(`${at}: action.kind 'sbi' is for a several-hart trace (#meta.harts is missing)`);
      if (a.call === 'remoteSfenceVmaAsid' && a.asid === undefined) throw new TraceError(`${at}: action.asid is missing (needed for call remoteSfenceVmaAsid)`);
      if (a.call === 'remoteSfenceVma' && a.asid !== undefined) throw new TraceError(`${at}: action.asid is for call remoteSfenceVmaAsid only`);
      const args = {
        hartMask: u64(a.hartMask, 'action.hartMask'), hartMaskBase: u64(a.hartMaskBase, 'action.hartMaskBase'),
        startAddr: u64(a.startAddr, 'action.startAddr'), size: u64(a.size, 'action.size'),
      };
      const call: SbiCall = a.call === 'remoteSfenceVma' ? { kind: 'remoteSfenceVma', ...args } : { kind: 'remoteSfenceVmaAsid', ...args, asid: u64(a.asid as BigJson, 'action.asid') };
      hartSteps.push({ kind: 'sbi', hart, call });
      return;
    }
    const event = match(a)
      .with({ kind: 'ptStore' }, (x): MachineEvent => ({ kind: 'ptStore', addr: gpa(inGuestRam(x.addr, 'action.addr')), value: u64(x.value, 'action.value') }))
      .with({ kind: 'access' }, (x): MachineEvent => {
        const va = gva(u64(x.va, 'action.va'));
        if (va % 8n !== 0n) throw new TraceError(`${at}: action.va ${hex(va)} is out of range (not 8-byte aligned)`);
        // The reference is exact on the universe only: a canonical address outside it has no allowed set to check against.
        if (isCanonicalSv39(va) && !universe.some((u) => vpnOf(u) === vpnOf(va))) {
          throw new TraceError(`${at}: action.va ${hex(va)} is out of range (not in the trace's universe, #meta.universe)`);
        }
        return { kind: 'access', va, access: x.access, priv: x.priv, value: u64(x.value, 'action.value') };
      })
      .with({ kind: 'satp' }, (x): MachineEvent => {
        if (x.mode === 'bare') return { kind: 'satp', satp: { mode: 'bare' } };
        if (x.asid === undefined || x.root === undefined) throw new TraceError(`${at}: action.asid and action.root are needed for mode sv39`);
        return { kind: 'satp', satp: { mode: 'sv39', asid: x.asid, rootPpn: ppn(x.root, 'action.root') } };
      })
      .with({ kind: 'sfence' }, (x): MachineEvent => ({
        kind: 'sfence', rs1: x.rs1 === 'x0' ? null : gva(u64(x.rs1, 'action.rs1')), rs2: x.rs2 === 'x0' ? null : x.rs2,
      }))
      .with({ kind: 'sum' }, { kind: 'mxr' }, (x): MachineEvent => ({ kind: x.kind, value: x.value }))
      .with({ kind: 'hostRemap' }, { kind: 'hostWriteProtect' }, { kind: 'hostUnprotect' }, (x): MachineEvent => {
        const gpn = u64(x.gpn, 'action.gpn');
        if (!inRam(guestConfig, gpn << PAGE_SHIFT)) throw new TraceError(`${at}: action.gpn ${hex(gpn)} is out of range (not a page of ${RAM})`);
        return { kind: x.kind, gpn };
      })
      .exhaustive();
    if (harts === null || hart === undefined) events.push(event);
    else if (event.kind === 'hostRemap' || event.kind === 'hostWriteProtect' || event.kind === 'hostUnprotect') hartSteps.push({ kind: 'host', hart, event });
    else hartSteps.push({ kind: 'guest', hart, action: event });
  });
  return {
    meta: { ...meta, description: meta.description ?? '' }, events, initialMemory, universe, states: trace.states,
    harts: harts === null ? null : { count: harts, steps: hartSteps },
  };
}

export const universeFromMeta = (m: CounterexampleMeta): Gva[] => m.universe.map((x) => gva(BigInt(x)));
