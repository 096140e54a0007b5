/**
 * Two-stage address translation for accesses made with V=1, in VS- or VU-mode
 * (priv spec, H extension, "Two-Stage Address Translation"): the VS-stage
 * (vsatp, Sv39) takes a guest-virtual address to a guest-physical one; the
 * G-stage (hgatp, Sv39x4, "Guest Physical Address Translation") takes every
 * guest-physical address, those of the VS-stage's own page-table accesses
 * included, to a host (supervisor) physical address.
 *
 * Deterministic: `translateTwoStage` has no address-translation cache, every walk
 * reads memory; `translateTwoStageWith` is the same translation given a cache
 * (spec/two-stage-tlb.ts's), which may serve a combined entry or any step-2 read.
 * Hardware A/D updates (Svadu) are returned as data, in the order the hart makes
 * them; the caller applies them. Later reads within the same translation see the
 * earlier updates, as they would in memory.
 *
 * The VS-stage is walk.ts's `walkSv39`, given a step-2 read that first
 * G-stage-translates the PTE's guest-physical address as an implicit load. When
 * that G-stage translation fails, the read records why and ends the walk with an
 * access fault; the translation then reports what was recorded instead.
 */
import { match } from 'ts-pattern';
import { type Gpa, type Gva, type Hpa, type Level, PAGE_SHIFT, PTE_SIZE, gpa, gva, hex, hpa } from './address.ts';
import type { Satp } from './guest-action.ts';
import { PTE_A, PTE_D, type PteWord, isValidPointer, passesStep3, pteA, pteD, ptePpn } from './pte.ts';
import {
  type AccessContext, type AccessKind, CAUSE, type PteRead, type PteSource, type TranslationError, type WalkResult, exceptionFor,
  isMisalignedSuperpage, leafPermits, leafPhysicalAddress, leafResult, walkSv39,
} from './walk.ts';

/** hgatp (H extension, "Hypervisor Guest Address Translation and Protection Register"): Bare or Sv39x4. */
export type Hgatp =
  | { readonly mode: 'bare' }
  | { readonly mode: 'sv39x4'; readonly vmid: number; readonly rootPpn: bigint };

/** The privilege of an access made with V=1. */
export type VirtualPrivilege = 'VS' | 'VU';

/**
 * What a guest-page fault writes to htval/mtval2. Both are "WARL ... must be able to hold
 * zero and may be capable of holding only an arbitrary subset of other 2-bit-shifted guest
 * physical addresses" (H extension, "Hypervisor Trap Value Register"): a configuration of
 * the machine, not a set of outcomes.
 */
export type HtvalConfig = 'gpa' | 'zero';

/** One word the hart writes to host-physical memory: a hardware A/D update (Svadu). */
export interface PteUpdate {
  readonly addr: Hpa;
  readonly value: PteWord;
}

export interface TwoStageInput {
  readonly gva: Gva;
  readonly access: AccessKind;
  readonly priv: VirtualPrivilege;
  readonly vsatp: Satp;
  readonly hgatp: Hgatp;
  /** vsstatus.SUM and vsstatus.MXR: the VS-stage only. */
  readonly vsstatus: { readonly sum: boolean; readonly mxr: boolean };
  /** The HS-level mstatus.MXR (sstatus.MXR as HS-mode sees it): both stages. */
  readonly mstatusMxr: boolean;
  /** The 8-byte word at an 8-byte-aligned host-physical address. */
  readonly read: (addr: Hpa) => bigint;
  /** PMA check: is this host-physical address in RAM? */
  readonly inRam: (addr: Hpa) => boolean;
  /** Svade (true): A=0, or a store with D=0, faults, in both stages. Svadu (false): the hart sets them. */
  readonly svade: boolean;
  /** Default 'gpa'. */
  readonly htval?: HtvalConfig;
}

export type TwoStageResult =
  | { readonly kind: 'ok'; readonly hpa: Hpa; readonly updates: readonly PteUpdate[] }
  | {
      readonly kind: 'fault';
      readonly cause: number;
      /** stval/mtval: the faulting guest-virtual address. */
      readonly tval: Gva;
      /** htval/mtval2: for a guest-page fault the faulting guest-physical address >> 2 (or 0, as configured); otherwise 0. */
      readonly tval2: bigint;
      /** A/D updates made before the fault: they stand (each belongs to an implicit access that completed). */
      readonly updates: readonly PteUpdate[];
    };

