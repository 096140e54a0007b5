/**
 * One step of a trace, read for the page: its state decoded, what changed since
 * the step before, and which cached or mirrored entries no longer hold what the
 * table they came from holds now (with the step that changed it and the guest
 * fences since). Made only for the step shown: the cost of a key press follows
 * the size of one state, not the length of the trace.
 */
import type { ItfValue } from '../payload.ts';
import { type GuestEntry, type GuestTable, guestEntries, guestTree } from './guest-tables.ts';
import { type GNode, type HostTables, type ShadowNode, type ShadowPage, gForest, hostWordAt, readTables, shadowForest } from './host-tables.ts';
import { bigOf, hex } from './pte.ts';
import { type TlbEntry, parseTlbLine } from './tlb.ts';
import type { Memory, TraceData } from './trace-data.ts';

export type Change =
  | { readonly area: 'memory'; readonly addr: bigint; readonly before: bigint | null; readonly after: bigint | null }
  | { readonly area: 'table'; readonly record: string; readonly field: string; readonly before: string | null; readonly after: string | null }
  | { readonly area: 'tlb'; readonly line: string; readonly added: boolean }
  | { readonly area: 'state'; readonly text: string };

/** A mirrored or cached word that differs from what its table holds now. */
export interface Stale {
  /** Where the old value is held: `sp 0x300002 [1]` or a TLB line. */
  readonly holder: string;
  readonly kind: 'shadow' | 'tlb';
  /** The table word it came from: `guest [0x80012008]` or `sp 0x300002 [1]`. */
  readonly source: string;
  readonly held: bigint;
  /** What the source holds now (null: nothing, the frame is no table page any more). */
  readonly now: bigint | null;
  /** The step that last changed the source (null: not known from the trace). */
  readonly since: number | null;
  /** Guest fences after that step, up to this one. */
  readonly fences: readonly number[];
}

export interface TlbView {
  readonly entry: TlbEntry;
  readonly added: boolean;
  readonly stale: Stale | null;
  /** Where its PTE lives: `guest [0x…]`, `sp 0x… [i]`, `G-stage 0x… [i]`. */
  readonly source: string | null;
}

/** What points at a guest PTE: shadow entries built from it and TLB entries caching it. */
export interface GuestMark {
  readonly text: string;
  readonly stale: boolean;
}

export interface StepView {
  readonly k: number;
  readonly text: string;
  readonly described: boolean;
  readonly kind: string;
  readonly priv: string | null;
  readonly satp: { readonly mode: string; readonly asid: number | null; readonly root: bigint | null } | null;
  readonly observation: string | null;
  readonly allowed: readonly string[] | null;
  /** Whether the observation is in the allowed set (null: no access at this step). */
  readonly ok: boolean | null;
  readonly violation: string;
  readonly traps: readonly string[] | null;
  readonly exits: readonly { readonly reason: string; readonly count: number; readonly delta: number }[] | null;
  readonly memory: Memory | null;
  readonly guest: GuestTable | null;
  readonly guestMarks: ReadonlyMap<bigint, readonly GuestMark[]>;
  readonly host: HostTables | null;
  readonly shadow: { readonly trees: readonly ShadowNode[]; readonly unreached: readonly ShadowPage[] };
  readonly gstage: { readonly trees: readonly GNode[]; readonly unreached: HostTables['gstage'] };
  readonly tlb: readonly TlbView[] | null;
  readonly removedTlb: readonly string[];
  readonly changes: readonly Change[];
  readonly changedAddrs: ReadonlySet<bigint>;
  /** `record\tfield` of table fields this step changed, and the names of records it added. */
  readonly changedFields: ReadonlySet<string>;
  readonly staleShadow: ReadonlyMap<string, Stale>;
  readonly stale: readonly Stale[];
  /** What the page could not draw at this step, in words. */
  readonly notDrawn: readonly string[];
}

type Rec = { readonly [k: string]: ItfValue };

