/**
 * The shadow MMU that TSP and SSP share: shadow page tables in host memory, with
 * real Sv39 encodings, built from the guest's tables composed with the p2m, and
 * walked by the hart (model/shadow.ts) with the spec's own walk.
 *
 * A shadow page (sp) is one host frame of 512 PTEs from the table pool, with a
 * role: the level it is walked at, the VA prefix of the addresses it translates,
 * the tag of the translations it holds (SSP: the ASID of its shadow, or GLOBAL below
 * a guest G bit; TSP: none, its shadows being always in sync), and its source: the
 * guest table page it shadows, or the guest superpage leaf it splits into smaller
 * shadow leaves. There is one sp per role, so the shadows of several guest roots
 * share the sps of the tables their walks share at the same VA prefix, as a shared
 * kernel half does (decision record 0009).
 *
 * Every shadow PTE remembers the guest PTE it was built from (ghost state, read only
 * by the properties). A shadow entry that is not present means "ask the
 * hypervisor": it never stands for a guest fault, which the hypervisor injects from
 * a fresh walk of the guest's table.
 */
import { type Gpa, type Gva, type Hpa, type Level, PAGE_SHIFT, PTE_SIZE, gpa, gva, hpa, vpnPrefix } from '../spec/address.ts';
import type { ConcreteTlb } from '../spec/concrete-tlb.ts';
import { inRam } from '../spec/config.ts';
import type { Satp } from '../spec/guest-action.ts';
import { readWord } from '../spec/memory.ts';
import { encodePte, isValidLeaf, isValidPointer, passesStep3, pteA, pteD, pteG, ptePpn, pteR, pteU, pteW, pteX } from '../spec/pte.ts';
import type { Delegation, Trap } from '../spec/privilege.ts';
import { isMisalignedSuperpage, leafPhysicalAddress } from '../spec/walk.ts';
import { type HostState, TABLE_POOL_BASE, allocTableFrames, freeTableFrame, guestRead, hostMapping, hostStore } from './host.ts';

/** Where the table pool starts, for the policies (model/host.ts). */
export const TABLE_POOL = TABLE_POOL_BASE;
import type { HartEvent, ModelEvent, ModelName } from './machine.ts';

/** The tag of an sp's translations: an ASID or GLOBAL (SSP), or null when the design needs none (TSP). */
export type SpTag = number | 'global' | null;

export type SpSource =
  /** The guest table page the sp shadows. */
  | { readonly kind: 'table'; readonly gfn: bigint }
  /** A guest superpage leaf (its address, value and level) that the sp maps with smaller shadow leaves. */
  | { readonly kind: 'split'; readonly leafAddr: Gpa; readonly leaf: bigint; readonly leafLevel: Level };

export interface SpRole {
  readonly level: Level;
  /** vpn[2..level+1] of the virtual addresses the sp translates (0 for a root). */
  readonly prefix: bigint;
  readonly tag: SpTag;
  readonly source: SpSource;
}

export interface ShadowPage {
  readonly frame: bigint;
  readonly role: SpRole;
  /** Shadow PTEs that point to it, plus one while it is a root in the buffer. */
  readonly links: number;
  /** A fence covered it while no walk from the loaded shadow reached it: it must be synced before it is used. */
  readonly unsync: boolean;
}

/** What a shadow PTE was built from: the guest PTE it mirrors, and for a leaf the first guest page it maps. */
export interface Ghost {
  readonly guestPteAddr: Gpa;
  readonly guestPte: bigint;
  readonly gpn: bigint | null;
}

export interface ShadowMmu {
  readonly pages: ReadonlyMap<bigint, ShadowPage>;
  readonly byRole: ReadonlyMap<string, bigint>;
  readonly ghosts: ReadonlyMap<bigint, ReadonlyMap<number, Ghost>>;
  /** The shadows: buffer key -> root sp frame (SSP's shadow page table base address buffer; TSP's per-root shadows). */
  readonly roots: ReadonlyMap<string, bigint>;
  /** Buffer keys, least recently loaded first: the order reclaim drops shadows in. */
  readonly lru: readonly string[];
}

export const emptyMmu: ShadowMmu = { pages: new Map(), byRole: new Map(), ghosts: new Map(), roots: new Map(), lru: [] };

