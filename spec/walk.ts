/**
 * The Sv39 translation process, step by step (priv spec, Supervisor-Level ISA,
 * "Virtual Address Translation Process", steps 1-8, with LEVELS=3, PTESIZE=8).
 *
 * One pure, recursive function. The only thing it does not decide is what a
 * step-2 read returns: the caller passes a `PteSource` that yields every value the
 * read may return (memory, and whatever an address-translation cache may supply).
 * The reference passes all of them and gets every allowed walk; a deterministic
 * hart passes one and gets one walk.
 */
import { match } from 'ts-pattern';
import { type Gpa, type Gva, type Level, PAGE_SHIFT, PTE_SIZE, gpa, isCanonicalSv39, vpnIndex } from './address.ts';
import {
  PTE_A, PTE_D, type PteWord, isValidPointer, passesStep3, pteA, pteD, pteG, ptePpn, ptePpnField,
  pteR, pteU, pteW, pteX,
} from './pte.ts';

export type AccessKind = 'load' | 'store' | 'fetch';
export type Privilege = 'S' | 'U';

/** What step 5 needs besides the PTE: the effective privilege and sstatus.SUM/MXR. */
export interface AccessContext {
  readonly kind: AccessKind;
  readonly priv: Privilege;
  readonly sum: boolean;
  readonly mxr: boolean;
}

/** One value a step-2 read may return. `fromMemory` is false for a cached value. */
export type PteRead =
  | { readonly kind: 'pte'; readonly pte: PteWord; readonly fromMemory: boolean }
  /** Step 2: accessing the PTE violates a PMA check (the address is outside RAM). */
  | { readonly kind: 'access-fault' };

/** Every value the step-2 read at `pteAddr` (level `level`) may return. Never empty. */
export type PteSource = (level: Level, pteAddr: Gpa) => readonly PteRead[];

export interface WalkStep {
  readonly level: Level;
  readonly pteAddr: Gpa;
  readonly pte: PteWord;
  readonly fromMemory: boolean;
}

/** Why a translation stopped: one closed union, mapped to exceptions by `exceptionFor`. */
export type TranslationError =
  | 'non-canonical'
  | 'pte-access-fault'
  | 'invalid-pte'
  | 'no-leaf'
  | 'no-permission'
  | 'misaligned-superpage'
  | 'pte-needs-update'
  | 'pa-access-fault';

export type WalkResult =
  | {
      readonly kind: 'ok';
      readonly pa: Gpa;
      readonly level: Level;
      readonly leaf: PteWord;
      readonly leafAddr: Gpa;
      readonly path: readonly WalkStep[];
      /** A G bit is set on some PTE of the path (priv spec, Sv32: G on a pointer makes the subtree global). */
      readonly global: boolean;
      /** Step 7 under Svadu: the PTE value memory must be updated to (A, and D for a store). */
      readonly adUpdate: { readonly addr: Gpa; readonly pte: PteWord } | null;
    }
  | {
      readonly kind: 'fault';
      readonly error: TranslationError;
      readonly path: readonly WalkStep[];
      /** A translation that completed (A/D set, Svadu) before its physical address failed the PMA check. */
      readonly adUpdate?: { readonly addr: Gpa; readonly pte: PteWord };
    };

export interface WalkOptions {
  /** Svade (true): A=0, or a store with D=0, raises a page fault. Svadu (false): the hart sets them. */
  readonly svade: boolean;
}

/**
 * Step 5: is the access allowed by pte.r/w/x/u, the privilege, SUM and MXR?
 * (priv spec, "Memory Privilege in mstatus": MXR makes X pages readable; SUM lets
 * S-mode load/store U pages; S-mode never executes from U pages.)
 */
export function leafPermits(pte: PteWord, ctx: AccessContext): boolean {
  if (ctx.priv === 'U' && !pteU(pte)) return false;
  if (ctx.priv === 'S' && pteU(pte) && (ctx.kind === 'fetch' || !ctx.sum)) return false;
  return match(ctx.kind)
    .with('load', () => pteR(pte) || (ctx.mxr && pteX(pte)))
    .with('store', () => pteW(pte))
    .with('fetch', () => pteX(pte))
    .exhaustive();
}

/** Step 6: a leaf above level 0 whose low PPN fields are not zero is a misaligned superpage. */
export function isMisalignedSuperpage(pte: PteWord, level: Level): boolean {
  for (let i = 0; i < level; i++) if (ptePpnField(pte, i as 0 | 1) !== 0n) return true;
  return false;
}

/** Step 8: pa.pgoff = va.pgoff; a superpage takes pa.ppn[i-1:0] from va.vpn[i-1:0]. */
export function leafPhysicalAddress(va: Gva, pte: PteWord, level: Level): Gpa {
  const span = PAGE_SHIFT + 9n * BigInt(level);
  const low = va & ((1n << span) - 1n);
  return gpa(((ptePpn(pte) << PAGE_SHIFT) & ~((1n << span) - 1n)) | low);
}

/**
 * Every walk of `va` from the root page `rootPpn`, one result per combination of
 * values the step-2 reads may return. `paInRam` is the PMA check of the final
 * physical address (an access fault when it fails).
 */