/** A field's value as text for a diff: words in hex. */
function fieldText(v: ItfValue | undefined): string | null {
  if (v === undefined) return null;
  const b = bigOf(v);
  if (b !== null) return hex(b);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function tableChanges(before: ItfValue | undefined, after: ItfValue | undefined): Change[] {
  const a = (before ?? {}) as { readonly [k: string]: Rec };
  const b = (after ?? {}) as { readonly [k: string]: Rec };
  const out: Change[] = [];
  for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[name];
    const y = b[name];
    if (x === y) continue;
    const xr = (x ?? {}) as Rec;
    const yr = (y ?? {}) as Rec;
    if (x === undefined || y === undefined) {
      out.push({ area: 'table', record: name, field: '', before: x === undefined ? null : 'present', after: y === undefined ? null : 'present' });
    }
    for (const f of new Set([...Object.keys(xr), ...Object.keys(yr)])) {
      const p = fieldText(xr[f]);
      const q = fieldText(yr[f]);
      if (p !== q) out.push({ area: 'table', record: name, field: f, before: p, after: q });
    }
  }
  return out;
}

const asStrings = (v: ItfValue | undefined): string[] | null => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null);

/** The step that last changed a host table's word (a record's `[slot]`), searching back from k; null if it was never different in the trace. */
function hostChange(data: TraceData, k: number, record: string, slot: number): number | null {
  const word = (j: number): string | null => {
    const t = data.value(j, 'tables') as { readonly [k: string]: Rec } | undefined;
    return t === undefined ? null : fieldText(t[record]?.[`[${slot}]`]);
  };
  const now = word(k);
  for (let j = k; j > 0; j--) if (word(j - 1) !== now) return j;
  return null;
}