export interface ShadowState {
  readonly host: HostState;
  /** The guest's satp as it wrote it (what it reads back). */
  readonly guestSatp: Satp;
  readonly sum: boolean;
  readonly mxr: boolean;
  readonly mmu: ShadowMmu;
  /** The loaded shadow (its buffer key), whose root is in vsatp. */
  readonly active: string | null;
  /** The hart: vsatp (the loaded shadow's root frame, with the guest's ASID), hgatp Bare. */
  readonly vsatp: { readonly asid: number; readonly root: bigint } | null;
  /** The hart's address-translation cache over host memory (spec/concrete-tlb.ts). */
  readonly tlb: ConcreteTlb;
  /**
   * Ghost: the guest page each shadow leaf word written at a host address claims, for the isolation property.
   * Kept for the whole run: it grows by the distinct leaf words written (13 in 590 generated steps), not by steps.
   */
  readonly claims: ReadonlyMap<string, bigint>;
  /**
   * Several vCPUs (model/vcpus.ts): the buffer keys of the shadows other harts have loaded, which reclaim must
   * not drop. Absent with one hart.
   */
  readonly pinned?: ReadonlySet<string>;
  /**
   * Several vCPUs (SSP, model/vcpus.ts, decision 0015): the sps out of sync for some other hart. Linking one
   * syncs it first, as linking one out of sync for this hart does: a hart whose loaded shadow reaches the
   * parent would otherwise walk entries it could not have cached. Absent with one hart.
   */
  readonly unsyncElsewhere?: ReadonlySet<bigint>;
  /** Several vCPUs: the sps synced in this step, in sync now for every hart that reaches them (set empty before each step). */
  readonly syncedNow?: ReadonlySet<bigint>;
}

/**
 * Mistakes a shadow-paging hypervisor can make in the machinery TSP and SSP share,
 * switched on one at a time by the seeded-bug variants (model/variants.ts).
 */
export type ShadowBug =
  /** A shadow leaf takes W from the guest alone, ignoring the host's write protection of the frame. */
  | 'leaf-ignores-host-write-protect'
  /** Shadow pointers drop the G bit of the guest pointer they mirror: G no longer passes down the shadow path. */
  | 'pointer-drops-g'
  /** The hypervisor changes shadow entries but never flushes the hart's TLB (no HFENCE.VVMA). */
  | 'no-hw-tlb-flush'
  /** TSP does not write-protect a page that has just become a page-table page. */
  | 'no-protect-new-page-table'
  /** A host remap moves the frame but leaves shadow leaves pointing at the old one. */
  | 'remap-keeps-old-frame'
  /** A shadow page a fence left unsync is linked into the loaded shadow without being synced first. */
  | 'link-unsynced-subtree'
  /** A host remap of one frame inside a shadow superpage leaves the superpage (mapping the old, contiguous frames). */
  | 'remap-keeps-superpage'
  /**
   * After linking, replacing or clearing a shadow pointer, and after freeing a shadow page, only an
   * address-specific HFENCE.VVMA, even when the fault recurs: the hart's cached non-leaf entries survive it.
   */
  | 'pointer-change-leaf-flush'
  /** SSP's sp roles leave out the VA prefix: one sp per guest table is shared across the VA ranges it is reached from. */
  | 'role-without-prefix'
  /** Svadu: a store's exit makes the shadow leaf writable but never sets D in the guest's PTE. */
  | 'dirty-in-shadow-only'
  /** Svadu: a sync (or prefetch) shadows a guest leaf whose A is clear, so the access that uses it never sets A. */
  | 'maps-unaccessed-leaf'
  /** Svadu: the exit that sets D skips the dirty-log check and makes the shadow leaf writable even where dirty logging write-protects the frame. */
  | 'dirty-emulation-ignores-host-write-protect'
  /** Svadu: a shadow leaf takes W from the guest's W alone, as if D were set (the Svade rule read backwards). */
  | 'writable-before-dirty';

export interface ShadowPolicy {
  readonly name: ModelName;
  readonly title: string;
  readonly delegation: Delegation;
  /** The buffer key of the shadow for a guest root loaded with an ASID (TSP: the root; SSP: root and ASID). */
  readonly bufferKey: (rootPpn: bigint, asid: number) => string;
  /** SSP: sps carry the ASID (or GLOBAL) of the translations they hold; TSP: no tags. */
  readonly tagged: boolean;
  /** TSP: guest page-table pages are write-protected and every store to one exits and updates the shadow. */
  readonly writeProtectPageTables: boolean;
  /** Whether a guest superpage backed by contiguous, aligned host frames gets a superpage shadow leaf. */
  readonly superpages: boolean;
  /** Where the hypervisor's table pool starts (a parameter only so that a seeded bug can misplace it). */
  readonly tablePoolBase: bigint;
  /** How a guest satp write is served: the traps it takes, and loading the shadow. */
  readonly satpWrite: (x: ShadowScratch, rootPpn: bigint, asid: number) => void;
  /** How a guest SFENCE.VMA is served (after it trapped). */
  readonly sfence: (x: ShadowScratch, rs1: Gva | null, rs2: number | null) => void;
  readonly bugs: ReadonlySet<ShadowBug>;
}