// ---------------------------------------------------------------------------------------------
// The G-stage: Sv39x4
// ---------------------------------------------------------------------------------------------

/** Sv39x4: guest-physical addresses are 41 bits wide (H extension, "Guest Physical Address Translation"). */
export const SV39X4_GPA_BITS = 41n;

/** What a G-stage walk may stop on: Sv39's reasons, with the GPA range check in place of the canonical check. */
export type GStageError = Exclude<TranslationError, 'non-canonical'> | 'gpa-out-of-range';

export interface GStageStep {
  readonly level: Level;
  readonly pteAddr: Hpa;
  readonly pte: PteWord;
}

export type GStageResult =
  | {
      readonly kind: 'ok';
      readonly hpa: Hpa;
      readonly level: Level;
      readonly leaf: PteWord;
      readonly leafAddr: Hpa;
      readonly path: readonly GStageStep[];
      /** Step 7 under Svadu: the value the leaf must be updated to (A, and D for a store). */
      readonly adUpdate: PteUpdate | null;
    }
  | { readonly kind: 'fault'; readonly error: GStageError; readonly path: readonly GStageStep[] };

/** A host-physical word read by a walk, or the PMA violation that prevents it. */
export type HostRead = { readonly kind: 'word'; readonly value: bigint } | { readonly kind: 'access-fault' };

/** What the G-stage permission check needs: the access type it checks, and whether HS-level MXR applies. */
export interface GStageContext {
  readonly kind: AccessKind;
  readonly mxr: boolean;
}

/**
 * gpa.vpn[i] for Sv39x4: "identical to that for an Sv39 virtual address ... except with 2
 * more bits at the high end in VPN[2]" (H extension, "Guest Physical Address Translation",
 * Sv39x4 figure): vpn[2] is bits 40..30 (11 bits), vpn[1] and vpn[0] are 9 bits.
 */
export function gpaVpnIndex(a: Gpa, level: Level): bigint {
  const width = level === 2 ? 11n : 9n;
  return (a >> (PAGE_SHIFT + 9n * BigInt(level))) & ((1n << width) - 1n);
}

/**
 * The GPA prefix that identifies a level-`level` G-stage entry: gpa.vpn[2..level] (Sv39x4's
 * vpn[2] is 11 bits). Two guest-physical addresses share the entry a G-stage cache holds for
 * a step-2 read at that level iff they share this prefix. Not masked: an address beyond 41
 * bits shares no prefix with one inside them.
 */
export const gpaPrefix = (a: Gpa, level: Level): bigint => a >> (PAGE_SHIFT + 9n * BigInt(level));

/**
 * Every Sv39x4 walk of a guest-physical address (H extension, "Guest Physical Address
 * Translation": "the same algorithm used for Sv39 ... except that hgatp substitutes for
 * the usual satp; ... when checking the U bit, the current privilege mode is always
 * taken to be U-mode; and guest-page-fault exceptions are raised instead of regular
 * page-fault exceptions"), one result per combination of values the step-2 reads may
 * return: memory, and whatever a G-stage cache may supply (an empty list: no walk goes
 * on from that read). A deterministic hart passes one value per read and gets one walk.
 * `paInRam` is the PMA check of the resulting host-physical address. The G bit is
 * ignored ("The G bit in all G-stage PTEs is currently not used ... must be ignored by hardware").
 */
