/**
 * The machine TSP and SSP share: the guest's accesses are translated by the hart
 * itself, with the spec's walk and a TLB that caches what a real one may
 * (spec/concrete-tlb.ts: leaf, non-leaf and invalid entries, tagged by ASID or
 * GLOBAL), over the shadow tables in host memory (vsatp holds the loaded shadow's
 * root, hgatp is Bare). A fault on the shadow exits to the hypervisor, which walks
 * the guest's table and either injects the guest's own fault or fixes the shadow
 * (model/shadow-mmu.ts) and fences the hart. What differs between the two designs is
 * a `ShadowPolicy`.
 */
import { type Gpa, type Gva, type Hpa, type Level, PAGE_SHIFT, gpa, gva, hpa, isCanonicalSv39, vpnIndex } from '../spec/address.ts';
import { type ConcreteTlb, emptyTlb, tlbFence, tlbTranslate } from '../spec/concrete-tlb.ts';
import { type GuestConfig, inRam, maskAsid } from '../spec/config.ts';
import type { AccessAction, Satp } from '../spec/guest-action.ts';
import { type Memory, readWord } from '../spec/memory.ts';
import { isValidLeaf, isValidPointer, pteG, ptePpn, pteR, pteU, pteW, pteX } from '../spec/pte.ts';
import { type Trap, type TrapReason, takeTrap } from '../spec/privilege.ts';
import { type AccessContext, CAUSE, type WalkResult, exceptionFor, walkSv39 } from '../spec/walk.ts';
import {
  guestRead, hostAddress, hostMapping, hostStore, initialHost, logDirty, remapPage, setWriteProtected,
} from './host.ts';
import {
  LivelockError, type HostTranslationView, type Machine, type MachineEvent, type Observation, type ShadowLeafView, type ShadowPageView, type SnapshotValue,
  type StepResult,
} from './machine.ts';
import {
  PoolExhaustedError, type ShadowPage, type ShadowPolicy, type ShadowScratch, type ShadowState, describeShadowPte, desiredEntry, emptyMmu,
  entryVa, has, pagesAt, protectedPageTables, refreshLeaves, setEntry, shadowPte, spCovers, syncEntry, zapRoot,
} from './shadow-mmu.ts';

export type { ShadowBug, ShadowPolicy, ShadowScratch, ShadowState } from './shadow-mmu.ts';

/** Host frames that are RAM for the hart's PMA check: guest backing, the table pool, remapped frames. */
// Stryker disable next-line all: every frame a shadow names is host RAM unless the hypervisor is wrong, and then isolation reports the frame before the hart's PMA check matters
const hostInRam = (a: bigint): boolean => a >> PAGE_SHIFT >= 0x100000n && a >> PAGE_SHIFT < 0x800000n;

/**
 * With hgatp Bare, "guest physical addresses are equal to supervisor physical
 * addresses" (H extension, "Guest Physical Address Translation"): the VS-stage walk
 * over the shadow reads and yields host-physical addresses.
 */
const bareHpa = (a: Gpa): Hpa => hpa(a);

export function trap(x: ShadowScratch, cause: number, reason: TrapReason, from: 'VS' | 'VU' = 'VS'): Trap {
  const t = takeTrap(cause, from, x.policy.delegation, reason);
  x.traps.push(t);
  return t;
}

/**
 * HFENCE.VVMA rs1, rs2 on the hart's TLB: "much the same as temporarily entering
 * VS-mode and executing SFENCE.VMA" (H extension, "Hypervisor Memory-Management
 * Fence Instructions"), so spec/concrete-tlb.ts's fence rule, over host memory.
 */
export function hfenceVvma(x: ShadowScratch, rs1: Gva | null, rs2: number | null, forGuestFence = false): void {
  if (has(x, 'no-hw-tlb-flush')) return;
  const before = x.s.tlb;
  const tlb = tlbFence(before, rs1, rs2, (a) => readWord(x.s.host.mem, bareHpa(a)));
  if (tlbSize(tlb) !== tlbSize(before)) x.events.push('hw-tlb-flush');
  x.s = { ...x.s, tlb };
  x.hart.push(forGuestFence ? { kind: 'hfence-vvma', mem: x.s.host.mem, rs1, rs2, forGuestFence } : { kind: 'hfence-vvma', mem: x.s.host.mem, rs1, rs2 });
}