/** HFENCE.VVMA operands a step owes the hart before the guest runs again. */
export interface PendingFlush {
  /** Some shadow pointer changed or a shadow page was freed: cached non-leaf entries must go (rs1=x0). */
  all: boolean;
  /** Virtual addresses whose shadow leaf changed (rs1=va, rs2=x0). */
  readonly vas: Set<bigint>;
}

/** Mutable scratch of one step. Never escapes the step. */
export interface ShadowScratch {
  s: ShadowState;
  traps: Trap[];
  events: ModelEvent[];
  walkRefs: number;
  readonly policy: ShadowPolicy;
  readonly flush: PendingFlush;
  /** What the hart did (model/machine.ts HartEvent). */
  readonly hart: HartEvent[];
  /** The exit being served sets D in the guest's PTE (Svadu): only a seeded bug reads it. */
  settingDirty: boolean;
}

export const has = (x: ShadowScratch, bug: ShadowBug): boolean => x.policy.bugs.has(bug);

/** Thrown when the pool has no frame even after reclaim: the caller zaps the loaded shadow and starts again. */
export class PoolExhaustedError extends Error {}

// ---------------------------------------------------------------------------------------------
// Geometry and encodings
// ---------------------------------------------------------------------------------------------

const roleKey = (r: SpRole): string => {
  const src = r.source.kind === 'table' ? `t${r.source.gfn.toString(16)}` : `s${r.source.leafAddr.toString(16)}:${r.source.leaf.toString(16)}`;
  return `${r.level}|${r.prefix.toString(16)}|${String(r.tag)}|${src}`;
};

export const slotAddress = (frame: bigint, slot: number): Hpa => hpa((frame << PAGE_SHIFT) + BigInt(slot) * PTE_SIZE);

/** The lowest virtual address an entry of an sp translates: its prefix and slot, sign-extended from bit 38 (Sv39). */
export function entryVa(role: SpRole, slot: number): Gva {
  const low = ((role.prefix << 9n) | BigInt(slot)) << (PAGE_SHIFT + 9n * BigInt(role.level));
  return gva((low >> 38n) & 1n ? low | ~((1n << 39n) - 1n) : low);
}

/** Pages a leaf at this level maps: 1, 512 or 512^2. */
export const pagesAt = (level: Level): bigint => 1n << (9n * BigInt(level));

/** Does an sp translate `va`? Its prefix equals va's vpn[2..level+1]. */
// Stryker disable next-line ConditionalExpression: a root's prefix is 0, as is every address's prefix above bit 38
export const spCovers = (role: SpRole, va: Gva): boolean => role.level === 2 || role.prefix === vpnPrefix(va, (role.level + 1) as Level);

export const shadowPte = (s: ShadowState, frame: bigint, slot: number): bigint => readWord(s.host.mem, slotAddress(frame, slot));
export const ghostAt = (s: ShadowState, frame: bigint, slot: number): Ghost | undefined => s.mmu.ghosts.get(frame)?.get(slot);

/** Guest page-table pages TSP write-protects: the source of every table sp. */
export function protectedPageTables(s: ShadowState): Set<bigint> {
  const out = new Set<bigint>();
  // Stryker disable next-line ConditionalExpression: a split sp has no gfn: adding `undefined` to the set changes no lookup of a guest page
  for (const sp of s.mmu.pages.values()) if (sp.role.source.kind === 'table') out.add(sp.role.source.gfn);
  return out;
}

// ---------------------------------------------------------------------------------------------
// What an entry should hold
// ---------------------------------------------------------------------------------------------

type Desired =
  | { readonly kind: 'none' }
  | { readonly kind: 'pointer'; readonly role: SpRole; readonly g: boolean }
  | { readonly kind: 'leaf'; readonly pte: bigint; readonly gpn: bigint };

/**
 * Write permission for the guest pages [gpn, gpn+n): the guest's W with D set, the
 * host's write access, and, under TSP, no page-table page among them. D is needed
 * under both A/D modes: Svade, a store through D=0 faults (step 7); Svadu, the hart
 * would set D, and the shadow's own D is not the guest's, so a clean page stays
 * read-only in the shadow and its first store exits to set D (decision 0013).
 */
