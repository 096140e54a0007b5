/**
 * The machinery TSP and SSP share: shadow page tables that map guest-virtual
 * pages straight to host frames, installed in vsatp with hgatp Bare, a hardware
 * TLB that caches shadow leaves, and the hypervisor's handling of shadow faults.
 *
 * A shadow leaf is built from a walk of the guest's table composed with the p2m.
 * Shadow leaves are 4 KiB (a guest superpage is split, since host frames are not
 * contiguous); the shadow's upper levels are not modelled (decision record 0001).
 * What differs between the two designs is a `ShadowPolicy`.
 */
import { type Gpa, type Gva, type Level, PAGE_SHIFT, gpa, hpa, isCanonicalSv39, vpnOf, vpnPrefix } from '../spec/address.ts';
import { type GuestConfig, inRam, maskAsid } from '../spec/config.ts';
import type { AccessAction, Satp } from '../spec/guest-action.ts';
import type { Memory } from '../spec/memory.ts';
import { readWord } from '../spec/memory.ts';
import { encodePte, pteD, pteG, pteR, pteU, pteW, pteX } from '../spec/pte.ts';
import { type Delegation, type Trap, type TrapReason, takeTrap } from '../spec/privilege.ts';
import { type AccessContext, CAUSE, type WalkResult, exceptionFor, leafPermits, walkSv39 } from '../spec/walk.ts';
import {
  type HostState, guestRead, hostAddress, hostMapping, hostStore, initialHost, logDirty, remapPage, setWriteProtected,
} from './host.ts';
import {
  LivelockError, type Machine, type MachineEvent, type ModelEvent, type ModelName, type Observation, type ShadowLeaf, type ShadowLeafView,
  type StepResult,
} from './machine.ts';

export type { ShadowLeaf };

export interface ShadowTable {
  readonly rootPpn: bigint;
  /** The ASID the shadow was last loaded with: its hardware TLB tag. */
  readonly asid: number;
  readonly leaves: ReadonlyMap<bigint, ShadowLeaf>;
}

/** A hardware TLB entry: a cached shadow leaf, tagged by ASID or global. */
export interface HwTlbEntry {
  readonly tag: number | 'global';
  readonly vpn: bigint;
  readonly leaf: ShadowLeaf;
}

export interface ShadowState {
  readonly host: HostState;
  /** The guest's satp as it wrote it (what it reads back). */
  readonly guestSatp: Satp;
  readonly sum: boolean;
  readonly mxr: boolean;
  readonly shadows: ReadonlyMap<string, ShadowTable>;
  /** The shadow loaded in vsatp. */
  readonly active: string | null;
  readonly hwTlb: ReadonlyMap<string, HwTlbEntry>;
}

export interface ShadowPolicy {
  readonly name: ModelName;
  readonly title: string;
  readonly delegation: Delegation;
  /** The key of the shadow for a guest root loaded with an ASID (TSP: the root; SSP: the base address buffer's key). */
  readonly shadowKey: (rootPpn: bigint, asid: number) => string;
  /** TSP: guest page-table pages are write-protected in the shadow and every store to one exits. */
  readonly writeProtectPageTables: boolean;
  /** How a guest satp write is served: the traps it takes, and whether the shadow existed. */
  readonly satpWrite: (x: ShadowScratch, key: string) => void;
  /** How a guest SFENCE.VMA is served (after it trapped). */
  readonly sfence: (x: ShadowScratch, rs1: Gva | null, rs2: number | null) => void;
  /** Seeded bugs (model/variants.ts); empty for the real designs. */
  readonly bugs: ReadonlySet<ShadowBug>;
}

/**
 * Mistakes a shadow-paging hypervisor can make in the machinery TSP and SSP share,
 * switched on one at a time by the seeded-bug variants (model/variants.ts).
 */
