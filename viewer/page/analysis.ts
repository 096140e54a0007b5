/**
 * One step of a trace, read for the page: its state decoded, what changed since
 * the step before, and which cached or mirrored entries no longer hold what the
 * table they came from holds now (with the step that changed it and the guest
 * fences since). With several harts, each hart's TLB is read so, against its own
 * at the step before and the fences that reached it. Made only for the step shown:
 * the cost of a key press follows the size of one state, not the length of the trace.
 */
import type { ItfValue } from '../payload.ts';
import { type GuestEntry, type GuestTable, guestEntries, guestTree } from './guest-tables.ts';
import { type HartRecord, type SatpView, type SbiView, hartCount, readHarts, readSatp, readSbi, satpText } from './harts.ts';
import { type GNode, type HostTables, type ShadowNode, type ShadowPage, gForest, hostWordAt, readTables, shadowForest } from './host-tables.ts';
import { bigOf, hex } from './pte.ts';
import { type TlbEntry, parseTlbLine } from './tlb.ts';
import type { Memory, TraceData } from './trace-data.ts';

export type Change =
  | { readonly area: 'memory'; readonly addr: bigint; readonly before: bigint | null; readonly after: bigint | null }
  | { readonly area: 'table'; readonly record: string; readonly field: string; readonly before: string | null; readonly after: string | null }
  | { readonly area: 'tlb'; readonly line: string; readonly added: boolean; readonly hart: number | null }
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

/** One hart's own state at a step of a several-hart trace. */
export interface HartView {
  readonly hart: number;
  /** Whether it ran this step. */
  readonly stepping: boolean;
  readonly satp: SatpView | null;
  /** TSP, SSP: the shadow root it has loaded (`sp 0x…`, '' for none); null where not recorded (NPT). */
  readonly loaded: string | null;
  /** SSP: the shadow pages out of sync for it; null where not recorded (NPT). */
  readonly unsync: readonly string[] | null;
  readonly tlb: readonly TlbView[] | null;
  readonly removedTlb: readonly string[];
}