function writable(x: ShadowScratch, guestLeaf: bigint, gpn: bigint, n: bigint, prot: ReadonlySet<bigint> | null): boolean[] {
  const guestW = pteW(guestLeaf) && (pteD(guestLeaf) || (has(x, 'writable-before-dirty') && !x.s.host.cfg.svade));
  const out: boolean[] = [];
  for (let k = 0n; k < n; k++) {
    const page = gpn + k;
    const hostW = has(x, 'leaf-ignores-host-write-protect') || (x.settingDirty && has(x, 'dirty-emulation-ignores-host-write-protect'))
      || !hostMapping(x.s.host, page).writeProtected;
    out.push(guestW && hostW && !(prot?.has(page) ?? false));
  }
  return out;
}

/** A shadow leaf for the guest pages [gpn, gpn+n), if they can share one: in RAM, backed contiguously and aligned, with one W. */
function leafFor(x: ShadowScratch, guestLeaf: bigint, gpn: bigint, level: Level, prot: ReadonlySet<bigint> | null): Desired | 'split' {
  const n = pagesAt(level);
  const cfg = x.s.host.cfg;
  if (!inRam(cfg, gpn << PAGE_SHIFT) || !inRam(cfg, (gpn + n - 1n) << PAGE_SHIFT)) return n === 1n ? { kind: 'none' } : 'split';
  const hpn = hostMapping(x.s.host, gpn).hpn;
  // Stryker disable next-line ConditionalExpression,EqualityOperator: for one page the alignment and contiguity checks pass trivially
  if (n > 1n) {
    if (hpn % n !== 0n) return 'split';
    for (let k = 1n; k < n; k++) if (hostMapping(x.s.host, gpn + k).hpn !== hpn + k) return 'split';
  }
  const w = writable(x, guestLeaf, gpn, n, prot);
  if (w.some((v) => v !== w[0])) return 'split';
  const pte = encodePte({
    // Stryker disable next-line BooleanLiteral: writable() gives one value per page, never none
    ppn: hpn, r: pteR(guestLeaf), w: w[0] ?? false, x: pteX(guestLeaf), u: pteU(guestLeaf), g: pteG(guestLeaf), a: true, d: true,
  });
  return { kind: 'leaf', pte, gpn };
}

/** The tag of a child sp: GLOBAL below a guest G bit (Sv39: G on a pointer makes its subtree global), else its parent's. */
function childTag(x: ShadowScratch, parent: SpRole, guestPte: bigint): SpTag {
  if (!x.policy.tagged) return null;
  // Below a global parent, the parent's tag is already 'global'.
  return pteG(guestPte) ? 'global' : parent.tag;
}

function childPrefix(x: ShadowScratch, parent: SpRole, slot: number): bigint {
  return has(x, 'role-without-prefix') ? 0n : (parent.prefix << 9n) | BigInt(slot);
}

/**
 * What the shadow entry at `slot` of `sp` should hold, given the guest PTE it
 * mirrors. Anything the hart must not use on its own (an invalid guest PTE, a
 * misaligned superpage, a leaf with A clear, a page outside RAM) is not
 * present: the access then exits and the hypervisor injects the guest's fault.
 */