export function walkSv39(
  va: Gva,
  rootPpn: bigint,
  ctx: AccessContext,
  read: PteSource,
  opts: WalkOptions,
  paInRam: (pa: Gpa) => boolean,
  globalStarts: readonly WalkStep[] = [],
): WalkResult[] {
  // Sv39 "Addressing and Memory Protection": bits 63..39 must equal bit 38, or a page fault.
  if (!isCanonicalSv39(va)) return [{ kind: 'fault', error: 'non-canonical', path: [] }];
  const results: WalkResult[] = [];
  // Step 1: a = satp.ppn x PAGESIZE, i = LEVELS-1.
  descend(2, rootPpn << PAGE_SHIFT, [], false);
  // A cached global entry below the root needs no walk above it: global mappings are shared by
  // every address space, and a mapping wrongly marked global "can unpredictably result in either
  // mapping being used" (priv spec, Sv32 PTE G bit). The caller supplies those entries.
  for (const start of globalStarts) consider(start.level, start.pteAddr, start.pte, false, [], true);
  return results;

  function descend(level: Level, tableBase: bigint, path: readonly WalkStep[], global: boolean): void {
    // Step 2: pte = the PTE at a + va.vpn[i] x PTESIZE; a PMA violation is an access fault.
    const pteAddr = gpa(tableBase + vpnIndex(va, level) * PTE_SIZE);
    for (const r of read(level, pteAddr)) {
      if (r.kind === 'access-fault') results.push({ kind: 'fault', error: 'pte-access-fault', path });
      else consider(level, pteAddr, r.pte, r.fromMemory, path, global);
    }
  }

  function consider(level: Level, pteAddr: Gpa, pte: PteWord, fromMemory: boolean, path: readonly WalkStep[], global: boolean): void {
    const here = [...path, { level, pteAddr, pte, fromMemory }];
    // Step 3: V=0, W without R, or a reserved bit or encoding: page fault.
    if (!passesStep3(pte)) {
      results.push({ kind: 'fault', error: 'invalid-pte', path: here });
      return;
    }
    const g = global || pteG(pte);
    // Step 4: R=X=0 is a pointer: i = i-1 (past level 0, a page fault), a = pte.ppn x PAGESIZE.
    if (isValidPointer(pte)) {
      if (level === 0) results.push({ kind: 'fault', error: 'no-leaf', path: here });
      else descend((level - 1) as Level, ptePpn(pte) << PAGE_SHIFT, here, g);
      return;
    }
    results.push(leafResult(va, level, pteAddr, pte, here, g, ctx, opts, paInRam));
  }
}

/**
 * Steps 5-8 for the leaf `pte` found at `level` (read at `leafAddr`; `path` ends with it). Every
 * walk that reaches a leaf ends here; so does a cache that holds the leaf itself and no path to it
 * (a combined GVA->HPA entry, spec/two-stage-tlb.ts), which is why it stands alone.
 */
export function leafResult(
  va: Gva,
  level: Level,
  leafAddr: Gpa,
  pte: PteWord,
  path: readonly WalkStep[],
  global: boolean,
  ctx: AccessContext,
  opts: WalkOptions,
  paInRam: (pa: Gpa) => boolean,
): WalkResult {
  // Step 5: R/W/X/U against the access type, privilege, SUM and MXR.
  if (!leafPermits(pte, ctx)) return { kind: 'fault', error: 'no-permission', path };
  // Step 6: misaligned superpage.
  if (isMisalignedSuperpage(pte, level)) return { kind: 'fault', error: 'misaligned-superpage', path };
  // Step 7: A=0, or a store with D=0: Svade faults; Svadu sets the bits (atomically, against memory: the caller's job).
  const needsUpdate = !pteA(pte) || (ctx.kind === 'store' && !pteD(pte));
  if (needsUpdate && opts.svade) return { kind: 'fault', error: 'pte-needs-update', path };
  const adUpdate = needsUpdate ? { addr: leafAddr, pte: pte | PTE_A | (ctx.kind === 'store' ? PTE_D : 0n) } : null;
  // Step 8: the physical address; its own PMA check is an access fault.
  const pa = leafPhysicalAddress(va, pte, level);
  // The translation itself completed (step 7 set A/D): the access to pa then faults, and the update stands.
  if (!paInRam(pa)) return { kind: 'fault', error: 'pa-access-fault', path, ...(adUpdate === null ? {} : { adUpdate }) };
  return { kind: 'ok', pa, level, leaf: pte, leafAddr, path, global, adUpdate };
}

/** Cause codes (priv spec, mcause table). */
export const CAUSE = {
  fetchAccessFault: 1,
  illegalInstruction: 2,
  loadAccessFault: 5,
  storeAccessFault: 7,
  ecallFromVS: 10,
  fetchPageFault: 12,
  loadPageFault: 13,
  storePageFault: 15,
  fetchGuestPageFault: 20,
  loadGuestPageFault: 21,
  virtualInstruction: 22,
  storeGuestPageFault: 23,
} as const;

/** The total map from translation errors to the architectural exception "corresponding to the original access type". */
export function exceptionFor(error: TranslationError, kind: AccessKind): number {
  const access = error === 'pte-access-fault' || error === 'pa-access-fault';
  return match(kind)
    .with('fetch', () => (access ? CAUSE.fetchAccessFault : CAUSE.fetchPageFault))
    .with('load', () => (access ? CAUSE.loadAccessFault : CAUSE.loadPageFault))
    .with('store', () => (access ? CAUSE.storeAccessFault : CAUSE.storePageFault))
    .exhaustive();
}