/**
 * The hart fence a guest's SFENCE.VMA rs1, rs2 needs. An address-specific one is
 * HFENCE.VVMA with the same operands, unless the shadow maps a guest superpage that
 * covers rs1 with smaller leaves: that guest leaf is a *pointer* in the shadow (to a
 * split shadow page), and the hart's cached pointers survive an address-specific
 * fence, so it would keep translating through the guest leaf the fence removed. Then
 * the fence must be rs1=x0 over the same ASID scope (KVM flushes the whole TLB when an
 * INVLPG hits a guest large page it mapped with small pages).
 */
export function hfenceForGuest(x: ShadowScratch, rs1: Gva | null, rs2: number | null): void {
  const split = rs1 !== null && [...x.s.mmu.pages.values()].some((sp) => sp.role.source.kind === 'split' && spCovers(sp.role, rs1));
  hfenceVvma(x, split ? null : rs1, rs2, true);
}

const tlbSize = (t: ConcreteTlb): number => [...t.values()].reduce((n, es) => n + es.length, 0);

/** The HFENCE.VVMAs the hypervisor's changes owe the hart, before the guest runs again. */
export function flushPending(x: ShadowScratch): void {
  if (x.flush.all) hfenceVvma(x, null, null);
  else for (const va of x.flush.vas) hfenceVvma(x, gva(va), null);
  x.flush.all = false;
  x.flush.vas.clear();
}

/** The hypervisor's software walk of the guest's table, from guest memory (never stale). */
export function guestWalk(s: ShadowState, va: Gva, ctx: AccessContext): WalkResult {
  // Stryker disable next-line ConditionalExpression: an internal invariant that never fails in a correct or seeded run; without the check the next line fails instead
  if (s.guestSatp.mode === 'bare') throw new Error('shadow models run Sv39 guests');
  const read = (_level: Level, pteAddr: Gpa) =>
    inRam(s.host.cfg, pteAddr) ? [{ kind: 'pte' as const, pte: guestRead(s.host, pteAddr), fromMemory: true }] : [{ kind: 'access-fault' as const }];
  const [w] = walkSv39(va, s.guestSatp.rootPpn, ctx, read, { svade: s.host.cfg.svade }, (pa) => inRam(s.host.cfg, pa));
  // Stryker disable next-line ConditionalExpression: an internal invariant that never fails in a correct or seeded run; without the check the next line fails instead
  if (w === undefined) throw new Error('a walk from memory yields one result');
  return w;
}

/** The hart translates `va` through its TLB and the loaded shadow (Sv39, hgatp Bare). */
function hartTranslate(x: ShadowScratch, va: Gva, ctx: AccessContext): WalkResult {
  const vs = x.s.vsatp;
  // Stryker disable next-line ConditionalExpression: an internal invariant that never fails in a correct or seeded run; without the check the next line fails instead
  if (vs === null) throw new Error('a Sv39 guest always has a shadow loaded');
  const mem = x.s.host.mem;
  const t = tlbTranslate(x.s.tlb, va, vs.asid, vs.root, ctx, (a) => (hostInRam(a) ? readWord(mem, bareHpa(a)) : null), { svade: true }, hostInRam);
  x.s = { ...x.s, tlb: t.tlb };
  x.walkRefs += t.memoryReads;
  const r = t.result;
  x.hart.push({
    kind: 'vs-translate', mem, vsatp: vs, va, ctx,
    result: r.kind === 'ok' ? { kind: 'ok', hpa: bareHpa(r.pa) } : { kind: 'fault', cause: exceptionFor(r.error, ctx.kind) },
  });
  return r;
}