export function desiredEntry(x: ShadowScratch, sp: ShadowPage, slot: number, guestPte: bigint): Desired {
  const role = sp.role;
  const prot = x.policy.writeProtectPageTables ? protectedPageTables(x.s) : null;
  const split = (leaf: bigint, leafAddr: Gpa, leafLevel: Level): Desired => ({
    kind: 'pointer',
    // Stryker disable next-line ConditionalExpression,BooleanLiteral: the leaves below a split pointer take G from the guest superpage themselves, so the pointer's G changes no translation (unlike a table pointer's: the pointer-drops-g variant)
    g: pteG(leaf) && !has(x, 'pointer-drops-g'),
    role: {
      level: (role.level - 1) as Level, prefix: childPrefix(x, role, slot), tag: childTag(x, role, leaf),
      source: { kind: 'split', leafAddr, leaf, leafLevel },
    },
  });
  if (role.source.kind === 'split') {
    // A piece of a guest superpage: the pages this entry covers, at this level.
    const { leaf, leafAddr, leafLevel } = role.source;
    const gpn = leafPhysicalAddress(entryVa(role, slot), leaf, leafLevel) >> PAGE_SHIFT;
    if (role.level > 0 && !x.policy.superpages) return split(leaf, leafAddr, leafLevel);
    const d = leafFor(x, leaf, gpn, role.level, prot);
    return d === 'split' ? split(leaf, leafAddr, leafLevel) : d;
  }
  // Sv39 step 3: an invalid guest PTE is never cached in the shadow.
  if (!passesStep3(guestPte)) return { kind: 'none' };
  const guestAddr = gpa((role.source.gfn << PAGE_SHIFT) + BigInt(slot) * PTE_SIZE);
  if (isValidPointer(guestPte)) {
    // Step 4: a pointer past level 0 is a guest fault.
    if (role.level === 0) return { kind: 'none' };
    return {
      kind: 'pointer',
      g: pteG(guestPte) && !has(x, 'pointer-drops-g'),
      role: { level: (role.level - 1) as Level, prefix: childPrefix(x, role, slot), tag: childTag(x, role, guestPte), source: { kind: 'table', gfn: ptePpn(guestPte) } },
    };
  }
  // Step 6: a misaligned superpage faults on every access. Step 7: A clear faults (Svade), or the hart
  // sets A (Svadu): either way the access must exit, to inject the fault or to set A (decision 0013).
  const unaccessed = !pteA(guestPte) && (x.s.host.cfg.svade || !has(x, 'maps-unaccessed-leaf'));
  if (isMisalignedSuperpage(guestPte, role.level) || unaccessed) return { kind: 'none' };
  const gpn = ptePpn(guestPte);
  if (role.level > 0 && !x.policy.superpages) return split(guestPte, guestAddr, role.level);
  const d = leafFor(x, guestPte, gpn, role.level, prot);
  return d === 'split' ? split(guestPte, guestAddr, role.level) : d;
}

/** The guest PTE an entry of a table sp mirrors now, read from guest memory (through the p2m). */
export function guestPteOf(s: ShadowState, sp: ShadowPage, slot: number): { addr: Gpa; pte: bigint } {
  if (sp.role.source.kind === 'split') return { addr: sp.role.source.leafAddr, pte: sp.role.source.leaf };
  const addr = gpa((sp.role.source.gfn << PAGE_SHIFT) + BigInt(slot) * PTE_SIZE);
  return { addr, pte: guestRead(s.host, addr) };
}

// ---------------------------------------------------------------------------------------------
// Allocation, links, frees
// ---------------------------------------------------------------------------------------------

function setPages(x: ShadowScratch, pages: Map<bigint, ShadowPage>): void {
  x.s = { ...x.s, mmu: { ...x.s.mmu, pages } };
}

function updatePage(x: ShadowScratch, frame: bigint, f: (p: ShadowPage) => ShadowPage): ShadowPage {
  const p = x.s.mmu.pages.get(frame);
  if (p === undefined) throw new Error(`no shadow page at frame 0x${frame.toString(16)}`);
  // Stryker disable next-line ConditionalExpression: an internal invariant that never fails in a correct or seeded run; without the check the next line fails instead
  const next = f(p);
  setPages(x, new Map(x.s.mmu.pages).set(frame, next));
  return next;
}

/** Write one shadow PTE as a host store, with the ghost it was built from (null: the entry is cleared). */
function writeEntry(x: ShadowScratch, frame: bigint, slot: number, pte: bigint, ghost: Ghost | null): void {
  const addr = slotAddress(frame, slot);
  x.s = { ...x.s, host: hostStore(x.s.host, addr, pte) };
  const slots = new Map(x.s.mmu.ghosts.get(frame) ?? []);
  if (ghost === null) slots.delete(slot);
  else slots.set(slot, ghost);
  const ghosts = new Map(x.s.mmu.ghosts);
  // Stryker disable next-line ConditionalExpression: an empty map and no map are the same ghosts (`?? []` where read)
  if (slots.size === 0) ghosts.delete(frame);
  else ghosts.set(frame, slots);
  x.s = { ...x.s, mmu: { ...x.s.mmu, ghosts } };
  if (ghost !== null && ghost.gpn !== null && isValidLeaf(pte)) x.s = { ...x.s, claims: new Map(x.s.claims).set(`${addr}|${pte}`, ghost.gpn) };
}

/** Allocate a frame for an sp, reclaiming whole shadows that are not loaded when the pool is empty (as KVM's shrinker does). */
function allocFrame(x: ShadowScratch): bigint {
  for (;;) {
    const got = allocTableFrames(x.s.host);
    if (got !== null) {
      x.s = { ...x.s, host: got.host };
      return got.frame;
    }
    const victim = x.s.mmu.lru.find((k) => k !== x.s.active && !(x.s.pinned?.has(k) ?? false));
    if (victim === undefined) throw new PoolExhaustedError('the shadow-page pool is exhausted by the loaded shadow alone');
    dropShadow(x, victim);
    x.events.push('shadow-reclaim');
  }
}