export function walkSv39x4(
  a: Gpa,
  rootPpn: bigint,
  ctx: GStageContext,
  read: (level: Level, addr: Hpa) => readonly HostRead[],
  opts: { readonly svade: boolean },
  paInRam: (pa: Hpa) => boolean,
): GStageResult[] {
  // Sv39x4: "Address bits 63:41 must all be zeros, or else a guest-page-fault exception occurs."
  if (a >> SV39X4_GPA_BITS !== 0n) return [{ kind: 'fault', error: 'gpa-out-of-range', path: [] }];
  const results: GStageResult[] = [];
  // Step 1, with hgatp for satp: a = hgatp.ppn x PAGESIZE. The root is 16 KiB and 16 KiB-aligned;
  // "the lowest two bits of the physical page number (PPN) in hgatp always read as zeros".
  descend(2, (rootPpn & ~3n) << PAGE_SHIFT, []);
  return results;

  function descend(level: Level, tableBase: bigint, path: readonly GStageStep[]): void {
    // Step 2: pte = the PTE at a + gpa.vpn[i] x PTESIZE (at the root, vpn[2] is 11 bits, so the
    // index reaches all four pages of the 16 KiB table); a PMA violation is an access fault.
    const pteAddr = hpa(tableBase + gpaVpnIndex(a, level) * PTE_SIZE);
    for (const r of read(level, pteAddr)) {
      if (r.kind === 'access-fault') {
        results.push({ kind: 'fault', error: 'pte-access-fault', path });
        continue;
      }
      const pte = r.value;
      const here = [...path, { level, pteAddr, pte }];
      // Step 3: V=0, W without R, or a reserved bit or encoding (PTE formats are Sv39's: "all page
      // table entries (PTEs) have the same formats").
      if (!passesStep3(pte)) results.push({ kind: 'fault', error: 'invalid-pte', path: here });
      // Step 4: a pointer descends; past level 0 it is a fault.
      else if (isValidPointer(pte)) {
        if (level === 0) results.push({ kind: 'fault', error: 'no-leaf', path: here });
        else descend((level - 1) as Level, ptePpn(pte) << PAGE_SHIFT, here);
      } else results.push(gStageLeaf(a, level, pteAddr, pte, here, ctx, opts, paInRam));
    }
  }
}

/**
 * Steps 5-8 of the G-stage for the leaf `pte` at `level` (`path` ends with it). Every walk that
 * reaches a leaf ends here; so does a combined GVA->HPA entry, which holds the leaf and no path.
 */
export function gStageLeaf(
  a: Gpa,
  level: Level,
  pteAddr: Hpa,
  pte: PteWord,
  path: readonly GStageStep[],
  ctx: GStageContext,
  opts: { readonly svade: boolean },
  paInRam: (pa: Hpa) => boolean,
): GStageResult {
  // Step 5: every G-stage access is "considered to be user-level accesses, as though executed
  // in U-mode" (the leaf must have U=1), with R/W/X checked for the access type.
  if (!leafPermits(pte, { kind: ctx.kind, priv: 'U', sum: false, mxr: ctx.mxr })) {
    return { kind: 'fault', error: 'no-permission', path };
  }
  // Step 6: misaligned superpage.
  if (isMisalignedSuperpage(pte, level)) return { kind: 'fault', error: 'misaligned-superpage', path };
  // Step 7: A=0, or a store with D=0: Svade faults; Svadu sets the bits (the caller writes them).
  const needsUpdate = !pteA(pte) || (ctx.kind === 'store' && !pteD(pte));
  if (needsUpdate && opts.svade) return { kind: 'fault', error: 'pte-needs-update', path };
  const adUpdate = needsUpdate ? { addr: pteAddr, value: pte | PTE_A | (ctx.kind === 'store' ? PTE_D : 0n) } : null;
  // Step 8: the host-physical address (a superpage takes its low PPN fields from the GPA); its
  // own PMA check is an access fault.
  const pa = hpa(leafPhysicalAddress(gva(a), pte, level));
  if (!paInRam(pa)) return { kind: 'fault', error: 'pa-access-fault', path };
  return { kind: 'ok', hpa: pa, level, leaf: pte, leafAddr: pteAddr, path, adUpdate };
}

/**
 * The G-stage permission context of one guest-physical access. MXR: "Setting MXR at HS-level
 * ... overrides both VS-stage and G-stage execute-only permissions", and MXR "makes execute-only
 * pages readable by explicit loads" (H extension, "Two-Stage Address Translation"; "Hypervisor
 * Virtual-Machine Load and Store Instructions"). A VS-stage page-table read is an implicit load:
 * it needs G-stage R. (Spike's s2xlate agrees: MXR is off for VS page-table addresses.)
 * vsstatus.MXR never reaches the G-stage.
 */
export function gStageContext(kind: AccessKind, explicit: boolean, mstatusMxr: boolean): GStageContext {
  return { kind, mxr: explicit && kind === 'load' && mstatusMxr };
}