export type ShadowBug =
  /** A shadow leaf takes W from the guest alone, ignoring the host's write protection of the frame. */
  | 'leaf-ignores-host-write-protect'
  /** A shadow leaf takes G from the guest leaf alone, dropping the G a pointer above passes down. */
  | 'leaf-drops-path-g'
  /** The hypervisor changes shadow leaves but never flushes the hart's TLB (no HFENCE.VVMA). */
  | 'no-hw-tlb-flush'
  /** TSP does not write-protect a page that has just become a page-table page. */
  | 'no-protect-new-page-table'
  /** A host remap moves the frame but leaves shadow leaves pointing at the old one. */
  | 'remap-keeps-old-frame'
  /** On a shadow miss, leaves another shadow built from the same guest table are linked in without a sync. */
  | 'link-unsynced-subtree';

const has = (x: ShadowScratch, bug: ShadowBug): boolean => x.policy.bugs.has(bug);

/** Mutable scratch of one step. Never escapes `step`. */
export interface ShadowScratch {
  s: ShadowState;
  traps: Trap[];
  events: ModelEvent[];
  walkRefs: number;
  readonly policy: ShadowPolicy;
}

const tlbKey = (tag: number | 'global', vpn: bigint): string => `${tag}:${vpn.toString(16)}`;

export function trap(x: ShadowScratch, cause: number, reason: TrapReason, from: 'VS' | 'VU' = 'VS'): Trap {
  const t = takeTrap(cause, from, x.policy.delegation, reason);
  x.traps.push(t);
  return t;
}

/** HFENCE.VVMA for one page, every ASID: drop the hardware's cached copies of a shadow leaf. */
export function flushHwPage(x: ShadowScratch, vpn: bigint): void {
  if (has(x, 'no-hw-tlb-flush')) return;
  let hw: Map<string, HwTlbEntry> | null = null;
  for (const [k, e] of x.s.hwTlb) {
    if (e.vpn !== vpn) continue;
    hw ??= new Map(x.s.hwTlb);
    hw.delete(k);
  }
  if (hw !== null) x.s = { ...x.s, hwTlb: hw };
}

/**
 * HFENCE.VVMA rs1, rs2 on the hardware TLB, with SFENCE.VMA's scope (H extension:
 * HFENCE.VVMA is SFENCE.VMA for the VS-stage). Its entries are leaves, so an rs1
 * fence removes the entry of rs1's page.
 */
export function hfenceVvma(x: ShadowScratch, rs1: Gva | null, rs2: number | null): void {
  if (has(x, 'no-hw-tlb-flush')) return;
  if (rs1 !== null && !isCanonicalSv39(rs1)) return;
  const hw = new Map<string, HwTlbEntry>();
  for (const [k, e] of x.s.hwTlb) {
    const asidMatch = rs2 === null || (e.tag !== 'global' && e.tag === rs2);
    const vaMatch = rs1 === null || e.vpn === vpnOf(rs1);
    if (!(asidMatch && vaMatch)) hw.set(k, e);
  }
  if (hw.size !== x.s.hwTlb.size) x.events.push('hw-tlb-flush');
  x.s = { ...x.s, hwTlb: hw };
}

/** The guest's own memory, through the p2m, as the hypervisor reads it. */
const guestMemoryReader = (s: ShadowState) => (_level: Level, pteAddr: Gpa) =>
  inRam(s.host.cfg, pteAddr)
    ? [{ kind: 'pte' as const, pte: guestRead(s.host, pteAddr), fromMemory: true }]
    : [{ kind: 'access-fault' as const }];

/** The hypervisor's software walk of the guest's table, from guest memory (never stale). */
export function guestWalk(s: ShadowState, va: Gva, ctx: AccessContext): WalkResult {
  if (s.guestSatp.mode === 'bare') throw new Error('shadow models run Sv39 guests');
  const [w] = walkSv39(va, s.guestSatp.rootPpn, ctx, guestMemoryReader(s), { svade: s.host.cfg.svade }, (pa) => inRam(s.host.cfg, pa));
  if (w === undefined) throw new Error('a walk from memory yields one result');
  return w;
}

