/**
 * The G-stage reference: for a G-stage (Sv39x4) translation of a guest-physical
 * address, the exact set of outcomes a conforming hart may produce, in the form of
 * spec/reference.ts (decision record 0006) with hgatp for satp, VMIDs for ASIDs and
 * host memory for guest memory.
 *
 * It keeps the saturated cache of every step-2 read of every G-stage walk some legal
 * execution could have cached and no HFENCE.GVMA has removed, keyed by level and GPA
 * prefix and tagged by the VMID it was walked under; saturation is spec/saturation.ts's,
 * with no shared tag: "The G bit in all G-stage PTEs is currently not used" (H
 * extension, "Guest Physical Address Translation"), so no G-stage mapping belongs to
 * every VMID. A translation's allowed outcomes are the results of every walk whose reads
 * each return host memory or a cached value of the current VMID: a host-physical address,
 * a guest-page fault or an access fault. Exact over a declared universe of GPA pages.
 *
 * Walks begin only from the current hgatp (decision 0006, choice 3, default). Bare is
 * VMID 0: "When MODE=Bare ... the remaining fields in hgatp must be set to zeros"
 * ("Hypervisor Guest Address Translation and Protection Register"), and changing MODE
 * for a VMID needs an rs1=x0 HFENCE.GVMA "to order subsequent guest translations with the
 * MODE change—even if the old MODE or new MODE is Bare" ("Hypervisor Memory-Management
 * Fence Instructions"): until then VMID 0 may translate either way.
 */
import { type Gpa, type Hpa, type Level, PAGE_SHIFT, gpa, hex, hpa } from './address.ts';
import { type Memory, emptyMemory, readWord, writeWord } from './memory.ts';
import { isValidLeaf, isValidPointer, passesStep3 } from './pte.ts';
import { type CachedRead, type Saturated, addressesRead, cacheKey, geometryOf, saturateWalks } from './saturation.ts';
import {
  type GOutcome, type GStageContext, type Hgatp, type HostRead, SV39X4_GPA_BITS, gOutcomeKey, gOutcomeOf, gpaPrefix, gpaVpnIndex,
  walkSv39x4,
} from './two-stage.ts';

export interface GStageConfig {
  /** Host-physical RAM: G-stage PTE reads and translated addresses outside it are access faults (PMA). */
  readonly ramBasePage: bigint;
  readonly ramPages: bigint;
  /** VMIDLEN, at most 14 for Sv39x4: hgatp.VMID keeps these bits, and fences ignore the others. */
  readonly vmidLen: number;
  /** Svade (true): A=0, or a store with D=0, is a guest-page fault. Svadu (false): the hart sets them. */
  readonly svade: boolean;
}

/** A cached G-stage read, tagged by VMID, over host-physical tables. */
export type GCachedPte = CachedRead<number, Hpa>;

export interface GStageReference {
  readonly cfg: GStageConfig;
  /** Guest-physical page numbers on which the reference is exact. */
  readonly universe: readonly bigint[];
  /** Host-physical memory, where the G-stage tables live. */
  readonly mem: Memory;
  readonly hgatp: Hgatp;
  readonly cache: Saturated<number, Hpa>;
  /** hgatp was Bare (VMID 0) since the last rs1=x0 HFENCE.GVMA covering VMID 0: Bare's identity may be cached. */
  readonly bareCached: boolean;
}

export type GStageAction =
  /** A store to host memory (the hypervisor editing its G-stage tables, or anything else). */
  | { readonly kind: 'hostStore'; readonly addr: Hpa; readonly value: bigint }
  | { readonly kind: 'hgatp'; readonly hgatp: Hgatp }
  /** HFENCE.GVMA rs1, rs2: rs1 the guest-physical address (the register holds it shifted right by 2), rs2 a VMID; null is x0. */
  | { readonly kind: 'hfenceGvma'; readonly rs1: Gpa | null; readonly rs2: number | null };

/** Thrown for a translation outside the declared universe: the reference is not exact there. */
export class OutsideGStageUniverseError extends Error {}

export const inHostRam = (cfg: GStageConfig, addr: bigint): boolean => {
  const page = addr >> PAGE_SHIFT;
  return page >= cfg.ramBasePage && page < cfg.ramBasePage + cfg.ramPages;
};

