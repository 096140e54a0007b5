/**
 * A second oracle for the allowed-outcome set: an explicit, fully
 * nondeterministic address-translation cache, every execution of it enumerated
 * (TLB-SEMANTICS.md, "A second oracle, to check the first"; the lowest rung of
 * Syeda & Klein's tower). It exists only to check `reference.ts` on tiny
 * configurations; the models never use it, and it can be ignored on first reading.
 *
 * Where the reference keeps one saturated cache, this keeps the SET of every
 * cache content the hart may hold now, and closes it after every operation under
 * the hardware's own moves:
 * - insert: while satp is Sv39, any walk from the current root may put any one of
 *   its step-2 memory reads into the cache, tagged GLOBAL if the walk is inside a
 *   global subtree there, else the ASID. A step served by a cached entry puts the
 *   walk in that entry's address space (GLOBAL or its ASID), whatever G bits the
 *   walk read above it; a step served by memory keeps the walk global if it was,
 *   and makes it global if the PTE passes step 3 and has G (decision record 0006,
 *   choice 7). Two entries may hold the same value with different tags, and memory
 *   may hold it too: each is a different walk, and each is enumerated;
 * - evict: each entry may go at every moment. By default this is left implicit: every
 *   step-2 read may return memory whatever the cache holds, so a content allows
 *   every walk a smaller one does, and each content an eviction leaves lies inside
 *   one reached without it. `evictions: true` enumerates those contents too.
 * Fences filter every content; an access's outcomes are the union, over every
 * content, of the walks whose reads each return memory or a matching entry.
 * A walk may also begin at an entry below the root that holds part of a global
 * mapping, whatever the ASID and whatever the levels above now give: global
 * mappings exist in every address space, and one wrongly marked global "can
 * unpredictably result in either mapping being used" (priv spec, PTE G bit; the
 * reference's `globalStarts`, decided after a hardware TLB showed it). Every
 * read below such an entry is part of the same global mapping, as below any
 * GLOBAL entry a walk goes on through.
 *
 * Walks are enumerated for the given virtual pages only: a walk of another
 * address inserts entries these pages never read, or the same ones some walk of
 * these pages inserts. Exponential in the number of entries: tiny
 * configurations only, and `walksInFlight` is not supported.
 */
import { type Gpa, type Gva, type Level, PAGE_SHIFT, gpa, isCanonicalSv39, vpnOf, vpnPrefix } from './address.ts';
import { type GuestConfig, inRam, maskAsid } from './config.ts';
import { type AccessAction, type GuestAction, type Outcome, type Satp, outcomeKey, outcomeWrites } from './guest-action.ts';
import { type Memory, emptyMemory, readWord, writeWord } from './memory.ts';
import { isValidPointer, passesStep3, pteG, pteR, pteX } from './pte.ts';
import { type PteRead, type PteSource, type WalkStep, exceptionFor, walkSv39 } from './walk.ts';

/** A cached step-2 read: the ASID it was walked under, or GLOBAL. */
export interface ExplicitEntry {
  readonly tag: number | 'global';
  readonly level: Level;
  readonly prefix: bigint;
  readonly pteAddr: Gpa;
  readonly pte: bigint;
}

/** One cache content the hart may hold: its entries by `entryId`. */
export type CacheContent = ReadonlyMap<string, ExplicitEntry>;

export interface ExplicitOptions {
  /** Also enumerate every content reached by evicting entries (same outcomes, many more contents). */
  readonly evictions: boolean;
  /** Give up, with an error, beyond this many cache contents. */
  readonly maxContents: number;
}

export interface ExplicitState {
  readonly cfg: GuestConfig;
  readonly options: ExplicitOptions;
  /** Virtual pages whose walks are enumerated; accesses must stay inside them. */
  readonly pages: readonly bigint[];
  readonly mem: Memory;
  readonly satp: Satp;
  readonly sum: boolean;
  readonly mxr: boolean;
  /** Every cache content some execution may have reached, by `contentId`. */
  readonly contents: ReadonlyMap<string, CacheContent>;
}

