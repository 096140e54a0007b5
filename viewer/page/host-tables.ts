/**
 * The `tables` variable (counterexamples/README.md): one record per table page of
 * the hypervisor, read into shadow pages (TSP, SSP: `sp 0x…`) or G-stage tables
 * (NPT: `G-stage 0x…`), then drawn as trees from their roots through the pointer
 * words. A record of neither shape, or a field the page does not know, is kept
 * with the reason, so the page shows it raw instead of leaving it out.
 */
import type { ItfValue } from '../payload.ts';
import { type DecodedPte, bigOf, decodePte, gpaOf, hex, vaOf } from './pte.ts';

export interface ShadowEntry {
  readonly slot: number;
  readonly pte: DecodedPte;
  /** The guest PTE word it was built from, and that word's guest-physical address. */
  readonly guest: DecodedPte | null;
  readonly guestAt: bigint | null;
  /** The trace's own reading of the word. */
  readonly means: string | null;
  /** The first virtual address the entry translates. */
  readonly va: bigint;
}

export interface ShadowPage {
  readonly name: string;
  readonly frame: bigint;
  readonly level: number;
  readonly prefix: bigint;
  readonly tag: string;
  readonly source: string;
  readonly root: string;
  readonly loaded: boolean;
  readonly unsync: boolean;
  readonly entries: readonly ShadowEntry[];
  /** Fields the page does not know: shown raw. */
  readonly extra: readonly (readonly [string, ItfValue])[];
}

export interface GEntry {
  readonly slot: number;
  readonly pte: DecodedPte;
  readonly means: string | null;
}

export interface GTable {
  readonly name: string;
  readonly frame: bigint;
  readonly table: string;
  readonly entries: readonly GEntry[];
  readonly extra: readonly (readonly [string, ItfValue])[];
}

export interface UnknownRecord {
  readonly name: string;
  readonly record: ItfValue;
  readonly reason: string;
}

export interface HostTables {
  readonly shadow: readonly ShadowPage[];
  readonly gstage: readonly GTable[];
  readonly unknown: readonly UnknownRecord[];
}

type Rec = { readonly [k: string]: ItfValue };

const ENTRY = /^\[(\d+)\]( guest| guest at| means)?$/;

/** A record's `[i]…` fields by slot, and the fields that are not entries. */
function splitEntries(rec: Rec, suffixes: readonly string[]): { slots: Map<number, Map<string, ItfValue>>; rest: [string, ItfValue][] } {
  const slots = new Map<number, Map<string, ItfValue>>();
  const rest: [string, ItfValue][] = [];
  for (const [k, v] of Object.entries(rec)) {
    const m = ENTRY.exec(k);
    const suffix = m?.[2] ?? '';
    if (m === null || !suffixes.includes(suffix)) {
      rest.push([k, v]);
      continue;
    }
    const slot = Number(m[1]);
    const fields = slots.get(slot) ?? new Map<string, ItfValue>();
    fields.set(suffix, v);
    slots.set(slot, fields);
  }
  return { slots, rest };
}

const LEVELS: Record<string, number> = { L0: 0, L1: 1, L2: 2 };