/** Run `f`; if the pool cannot give it a frame, zap the loaded shadow and run it again (reclaim of last resort). */
export function withPool<T>(x: ShadowScratch, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof PoolExhaustedError)) throw e;
    if (x.s.vsatp !== null) zapRoot(x, x.s.vsatp.root);
    x.events.push('shadow-reclaim');
    try {
      return f();
    } catch (again) {
      // Several vCPUs (model/vcpus.ts): the other harts' loaded shadows are pinned and may fill the pool between
      // them; their roots are emptied too (every hart is flushed of what it cached through them). One hart has none.
      const pinned = [...(x.s.pinned ?? [])].flatMap((k) => { const f0 = x.s.mmu.roots.get(k); return f0 === undefined ? [] : [f0]; });
      if (!(again instanceof PoolExhaustedError) || pinned.length === 0) throw again;
      for (const root of pinned) zapRoot(x, root);
      return f();
    }
  }
}

/**
 * The hidden-fault handler's fix: make the loaded shadow translate `va` as the
 * fresh guest walk `w` does, level by level, linking (and syncing, if a fence left
 * them unsync) the sps of the guest tables the walk read.
 */
function fillPath(x: ShadowScratch, va: Gva, w: Extract<WalkResult, { kind: 'ok' }>): void {
  const vs = x.s.vsatp;
  // Stryker disable next-line ConditionalExpression: an internal invariant that never fails in a correct or seeded run; without the check the next line fails instead
  if (vs === null) throw new Error('a Sv39 guest always has a shadow loaded');
  let sp: ShadowPage | null | undefined = x.s.mmu.pages.get(vs.root);
  for (const step of w.path) {
    // Stryker disable next-line ConditionalExpression,LogicalOperator: setEntry gives no sp only for the leaf, the last step of the path
    if (sp === null || sp === undefined) return;
    const slot = Number(vpnIndex(va, step.level));
    sp = setEntry(x, sp, slot, desiredEntry(x, sp, slot, step.pte), { addr: step.pteAddr, pte: step.pte });
    // Stryker disable next-line ConditionalExpression: a leaf, superpage or not, is the last step of a walk's path: the loop ends there anyway
    if (sp !== null && sp.role.source.kind === 'split') break;
  }
  // Below a guest superpage: the split sps down to the shadow leaf that maps va.
  // Stryker disable next-line ConditionalExpression: sp is never undefined here (the loaded root sp exists), only null after a leaf
  while (sp !== null && sp !== undefined && sp.role.source.kind === 'split') {
    const slot = Number(vpnIndex(va, sp.role.level));
    const src = sp.role.source;
    sp = setEntry(x, sp, slot, desiredEntry(x, sp, slot, src.leaf), { addr: src.leafAddr, pte: src.leaf });
  }
}

/** Store guest data at a guest-physical address, as hardware or as the hypervisor emulating it. */
function storeGuest(x: ShadowScratch, a: Gpa, value: bigint): void {
  x.s = { ...x.s, host: hostStore(x.s.host, hostAddress(x.s.host, a), value) };
  if (!x.policy.writeProtectPageTables) return;
  // TSP keeps every shadow in sync eagerly: each sp shadowing the stored-to table page follows the new guest PTE.
  const page = a >> PAGE_SHIFT;
  const slot = Number((a & 0xfffn) >> 3n);
  for (const sp of [...x.s.mmu.pages.values()]) {
    if (sp.role.source.kind !== 'table' || sp.role.source.gfn !== page) continue;
    const before = shadowPte(x.s, sp.frame, slot);
    syncEntry(x, sp, slot);
    const after = shadowPte(x.s, sp.frame, slot);
    if (before !== after) x.events.push(after === 0n ? 'shadow-zap' : 'shadow-resync');
  }
}

/**
 * A guest store to a page the hypervisor protects exits (once: `trapped` says the
 * exit was already taken, as a shadow fault); the hypervisor logs it dirty (host
 * write protection) and/or emulates it (TSP page-table page), within that one exit.
 */
function storeTrapped(x: ShadowScratch, a: Gpa, value: bigint, cause: number, trapped: boolean, from: 'VS' | 'VU'): boolean {
  const gpn = a >> PAGE_SHIFT;
  const isPageTable = x.policy.writeProtectPageTables && protectedPageTables(x.s).has(gpn);
  const hostProtected = hostMapping(x.s.host, gpn).writeProtected;
  if (!isPageTable && !hostProtected) return false;
  if (!trapped) trap(x, cause, isPageTable ? 'pt-store-protected' : 'dirty-log', from);
  if (hostProtected) logDirtyPage(x, gpn);
  storeGuest(x, a, value);
  return true;
}