export class TooManyCacheContentsError extends Error {}

const entryId = (e: ExplicitEntry): string =>
  `${e.tag}/${e.level}/${e.prefix.toString(16)}/${e.pteAddr.toString(16)}/${e.pte.toString(16)}`;
const contentId = (c: CacheContent): string => [...c.keys()].sort().join(' ');

export function initialExplicit(
  cfg: GuestConfig,
  universe: readonly Gva[],
  options: Partial<ExplicitOptions> = {},
  mem: Memory = emptyMemory,
): ExplicitState {
  if (cfg.walksInFlight) throw new Error('explicit-cache oracle: walksInFlight=true is not modelled');
  const empty: CacheContent = new Map();
  return {
    cfg,
    options: { evictions: false, maxContents: 200_000, ...options },
    pages: [...new Set(universe.map(vpnOf))],
    mem,
    satp: { mode: 'bare' },
    sum: false,
    mxr: false,
    contents: new Map([[contentId(empty), empty]]),
  };
}

/**
 * Step 2 of a walk of `va` under `asid` with cache content `c`: memory (or an
 * access fault), or any matching entry. An entry holding the value memory holds,
 * or one another entry holds, gives the same values and is left out: which of
 * them served a step matters only for the tags of what the walk caches below it,
 * and `servedBy` gives those back.
 */
function stepTwoReads(s: ExplicitState, c: CacheContent, va: Gva, asid: number): PteSource {
  return (level: Level, pteAddr: Gpa): PteRead[] => {
    const inMemory = inRam(s.cfg, pteAddr) ? readWord(s.mem, pteAddr) : null;
    const prefix = vpnPrefix(va, level);
    const cached = new Set<bigint>();
    for (const e of c.values()) {
      if (e.level === level && e.prefix === prefix && (e.tag === 'global' || e.tag === asid)) cached.add(e.pte);
    }
    cached.delete(inMemory ?? -1n);
    return [
      inMemory === null ? { kind: 'access-fault' } : { kind: 'pte', pte: inMemory, fromMemory: true },
      ...[...cached].map((pte): PteRead => ({ kind: 'pte', pte, fromMemory: false })),
    ];
  };
}

/** The entries of `c` below the root, tagged GLOBAL, that a walk of `va` may begin at under any ASID. */
function globalEntriesBelowRoot(c: CacheContent, va: Gva): WalkStep[] {
  return [...c.values()]
    .filter((e) => e.tag === 'global' && e.level < 2 && e.prefix === vpnPrefix(va, e.level))
    .map((e) => ({ level: e.level, pteAddr: e.pteAddr, pte: e.pte, fromMemory: false }));
}

/**
 * Where the step-2 read of a walk under `asid` may have got `step.pte`: memory, if
 * memory holds it there, and the tag of every matching entry of `c` that holds it.
 * Never empty for a step of a walk `stepTwoReads` gave.
 */
function servedBy(s: ExplicitState, c: CacheContent, va: Gva, asid: number, step: WalkStep): ('memory' | ExplicitEntry['tag'])[] {
  const from: ('memory' | ExplicitEntry['tag'])[] = [];
  if (inRam(s.cfg, step.pteAddr) && readWord(s.mem, step.pteAddr) === step.pte) from.push('memory');
  for (const e of c.values()) {
    const matches = e.level === step.level && e.prefix === vpnPrefix(va, step.level) && (e.tag === 'global' || e.tag === asid);
    if (matches && e.pte === step.pte && !from.includes(e.tag)) from.push(e.tag);
  }
  return from;
}