/** A guest page-table tree of a several-hart trace: a root some harts' satp names. */
export interface GuestRoot {
  readonly root: bigint;
  readonly harts: readonly number[];
  readonly tree: GuestTable;
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
  readonly satp: SatpView | null;
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
  /** A several-hart trace: the hart that ran the step (null for the boot state). */
  readonly hart: number | null;
  /** A several-hart trace: every hart's own state (in place of `tlb`, which is then null); null for one hart. */
  readonly harts: readonly HartView[] | null;
  /** A several-hart trace: the guest's tables from each root the harts' satps name (the stepping hart's first). */
  readonly guestRoots: readonly GuestRoot[];
  /** An SBI remote fence, read. */
  readonly sbi: SbiView | null;
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

/** Whose TLB is read: its name in marks (`the TLB`, `hart 1's TLB`), the prefix of its holders, its hart. */
interface TlbOwner {
  readonly name: string;
  readonly holder: string;
  readonly hart: number | null;
}

const ONE_TLB: TlbOwner = { name: 'the TLB', holder: 'TLB', hart: null };
const hartTlb = (h: number): TlbOwner => ({ name: `hart ${h}'s TLB`, holder: `hart ${h} TLB`, hart: h });

interface StepContext {
  readonly data: TraceData;
  readonly k: number;
  readonly memory: Memory | null;
  readonly host: HostTables | null;
  readonly mark: (addr: bigint, m: GuestMark) => void;
  readonly notDrawn: string[];
}

/** A TLB's lines, each against the table word it caches; `before` is the same TLB at the step before (null: not known). */
function readTlb(c: StepContext, lines: readonly string[], before: readonly string[] | null, who: TlbOwner): TlbView[] {
  const { data, k, memory, host, mark } = c;
  const beforeSet = new Set(before ?? []);
  const fences = (since: number): number[] => data.fencesBetween(since, k, who.hart ?? undefined);
  return lines.map((line): TlbView => {
    const entry = parseTlbLine(line);
    const added = before !== null && !beforeSet.has(line);
    if (entry.kind === 'raw') c.notDrawn.push(`${who.holder} line not read (unknown form), shown raw: ${line}`);
    if (entry.kind !== 'walk') return { entry, added, stale: null, source: null };
    if (entry.stage === 'VS') {
      const source = `guest [${hex(entry.pteAddr)}]`;
      if (memory === null) return { entry, added, stale: null, source };
      const now = memory.get(entry.pteAddr) ?? 0n;
      const holder = `${who.holder} ${line}`;
      if (now === entry.word) {
        mark(entry.pteAddr, { text: `cached by ${who.name} (${entry.tag} L${entry.level})`, stale: false });
        return { entry, added, stale: null, source };
      }
      const since = data.lastChange(entry.pteAddr, k);
      mark(entry.pteAddr, { text: `${who.name} still caches ${hex(entry.word)} (${entry.tag} L${entry.level})`, stale: true });
      return { entry, added, source, stale: { holder, kind: 'tlb', source, held: entry.word, now, since, fences: since === null ? [] : fences(since) } };
    }
    if (host === null) return { entry, added, stale: null, source: null };
    const at = hostWordAt(host, entry.pteAddr);
    const holder = `${who.holder} ${line}`;
    if (at === null) {
      return { entry, added, source: `frame ${hex(entry.pteAddr >> 12n)}`, stale: { holder, kind: 'tlb', source: `frame ${hex(entry.pteAddr >> 12n)} (no table page now)`, held: entry.word, now: null, since: null, fences: [] } };
    }
    const source = `${at.record} [${at.slot}]`;
    const now = at.word ?? (at.complete ? 0n : null);
    if (now === null || now === entry.word) return { entry, added, stale: null, source };
    const since = hostChange(data, k, at.record, at.slot);
    return { entry, added, source, stale: { holder, kind: 'tlb', source, held: entry.word, now, since, fences: since === null ? [] : fences(since) } };
  });
}

/** The TLB's changes from `before` to `now` (both known), as the changes list has them. */
function tlbChanges(now: readonly TlbView[], removed: readonly string[], hart: number | null): Change[] {
  return [
    ...now.filter((t) => t.added).map((t): Change => ({ area: 'tlb', line: t.entry.line, added: true, hart })),
    ...removed.map((l): Change => ({ area: 'tlb', line: l, added: false, hart })),
  ];
}

const removedFrom = (before: readonly string[] | null, now: readonly string[] | null): string[] => {
  const nowSet = new Set(now ?? []);
  return (before ?? []).filter((l) => !nowSet.has(l));
};

/**
 * Every hart's own state at step k of a several-hart trace, with its TLB read against the
 * tables, and what changed in it. A state written before every hart's was recorded has the
 * stepping hart's TLB and satp alone (`tlb`, `guestSatp`, and its `loaded` and `unsync` in
 * the shadow pages): that hart is drawn, and the page says the others are not.
 */
function hartViews(c: StepContext, step: number | null, satp: SatpView | null): { harts: HartView[]; changes: Change[]; states: Change[] } {
  const { data, k, host } = c;
  const records = readHarts(data.value(k, 'harts'));
  const before = k === 0 ? null : readHarts(data.value(k - 1, 'harts'));
  const changes: Change[] = [];
  const states: Change[] = [];
  const view = (h: number, rec: HartRecord, was: HartRecord | null | undefined): HartView => {
    // The boot state has nothing before it: every entry it holds is new (as one hart's are).
    const beforeTlb = k === 0 ? [] : was?.tlb ?? null;
    const tlb = rec.tlb === null ? null : readTlb(c, rec.tlb, beforeTlb, hartTlb(h));
    if (rec.tlb === null) c.notDrawn.push(`this state does not record hart ${h}'s TLB`);
    const removedTlb = rec.tlb === null ? [] : removedFrom(beforeTlb, rec.tlb);
    if (tlb !== null && beforeTlb !== null) changes.push(...tlbChanges(tlb, removedTlb, h));
    if (was !== undefined && was !== null) {
      if (rec.satp !== null && (was.satp === null || satpText(was.satp) !== satpText(rec.satp))) states.push({ area: 'state', text: `hart ${h}: guest satp is now ${satpText(rec.satp)}` });
      if (rec.loaded !== null && was.loaded !== null && was.loaded !== rec.loaded) states.push({ area: 'state', text: `hart ${h} has loaded ${rec.loaded === '' ? 'no shadow' : rec.loaded}` });
    }
    return { hart: h, stepping: h === step, satp: rec.satp, loaded: rec.loaded, unsync: rec.unsync, tlb, removedTlb };
  };
  if (records !== null) return { harts: records.map((rec, h) => view(h, rec, before?.[h])), changes, states };
  const h = step ?? 0;
  c.notDrawn.push(`this state records the TLB and satp of hart ${h} only (a trace written before every hart's state was recorded): the other harts are not drawn`);
  const shadowPaging = data.payload.meta.model !== 'npt';
  const now: HartRecord = {
    satp,
    tlb: asStrings(data.value(k, 'tlb')),
    loaded: shadowPaging && host !== null ? (host.shadow.find((p) => p.loaded)?.name ?? '') : null,
    unsync: shadowPaging && host !== null ? host.shadow.filter((p) => p.unsync).map((p) => p.name) : null,
  };
  // The step before records this hart's TLB and satp only if it ran on this hart (or is the boot state, where every hart's are the same).
  const sameHart = k > 0 && (k - 1 === 0 || data.value(k - 1, 'hart') === h);
  const was: HartRecord | null = sameHart ? { satp: readSatp(data.value(k - 1, 'guestSatp')), tlb: asStrings(data.value(k - 1, 'tlb')), loaded: null, unsync: null } : null;
  return { harts: [view(h, now, k === 0 ? undefined : was)], changes, states };
}

export function analyse(data: TraceData, k: number): StepView {
  const st = data.state(k);
  const notDrawn: string[] = [];
  const action = st.action as { readonly kind?: unknown };
  const kind = typeof action.kind === 'string' ? action.kind : 'unknown';

  const satp = readSatp(data.value(k, 'guestSatp'));
  const count = hartCount(data.payload.meta);
  const hartRaw = data.value(k, 'hart');
  const hart = count !== null && typeof hartRaw === 'number' ? hartRaw : null;
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

  const c: StepContext = { data, k, memory, host, mark, notDrawn };
  let tlb: TlbView[] | null = null;
  let removedTlb: string[] = [];
  let harts: HartView[] | null = null;
  if (count === null) {
    // The hart's TLB: each entry against the table word it caches.
    const tlbLines = asStrings(data.value(k, 'tlb'));
    const before = k > 0 ? asStrings(data.value(k - 1, 'tlb')) : [];
    tlb = tlbLines === null ? null : readTlb(c, tlbLines, before, ONE_TLB);
    if (tlbLines === null) notDrawn.push('this state does not record the TLB');
    removedTlb = removedFrom(before, tlbLines);
    if (tlb !== null && before !== null) changes.push(...tlbChanges(tlb, removedTlb, null));

    // satp and mode changes.
    if (k > 0) {
      const s0 = JSON.stringify(data.value(k - 1, 'guestSatp') ?? null);
      const s1 = JSON.stringify(data.value(k, 'guestSatp') ?? null);
      if (s0 !== s1 && satp !== null) changes.unshift({ area: 'state', text: `guest satp is now ${satpText(satp)}` });
      const p0 = data.value(k - 1, 'priv');
      if (p0 !== privRaw && typeof privRaw === 'string') changes.unshift({ area: 'state', text: `the hart runs in ${privRaw} (was ${typeof p0 === 'string' ? p0 : 'not recorded'})` });
    }
  } else {
    // Every hart's TLB and satp: the step before is another hart's as often as not, so each hart is compared with itself.
    const each = hartViews(c, hart, satp);
    harts = each.harts;
    changes.push(...each.changes);
    changes.unshift(...each.states);
  }

  // A several-hart trace: the guest's tables from every root a hart's satp names, the stepping hart's first.
  const byRoot = new Map<bigint, number[]>();
  if (memory !== null) {
    for (const h of [...(harts ?? []).filter((x) => x.stepping), ...(harts ?? []).filter((x) => !x.stepping)]) {
      const root = h.satp?.mode === 'sv39' ? h.satp.root : null;
      if (root !== null) byRoot.set(root, [...(byRoot.get(root) ?? []), h.hart].sort((a, b) => a - b));
    }
  }
  const guestRoots = [...byRoot].map(([root, hs]): GuestRoot => ({
    root, harts: hs, tree: guest !== null && satp?.root === root ? guest : guestTree(memory ?? new Map(), root),
  }));

  const cached = [...(tlb ?? []), ...(harts ?? []).flatMap((h) => h.tlb ?? [])];
  const stale = [...staleShadow.values(), ...cached.flatMap((t) => (t.stale === null ? [] : [t.stale]))];
  return {
    k, text: st.text, described: st.described, kind,
    priv: typeof privRaw === 'string' ? privRaw : null,
    satp, observation, allowed,
    ok: observation === null || allowed === null ? null : allowed.includes(observation),
    violation: typeof violationRaw === 'string' ? violationRaw : '',
    traps: asStrings(data.value(k, 'traps')), exits,
    memory, guest, guestMarks, host, shadow, gstage, tlb, removedTlb,
    hart, harts, guestRoots, sbi: count === null ? null : readSbi(st.action, count),
    changes, changedAddrs, changedFields, staleShadow, stale, notDrawn,
  };
}

/** The guest entries of the step's tree, for a test or a summary. */
export const guestEntriesOf = (v: StepView): GuestEntry[] => (v.guest === null ? [] : [...guestEntries(v.guest)]);