export function analyse(data: TraceData, k: number): StepView {
  const st = data.state(k);
  const notDrawn: string[] = [];
  const action = st.action as { readonly kind?: unknown };
  const kind = typeof action.kind === 'string' ? action.kind : 'unknown';

  const satpRaw = data.value(k, 'guestSatp') as { readonly mode?: unknown; readonly asid?: unknown; readonly root?: ItfValue } | undefined;
  const satp = satpRaw === undefined
    ? null
    : { mode: String(satpRaw.mode), asid: typeof satpRaw.asid === 'number' ? satpRaw.asid : null, root: satpRaw.root === undefined ? null : bigOf(satpRaw.root) };
  const privRaw = data.value(k, 'priv');
  const observationRaw = data.value(k, 'observation');
  const observation = typeof observationRaw === 'string' && observationRaw !== '' ? observationRaw : null;
  const allowed = asStrings(data.value(k, 'allowed'));
  const violationRaw = data.value(k, 'violation');

  // Exit counters, with what this step added.
  const exitsNow = data.value(k, 'exits') as { readonly [r: string]: number } | undefined;
  const exitsBefore = k > 0 ? ((data.value(k - 1, 'exits') as { readonly [r: string]: number } | undefined) ?? {}) : {};
  const exits = exitsNow === undefined ? null : Object.entries(exitsNow).map(([reason, count]) => ({ reason, count, delta: count - (exitsBefore[reason] ?? 0) }));

  // Guest memory and the guest's tables.
  const memory = data.memory(k);
  const changes: Change[] = [];
  const changedAddrs = new Set<bigint>();
  if (k > 0) {
    const before = data.memory(k - 1);
    if (memory !== null && before !== null) {
      const d = st.memory;
      for (const [a] of d?.set ?? []) {
        const addr = BigInt(a);
        changes.push({ area: 'memory', addr, before: before.get(addr) ?? null, after: memory.get(addr) ?? null });
        changedAddrs.add(addr);
      }
      for (const a of d?.del ?? []) {
        const addr = BigInt(a);
        changes.push({ area: 'memory', addr, before: before.get(addr) ?? null, after: null });
        changedAddrs.add(addr);
      }
    } else if (memory !== null || before !== null) {
      notDrawn.push(`guest memory is recorded in only one of steps ${k - 1} and ${k}: its changes at this step are not shown`);
    }
  }
  let guest: GuestTable | null = null;
  if (memory === null) notDrawn.push('this state does not record guest memory: the guest page tables are not drawn');
  else if (satp === null) notDrawn.push('this state does not record guestSatp: the guest page tables are not drawn (no root to walk from)');
  else if (satp.mode === 'sv39' && satp.root !== null) {
    guest = guestTree(memory, satp.root);
    if (guest.entries.length === 0) notDrawn.push(`the guest's root table ${hex(satp.root)} holds no entries in guest memory`);
  }

  // The hypervisor's tables.
  const tablesRaw = data.value(k, 'tables');
  const host = tablesRaw === undefined ? null : readTables(tablesRaw);
  if (host === null) notDrawn.push('this state does not record tables: the shadow or G-stage tables are not drawn');
  const shadow = shadowForest(host?.shadow ?? []);
  const gstage = gForest(host?.gstage ?? []);
  for (const u of host?.unknown ?? []) notDrawn.push(`tables record '${u.name}' is not drawn as a table: ${u.reason} (shown raw below)`);
  for (const p of [...(host?.shadow ?? []), ...(host?.gstage ?? [])]) {
    if (p.extra.length > 0) notDrawn.push(`tables record '${p.name}' has fields this page does not read: ${p.extra.map(([f]) => f).join(', ')} (shown raw with it)`);
  }
  const missing = (name: string, children: ReadonlyMap<number, object>): void => {
    for (const [slot, c] of children) {
      if ('missing' in c) notDrawn.push(`${name} [${slot}] points to frame ${hex((c as { missing: bigint }).missing)}, which no tables record holds`);
      if ('page' in c) missing((c as ShadowNode).page.name, (c as ShadowNode).children);
      if ('table' in c) missing((c as GNode).table.name, (c as GNode).children);
    }
  };
  for (const t of shadow.trees) missing(t.page.name, t.children);
  for (const t of gstage.trees) missing(t.table.name, t.children);
  if (k > 0) {
    const before = data.value(k - 1, 'tables');
    if (before !== undefined && tablesRaw !== undefined && before !== tablesRaw) changes.push(...tableChanges(before, tablesRaw));
  }
  const changedFields = new Set<string>();
  for (const c of changes) if (c.area === 'table') changedFields.add(c.field === '' ? c.record : `${c.record}\t${c.field}`);

  // Shadow entries whose guest PTE has changed since they were built.
  const staleShadow = new Map<string, Stale>();
  const guestMarks = new Map<bigint, GuestMark[]>();
  const mark = (addr: bigint, m: GuestMark): void => {
    const list = guestMarks.get(addr);
    if (list === undefined) guestMarks.set(addr, [m]);
    else list.push(m);
  };
  for (const p of host?.shadow ?? []) {
    for (const e of p.entries) {
      if (e.guest === null || e.guestAt === null) continue;
      const holder = `${p.name} [${e.slot}]`;
      const now = memory?.get(e.guestAt) ?? (memory === null ? undefined : 0n);
      const stale = now !== undefined && now !== e.guest.word;
      if (stale) {
        const since = data.lastChange(e.guestAt, k);
        staleShadow.set(holder, { holder, kind: 'shadow', source: `guest [${hex(e.guestAt)}]`, held: e.guest.word, now, since, fences: since === null ? [] : data.fencesBetween(since, k) });
      }
      mark(e.guestAt, { text: stale ? `${holder} was built from ${hex(e.guest.word)}` : `mirrored by ${holder}`, stale });
    }
  }

  // The hart's TLB: each entry against the table word it caches.
  const tlbLines = asStrings(data.value(k, 'tlb'));
  const before = k > 0 ? asStrings(data.value(k - 1, 'tlb')) : [];
  const beforeSet = new Set(before ?? []);
  const nowSet = new Set(tlbLines ?? []);
  const tlb = tlbLines?.map((line): TlbView => {
    const entry = parseTlbLine(line);
    const added = before !== null && !beforeSet.has(line);
    if (entry.kind === 'raw') notDrawn.push(`TLB line not read (unknown form), shown raw: ${line}`);
    if (entry.kind !== 'walk') return { entry, added, stale: null, source: null };
    if (entry.stage === 'VS') {
      const source = `guest [${hex(entry.pteAddr)}]`;
      if (memory === null) return { entry, added, stale: null, source };
      const now = memory.get(entry.pteAddr) ?? 0n;
      const holder = `TLB ${line}`;
      if (now === entry.word) {
        mark(entry.pteAddr, { text: `cached by the TLB (${entry.tag} L${entry.level})`, stale: false });
        return { entry, added, stale: null, source };
      }
      const since = data.lastChange(entry.pteAddr, k);
      mark(entry.pteAddr, { text: `the TLB still caches ${hex(entry.word)} (${entry.tag} L${entry.level})`, stale: true });
      return { entry, added, source, stale: { holder, kind: 'tlb', source, held: entry.word, now, since, fences: since === null ? [] : data.fencesBetween(since, k) } };
    }
    if (host === null) return { entry, added, stale: null, source: null };
    const at = hostWordAt(host, entry.pteAddr);
    const holder = `TLB ${line}`;
    if (at === null) {
      return { entry, added, source: `frame ${hex(entry.pteAddr >> 12n)}`, stale: { holder, kind: 'tlb', source: `frame ${hex(entry.pteAddr >> 12n)} (no table page now)`, held: entry.word, now: null, since: null, fences: [] } };
    }
    const source = `${at.record} [${at.slot}]`;
    const now = at.word ?? (at.complete ? 0n : null);
    if (now === null || now === entry.word) return { entry, added, stale: null, source };
    const since = hostChange(data, k, at.record, at.slot);
    return { entry, added, source, stale: { holder, kind: 'tlb', source, held: entry.word, now, since, fences: since === null ? [] : data.fencesBetween(since, k) } };
  }) ?? null;
  if (tlbLines === null) notDrawn.push('this state does not record the TLB');
  const removedTlb = (before ?? []).filter((l) => !nowSet.has(l));
  if (tlbLines !== null && before !== null) {
    for (const t of tlb ?? []) if (t.added) changes.push({ area: 'tlb', line: t.entry.line, added: true });
    for (const l of removedTlb) changes.push({ area: 'tlb', line: l, added: false });
  }

  // satp and mode changes.
  if (k > 0) {
    const s0 = JSON.stringify(data.value(k - 1, 'guestSatp') ?? null);
    const s1 = JSON.stringify(data.value(k, 'guestSatp') ?? null);
    if (s0 !== s1 && satp !== null) changes.unshift({ area: 'state', text: `guest satp is now ${satp.mode === 'sv39' ? `Sv39 asid=${satp.asid ?? '?'} root=${satp.root === null ? '?' : hex(satp.root)}` : satp.mode}` });
    const p0 = data.value(k - 1, 'priv');
    if (p0 !== privRaw && typeof privRaw === 'string') changes.unshift({ area: 'state', text: `the hart runs in ${privRaw} (was ${typeof p0 === 'string' ? p0 : 'not recorded'})` });
  }

  const stale = [...staleShadow.values(), ...(tlb ?? []).flatMap((t) => (t.stale === null ? [] : [t.stale]))];
  return {
    k, text: st.text, described: st.described, kind,
    priv: typeof privRaw === 'string' ? privRaw : null,
    satp, observation, allowed,
    ok: observation === null || allowed === null ? null : allowed.includes(observation),
    violation: typeof violationRaw === 'string' ? violationRaw : '',
    traps: asStrings(data.value(k, 'traps')), exits,
    memory, guest, guestMarks, host, shadow, gstage, tlb, removedTlb,
    changes, changedAddrs, changedFields, staleShadow, stale, notDrawn,
  };
}

/** The guest entries of the step's tree, for a test or a summary. */
export const guestEntriesOf = (v: StepView): GuestEntry[] => (v.guest === null ? [] : [...guestEntries(v.guest)]);