/** The sp with this role, created (empty, so nothing to sync) if there is none. */
export function findOrCreate(x: ShadowScratch, role: SpRole): ShadowPage {
  const key = roleKey(role);
  const frame = x.s.mmu.byRole.get(key);
  if (frame !== undefined) {
    const sp = x.s.mmu.pages.get(frame);
    if (sp !== undefined) return sp;
  }
  const fresh = allocFrame(x);
  const sp: ShadowPage = { frame: fresh, role, links: 0, unsync: false };
  x.s = {
    ...x.s,
    mmu: { ...x.s.mmu, pages: new Map(x.s.mmu.pages).set(fresh, sp), byRole: new Map(x.s.mmu.byRole).set(key, fresh) },
  };
  x.events.push('shadow-page-alloc');
  // TSP: a guest page that has just become a page-table page loses W in every shadow leaf that maps it.
  if (x.policy.writeProtectPageTables && role.source.kind === 'table' && !has(x, 'no-protect-new-page-table')) {
    refreshLeaves(x, (gpn, n) => role.source.kind === 'table' && role.source.gfn >= gpn && role.source.gfn < gpn + n);
  }
  return sp;
}

/** Free an sp nothing links any more: its own pointers are dropped first, and the hart must forget it before the frame is reused. */
function release(x: ShadowScratch, frame: bigint): boolean {
  const sp = x.s.mmu.pages.get(frame);
  if (sp === undefined || sp.links > 0) return false;
  for (const slot of [...(x.s.mmu.ghosts.get(frame)?.keys() ?? [])]) clearEntry(x, sp, slot);
  const pages = new Map(x.s.mmu.pages);
  pages.delete(frame);
  const byRole = new Map(x.s.mmu.byRole);
  byRole.delete(roleKey(sp.role));
  const ghosts = new Map(x.s.mmu.ghosts);
  ghosts.delete(frame);
  x.s = { ...x.s, mmu: { ...x.s.mmu, pages, byRole, ghosts }, host: freeTableFrame(x.s.host, frame) };
  x.events.push('shadow-page-free');
  if (!has(x, 'pointer-change-leaf-flush')) x.flush.all = true;
  // TSP: a guest page no sp shadows any more is no page table of the hypervisor's: leaves that map it get W back.
  const src = sp.role.source;
  if (x.policy.writeProtectPageTables && src.kind === 'table' && !protectedPageTables(x.s).has(src.gfn)) {
    refreshLeaves(x, (gpn, n) => src.gfn >= gpn && src.gfn < gpn + n);
  }
  return true;
}

/** Clear one shadow entry; a pointer drops its link, freeing the child when nothing else links it. */
export function clearEntry(x: ShadowScratch, sp: ShadowPage, slot: number): void {
  const old = shadowPte(x.s, sp.frame, slot);
  if (old === 0n && ghostAt(x.s, sp.frame, slot) === undefined) return;
  writeEntry(x, sp.frame, slot, 0n, null);
  if (isValidPointer(old)) {
    const child = ptePpn(old);
    if (x.s.mmu.pages.has(child)) {
      updatePage(x, child, (p) => ({ ...p, links: p.links - 1 }));
      release(x, child);
    }
    noteChange(x, sp, slot, 'pointer');
  } else if (old !== 0n) {
    noteChange(x, sp, slot, 'leaf');
  }
}

/** What the hart must be told: a leaf change is fenced by address; a pointer change needs rs1=x0 (cached non-leaf entries). */
function noteChange(x: ShadowScratch, sp: ShadowPage, slot: number, kind: 'leaf' | 'pointer'): void {
  if (kind === 'pointer' && !has(x, 'pointer-change-leaf-flush')) x.flush.all = true;
  else x.flush.vas.add(entryVa(sp.role, slot));
}

/**
 * Make the entry at `slot` hold what `d` says (linking the child sp, synced first
 * if a fence left it unsync), remembering the guest PTE it mirrors. Returns the
 * child sp for a pointer.
 */