function shadowPage(name: string, rec: Rec): ShadowPage | string {
  const frame = bigOf(rec.frame);
  const prefix = bigOf(rec.prefix);
  const level = typeof rec.level === 'string' ? LEVELS[rec.level] : undefined;
  if (frame === null) return 'its frame is not a number';
  if (level === undefined) return `its level ${JSON.stringify(rec.level ?? null)} is not L0, L1 or L2`;
  if (prefix === null) return 'its prefix is not a number';
  const { slots, rest } = splitEntries(rec, ['', ' guest', ' guest at', ' means']);
  const known = new Set(['frame', 'level', 'prefix', 'tag', 'source', 'root', 'loaded', 'unsync']);
  const entries: ShadowEntry[] = [];
  for (const [slot, f] of [...slots].sort(([a], [b]) => a - b)) {
    const word = bigOf(f.get(''));
    if (word === null) {
      // An entry without its word cannot be drawn: its fields go back to the raw list.
      for (const [s, v] of f) rest.push([`[${slot}]${s}`, v]);
      continue;
    }
    const guest = bigOf(f.get(' guest'));
    const means = f.get(' means');
    entries.push({
      slot,
      pte: decodePte(word),
      guest: guest === null ? null : decodePte(guest),
      guestAt: bigOf(f.get(' guest at')),
      means: typeof means === 'string' ? means : null,
      va: vaOf((prefix << 9n) | BigInt(slot), level),
    });
  }
  const text = (k: string): string => (typeof rec[k] === 'string' ? (rec[k] as string) : '');
  return {
    name, frame, level, prefix, entries,
    tag: text('tag'), source: text('source'), root: text('root'),
    loaded: rec.loaded === true, unsync: rec.unsync === true,
    extra: rest.filter(([k]) => !known.has(k)),
  };
}

function gTable(name: string, rec: Rec): GTable | string {
  const frame = bigOf(rec.frame);
  if (frame === null) return 'its frame is not a number';
  if (typeof rec.table !== 'string') return 'its table kind is not text';
  const { slots, rest } = splitEntries(rec, ['', ' means']);
  const entries: GEntry[] = [];
  for (const [slot, f] of [...slots].sort(([a], [b]) => a - b)) {
    const word = bigOf(f.get(''));
    if (word === null) {
      for (const [s, v] of f) rest.push([`[${slot}]${s}`, v]);
      continue;
    }
    const means = f.get(' means');
    entries.push({ slot, pte: decodePte(word), means: typeof means === 'string' ? means : null });
  }
  return { name, frame, table: rec.table, entries, extra: rest.filter(([k]) => k !== 'frame' && k !== 'table') };
}

/** The records of a `tables` value, read by their shape. */
export function readTables(tables: ItfValue | undefined): HostTables {
  const shadow: ShadowPage[] = [];
  const gstage: GTable[] = [];
  const unknown: UnknownRecord[] = [];
  if (tables === undefined) return { shadow, gstage, unknown };
  for (const [name, rec] of Object.entries(tables as Rec)) {
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec) || '#bigint' in rec || '#map' in rec) {
      unknown.push({ name, record: rec, reason: 'not a record of fields' });
      continue;
    }
    const r = rec as Rec;
    if (name.startsWith('sp ') && 'level' in r && 'prefix' in r) {
      const p = shadowPage(name, r);
      if (typeof p === 'string') unknown.push({ name, record: rec, reason: `a shadow page record, but ${p}` });
      else shadow.push(p);
    } else if (name.startsWith('G-stage ') && 'table' in r) {
      const g = gTable(name, r);
      if (typeof g === 'string') unknown.push({ name, record: rec, reason: `a G-stage table record, but ${g}` });
      else gstage.push(g);
    } else {
      unknown.push({ name, record: rec, reason: 'neither a shadow page (sp 0x… with level and prefix) nor a G-stage table (G-stage 0x… with table)' });
    }
  }
  return { shadow, gstage, unknown };
}

/** A shadow page in a tree: its children by entry slot (pointer words that name another shadow page). */
export interface ShadowNode {
  readonly page: ShadowPage;
  readonly children: ReadonlyMap<number, ShadowNode | { readonly seen: string } | { readonly missing: bigint }>;
}

/**
 * Shadow pages as trees from their roots (the loaded root first, then the other
 * buffered roots), through pointer words to the shadow page whose frame they
 * name; the pages no root reaches are listed apart.
 */