/**
 * Svadu (decision 0013): step 7 of the guest's walk wants A (and D, for a store) set in
 * its leaf. The hart sets them only in the shadow, which the guest never reads, so the
 * hypervisor sets them in the guest's PTE, in the exit the access took (a shadow leaf
 * exists only for a guest leaf with A set, and is writable only with D set). The guest
 * PTE first, as the guest's hart would (an update of the word the walk just read from
 * guest memory), logged if dirty logging protects its page; then the caller builds the
 * shadow from the walk, which now carries the updated PTE. An update made before a PMA
 * fault stands, as it does on the hart.
 */
function emulateAd(x: ShadowScratch, w: WalkResult, store: boolean): WalkResult {
  const u = w.adUpdate ?? null;
  if (u === null) return w;
  x.settingDirty = store;
  if (!(store && has(x, 'dirty-in-shadow-only'))) {
    x.events.push('ad-emulated');
    hypervisorStore(x, u.addr, u.pte);
  }
  const path = w.path.map((step) => (step.pteAddr === u.addr ? { ...step, pte: u.pte } : step));
  return w.kind === 'ok' ? { ...w, leaf: u.pte, path, adUpdate: null } : { kind: 'fault', error: w.error, path };
}

/** The hypervisor stores to guest memory on its own account: a write dirty logging must see, like the guest's. */
function hypervisorStore(x: ShadowScratch, a: Gpa, value: bigint): void {
  const gpn = a >> PAGE_SHIFT;
  if (hostMapping(x.s.host, gpn).writeProtected) logDirtyPage(x, gpn);
  storeGuest(x, a, value);
}

/** Dirty logging sees a store to a page it write-protects: log the page, give write access back, refresh its shadow leaves. */
function logDirtyPage(x: ShadowScratch, gpn: bigint): void {
  x.events.push('dirty-logged');
  x.s = { ...x.s, host: logDirty(x.s.host, gpn) };
  refreshLeaves(x, (g, n) => gpn >= g && gpn < g + n);
}

/** A translated access: the hart on the shadow, the hypervisor on a shadow fault. */
function shadowAccess(x: ShadowScratch, a: AccessAction): Observation {
  const ctx: AccessContext = { kind: a.access, priv: a.priv, sum: x.s.sum, mxr: x.s.mxr };
  const from = a.priv === 'U' ? 'VU' : 'VS';
  const pageFault = exceptionFor('invalid-pte', a.access);
  const inject = (w: Extract<WalkResult, { kind: 'fault' }>): Observation => {
    x.events.push('injected-fault');
    return { kind: 'fault', cause: exceptionFor(w.error, a.access), tval: a.va };
  };
  if (x.s.guestSatp.mode === 'bare') {
    // A Bare guest runs on an identity shadow: guest-virtual = guest-physical (decision record 0001).
    if (!inRam(x.s.host.cfg, a.va)) return { kind: 'fault', cause: exceptionFor('pa-access-fault', a.access), tval: a.va };
    return complete(x, a, gpa(a.va));
  }
  if (!isCanonicalSv39(a.va)) {
    trap(x, pageFault, 'shadow-miss', from);
    return inject({ kind: 'fault', error: 'non-canonical', path: [] });
  }
  // Stryker disable next-line EqualityOperator: a fifth attempt changes nothing where a fix takes (the first retry succeeds); it only delays the livelock report
  for (let attempt = 0; attempt < 4; attempt++) {
    const t = hartTranslate(x, a.va, ctx);
    if (t.kind === 'ok') {
      const h = bareHpa(t.pa);
      if (a.access === 'store') {
        x.s = { ...x.s, host: hostStore(x.s.host, h, a.value) };
        return { kind: 'ok', hpa: h, value: a.value };
      }
      return { kind: 'ok', hpa: h, value: readWord(x.s.host.mem, h) };
    }
    // A fault on the shadow: page faults are not delegated to the guest, so a VM exit to the hypervisor.
    const miss = t.error !== 'no-permission';
    trap(x, pageFault, miss ? 'shadow-miss' : 'shadow-permission', from);
    const w = emulateAd(x, guestWalk(x.s, a.va, ctx), a.access === 'store');
    if (w.kind === 'fault') return inject(w);
    // The dirty-log check comes first, the D emulation's exit included (a seeded bug skips it there).
    const skipsLog = x.settingDirty && has(x, 'dirty-emulation-ignores-host-write-protect');
    if (a.access === 'store' && !skipsLog && storeTrapped(x, w.pa, a.value, pageFault, true, from)) {
      flushPending(x);
      return { kind: 'ok', hpa: hostAddress(x.s.host, w.pa), value: a.value };
    }
    withPool(x, () => fillPath(x, a.va, w));
    x.events.push(miss ? 'hidden-fault' : 'shadow-resync');
    // The hart may hold the entry that faulted: fence the address (and more, if a pointer changed). A fault that
    // recurs after the fix came through cached non-leaf entries the fix did not touch (another shadow's, under the
    // same ASID, which the hart may mix as it mixes the guest's own translations): fence them all.
    x.flush.vas.add(a.va);
    if (attempt > 0 && !has(x, 'pointer-change-leaf-flush')) x.flush.all = true;
    flushPending(x);
  }
  throw new LivelockError(`the shadow fault on 0x${a.va.toString(16)} recurs after the hypervisor resolved it: the guest livelocks`);
}

