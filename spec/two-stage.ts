/**
 * Two-stage address translation for accesses made with V=1, in VS- or VU-mode
 * (priv spec, H extension, "Two-Stage Address Translation"): the VS-stage
 * (vsatp, Sv39) takes a guest-virtual address to a guest-physical one; the
 * G-stage (hgatp, Sv39x4, "Guest Physical Address Translation") takes every
 * guest-physical address, those of the VS-stage's own page-table accesses
 * included, to a host (supervisor) physical address.
 *
 * Deterministic: there is no address-translation cache, every walk reads memory.
 * Hardware A/D updates (Svadu) are returned as data, in the order the hart makes
 * them; the caller applies them. Later reads within the same translation see the
 * earlier updates, as they would in memory.
 *
 * The VS-stage is walk.ts's `walkSv39`, given a step-2 read that first
 * G-stage-translates the PTE's guest-physical address as an implicit load. When
 * that G-stage translation fails, the read records why and ends the walk with an
 * access fault; `translateTwoStage` then reports what was recorded instead.
 */
import { match } from 'ts-pattern';
import { type Gpa, type Gva, type Hpa, type Level, PAGE_SHIFT, PTE_SIZE, gpa, gva, hpa } from './address.ts';
import type { Satp } from './guest-action.ts';
import { PTE_A, PTE_D, type PteWord, isValidPointer, passesStep3, pteA, pteD, ptePpn } from './pte.ts';
import {
  type AccessContext, type AccessKind, CAUSE, type PteRead, type PteSource, type TranslationError, exceptionFor,
  isMisalignedSuperpage, leafPermits, leafPhysicalAddress, walkSv39,
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
 * The Sv39x4 walk of a guest-physical address (H extension, "Guest Physical Address
 * Translation": "the same algorithm used for Sv39 ... except that hgatp substitutes for
 * the usual satp; ... when checking the U bit, the current privilege mode is always
 * taken to be U-mode; and guest-page-fault exceptions are raised instead of regular
 * page-fault exceptions"). `paInRam` is the PMA check of the resulting host-physical
 * address. The G bit is ignored ("The G bit in all G-stage PTEs is currently not used
 * ... must be ignored by hardware").
 */
export function walkSv39x4(
  a: Gpa,
  rootPpn: bigint,
  ctx: GStageContext,
  read: (addr: Hpa) => HostRead,
  opts: { readonly svade: boolean },
  paInRam: (pa: Hpa) => boolean,
): GStageResult {
  // Sv39x4: "Address bits 63:41 must all be zeros, or else a guest-page-fault exception occurs."
  if (a >> SV39X4_GPA_BITS !== 0n) return { kind: 'fault', error: 'gpa-out-of-range', path: [] };
  // Step 1, with hgatp for satp: a = hgatp.ppn x PAGESIZE. The root is 16 KiB and 16 KiB-aligned;
  // "the lowest two bits of the physical page number (PPN) in hgatp always read as zeros".
  return descend(2, (rootPpn & ~3n) << PAGE_SHIFT, []);

  function descend(level: Level, tableBase: bigint, path: readonly GStageStep[]): GStageResult {
    // Step 2: pte = the PTE at a + gpa.vpn[i] x PTESIZE (at the root, vpn[2] is 11 bits, so the
    // index reaches all four pages of the 16 KiB table); a PMA violation is an access fault.
    const pteAddr = hpa(tableBase + gpaVpnIndex(a, level) * PTE_SIZE);
    const r = read(pteAddr);
    if (r.kind === 'access-fault') return { kind: 'fault', error: 'pte-access-fault', path };
    const pte = r.value;
    const here = [...path, { level, pteAddr, pte }];
    // Step 3: V=0, W without R, or a reserved bit or encoding (PTE formats are Sv39's: "all page
    // table entries (PTEs) have the same formats").
    if (!passesStep3(pte)) return { kind: 'fault', error: 'invalid-pte', path: here };
    // Step 4: a pointer descends; past level 0 it is a fault.
    if (isValidPointer(pte)) {
      if (level === 0) return { kind: 'fault', error: 'no-leaf', path: here };
      return descend((level - 1) as Level, ptePpn(pte) << PAGE_SHIFT, here);
    }
    // Step 5: every G-stage access is "considered to be user-level accesses, as though executed
    // in U-mode" (the leaf must have U=1), with R/W/X checked for the access type.
    if (!leafPermits(pte, { kind: ctx.kind, priv: 'U', sum: false, mxr: ctx.mxr })) {
      return { kind: 'fault', error: 'no-permission', path: here };
    }
    // Step 6: misaligned superpage.
    if (isMisalignedSuperpage(pte, level)) return { kind: 'fault', error: 'misaligned-superpage', path: here };
    // Step 7: A=0, or a store with D=0: Svade faults; Svadu sets the bits (the caller writes them).
    const needsUpdate = !pteA(pte) || (ctx.kind === 'store' && !pteD(pte));
    if (needsUpdate && opts.svade) return { kind: 'fault', error: 'pte-needs-update', path: here };
    const adUpdate = needsUpdate ? { addr: pteAddr, value: pte | PTE_A | (ctx.kind === 'store' ? PTE_D : 0n) } : null;
    // Step 8: the host-physical address (a superpage takes its low PPN fields from the GPA); its
    // own PMA check is an access fault.
    const pa = hpa(leafPhysicalAddress(gva(a), pte, level));
    if (!paInRam(pa)) return { kind: 'fault', error: 'pa-access-fault', path: here };
    return { kind: 'ok', hpa: pa, level, leaf: pte, leafAddr: pteAddr, path: here, adUpdate };
  }
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

/** How one G-stage translation ended, as far as the exception it raises is concerned. */
type GOutcome =
  | { readonly kind: 'ok'; readonly hpa: Hpa }
  | { readonly kind: 'guest-page-fault'; readonly gpa: Gpa }
  | { readonly kind: 'access-fault' };

/**
 * Translate one access made with V=1. Order of events, as the hart performs them:
 * each VS-stage step-2 read (an implicit load, G-stage translated first), the VS-stage
 * A/D update if any (an implicit store, G-stage translated first), then the G-stage
 * translation of the final guest-physical address for the access itself.
 */
export function translateTwoStage(input: TwoStageInput): TwoStageResult {
  const updates: PteUpdate[] = [];
  const htval = input.htval ?? 'gpa';

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
   * for the VS-stage's own page-table accesses.
   */
  const gStage = (a: Gpa, kind: AccessKind, explicit: boolean): GOutcome => {
    if (input.hgatp.mode === 'bare') {
      // hgatp Bare: "guest physical addresses are equal to supervisor physical addresses without
      // modification, and no memory protection applies" beyond PMA/PMP.
      const h = hpa(a);
      return input.inRam(h) ? { kind: 'ok', hpa: h } : { kind: 'access-fault' };
    }
    // MXR: "Setting MXR at HS-level ... overrides both VS-stage and G-stage execute-only
    // permissions", and MXR "makes execute-only pages readable by explicit loads" (H extension,
    // "Two-Stage Address Translation"; "Hypervisor Virtual-Machine Load and Store Instructions").
    // A VS-stage page-table read is an implicit load: it needs G-stage R. (Spike's s2xlate agrees:
    // MXR is off for VS page-table addresses.) vsstatus.MXR never reaches the G-stage.
    const ctx: GStageContext = { kind, mxr: explicit && kind === 'load' && input.mstatusMxr };
    const w = walkSv39x4(a, input.hgatp.rootPpn, ctx, readHost, { svade: input.svade }, input.inRam);
    if (w.kind === 'fault') {
      // A PMA violation (a G-stage PTE, or the resulting address, outside RAM) is an access fault;
      // every other G-stage failure is a guest-page fault.
      return w.error === 'pte-access-fault' || w.error === 'pa-access-fault' ? { kind: 'access-fault' } : { kind: 'guest-page-fault', gpa: a };
    }
    if (w.adUpdate !== null) updates.push(w.adUpdate);
    return { kind: 'ok', hpa: w.hpa };
  };

  // The access itself: the G-stage translation of its guest-physical address, explicit, of the original type.
  const finish = (a: Gpa): TwoStageResult => {
    const g = gStage(a, input.access, true);
    return g.kind === 'ok' ? { kind: 'ok', hpa: g.hpa, updates: [...updates] } : fromG(g);
  };

  // vsatp Bare: no VS-stage; the guest-virtual address is the guest-physical address
  // ("either stage of translation can be effectively disabled by zeroing ... vsatp or hgatp").
  if (input.vsatp.mode === 'bare') return finish(gpa(input.gva));

  // The VS-stage: Sv39 from vsatp. "When V=1, memory accesses that would normally bypass address
  // translation are subject to G-stage address translation alone. This includes memory accesses
  // made in support of VS-stage address translation, such as reads and writes of VS-level page
  // tables", checked "as though for an implicit load or store, not for the original access type".
  const failed: { value: Exclude<GOutcome, { kind: 'ok' }> | null } = { value: null };
  const readVs: PteSource = (_level, pteAddr): readonly PteRead[] => {
    // Step 2 of the VS-stage walk: the PTE read is an implicit load at a guest-physical address.
    const g = gStage(pteAddr, 'load', false);
    if (g.kind !== 'ok') {
      failed.value = g;
      return [{ kind: 'access-fault' }]; // ends the walk here; `failed` says what to report
    }
    const r = readHost(g.hpa);
    if (r.kind === 'access-fault') {
      failed.value = r;
      return [{ kind: 'access-fault' }];
    }
    return [{ kind: 'pte', pte: r.value, fromMemory: true }];
  };
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
  const walks = walkSv39(input.gva, input.vsatp.rootPpn, ctx, readVs, { svade: input.svade }, () => true);
  const w = walks[0];
  if (walks.length !== 1 || w === undefined) throw new Error('a walk with one value per read has exactly one result');
  if (w.kind === 'fault') {
    // A G-stage failure on a VS-stage PTE read: a guest-page fault (htval = that PTE's GPA >> 2)
    // or an access fault, of the original access type.
    if (w.error === 'pte-access-fault' && failed.value !== null) return fromG(failed.value);
    // Otherwise a VS-stage page fault (12/13/15; "Sv39" steps 3-7 and the canonical check).
    return fault(exceptionFor(w.error, input.access), 0n);
  }
  if (w.adUpdate !== null) {
    // Step 7 (Svadu) of the VS-stage: the A/D update is an implicit store to the PTE's guest-physical
    // address, so the G-stage must permit a store there (and set its own D); a failure is reported
    // for the original access type, with htval = the PTE's GPA >> 2.
    const g = gStage(w.adUpdate.addr, 'store', false);
    if (g.kind !== 'ok') return fromG(g);
    updates.push({ addr: g.hpa, value: w.adUpdate.pte });
  }
  // Step 8 of the VS-stage gives the guest-physical address; the G-stage translates it.
  return finish(w.pa);
}