export function setEntry(x: ShadowScratch, sp: ShadowPage, slot: number, d: Desired, guest: { addr: Gpa; pte: bigint }): ShadowPage | null {
  const old = shadowPte(x.s, sp.frame, slot);
  if (d.kind === 'none') {
    clearEntry(x, sp, slot);
    return null;
  }
  if (d.kind === 'leaf') {
    const ghost: Ghost = { guestPteAddr: guest.addr, guestPte: guest.pte, gpn: d.gpn };
    const g = ghostAt(x.s, sp.frame, slot);
    if (old === d.pte && g !== undefined && g.guestPte === ghost.guestPte && g.guestPteAddr === ghost.guestPteAddr) return null;
    if (isValidPointer(old)) clearEntry(x, sp, slot);
    writeEntry(x, sp.frame, slot, d.pte, ghost);
    // A leaf fence also removes the invalid entry the hart may have cached here: memory now holds a leaf.
    noteChange(x, sp, slot, 'leaf');
    return null;
  }
  let child = findOrCreate(x, d.role);
  if ((child.unsync || unsyncElsewhere(x, child.frame)) && !has(x, 'link-unsynced-subtree')) child = syncPage(x, child);
  const pte = encodePte({ ppn: child.frame, g: d.g });
  const current = x.s.mmu.pages.get(sp.frame);
  if (current === undefined) throw new Error('the parent shadow page was freed while its entry was being set');
  const ghost: Ghost = { guestPteAddr: guest.addr, guestPte: guest.pte, gpn: null };
  if (isValidPointer(old) && ptePpn(old) === child.frame) {
    // The same child (its G bit, or only the guest PTE it mirrors, changed): rewrite in place, keeping the link.
    writeEntry(x, sp.frame, slot, pte, ghost);
    if (old !== pte) noteChange(x, sp, slot, 'pointer');
    return child;
  }
  if (old !== 0n) clearEntry(x, current, slot);
  writeEntry(x, sp.frame, slot, pte, ghost);
  child = updatePage(x, child.frame, (p) => ({ ...p, links: p.links + 1 }));
  // The hart may have cached this entry as invalid; an address-specific fence keeps an invalid entry where a pointer now is.
  noteChange(x, sp, slot, 'pointer');
  return child;
}

/**
 * Bring an sp in line with the guest now: every present leaf is rebuilt from the
 * guest PTE it mirrors, every pointer whose guest pointer changed is cleared (the
 * child is linked again on demand). Pointers that still match stay, unsynced
 * children included: they are synced when reached.
 */
export function syncPage(x: ShadowScratch, sp: ShadowPage): ShadowPage {
  if (x.s.syncedNow !== undefined) x.s = { ...x.s, syncedNow: new Set([...x.s.syncedNow, sp.frame]) };
  for (const slot of [...(x.s.mmu.ghosts.get(sp.frame)?.keys() ?? [])]) syncEntry(x, sp, slot);
  x.events.push('shadow-resync');
  return updatePage(x, sp.frame, (p) => ({ ...p, unsync: false }));
}

/** Resync one entry from the guest PTE it mirrors now; a pointer is kept only if it still leads to the same role. */
export function syncEntry(x: ShadowScratch, sp: ShadowPage, slot: number): void {
  const guest = guestPteOf(x.s, sp, slot);
  const d = desiredEntry(x, sp, slot, guest.pte);
  const old = shadowPte(x.s, sp.frame, slot);
  if (d.kind === 'pointer') {
    const child = isValidPointer(old) ? x.s.mmu.pages.get(ptePpn(old)) : undefined;
    if (child === undefined || roleKey(child.role) !== roleKey(d.role)) clearEntry(x, sp, slot);
    else setEntry(x, sp, slot, d, guest);
    return;
  }
  setEntry(x, sp, slot, d, guest);
}

/** Several vCPUs: the sp is out of sync for another hart, and not synced yet in this step. */
const unsyncElsewhere = (x: ShadowScratch, frame: bigint): boolean =>
  (x.s.unsyncElsewhere?.has(frame) ?? false) && !(x.s.syncedNow?.has(frame) ?? false);

export function markUnsync(x: ShadowScratch, frame: bigint): void {
  updatePage(x, frame, (p) => ({ ...p, unsync: true }));
}

/**
 * Sync, from the root down, every sp a walk from `root` reaches that `select`
 * chooses: a parent first, so that a pointer the guest changed is cleared before
 * the walk could follow it into a table this root no longer reaches.
 */