/** Guest-page-fault causes by access type (H extension, "Trap Cause Codes"): instruction 20, load 21, store/AMO 23. */
export function guestPageFaultCause(kind: AccessKind): number {
  return match(kind)
    .with('fetch', () => CAUSE.fetchGuestPageFault)
    .with('load', () => CAUSE.loadGuestPageFault)
    .with('store', () => CAUSE.storeGuestPageFault)
    .exhaustive();
}

// ---------------------------------------------------------------------------------------------
// Both stages
// ---------------------------------------------------------------------------------------------

/**
 * How one G-stage translation ended, as far as the exception it raises is concerned: a PMA
 * violation (a G-stage PTE, or the resulting address, outside RAM) is an access fault; every
 * other G-stage failure is a guest-page fault.
 */
export type GOutcome =
  | { readonly kind: 'ok'; readonly hpa: Hpa; readonly adUpdate: PteUpdate | null }
  | { readonly kind: 'guest-page-fault'; readonly gpa: Gpa }
  | { readonly kind: 'access-fault' };

/** How the G-stage walk `w` of `a` ends, as the exception it raises sees it. */
export function gOutcomeOf(a: Gpa, w: GStageResult): GOutcome {
  if (w.kind === 'ok') return { kind: 'ok', hpa: w.hpa, adUpdate: w.adUpdate };
  return w.error === 'pte-access-fault' || w.error === 'pa-access-fault' ? { kind: 'access-fault' } : { kind: 'guest-page-fault', gpa: a };
}

/** A G-stage outcome as a string, to compare and print allowed sets. */
export function gOutcomeKey(o: GOutcome): string {
  return match(o)
    .with({ kind: 'ok' }, (x) => `ok hpa=${hex(x.hpa)}${x.adUpdate === null ? '' : ` A/D@${hex(x.adUpdate.addr)}=${hex(x.adUpdate.value)}`}`)
    .with({ kind: 'guest-page-fault' }, (x) => `guest-page-fault gpa=${hex(x.gpa)}`)
    .with({ kind: 'access-fault' }, () => 'access-fault')
    .exhaustive();
}

/** One G-stage translation a two-stage translation made: of a VS-stage PTE's address (implicit) or of the final GPA. */
export interface GLookup {
  readonly gpa: Gpa;
  readonly ctx: GStageContext;
  /** False for the VS-stage's own page-table accesses. */
  readonly explicit: boolean;
  readonly outcome: GOutcome;
  /** The walk that decided it (a combined entry's leaf, for a combined hit); null under hgatp Bare. */
  readonly walk: GStageResult | null;
}

/** The two leaves a combined GVA->HPA entry holds (spec/two-stage-tlb.ts): served in place of both walks. */
export interface CombinedLeaves {
  readonly vs: { readonly level: Level; readonly leafAddr: Gpa; readonly leaf: PteWord; readonly global: boolean };
  readonly g: { readonly level: Level; readonly leafAddr: Hpa; readonly leaf: PteWord };
}

/**
 * What an address-translation cache may serve a two-stage translation: a combined entry tried
 * before any walk, and each step-2 read of either stage, given the memory read to make when the
 * cache holds nothing. The uncached hart (`noCache`) always reads memory.
 */
export interface TwoStageCache {
  readonly combined: CombinedLeaves | null;
  /** A VS-stage read: a cached PTE, or `memory()`, the read through the G-stage (an access fault if that failed). */
  readonly vsRead: (level: Level, pteAddr: Gpa, memory: () => PteRead) => PteRead;
  /** A G-stage read made translating `a`: a cached PTE, or `memory()`. */
  readonly gRead: (a: Gpa, level: Level, pteAddr: Hpa, memory: () => HostRead) => HostRead;
}

export const noCache: TwoStageCache = {
  combined: null,
  vsRead: (_level, _pteAddr, memory) => memory(),
  gRead: (_a, _level, _pteAddr, memory) => memory(),
};

/** A translation with what it went through. */
export interface TwoStageTrace {
  readonly result: TwoStageResult;
  /** The guest-physical address the VS-stage produced (the GVA itself under vsatp Bare); null if it faulted first. */
  readonly gpa: Gpa | null;
  /** The VS-stage walk (a combined entry's leaf, for a combined hit); null under vsatp Bare. */
  readonly vsWalk: WalkResult | null;
  /** Every G-stage translation, in order: VS-stage PTE reads not served by a cache, then the final GPA. */
  readonly gLookups: readonly GLookup[];
}