export function shadowForest(pages: readonly ShadowPage[]): { trees: ShadowNode[]; unreached: ShadowPage[] } {
  const byFrame = new Map(pages.map((p) => [p.frame, p] as const));
  const reached = new Set<bigint>();
  const node = (page: ShadowPage): ShadowNode => {
    reached.add(page.frame);
    const children = new Map<number, ShadowNode | { seen: string } | { missing: bigint }>();
    for (const e of page.entries) {
      if (e.pte.kind !== 'pointer' || page.level === 0) continue;
      const child = byFrame.get(e.pte.ppn);
      if (child === undefined) children.set(e.slot, { missing: e.pte.ppn });
      else if (reached.has(child.frame)) children.set(e.slot, { seen: child.name });
      else children.set(e.slot, node(child));
    }
    return { page, children };
  };
  const roots = pages.filter((p) => p.root !== '').sort((a, b) => Number(b.loaded) - Number(a.loaded));
  const trees = roots.filter((r) => !reached.has(r.frame)).map(node);
  return { trees, unreached: pages.filter((p) => !reached.has(p.frame)) };
}

export interface GNode {
  readonly table: GTable;
  /** The guest-physical page-number prefix of the table (the indices above it). */
  readonly prefix: bigint;
  readonly level: number;
  readonly children: ReadonlyMap<number, GNode | { readonly seen: string } | { readonly missing: bigint }>;
}

/** The G-stage table as a tree from its root record (`table: root`, level 2, Sv39x4), and the records it does not reach. */
export function gForest(tables: readonly GTable[]): { trees: GNode[]; unreached: GTable[] } {
  const byFrame = new Map(tables.map((t) => [t.frame, t] as const));
  const reached = new Set<bigint>();
  const node = (table: GTable, level: number, prefix: bigint): GNode => {
    reached.add(table.frame);
    const children = new Map<number, GNode | { seen: string } | { missing: bigint }>();
    for (const e of table.entries) {
      if (e.pte.kind !== 'pointer' || level === 0) continue;
      const child = byFrame.get(e.pte.ppn);
      if (child === undefined) children.set(e.slot, { missing: e.pte.ppn });
      else if (reached.has(child.frame)) children.set(e.slot, { seen: child.name });
      else children.set(e.slot, node(child, level - 1, (prefix << 9n) | BigInt(e.slot)));
    }
    return { table, prefix, level, children };
  };
  const trees = tables.filter((t) => t.table === 'root').map((t) => node(t, 2, 0n));
  return { trees, unreached: tables.filter((t) => !reached.has(t.frame)) };
}

export const gEntryGpa = (n: GNode, slot: number): bigint => gpaOf((n.prefix << 9n) | BigInt(slot), n.level);

/** The word a table records at a host-physical PTE address, if a record holds that frame: for the TLB's entries. */
export function hostWordAt(t: HostTables, addr: bigint): { record: string; slot: number; word: bigint | null; complete: boolean } | null {
  const frame = addr >> 12n;
  const slot = Number((addr & 0xfffn) >> 3n);
  const sp = t.shadow.find((p) => p.frame === frame);
  // A shadow page records every entry it has built (the others are zero).
  if (sp !== undefined) return { record: sp.name, slot, word: sp.entries.find((e) => e.slot === slot)?.pte.word ?? null, complete: true };
  // The G-stage root is 16 KiB: four frames from its record's frame; its slots run on across them.
  for (const g of t.gstage) {
    const span = g.table === 'root' ? 4n : 1n;
    if (frame < g.frame || frame >= g.frame + span) continue;
    const s = Number(frame - g.frame) * 512 + slot;
    // A split region's L0 table records only the leaves that differ from the boot layout.
    return { record: g.name, slot: s, word: g.entries.find((e) => e.slot === s)?.pte.word ?? null, complete: !g.table.startsWith('L0') };
  }
  return null;
}

export const describeShadowPage = (p: ShadowPage): string =>
  `${p.name}: L${p.level}, VA ${hex(vaOf(p.prefix, p.level + 1))}…, tag ${p.tag}, mirrors ${p.source}`;