function complete(x: ShadowScratch, a: AccessAction, pa: Gpa): Observation {
  if (a.access === 'store') {
    if (!storeTrapped(x, pa, a.value, CAUSE.storePageFault, false, a.priv === 'U' ? 'VU' : 'VS')) storeGuest(x, pa, a.value);
    return { kind: 'ok', hpa: hostAddress(x.s.host, pa), value: a.value };
  }
  const h = hostAddress(x.s.host, pa);
  return { kind: 'ok', hpa: h, value: readWord(x.s.host.mem, h) };
}

function hostEvent(x: ShadowScratch, e: Extract<MachineEvent, { kind: 'hostRemap' | 'hostWriteProtect' | 'hostUnprotect' }>): void {
  const covers = (g: bigint, n: bigint) => e.gpn >= g && e.gpn < g + n;
  switch (e.kind) {
    case 'hostRemap':
      x.s = { ...x.s, host: remapPage(x.s.host, e.gpn) };
      // The hypervisor's reverse map: every shadow leaf of the moved page follows it (a superpage over it is cleared).
      if (!has(x, 'remap-keeps-old-frame')) refreshLeaves(x, covers);
      return;
    case 'hostWriteProtect':
      x.s = { ...x.s, host: setWriteProtected(x.s.host, e.gpn, true) };
      refreshLeaves(x, covers);
      return;
    case 'hostUnprotect':
      x.s = { ...x.s, host: setWriteProtected(x.s.host, e.gpn, false) };
      refreshLeaves(x, covers);
  }
}

export function shadowStep(policy: ShadowPolicy, s: ShadowState, e: MachineEvent): StepResult<ShadowState> {
  const x: ShadowScratch = { s, traps: [], events: [], walkRefs: 0, policy, flush: { all: false, vas: new Set() }, hart: [], settingDirty: false };
  let observation: Observation | null = null;
  switch (e.kind) {
    case 'hostRemap':
    case 'hostWriteProtect':
    case 'hostUnprotect':
      hostEvent(x, e);
      break;
    case 'access':
      observation = shadowAccess(x, e);
      break;
    case 'ptStore':
      // A guest page-table store through the kernel's direct map (decision record 0002).
      if (!storeTrapped(x, e.addr, e.value, CAUSE.storePageFault, false, 'VS')) storeGuest(x, e.addr, e.value);
      break;
    case 'satp': {
      // Stryker disable next-line ConditionalExpression,EqualityOperator: the models' ASIDLEN is 16, the width of satp.ASID, so masking changes no ASID they can be given (the reference's masking is pinned by the litmus case satp-asid-masked-to-asidlen)
      const satp: Satp = e.satp.mode === 'bare' ? e.satp : { ...e.satp, asid: maskAsid(x.s.host.cfg, e.satp.asid) };
      x.s = { ...x.s, guestSatp: satp, active: null };
      if (satp.mode === 'sv39') policy.satpWrite(x, satp.rootPpn, satp.asid);
      else {
        // Turning translation off traps like any satp write (hstatus.VTVM, or SSP's M-mode interception): the
        // hypervisor unloads the shadow and runs the guest on its own guest-physical map (`complete`).
        trap(x, CAUSE.virtualInstruction, 'satp-write');
        x.s = { ...x.s, vsatp: null };
      }
      break;
    }
    case 'sfence':
      policy.sfence(x, e.rs1, e.rs2 === null ? null : maskAsid(x.s.host.cfg, e.rs2));
      break;
    case 'sum':
      x.s = { ...x.s, sum: e.value };
      break;
    case 'mxr':
      x.s = { ...x.s, mxr: e.value };
  }
  flushPending(x);
  return { state: x.s, observation, traps: x.traps, events: x.events, walkRefs: x.walkRefs, hart: x.hart };
}