/** Translate one access made with V=1, with no address-translation cache: every walk reads memory. */
export function translateTwoStage(input: TwoStageInput): TwoStageResult {
  return translateTwoStageWith(input, noCache).result;
}

/**
 * Translate one access made with V=1 through `cache`. Order of events, as the hart performs
 * them: each VS-stage step-2 read (an implicit load, G-stage translated first unless the cache
 * holds the PTE), the VS-stage A/D update if any (an implicit store, G-stage translated first),
 * then the G-stage translation of the final guest-physical address for the access itself.
 */
export function translateTwoStageWith(input: TwoStageInput, cache: TwoStageCache): TwoStageTrace {
  const updates: PteUpdate[] = [];
  const gLookups: GLookup[] = [];
  const htval = input.htval ?? 'gpa';
  const trace = (result: TwoStageResult, finalGpa: Gpa | null, vsWalk: WalkResult | null): TwoStageTrace => ({ result, gpa: finalGpa, vsWalk, gLookups });

  // Memory as the hart sees it during this translation: its own A/D updates so far, over the input.
  const readHost = (addr: Hpa): HostRead => {
    if (!input.inRam(addr)) return { kind: 'access-fault' };
    for (let i = updates.length - 1; i >= 0; i--) {
      const u = updates[i];
      if (u !== undefined && u.addr === addr) return { kind: 'word', value: u.value };
    }
    return { kind: 'word', value: input.read(addr) };
  };

  // Exceptions are always "reported for the original access type (instruction, load, or
  // store/AMO)" ("Guest Physical Address Translation"), whatever implicit access raised them.
  // stval holds the guest-virtual address ("Guest-Page Faults": "mtval or stval is written with
  // the faulting guest virtual address as usual"); htval the GPA >> 2, for guest-page faults only.
  const fault = (cause: number, tval2: bigint): TwoStageResult => ({
    kind: 'fault', cause, tval: input.gva, tval2, updates: [...updates],
  });
  const fromG = (g: Exclude<GOutcome, { kind: 'ok' }>): TwoStageResult =>
    g.kind === 'guest-page-fault'
      ? fault(guestPageFaultCause(input.access), htval === 'zero' ? 0n : g.gpa >> 2n)
      : fault(exceptionFor('pa-access-fault', input.access), 0n);

  /**
   * The G-stage translation of one guest-physical access of type `kind`. `explicit` is false
   * for the VS-stage's own page-table accesses. `leaf`: a combined entry's G-stage leaf, which
   * takes the walk's place.
   */
  const gStage = (a: Gpa, kind: AccessKind, explicit: boolean, leaf: CombinedLeaves['g'] | null = null): GOutcome => {
    const ctx = gStageContext(kind, explicit, input.mstatusMxr);
    if (input.hgatp.mode === 'bare') {
      // hgatp Bare: "guest physical addresses are equal to supervisor physical addresses without
      // modification, and no memory protection applies" beyond PMA/PMP.
      const h = hpa(a);
      const outcome: GOutcome = input.inRam(h) ? { kind: 'ok', hpa: h, adUpdate: null } : { kind: 'access-fault' };
      gLookups.push({ gpa: a, ctx, explicit, outcome, walk: null });
      return outcome;
    }
    const opts = { svade: input.svade };
    const w = leaf !== null
      ? gStageLeaf(a, leaf.level, leaf.leafAddr, leaf.leaf, [{ level: leaf.level, pteAddr: leaf.leafAddr, pte: leaf.leaf }], ctx, opts, input.inRam)
      : only(walkSv39x4(a, input.hgatp.rootPpn, ctx, (level, addr) => [cache.gRead(a, level, addr, () => readHost(addr))], opts, input.inRam));
    const outcome = gOutcomeOf(a, w);
    gLookups.push({ gpa: a, ctx, explicit, outcome, walk: w });
    if (outcome.kind === 'ok' && outcome.adUpdate !== null) updates.push(outcome.adUpdate);
    return outcome;
  };

  // The access itself: the G-stage translation of its guest-physical address, explicit, of the original type.
  const finish = (a: Gpa, vsWalk: WalkResult | null, leaf: CombinedLeaves['g'] | null): TwoStageTrace => {
    const g = gStage(a, input.access, true, leaf);
    return trace(g.kind === 'ok' ? { kind: 'ok', hpa: g.hpa, updates: [...updates] } : fromG(g), a, vsWalk);
  };

  // vsatp Bare: no VS-stage; the guest-virtual address is the guest-physical address
  // ("either stage of translation can be effectively disabled by zeroing ... vsatp or hgatp").
  if (input.vsatp.mode === 'bare') return finish(gpa(input.gva), null, null);

  // The VS-stage: Sv39 from vsatp. "When V=1, memory accesses that would normally bypass address
  // translation are subject to G-stage address translation alone. This includes memory accesses
  // made in support of VS-stage address translation, such as reads and writes of VS-level page
  // tables", checked "as though for an implicit load or store, not for the original access type".
  const failed: { value: Exclude<GOutcome, { kind: 'ok' }> | null } = { value: null };
  const readThroughG = (pteAddr: Gpa): PteRead => {
    // Step 2 of the VS-stage walk: the PTE read is an implicit load at a guest-physical address.
    const g = gStage(pteAddr, 'load', false);
    if (g.kind !== 'ok') {
      failed.value = g;
      return { kind: 'access-fault' }; // ends the walk here; `failed` says what to report
    }
    const r = readHost(g.hpa);
    if (r.kind === 'access-fault') {
      failed.value = r;
      return { kind: 'access-fault' };
    }
    return { kind: 'pte', pte: r.value, fromMemory: true };
  };
  const readVs: PteSource = (level, pteAddr) => [cache.vsRead(level, pteAddr, () => readThroughG(pteAddr))];
  const ctx: AccessContext = {
    kind: input.access,
    priv: input.priv === 'VS' ? 'S' : 'U',
    // vsstatus.SUM applies in VS-mode in place of the HS-level SUM (H extension, "vsstatus").
    sum: input.vsstatus.sum,
    // "Setting MXR at HS-level, however, overrides both VS-stage and G-stage execute-only permissions."
    mxr: input.vsstatus.mxr || input.mstatusMxr,
  };
  // The guest-physical address's PMA check belongs to the host-physical address the G-stage
  // produces (in `finish`), so the VS-stage walk itself checks none.
  const opts = { svade: input.svade };
  const c = cache.combined;
  const w = c !== null
    ? leafResult(input.gva, c.vs.level, c.vs.leafAddr, c.vs.leaf, [{ level: c.vs.level, pteAddr: c.vs.leafAddr, pte: c.vs.leaf, fromMemory: false }], c.vs.global, ctx, opts, () => true)
    : only(walkSv39(input.gva, input.vsatp.rootPpn, ctx, readVs, opts, () => true));
  if (w.kind === 'fault') {
    // A G-stage failure on a VS-stage PTE read: a guest-page fault (htval = that PTE's GPA >> 2)
    // or an access fault, of the original access type.
    if (w.error === 'pte-access-fault' && failed.value !== null) return trace(fromG(failed.value), null, w);
    // Otherwise a VS-stage page fault (12/13/15; "Sv39" steps 3-7 and the canonical check).
    return trace(fault(exceptionFor(w.error, input.access), 0n), null, w);
  }
  if (w.adUpdate !== null) {
    // Step 7 (Svadu) of the VS-stage: the A/D update is an implicit store to the PTE's guest-physical
    // address, so the G-stage must permit a store there (and set its own D); a failure is reported
    // for the original access type, with htval = the PTE's GPA >> 2.
    const g = gStage(w.adUpdate.addr, 'store', false);
    if (g.kind !== 'ok') return trace(fromG(g), null, w);
    updates.push({ addr: g.hpa, value: w.adUpdate.pte });
  }
  // Step 8 of the VS-stage gives the guest-physical address; the G-stage translates it.
  return finish(w.pa, w, c === null ? null : c.g);
}

/** The one result of a walk given one value per read. */
function only<R>(results: readonly R[]): R {
  const [r, ...more] = results;
  if (r === undefined || more.length > 0) throw new Error('a walk with one value per read has exactly one result');
  return r;
}