/**
 * A walk that finds whatever leaf maps `va`, for a resync with no access at hand:
 * an S-mode load with SUM=MXR=1 passes step 5 for every valid leaf (each has R or
 * X), so only the guest table's own faults (invalid, misaligned, A clear) remain.
 */
export const anyAccess: AccessContext = { kind: 'load', priv: 'S', sum: true, mxr: true };

export function protectedPageTables(s: ShadowState): Set<bigint> {
  const out = new Set<bigint>();
  for (const t of s.shadows.values()) for (const l of t.leaves.values()) for (const p of l.guestPath) out.add(p.pteAddr >> PAGE_SHIFT);
  return out;
}

/** The write permission a shadow leaf may carry: guest W (with D under Svade), host write access, and not a protected page table. */
function shadowWritable(x: ShadowScratch, leafPte: bigint, gpn: bigint, protectedSet: ReadonlySet<bigint> | null): boolean {
  const guestWritable = pteW(leafPte) && (!x.s.host.cfg.svade || pteD(leafPte));
  const hostWritable = has(x, 'leaf-ignores-host-write-protect') || !hostMapping(x.s.host, gpn).writeProtected;
  return guestWritable && hostWritable && !(protectedSet?.has(gpn) ?? false);
}

/** A shadow leaf from a successful guest walk, composed with the p2m. */
export function buildLeaf(x: ShadowScratch, w: Extract<WalkResult, { kind: 'ok' }>): ShadowLeaf {
  const gpn = w.pa >> PAGE_SHIFT;
  const prot = x.policy.writeProtectPageTables ? protectedPageTables(x.s) : null;
  for (const p of w.path) prot?.add(p.pteAddr >> PAGE_SHIFT);
  return {
    hpn: hostMapping(x.s.host, gpn).hpn,
    r: pteR(w.leaf),
    w: shadowWritable(x, w.leaf, gpn, prot),
    x: pteX(w.leaf),
    u: pteU(w.leaf),
    g: has(x, 'leaf-drops-path-g') ? pteG(w.leaf) : w.global,
    gpn,
    guestLevel: w.level,
    guestPath: w.path.map(({ level, pteAddr, pte }) => ({ level, pteAddr, pte })),
  };
}

export function setLeaf(x: ShadowScratch, key: string, vpn: bigint, leaf: ShadowLeaf | null): void {
  const t = x.s.shadows.get(key);
  if (t === undefined) return;
  const leaves = new Map(t.leaves);
  if (leaf === null) leaves.delete(vpn);
  else leaves.set(vpn, leaf);
  x.s = { ...x.s, shadows: new Map(x.s.shadows).set(key, { ...t, leaves }) };
  flushHwPage(x, vpn);
}

/**
 * Bring every leaf's W in line with what it may carry now (host write protection
 * applied or lifted, TSP's page-table pages gained or lost), flushing the hardware
 * TLB for each leaf that changes.
 */
export function enforceWritePermission(x: ShadowScratch): void {
  const prot = x.policy.writeProtectPageTables ? protectedPageTables(x.s) : null;
  for (const [key, t] of x.s.shadows) {
    for (const [vpn, l] of t.leaves) {
      const leafPte = l.guestPath[l.guestPath.length - 1]?.pte ?? 0n;
      const w = shadowWritable(x, leafPte, l.gpn, prot);
      if (w === l.w) continue;
      if (!w) x.events.push('write-protect-applied');
      setLeaf(x, key, vpn, { ...l, w });
    }
  }
}