/** Every content one hardware move takes `c` to: one memory read of one walk inserted, or (optionally) one entry evicted. */
function moves(s: ExplicitState, c: CacheContent): CacheContent[] {
  const inserts = new Map<string, ExplicitEntry>();
  if (s.satp.mode === 'sv39') { // Bare: nothing is walked.
    const { asid, rootPpn } = s.satp;
    // The reads a walk performs do not depend on the access type or on SUM/MXR: one context serves all.
    const ctx = { kind: 'load', priv: 'S', sum: false, mxr: false } as const;
    for (const vpn of s.pages) {
      const va = (vpn << PAGE_SHIFT) as Gva;
      const starts = globalEntriesBelowRoot(c, va);
      for (const w of walkSv39(va, rootPpn, ctx, stepTwoReads(s, c, va, asid), { svade: true }, () => true, starts)) {
        // Whether the walk is inside a global subtree after each step, over every way its steps may have
        // been served. A walk that did not begin at the root began at a global entry: all below it is global.
        const belowRoot = w.path[0] !== undefined && w.path[0].level !== 2;
        let globalSoFar: ReadonlySet<boolean> = new Set([false]);
        for (const [i, step] of w.path.entries()) {
          const from = belowRoot && i === 0 ? ['global' as const] : servedBy(s, c, va, asid, step);
          const after = new Set<boolean>();
          for (const source of from) {
            if (source !== 'memory') {
              // Served by a cached entry: the walk goes on in that entry's address space (choice 7).
              after.add(source === 'global');
              continue;
            }
            for (const above of globalSoFar) {
              // PTE G bit: G on a pointer makes its subtree global; a PTE that fails step 3 means nothing, G included.
              const global = above || (passesStep3(step.pte) && pteG(step.pte));
              after.add(global);
              const e: ExplicitEntry = {
                tag: global ? 'global' : asid, level: step.level, prefix: vpnPrefix(va, step.level), pteAddr: step.pteAddr, pte: step.pte,
              };
              const id = entryId(e);
              if (!c.has(id)) inserts.set(id, e);
            }
          }
          globalSoFar = after;
        }
      }
    }
  }
  const next = [...inserts].map(([id, e]) => new Map(c).set(id, e));
  if (s.options.evictions) {
    for (const id of c.keys()) {
      const smaller = new Map(c);
      smaller.delete(id);
      next.push(smaller);
    }
  }
  return next;
}

/** Close the set of contents under the hardware's moves (breadth-first, to a fixpoint). */
function close(s: ExplicitState): ExplicitState {
  const contents = new Map(s.contents);
  let frontier = [...contents.values()];
  while (frontier.length > 0) {
    const found: CacheContent[] = [];
    for (const c of frontier) {
      for (const n of moves(s, c)) {
        const id = contentId(n);
        if (contents.has(id)) continue;
        contents.set(id, n);
        found.push(n);
        if (contents.size > s.options.maxContents) {
          throw new TooManyCacheContentsError(
            `explicit-cache oracle: more than ${s.options.maxContents} possible cache contents; use a smaller configuration`,
          );
        }
      }
    }
    frontier = found;
  }
  return { ...s, contents };
}

/**
 * Does SFENCE.VMA rs1, rs2 (rs2 already masked to ASIDLEN) remove this entry?
 * (priv spec, "Supervisor Memory-Management Fence Instruction", and the lazy-fence
 * rule of TLB-SEMANTICS.md.) Written apart from the reference's on purpose.
 */
function sfenceVmaRemoves(s: ExplicitState, e: ExplicitEntry, rs1: Gva | null, rs2: number | null): boolean {
  // rs2 names an ASID: only that ASID's entries, never global ones.
  const asidInScope = rs2 === null || e.tag === rs2;
  if (!asidInScope) return false;
  if (rs1 === null) return true; // rs1=x0: leaf and non-leaf alike.
  // rs1=va: entries for va's page at their level (a superpage entry covers every va inside it) ...
  if (vpnPrefix(rs1, e.level) !== e.prefix) return false;
  // ... that hold a valid leaf ...
  if (passesStep3(e.pte) && (pteR(e.pte) || pteX(e.pte))) return true;
  // ... or that fail step 3, unless memory now holds a valid pointer there (that change needed rs1=x0).
  return !passesStep3(e.pte) && !isValidPointer(readWord(s.mem, e.pteAddr));
}