export function syncTree(x: ShadowScratch, root: bigint, select: (sp: ShadowPage) => boolean): Set<bigint> {
  const seen = new Set<bigint>();
  const visit = (frame: bigint): void => {
    if (seen.has(frame)) return;
    let sp = x.s.mmu.pages.get(frame);
    if (sp === undefined) return;
    seen.add(frame);
    if (select(sp)) sp = syncPage(x, sp);
    for (const slot of [...(x.s.mmu.ghosts.get(frame)?.keys() ?? [])]) {
      const pte = shadowPte(x.s, frame, slot);
      if (isValidPointer(pte)) visit(ptePpn(pte));
    }
  };
  visit(root);
  return seen;
}

/** Create the root sp of a shadow (or find it), put it in the buffer and load it into vsatp. */
export function loadShadow(x: ShadowScratch, key: string, rootPpn: bigint, asid: number): { existed: boolean } {
  let frame = x.s.mmu.roots.get(key);
  const existed = frame !== undefined;
  if (frame === undefined) {
    const tag: SpTag = x.policy.tagged ? asid : null;
    const sp = findOrCreate(x, { level: 2, prefix: 0n, tag, source: { kind: 'table', gfn: rootPpn } });
    updatePage(x, sp.frame, (p) => ({ ...p, links: p.links + 1 }));
    frame = sp.frame;
    x.s = { ...x.s, mmu: { ...x.s.mmu, roots: new Map(x.s.mmu.roots).set(key, frame) } };
  }
  x.s = { ...x.s, active: key, vsatp: { asid, root: frame }, mmu: { ...x.s.mmu, lru: [...x.s.mmu.lru.filter((k) => k !== key), key] } };
  return { existed };
}

/** Drop a whole shadow: out of the buffer, its root freed with every sp only it reached. */
export function dropShadow(x: ShadowScratch, key: string): void {
  const frame = x.s.mmu.roots.get(key);
  if (frame === undefined) return;
  const roots = new Map(x.s.mmu.roots);
  roots.delete(key);
  x.s = { ...x.s, mmu: { ...x.s.mmu, roots, lru: x.s.mmu.lru.filter((k) => k !== key) } };
  if (x.s.active === key) x.s = { ...x.s, active: null, vsatp: null };
  updatePage(x, frame, (p) => ({ ...p, links: p.links - 1 }));
  release(x, frame);
}

/** Clear every entry of the loaded shadow's root: what reclaim does when the loaded shadow alone fills the pool. */
export function zapRoot(x: ShadowScratch, root: bigint): void {
  const sp = x.s.mmu.pages.get(root);
  if (sp === undefined) return;
  for (const slot of [...(x.s.mmu.ghosts.get(root)?.keys() ?? [])]) clearEntry(x, sp, slot);
  x.events.push('shadow-zap');
}

/**
 * Rebuild, from the guest PTEs they were built from (not from guest memory now:
 * a shadow that is not loaded may only lose entries), every shadow leaf whose
 * guest pages `touches` selects: after a host remap, a write protection applied or
 * lifted, or a page that became a page table (TSP).
 */
export function refreshLeaves(x: ShadowScratch, touches: (gpn: bigint, pages: bigint) => boolean): void {
  for (const [frame, slots] of [...x.s.mmu.ghosts]) {
    for (const [slot, g] of [...slots]) {
      if (g.gpn === null) continue;
      const sp = x.s.mmu.pages.get(frame);
      if (sp === undefined) continue;
      const pte = shadowPte(x.s, frame, slot);
      if (!isValidLeaf(pte) || !touches(g.gpn, pagesAt(sp.role.level))) continue;
      if (sp.role.level > 0 && has(x, 'remap-keeps-superpage')) continue;
      const d = desiredEntry(x, sp, slot, g.guestPte);
      // A superpage that no longer fits is not split here: cleared, it is refilled on demand with smaller leaves.
      if (d.kind === 'leaf' && pteW(d.pte) !== pteW(pte)) x.events.push(pteW(d.pte) ? 'write-access-restored' : 'write-protect-applied');
      setEntry(x, sp, slot, d.kind === 'leaf' ? d : { kind: 'none' }, { addr: g.guestPteAddr, pte: g.guestPte });
    }
  }
}

/** Used by snapshots and properties: decode one shadow PTE. */
export function describeShadowPte(pte: bigint): string {
  if (pte === 0n) return 'not present';
  const flags = ['R', 'W', 'X', 'U', 'G'].map((f, i) => ([pteR, pteW, pteX, pteU, pteG][i]?.(pte) ? f : '-')).join('');
  return isValidPointer(pte) ? `-> sp 0x${ptePpn(pte).toString(16)}${pteG(pte) ? ' G' : ''}` : `leaf hpn=0x${ptePpn(pte).toString(16)} ${flags}`;
}