/** Zap (or, for the loaded shadow, resync from a fresh guest walk) every leaf `covered` selects, in the shadows `inScope` selects. */
export function syncLeaves(
  x: ShadowScratch,
  inScope: (t: ShadowTable, key: string) => boolean,
  covered: (vpn: bigint, l: ShadowLeaf) => boolean,
  resyncLoaded: boolean,
): void {
  for (const [key, t] of x.s.shadows) {
    if (!inScope(t, key)) continue;
    for (const [vpn, l] of t.leaves) {
      if (!covered(vpn, l)) continue;
      if (resyncLoaded && key === x.s.active) {
        const w = guestWalk(x.s, (vpn << PAGE_SHIFT) as Gva, anyAccess);
        setLeaf(x, key, vpn, w.kind === 'ok' ? buildLeaf(x, w) : null);
        x.events.push('shadow-resync');
      } else {
        setLeaf(x, key, vpn, null);
        x.events.push('shadow-zap');
      }
    }
  }
  enforceWritePermission(x);
}

/** Does a guest PTE store at `addr` change a leaf's guest walk? */
export const pathReads = (l: ShadowLeaf, addr: Gpa): boolean => l.guestPath.some((p) => p.pteAddr === addr);

/** A leaf's guest superpage (or page) contains `va`: what an rs1=va fence covers. */
export const leafCovers = (vpn: bigint, l: ShadowLeaf, va: Gva): boolean =>
  vpnPrefix((vpn << PAGE_SHIFT) as Gva, l.guestLevel) === vpnPrefix(va, l.guestLevel);

/** Store guest data at a guest-physical address, as hardware or as the hypervisor emulating it. */
function storeGuest(x: ShadowScratch, a: Gpa, value: bigint): void {
  x.s = { ...x.s, host: hostStore(x.s.host, hostAddress(x.s.host, a), value) };
  if (x.policy.writeProtectPageTables) {
    // TSP keeps every shadow in sync eagerly: a store to a guest PTE zaps the leaves whose walk read it.
    syncLeaves(x, () => true, (_vpn, l) => pathReads(l, a), false);
  }
}

/**
 * A guest store to a page the hypervisor protects exits (once: `trapped` says the
 * exit was already taken, as a shadow fault); the hypervisor logs it dirty (host
 * write protection) and/or emulates it (TSP page-table page), within that one exit.
 * Returns true if the store was emulated.
 */
function storeTrapped(x: ShadowScratch, a: Gpa, value: bigint, cause: number, trapped: boolean, from: 'VS' | 'VU'): boolean {
  const gpn = a >> PAGE_SHIFT;
  const isPageTable = x.policy.writeProtectPageTables && protectedPageTables(x.s).has(gpn);
  const hostProtected = hostMapping(x.s.host, gpn).writeProtected;
  if (!isPageTable && !hostProtected) return false;
  if (!trapped) trap(x, cause, isPageTable ? 'pt-store-protected' : 'dirty-log', from);
  if (hostProtected) {
    x.events.push('dirty-logged');
    x.s = { ...x.s, host: logDirty(x.s.host, gpn) };
  }
  storeGuest(x, a, value);
  enforceWritePermission(x);
  return true;
}

/** A guest page-table store through the kernel's direct map (decision record 0002). */
export function ptStore(x: ShadowScratch, a: Gpa, value: bigint): void {
  if (!storeTrapped(x, a, value, CAUSE.storePageFault, false, 'VS')) storeGuest(x, a, value);
}

function hwLookup(x: ShadowScratch, vpn: bigint): ShadowLeaf | null {
  const asid = x.s.guestSatp.mode === 'sv39' ? x.s.guestSatp.asid : 0;
  const hit = x.s.hwTlb.get(tlbKey(asid, vpn)) ?? x.s.hwTlb.get(tlbKey('global', vpn));
  if (hit !== undefined) return hit.leaf;
  if (x.s.active === null) return null;
  x.walkRefs += 3;
  const leaf = x.s.shadows.get(x.s.active)?.leaves.get(vpn) ?? null;
  if (leaf !== null) {
    const tag = leaf.g ? 'global' : asid;
    x.s = { ...x.s, hwTlb: new Map(x.s.hwTlb).set(tlbKey(tag, vpn), { tag, vpn, leaf }) };
  }
  return leaf;
}