// ---------------------------------------------------------------------------------------------
// Views for the properties and the traces
// ---------------------------------------------------------------------------------------------

/** Every leaf a walk of a shadow reaches, with the shadow path's effective G and the guest walk its ghosts record. */
function leavesOf(s: ShadowState, key: string, root: bigint): ShadowLeafView[] {
  const out: ShadowLeafView[] = [];
  const rootSp = s.mmu.pages.get(root);
  const tag = rootSp?.role.tag;
  const visit = (frame: bigint, g: boolean, path: readonly { level: Level; pteAddr: Gpa; pte: bigint }[]): void => {
    const sp = s.mmu.pages.get(frame);
    if (sp === undefined) return;
    for (const [slot, ghost] of s.mmu.ghosts.get(frame) ?? []) {
      const pte = shadowPte(s, frame, slot);
      // A split sp's entries mirror the guest leaf its parent's entry already recorded.
      const here = sp.role.source.kind === 'table' ? [...path, { level: sp.role.level, pteAddr: ghost.guestPteAddr, pte: ghost.guestPte }] : path;
      const gHere = g || pteG(pte);
      if (isValidPointer(pte)) {
        visit(ptePpn(pte), gHere, here);
        continue;
      }
      if (!isValidLeaf(pte) || ghost.gpn === null) continue;
      const guestLeaf = here[here.length - 1];
      out.push({
        shadow: key, loaded: s.active === key, asid: typeof tag === 'number' ? tag : -1, va: entryVa(sp.role, slot),
        hpn: ptePpn(pte), r: pteR(pte), w: pteW(pte), x: pteX(pte), u: pteU(pte), g: gHere, gpn: ghost.gpn,
        level: sp.role.level, pages: pagesAt(sp.role.level), guestLevel: guestLeaf?.level ?? sp.role.level, guestPath: here,
      });
    }
  };
  visit(root, false, []);
  return out;
}

/**
 * A view computed once per state: states are immutable and views pure, so a caller
 * cannot tell (several properties view the same state after each step).
 */
function viewOncePerState<R>(view: (s: ShadowState) => R): (s: ShadowState) => R {
  const known = new WeakMap<ShadowState, { readonly value: R }>();
  return (s) => {
    const had = known.get(s);
    // Stryker disable next-line ConditionalExpression: a memo of a pure function of an immutable state
    if (had !== undefined) return had.value;
    const value = view(s);
    known.set(s, { value });
    return value;
  };
}

const shadowLeaves = viewOncePerState((s): readonly ShadowLeafView[] => [...s.mmu.roots].flatMap(([key, root]) => leavesOf(s, key, root)));

/** Every shadow page, with its present entries. */
const shadowPages = viewOncePerState((s): readonly ShadowPageView[] => [...s.mmu.pages.values()].map((sp) => ({
  frame: sp.frame, level: sp.role.level, prefix: sp.role.prefix, tag: sp.role.tag, source: sp.role.source, unsync: sp.unsync, links: sp.links,
  entries: [...(s.mmu.ghosts.get(sp.frame) ?? [])].map(([slot, g]) => ({ slot, pte: shadowPte(s, sp.frame, slot), guestPteAddr: g.guestPteAddr, guestPte: g.guestPte })),
})));

