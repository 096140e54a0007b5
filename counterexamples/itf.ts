/**
 * Counterexample files in the Informal Trace Format (ITF, Apalache ADR-015):
 * `{"#meta": …, "vars": […], "states": [{"#meta": {"index": i}, var: value, …}]}`
 * with big integers as `{"#bigint": "…"}` and maps as `{"#map": [[k, v], …]}`, so
 * existing ITF viewers read them. This file encodes and decodes the values and the
 * guest actions and host events a trace records.
 */
import { type Gva, gpa, gva, hex } from '../spec/address.ts';
import type { Memory } from '../spec/memory.ts';
import { emptyMemory, pagesOf, writeWord } from '../spec/memory.ts';
import type { MachineEvent, SnapshotValue } from '../model/machine.ts';

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
  readonly property: string;
  readonly model: string;
  /** The seeded-bug variant the trace was found on, or "none". */
  readonly variant: string;
  readonly guest: string;
  readonly seed: number;
  readonly path: string;
  readonly fastCheck: string;
  readonly specVersion: string;
  /** Virtual addresses (hex) the reference is exact on. */
  readonly universe: readonly string[];
  readonly violation: { readonly step: number; readonly message: string };
}

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

/** A file that cannot be replayed: the one-line reason. */
export class TraceError extends Error {}

type Rec = { readonly [k: string]: unknown };

function bigOf(v: unknown, what: string): bigint {
  if (typeof v === 'object' && v !== null && '#bigint' in v && typeof (v as Rec)['#bigint'] === 'string') {
    try {
      return BigInt((v as { '#bigint': string })['#bigint']);
    } catch {
      throw new TraceError(`${what} is not an integer`);
    }
  }
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  throw new TraceError(`${what} is not an integer`);
}

/** Decode one recorded action back into the event it was. */
export function eventFromItf(a: Rec, step: number): MachineEvent {
  const at = `state ${step}`;
  const u64 = (k: string): bigint => {
    const x = bigOf(a[k], `${at}: ${k}`);
    if (x < 0n || x >= 1n << 64n) throw new TraceError(`${at}: ${k} ${hex(x)} is out of range`);
    return x;
  };
  switch (a.kind) {
    case 'ptStore': return { kind: 'ptStore', addr: gpa(u64('addr')), value: u64('value') };
    case 'access': return { kind: 'access', va: gva(u64('va')), access: a.access as 'load', priv: a.priv as 'S', value: u64('value') };
    case 'satp':
      return a.mode === 'bare'
        ? { kind: 'satp', satp: { mode: 'bare' } }
        : { kind: 'satp', satp: { mode: 'sv39', asid: Number(a.asid), rootPpn: u64('root') } };
    case 'sfence':
      return { kind: 'sfence', rs1: a.rs1 === 'x0' ? null : gva(u64('rs1')), rs2: a.rs2 === 'x0' ? null : Number(a.rs2) };
    case 'sum':
    case 'mxr': return { kind: a.kind, value: a.value === true };
    case 'hostRemap':
    case 'hostWriteProtect':
    case 'hostUnprotect': return { kind: a.kind, gpn: u64('gpn') };
    default: throw new TraceError(`${at}: unknown action '${String(a.kind)}'`);
  }
}

export function memoryFromItf(v: unknown): Memory {
  const entries = (v as { '#map': readonly (readonly [unknown, unknown])[] })['#map'];
  return entries.reduce((m, [k, x], i) => {
    const addr = bigOf(k, `guestMemory entry ${i}`);
    if (addr % 8n !== 0n) throw new TraceError(`guestMemory entry ${i}: address ${hex(addr)} is not 8-byte aligned`);
    return writeWord(m, gpa(addr), bigOf(x, `guestMemory entry ${i}`));
  }, emptyMemory);
}

export const universeFromMeta = (m: CounterexampleMeta): Gva[] => m.universe.map((x) => gva(BigInt(x)));