/** A translated access: the hardware on the shadow, the hypervisor on a shadow fault. */
export function shadowAccess(x: ShadowScratch, a: AccessAction): Observation {
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
  const vpn = vpnOf(a.va);
  for (let attempt = 0; attempt < 4; attempt++) {
    const leaf = hwLookup(x, vpn);
    if (leaf !== null && leafPermits(encodePte({ ppn: leaf.hpn, r: leaf.r, w: leaf.w, x: leaf.x, u: leaf.u }), ctx)) {
      const h = hpa((leaf.hpn << PAGE_SHIFT) | (a.va & 0xfffn));
      if (a.access === 'store') {
        x.s = { ...x.s, host: hostStore(x.s.host, h, a.value) };
        return { kind: 'ok', hpa: h, value: a.value };
      }
      return { kind: 'ok', hpa: h, value: readWord(x.s.host.mem, h) };
    }
    // A shadow page fault: not delegated to the guest, so a VM exit to the hypervisor.
    trap(x, pageFault, leaf === null ? 'shadow-miss' : 'shadow-permission', from);
    const w = guestWalk(x.s, a.va, ctx);
    if (w.kind === 'fault') return inject(w);
    if (a.access === 'store' && storeTrapped(x, w.pa, a.value, pageFault, true, from)) {
      return { kind: 'ok', hpa: hostAddress(x.s.host, w.pa), value: a.value };
    }
    const key = x.s.active;
    if (key === null) throw new Error('a Sv39 guest always has a shadow loaded');
    setLeaf(x, key, vpn, buildLeaf(x, w));
    x.events.push(leaf === null ? 'hidden-fault' : 'shadow-resync');
    // TSP: the walk may have made new guest pages page-table pages; leaves that map them lose W.
    if (x.policy.writeProtectPageTables && !has(x, 'no-protect-new-page-table')) enforceWritePermission(x);
    if (leaf === null && has(x, 'link-unsynced-subtree')) linkSiblings(x, key, w);
  }
  throw new LivelockError(`the shadow fault on 0x${a.va.toString(16)} recurs after the hypervisor resolved it: the guest livelocks`);
}

/**
 * The 'link-unsynced-subtree' bug: shadow pages shared between shadows, as KVM
 * shares a shadow page per guest table. Every leaf another shadow built through
 * the same guest level-0 table is linked into this one as it stands, unsynced.
 */
function linkSiblings(x: ShadowScratch, key: string, w: Extract<WalkResult, { kind: 'ok' }>): void {
  const table = w.path.find((p) => p.level === 0)?.pteAddr;
  if (table === undefined) return;
  const page = table >> PAGE_SHIFT;
  for (const [other, t] of x.s.shadows) {
    if (other === key) continue;
    for (const [vpn, l] of t.leaves) {
      const l0 = l.guestPath.find((p) => p.level === 0);
      if (l0 !== undefined && l0.pteAddr >> PAGE_SHIFT === page && !x.s.shadows.get(key)?.leaves.has(vpn)) setLeaf(x, key, vpn, l);
    }
  }
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
  switch (e.kind) {
    case 'hostRemap': {
      x.s = { ...x.s, host: remapPage(x.s.host, e.gpn) };
      const hpn = hostMapping(x.s.host, e.gpn).hpn;
      // The hypervisor's reverse map: repoint every shadow leaf of the moved page, and flush the hardware's copies.
      if (has(x, 'remap-keeps-old-frame')) return;
      for (const [key, t] of x.s.shadows) for (const [vpn, l] of t.leaves) if (l.gpn === e.gpn) setLeaf(x, key, vpn, { ...l, hpn });
      return;
    }
    case 'hostWriteProtect':
      x.s = { ...x.s, host: setWriteProtected(x.s.host, e.gpn, true) };
      enforceWritePermission(x);
      return;
    case 'hostUnprotect':
      x.s = { ...x.s, host: setWriteProtected(x.s.host, e.gpn, false) };
      enforceWritePermission(x);
  }
}