export const maskVmid = (cfg: GStageConfig, vmid: number): number => vmid & ((1 << cfg.vmidLen) - 1);

/** The VMID a translation is tagged with: hgatp.VMID, and 0 under Bare. */
export const vmidOf = (h: Hgatp): number => (h.mode === 'bare' ? 0 : h.vmid);

/** Reset: hgatp Bare, nothing cached but Bare's identity (Bare has been in effect). */
export function initialGStageReference(cfg: GStageConfig, universe: readonly Gpa[], mem: Memory = emptyMemory): GStageReference {
  return {
    cfg,
    universe: [...new Set(universe.map((a) => a >> PAGE_SHIFT))].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)),
    mem,
    hgatp: { mode: 'bare' },
    cache: new Map(),
    bareCached: true,
  };
}

/** Where a guest-physical page's walk reads: Sv39x4's GPA prefix and gpa.vpn[i] index per level. */
const universeGeometry = geometryOf((page, level) => {
  const a = gpa(page << PAGE_SHIFT);
  return { prefix: gpaPrefix(a, level), index: gpaVpnIndex(a, level) };
});

/**
 * Saturate: add every step-2 read of every G-stage walk the hart could begin now, from the
 * current hgatp only (the root is 16 KiB-aligned: hgatp.PPN[1:0] read as zeros), tagged by its VMID.
 */
function saturate(s: GStageReference): GStageReference {
  const roots = s.hgatp.mode === 'sv39x4' ? [{ tag: s.hgatp.vmid, table: (s.hgatp.rootPpn & ~3n) << PAGE_SHIFT }] : [];
  const cache = saturateWalks(s.cache, {
    roots,
    pages: universeGeometry(s.universe),
    memory: (addr) => (inHostRam(s.cfg, addr) ? readWord(s.mem, addr) : null),
    address: hpa,
    shared: null,
  });
  return cache === s.cache ? s : { ...s, cache };
}

/**
 * HFENCE.GVMA rs1, rs2 ("Hypervisor Memory-Management Fence Instructions", which make it
 * "similar to SFENCE.VMA" for the structures hgatp controls): which cached entries it removes.
 * - rs1=x0: every entry (rs2=x0) or every entry of that VMID.
 * - rs1=gpa: the entries holding leaf PTEs for gpa (a superpage leaf covers every GPA inside
 *   it), and entries that fail step 3 unless the PTE they were read from now holds a valid
 *   pointer: the same reasoning as SFENCE.VMA's (decision record 0006, choices 2 and 8):
 *   software may fence one address only after making an invalid PTE a valid leaf, while
 *   making it a valid pointer needs rs1=x0. Cached valid pointers survive.
 * No entry is global (G is ignored), so rs2 always narrows.
 */
export function gFenceRemoves(e: GCachedPte, rs1: Gpa | null, rs2: number | null, memPteAt: (addr: Hpa) => bigint): boolean {
  if (rs2 !== null && e.tag !== rs2) return false;
  if (rs1 === null) return true;
  if (e.prefix !== gpaPrefix(rs1, e.level)) return false;
  if (isValidLeaf(e.pte)) return true;
  if (passesStep3(e.pte)) return false;
  return !isValidPointer(memPteAt(e.pteAddr));
}

function hfenceGvma(s: GStageReference, rs1: Gpa | null, rs2raw: number | null): GStageReference {
  // Bits of rs2 beyond VMIDLEN are ignored ("the implementation shall ignore bits VMIDMAX-1:VMIDLEN").
  const rs2 = rs2raw === null ? null : maskVmid(s.cfg, rs2raw);
  const memAt = (a: Hpa) => readWord(s.mem, a);
  const cache = new Map<string, readonly GCachedPte[]>();
  for (const [key, es] of s.cache) {
    const kept = es.filter((e) => !gFenceRemoves(e, rs1, rs2, memAt));
    if (kept.length > 0) cache.set(key, kept);
  }
  // Only an rs1=x0 fence covering VMID 0 orders translations with a MODE change; while hgatp is
  // Bare, the hart may cache its identity again at once.
  const bareCached = (s.bareCached && !(rs1 === null && (rs2 === null || rs2 === 0))) || s.hgatp.mode === 'bare';
  return saturate({ ...s, cache, bareCached });
}