function hostTranslations(s: ShadowState): HostTranslationView[] {
  const out: HostTranslationView[] = [];
  for (const l of shadowLeaves(s)) out.push({ what: `shadow ${l.shadow} leaf for 0x${l.va.toString(16)}`, gpn: l.gpn, hpn: l.hpn, pages: l.pages });
  for (const es of s.tlb.values()) {
    for (const e of es) {
      if (!isValidLeaf(e.pte)) continue;
      const gpn = s.claims.get(`${e.pteAddr}|${e.pte}`);
      if (gpn === undefined) continue;
      out.push({ what: `hardware TLB ${e.tag} L${e.level} prefix=0x${e.prefix.toString(16)}`, gpn, hpn: ptePpn(e.pte), pages: pagesAt(e.level) });
    }
  }
  return out;
}

/**
 * The shadow tables as a trace shows them: one record per shadow page, with its
 * role (frame, level, VA prefix, tag, the guest table or superpage it mirrors),
 * whether it is a buffered root, loaded, unsync, and for each present entry `[i]`
 * its PTE word, the guest PTE word and address it was built from, and the word in
 * words (machine-readable for a viewer, readable as it is).
 */
function tablesSnapshot(s: ShadowState): { [k: string]: { [k: string]: SnapshotValue } } {
  const out: { [k: string]: { [k: string]: SnapshotValue } } = {};
  const rootKeys = new Map([...s.mmu.roots].map(([k, f]) => [f, k] as const));
  for (const sp of [...s.mmu.pages.values()].sort((a, b) => (a.frame < b.frame ? -1 : 1))) {
    const r = sp.role;
    const root = rootKeys.get(sp.frame);
    const page: { [k: string]: SnapshotValue } = {
      frame: sp.frame,
      level: `L${r.level}`,
      prefix: r.prefix,
      tag: String(r.tag),
      source: r.source.kind === 'table' ? `guest table 0x${r.source.gfn.toString(16)}` : `split of guest leaf [0x${r.source.leafAddr.toString(16)}]=0x${r.source.leaf.toString(16)}`,
      root: root ?? '',
      loaded: root !== undefined && s.active === root,
      unsync: sp.unsync,
    };
    for (const [slot, ghost] of [...(s.mmu.ghosts.get(sp.frame) ?? [])].sort(([a], [b]) => a - b)) {
      const pte = shadowPte(s, sp.frame, slot);
      page[`[${slot}]`] = pte;
      page[`[${slot}] guest`] = ghost.guestPte;
      page[`[${slot}] guest at`] = ghost.guestPteAddr;
      page[`[${slot}] means`] = describeShadowPte(pte);
    }
    out[`sp 0x${sp.frame.toString(16)}`] = page;
  }
  return out;
}

export function shadowMachine(policy: ShadowPolicy): Machine<ShadowState> {
  return {
    name: policy.name,
    title: policy.title,
    delegation: policy.delegation,
    vtvm: true,
    init: (cfg: GuestConfig, guestMemory: Memory): ShadowState => ({
      host: initialHost(cfg, guestMemory, policy.tablePoolBase),
      guestSatp: { mode: 'bare' },
      sum: false,
      mxr: false,
      mmu: emptyMmu,
      active: null,
      vsatp: null,
      tlb: emptyTlb,
      claims: new Map(),
    }),
    step: (s, e) => shadowStep(policy, s, e),
    view: {
      host: (s) => s.host,
      guestSatp: (s) => s.guestSatp,
      shadowLeaves,
      hostTranslations,
      protectedPageTables: (s) => (policy.writeProtectPageTables ? protectedPageTables(s) : new Set()),
      tableFrames: (s) => s.host.tableFrames,
      shadowPages,
      shadowRoots: (s) => ({ roots: s.mmu.roots, loaded: s.active }),
      snapshot: (s) => ({
        tables: tablesSnapshot(s),
        tlb: [...s.tlb.values()].flat().map((e) => `${e.tag} L${e.level} prefix=0x${e.prefix.toString(16)} [0x${e.pteAddr.toString(16)}]=0x${e.pte.toString(16)}`).sort(),
      }),
    },
  };
}