export function shadowStep(policy: ShadowPolicy, s: ShadowState, e: MachineEvent): StepResult<ShadowState> {
  const x: ShadowScratch = { s, traps: [], events: [], walkRefs: 0, policy };
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
      ptStore(x, e.addr, e.value);
      break;
    case 'satp': {
      const cfg = x.s.host.cfg;
      const satp: Satp = e.satp.mode === 'bare' ? e.satp : { ...e.satp, asid: maskAsid(cfg, e.satp.asid) };
      x.s = { ...x.s, guestSatp: satp };
      if (satp.mode === 'sv39') policy.satpWrite(x, policy.shadowKey(satp.rootPpn, satp.asid));
      else x.s = { ...x.s, active: null };
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
  return { state: x.s, observation, traps: x.traps, events: x.events, walkRefs: x.walkRefs };
}

/** Load (creating if absent) the shadow for `key`; returns whether it existed. */
export function loadShadow(x: ShadowScratch, key: string): boolean {
  const satp = x.s.guestSatp;
  if (satp.mode !== 'sv39') throw new Error('only a Sv39 guest satp loads a shadow');
  const existing = x.s.shadows.get(key);
  const table: ShadowTable = existing === undefined
    ? { rootPpn: satp.rootPpn, asid: satp.asid, leaves: new Map() }
    : { ...existing, asid: satp.asid };
  x.s = { ...x.s, shadows: new Map(x.s.shadows).set(key, table), active: key };
  return existing !== undefined;
}

const leafText = (l: ShadowLeaf): string =>
  `hpn=0x${l.hpn.toString(16)} ${l.r ? 'R' : '-'}${l.w ? 'W' : '-'}${l.x ? 'X' : '-'}${l.u ? 'U' : '-'}${l.g ? 'G' : '-'} gpn=0x${l.gpn.toString(16)}`;

export function shadowMachine(policy: ShadowPolicy): Machine<ShadowState> {
  return {
    name: policy.name,
    title: policy.title,
    delegation: policy.delegation,
    vtvm: true,
    init: (cfg: GuestConfig, guestMemory: Memory): ShadowState => ({
      host: initialHost(cfg, guestMemory),
      guestSatp: { mode: 'bare' },
      sum: false,
      mxr: false,
      shadows: new Map(),
      active: null,
      hwTlb: new Map(),
    }),
    step: (s, e) => shadowStep(policy, s, e),
    view: {
      host: (s) => s.host,
      guestSatp: (s) => s.guestSatp,
      shadowLeaves: (s) => {
        const out: ShadowLeafView[] = [];
        for (const [key, t] of s.shadows) {
          for (const [vpn, l] of t.leaves) {
            out.push({ shadow: key, loaded: key === s.active, asid: t.asid, va: (vpn << PAGE_SHIFT) as Gva, ...l });
          }
        }
        return out;
      },
      hostTranslations: (s) => [
        ...[...s.hwTlb.values()].map((e) => ({ what: `hardware TLB ${tlbKey(e.tag, e.vpn)}`, gpn: e.leaf.gpn, hpn: e.leaf.hpn })),
        ...[...s.shadows].flatMap(([key, t]) =>
          [...t.leaves].map(([vpn, l]) => ({ what: `shadow ${key} vpn=0x${vpn.toString(16)}`, gpn: l.gpn, hpn: l.hpn }))),
      ],
      protectedPageTables: (s) => (policy.writeProtectPageTables ? protectedPageTables(s) : new Set()),
      snapshot: (s) => ({
        tables: Object.fromEntries([...s.shadows].map(([key, t]) => [
          `${key}${key === s.active ? ' (loaded)' : ''}`,
          Object.fromEntries([...t.leaves].map(([vpn, l]) => [`va 0x${(vpn << PAGE_SHIFT).toString(16)}`, leafText(l)])),
        ])),
        tlb: [...s.hwTlb.values()].map((e) => `${e.tag} va=0x${(e.vpn << PAGE_SHIFT).toString(16)} ${leafText(e.leaf)}`).sort(),
      }),
    },
  };
}