function sfenceVma(s: ExplicitState, rs1: Gva | null, rs2raw: number | null): ExplicitState {
  if (rs1 !== null && !isCanonicalSv39(rs1)) return s; // a non-canonical rs1: the fence does nothing.
  const rs2 = rs2raw === null ? null : maskAsid(s.cfg, rs2raw);
  const contents = new Map<string, CacheContent>();
  for (const c of s.contents.values()) {
    const kept: CacheContent = new Map([...c].filter(([, e]) => !sfenceVmaRemoves(s, e, rs1, rs2)));
    contents.set(contentId(kept), kept);
  }
  return close({ ...s, contents });
}

/** Apply a guest action other than an access. */
export function explicitStep(s: ExplicitState, a: Exclude<GuestAction, AccessAction>): ExplicitState {
  switch (a.kind) {
    case 'ptStore':
      return close({ ...s, mem: writeWord(s.mem, a.addr, a.value) });
    case 'satp': // removes nothing
      return close({ ...s, satp: a.satp.mode === 'bare' ? a.satp : { ...a.satp, asid: maskAsid(s.cfg, a.satp.asid) } });
    case 'sfence':
      return sfenceVma(s, a.rs1, a.rs2);
    case 'sum':
      return { ...s, sum: a.value };
    case 'mxr':
      return { ...s, mxr: a.value };
  }
}

/** Every outcome some execution of the explicit cache gives this access now, sorted by `outcomeKey`. */
export function explicitAllowed(s: ExplicitState, a: AccessAction): Outcome[] {
  const fault = (cause: number): Outcome => ({ kind: 'fault', cause, tval: a.va });
  if (s.satp.mode === 'bare') {
    return [inRam(s.cfg, a.va) ? { kind: 'ok', pa: gpa(a.va), adUpdate: null } : fault(exceptionFor('pa-access-fault', a.access))];
  }
  if (isCanonicalSv39(a.va) && !s.pages.includes(vpnOf(a.va))) {
    throw new Error(`explicit-cache oracle: ${a.va.toString(16)} is outside the enumerated pages`);
  }
  const { asid, rootPpn } = s.satp;
  const ctx = { kind: a.access, priv: a.priv, sum: s.sum, mxr: s.mxr };
  const out = new Map<string, Outcome>();
  const paInRam = (pa: Gpa): boolean => inRam(s.cfg, pa);
  for (const c of s.contents.values()) {
    const starts = globalEntriesBelowRoot(c, a.va);
    for (const w of walkSv39(a.va, rootPpn, ctx, stepTwoReads(s, c, a.va, asid), { svade: s.cfg.svade }, paInRam, starts)) {
      let o: Outcome;
      // Svadu: the A/D update compares with memory, so such a walk completes only with memory's leaf
      // (also when the access then fails its physical address's PMA check: the update stands).
      const update = w.adUpdate ?? null;
      if (update !== null && readWord(s.mem, update.addr) !== (w.kind === 'ok' ? w.leaf : w.path.at(-1)?.pte)) continue;
      if (w.kind === 'fault') o = update === null ? fault(exceptionFor(w.error, a.access)) : { ...fault(exceptionFor(w.error, a.access)), adUpdate: update };
      else o = { kind: 'ok', pa: w.pa, adUpdate: update };
      out.set(outcomeKey(o), o);
    }
  }
  return [...out.entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([, o]) => o);
}

/** Advance by an access that produced `o`: the A/D update, then the store, then close again. */
export function explicitAccess(s: ExplicitState, a: AccessAction, o: Outcome): ExplicitState {
  let next = s;
  // The updated PTE may be cached before the store lands: close after each write.
  for (const [addr, value] of outcomeWrites(a, o)) {
    const mem = writeWord(next.mem, addr, value);
    if (mem !== next.mem) next = close({ ...next, mem });
  }
  return next;
}

/** How many cache contents the oracle holds now (to watch the blow-up). */
export const contentCount = (s: ExplicitState): number => s.contents.size;