export function gStageStep(s: GStageReference, a: GStageAction): GStageReference {
  switch (a.kind) {
    case 'hostStore': {
      const mem = writeWord(s.mem, a.addr, a.value);
      if (mem === s.mem) return s;
      // A saturated cache holds every PTE the walks read: a store elsewhere changes no walk.
      return addressesRead(s.cache).has(a.addr) ? saturate({ ...s, mem }) : { ...s, mem };
    }
    case 'hgatp': {
      // "writing hgatp does not imply any ordering constraints between page-table updates and
      // subsequent G-stage address translations" ("Hypervisor Guest Address Translation and
      // Protection Register"): nothing is removed. VMID is WARL, its low VMIDLEN bits writable.
      const hgatp: Hgatp = a.hgatp.mode === 'bare' ? a.hgatp : { ...a.hgatp, vmid: maskVmid(s.cfg, a.hgatp.vmid) };
      return saturate({ ...s, hgatp, bareCached: s.bareCached || hgatp.mode === 'bare' });
    }
    case 'hfenceGvma':
      return hfenceGvma(s, a.rs1, a.rs2);
  }
}

/**
 * The exact set of outcomes of the G-stage translation of `a` for an access of context `ctx`
 * (spec/two-stage.ts `gStageContext`: an implicit load or store of a VS-stage PTE, or the
 * explicit access), sorted by `gOutcomeKey`. Never empty.
 */
export function allowedGStage(s: GStageReference, a: Gpa, ctx: GStageContext): GOutcome[] {
  const vmid = vmidOf(s.hgatp);
  const identity = (): GOutcome => (inHostRam(s.cfg, a) ? { kind: 'ok', hpa: hpa(a), adUpdate: null } : { kind: 'access-fault' });
  const inRange = a >> SV39X4_GPA_BITS === 0n;
  if (inRange && !s.universe.includes(a >> PAGE_SHIFT)) {
    throw new OutsideGStageUniverseError(`guest-physical address ${hex(a)} is outside the G-stage reference's universe`);
  }
  const cached = (level: Level): HostRead[] =>
    (s.cache.get(cacheKey(level, gpaPrefix(a, level))) ?? []).filter((e) => e.tag === vmid).map((e) => ({ kind: 'word', value: e.pte }));
  const out = new Map<string, GOutcome>();
  const add = (o: GOutcome): void => void out.set(gOutcomeKey(o), o);
  const opts = { svade: s.cfg.svade };
  const paInRam = (pa: Hpa) => inHostRam(s.cfg, pa);
  if (s.hgatp.mode === 'bare') {
    // Bare: "guest physical addresses are equal to supervisor physical addresses". Before an
    // rs1=x0 fence, entries VMID 0 cached under Sv39x4 may still translate, each read served by
    // the cache: no table is reached from hgatp, so none is read (the root address is unused).
    add(identity());
    if (!inRange) return [...out.values()];
    for (const w of walkSv39x4(a, 0n, ctx, cached, opts, paInRam)) {
      // Step 7 under Svadu compares with memory along the current walk; there is none, so no update can succeed.
      if (w.kind === 'ok' && w.adUpdate !== null) continue;
      add(gOutcomeOf(a, w));
    }
  } else {
    const read = (level: Level, addr: Hpa): HostRead[] =>
      [inHostRam(s.cfg, addr) ? { kind: 'word', value: readWord(s.mem, addr) } : { kind: 'access-fault' }, ...cached(level)];
    for (const w of walkSv39x4(a, s.hgatp.rootPpn, ctx, read, opts, paInRam)) {
      // Step 7 (Svadu): the A/D update is an atomic compare with memory, never the cache, so it
      // completes only with memory's PTE (decision 0006, choice 4).
      if (w.kind === 'ok' && w.adUpdate !== null && readWord(s.mem, w.adUpdate.addr) !== w.leaf) continue;
      add(gOutcomeOf(a, w));
    }
    if (s.bareCached && vmid === 0) add(identity());
  }
  return [...out.entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([, o]) => o);
}

/** The outcome of the walk that reads memory at every step: what a hart with no G-stage cache produces. */
export function freshGStage(s: GStageReference, a: Gpa, ctx: GStageContext): GOutcome {
  const [o] = allowedGStage({ ...s, cache: new Map(), bareCached: false }, a, ctx);
  if (o === undefined) throw new Error('the memory walk is always allowed');
  return o;
}
