/**
 * Nested paging (the H extension's two-stage translation): the guest's own Sv39
 * table in vsatp, over the hypervisor's G-stage table in hgatp (Sv39x4), which lives
 * in host memory. Guest page-table stores, SFENCE.VMA and satp writes never leave
 * the guest. The hart translates every access with the spec's own two-stage code
 * through a TLB of VS-stage, G-stage and combined entries (spec/two-stage-tlb.ts);
 * the hypervisor edits its G-stage table with host stores and fences the hart with
 * HFENCE.GVMA (decision records 0008 and 0010).
 *
 * The G-stage maps guest RAM with 2 MiB superpage leaves wherever the p2m is
 * contiguous, aligned and writable throughout (as KVM maps guest memory with huge
 * pages), and splits a region into 4 KiB leaves when a page in it is remapped or
 * write-protected; a region that becomes whole again is collapsed back.
 */
import { type Gpa, type Gva, type Hpa, type Level, PAGE_SHIFT, gpa, gva, hex, hpa } from '../spec/address.ts';
import { type GuestConfig, inRam, maskAsid } from '../spec/config.ts';
import type { AccessAction, GuestAction, Satp } from '../spec/guest-action.ts';
import { type Memory, pageWords, readWord, writePage } from '../spec/memory.ts';
import { encodePte, isValidLeaf, isValidPointer, pteD, ptePpn, pteW } from '../spec/pte.ts';
import { type Trap, bits, takeTrap } from '../spec/privilege.ts';
import { type Hgatp, type TwoStageInput, gpaVpnIndex } from '../spec/two-stage.ts';
import { type TwoStageTlb, emptyTwoStageTlb, hartGFence, hartTranslate, hartVsFence } from '../spec/two-stage-tlb.ts';
import { CAUSE, exceptionFor, leafPhysicalAddress } from '../spec/walk.ts';
import {
  type HostState, allocTableFrames, bootFrame, freeTableFrame, guestRead, hostMapping, hostStore, initialHost, logDirty, remapPage, setWriteProtected,
} from './host.ts';
import type { HartEvent, HostTranslationView, Machine, MachineEvent, ModelEvent, Observation, SnapshotValue, StepResult } from './machine.ts';
import { LivelockError } from './machine.ts';

/** The G-stage table as the hypervisor keeps it: the root (16 KiB), the level-1 table, and a level-0 table per split region. */
export interface GStageTable {
  readonly root: bigint;
  readonly l1: bigint;
  /** 2 MiB regions (guest page >> 9) mapped by 4 KiB leaves, with their level-0 table's frame. */
  readonly split: ReadonlyMap<bigint, bigint>;
}

export interface NptState {
  readonly host: HostState;
  readonly vsatp: Satp;
  readonly sum: boolean;
  readonly mxr: boolean;
  readonly hgatp: Extract<Hgatp, { mode: 'sv39x4' }>;
  readonly gstage: GStageTable;
  readonly tlb: TwoStageTlb;
}

/** Page faults go on to the guest (hedeleg); guest-page faults and virtual instructions stop in HS. */
const delegation = { medeleg: bits(12, 13, 15, 20, 21, 22, 23), hedeleg: bits(12, 13, 15) };
const VTVM = false;
/** The guest's VMID in hgatp (one VM). */
export const NPT_VMID = 1;
const VMID = NPT_VMID;
const REGION_PAGES = 512n;

/** Host frames that are RAM for the hart's PMA check: guest backing, the table pool, remapped frames. */
// Stryker disable next-line all: every frame the G-stage names is host RAM unless the hypervisor is wrong, and then isolation reports the frame before the hart's PMA check matters
const hostInRam = (a: bigint): boolean => a >> PAGE_SHIFT >= 0x100000n && a >> PAGE_SHIFT < 0x800000n;

/** Mistakes a nested-paging hypervisor (or its hart) can make, switched on by the seeded-bug variants (model/variants.ts). */
export type NptBug =
  /** A host remap changes the G-stage leaf without HFENCE.GVMA: the hart keeps using the old frame. */
  | 'no-hfence-gvma-after-remap'
  /** Collapsing a split region back into a superpage fences one address only: the hart keeps the old level-1 pointer into the freed table. */
  | 'gstage-pointer-without-hfence'
  /** The hart's HFENCE.GVMA rs1=gpa keeps the combined GVA->HPA entries whose guest-physical page it names. */
  | 'keeps-combined-after-hfence-gvma';

/** Mutable scratch of one step: the traps, events and references it accumulates. Never escapes `step`. */
interface Scratch {
  s: NptState;
  readonly bugs: ReadonlySet<NptBug>;
  /** The mode the guest instruction of this step runs in (VU for a U-mode access). */
  from: 'VS' | 'VU';
  traps: Trap[];
  events: ModelEvent[];
  walkRefs: number;
  /** What the hart did (model/machine.ts HartEvent). */
  hart: HartEvent[];
}

const slot = (frame: bigint, index: bigint): Hpa => hpa((frame << PAGE_SHIFT) + index * 8n);

/** A G-stage leaf for guest pages from `hpn`: every G-stage access is a U-mode one, A and D set (no G-stage A/D faults). */
const gLeaf = (hpn: bigint, writable: boolean): bigint => encodePte({ ppn: hpn, r: true, w: writable, x: true, u: true, a: true, d: true });

/** Can the 2 MiB region be one superpage leaf: every page in RAM, backed contiguously and aligned, none write-protected? */
function regionWhole(h: HostState, region: bigint): boolean {
  const first = hostMapping(h, region * REGION_PAGES);
  if (first.hpn % REGION_PAGES !== 0n) return false;
  for (let k = 0n; k < REGION_PAGES; k++) {
    const m = hostMapping(h, region * REGION_PAGES + k);
    if (m.hpn !== first.hpn + k || m.writeProtected) return false;
  }
  return true;
}

function store(x: Scratch, a: Hpa, value: bigint): void {
  x.s = { ...x.s, host: hostStore(x.s.host, a, value) };
}

/** HFENCE.GVMA rs1, VMID (H extension, "Hypervisor Memory-Management Fence Instructions") on the hart's TLB. */
function hfenceGvma(x: Scratch, rs1: Gpa | null): void {
  const before = x.s.tlb;
  let tlb = hartGFence(before, rs1, VMID, (a) => readWord(x.s.host.mem, a));
  if (rs1 !== null && x.bugs.has('keeps-combined-after-hfence-gvma')) tlb = { ...tlb, combined: before.combined };
  x.s = { ...x.s, tlb };
  x.hart.push({ kind: 'hfence-gvma', mem: x.s.host.mem, rs1, rs2: VMID });
}

/** The G-stage leaf slot of a guest page in a split region, creating the split (4 KiB leaves of the region's current mapping) if needed. */
function splitRegion(x: Scratch, region: bigint): bigint {
  const existing = x.s.gstage.split.get(region);
  if (existing !== undefined) return existing;
  const got = allocTableFrames(x.s.host);
  if (got === null) throw new Error('the G-stage table pool is exhausted');
  // One table page written at once: 512 word stores would copy the page 512 times.
  const words = new Map<number, bigint>();
  for (let k = 0n; k < REGION_PAGES; k++) {
    const m = hostMapping(got.host, region * REGION_PAGES + k);
    words.set(Number(k), gLeaf(m.hpn, !m.writeProtected));
  }
  x.s = { ...x.s, host: { ...got.host, mem: writePage(got.host.mem, got.frame, words) } };
  // The level-1 superpage leaf becomes a pointer: every page of the region still maps where it did, so
  // the leaf fence the change of the page itself needs also removes the cached superpage entry.
  store(x, slot(x.s.gstage.l1, region & 0x1ffn), encodePte({ ppn: got.frame }));
  x.s = { ...x.s, gstage: { ...x.s.gstage, split: new Map(x.s.gstage.split).set(region, got.frame) } };
  x.events.push('gstage-split');
  return got.frame;
}

/** Collapse a split region whose pages are whole again into one superpage leaf, freeing its level-0 table. */
function collapseRegion(x: Scratch, region: bigint): void {
  const l0 = x.s.gstage.split.get(region);
  if (l0 === undefined || !regionWhole(x.s.host, region)) return;
  store(x, slot(x.s.gstage.l1, region & 0x1ffn), gLeaf(hostMapping(x.s.host, region * REGION_PAGES).hpn, true));
  const split = new Map(x.s.gstage.split);
  split.delete(region);
  x.s = { ...x.s, host: freeTableFrame(x.s.host, l0), gstage: { ...x.s.gstage, split } };
  x.events.push('gstage-collapse');
  // A pointer became a leaf and its table was freed: cached non-leaf entries survive an rs1=gpa fence, so rs1=x0.
  hfenceGvma(x, x.bugs.has('gstage-pointer-without-hfence') ? gpa(region * REGION_PAGES << PAGE_SHIFT) : null);
}

/** Bring the G-stage leaf of guest page `gpn` in line with the p2m, then fence that address. */
function updateGLeaf(x: Scratch, gpn: bigint, fence: boolean): void {
  if (!inRam(x.s.host.cfg, gpn << PAGE_SHIFT)) return;
  const region = gpn / REGION_PAGES;
  if (!x.s.gstage.split.has(region) && regionWhole(x.s.host, region)) return;
  const l0 = splitRegion(x, region);
  const m = hostMapping(x.s.host, gpn);
  store(x, slot(l0, gpn % REGION_PAGES), gLeaf(m.hpn, !m.writeProtected));
  if (fence) hfenceGvma(x, gpa(gpn << PAGE_SHIFT));
  collapseRegion(x, region);
}

/** The hart translates an access made with V=1 through its TLB. */
function translate(x: Scratch, va: Gva, access: AccessAction['access'], priv: 'S' | 'U', vsatp: Satp) {
  const input: TwoStageInput = {
    gva: va, access, priv: priv === 'U' ? 'VU' : 'VS', vsatp, hgatp: x.s.hgatp, vsstatus: { sum: x.s.sum, mxr: x.s.mxr }, mstatusMxr: false,
    read: (a) => readWord(x.s.host.mem, a), inRam: hostInRam, svade: x.s.host.cfg.svade,
  };
  const mem = x.s.host.mem;
  const t = hartTranslate(x.s.tlb, input);
  x.s = { ...x.s, tlb: t.tlb };
  for (const lookup of t.gLookups) x.hart.push({ kind: 'g-lookup', mem, hgatp: x.s.hgatp, lookup });
  x.walkRefs += t.memoryReads.vs + t.memoryReads.g;
  return t;
}

/**
 * A guest access (or, with vsatp Bare, a guest page-table store through the
 * kernel's direct map): the hart's translation, and the hypervisor's handling of
 * the guest-page faults it raises: a write to a page dirty logging protects (log
 * it, give write access back, fence, retry), or an address outside guest RAM (the
 * hypervisor emulates the access fault).
 *
 * Under Svadu the translation's A/D updates (`result.updates`, host-physical, in the
 * order the hart made them) are written first, through the model's own store path,
 * whether the translation succeeded or faulted: each belongs to an implicit access
 * that completed, so it stands (Sv39 "Virtual Address Translation Process" step 7;
 * a later fault does not undo it). The access's own store comes after them.
 */
function access(x: Scratch, va: Gva, kind: AccessAction['access'], priv: 'S' | 'U', value: bigint, vsatp: Satp): Observation {
  // Stryker disable next-line EqualityOperator,UpdateOperator: in a correct run the first retry succeeds, so more attempts change nothing; they only delay the livelock report
  for (let attempt = 0; attempt < 4; attempt++) {
    const t = translate(x, va, kind, priv, vsatp);
    const r = t.result;
    for (const u of r.updates) store(x, u.addr, u.value);
    if (r.kind === 'ok') {
      if (kind === 'store') {
        store(x, r.hpa, value);
        return { kind: 'ok', hpa: r.hpa, value };
      }
      return { kind: 'ok', hpa: r.hpa, value: readWord(x.s.host.mem, r.hpa) };
    }
    const guestPage = r.cause === CAUSE.fetchGuestPageFault || r.cause === CAUSE.loadGuestPageFault || r.cause === CAUSE.storeGuestPageFault;
    if (!guestPage) {
      // The guest's own page fault (or access fault), delegated to VS: no hypervisor involved.
      x.traps.push(takeTrap(r.cause, x.from, delegation, 'page-fault-to-guest'));
      return { kind: 'fault', cause: r.cause, tval: va };
    }
    const faulting = gpa(r.tval2 << 2n);
    if (!inRam(x.s.host.cfg, faulting)) {
      // A guest-physical address outside RAM has no G-stage mapping: the hypervisor emulates the access fault.
      x.traps.push(takeTrap(r.cause, x.from, delegation, 'access-fault-emulation'));
      return { kind: 'fault', cause: exceptionFor('pa-access-fault', kind), tval: va };
    }
    const gpn = faulting >> PAGE_SHIFT;
    // A write the G-stage refused: a store, or (Svadu) the VS-stage A/D update of a PTE, an implicit store
    // whose fault is "reported for the original access type" (a load or fetch may raise it), with htval the
    // PTE's GPA. The hart tells the hypervisor through htinst, which then holds the write pseudoinstruction
    // 0x00003020 for "an implicit memory access for VS-stage address translation" (H extension, "Transformed
    // Instruction or Pseudoinstruction for mtinst or htinst"): the last G-stage lookup was an implicit store.
    const last = t.gLookups[t.gLookups.length - 1];
    const htinstWrite = last !== undefined && !last.explicit && last.ctx.kind === 'store';
    if ((r.cause === CAUSE.storeGuestPageFault || htinstWrite) && hostMapping(x.s.host, gpn).writeProtected) {
      x.traps.push(takeTrap(r.cause, x.from, delegation, 'dirty-log'));
      x.events.push('dirty-logged');
      x.s = { ...x.s, host: logDirty(x.s.host, gpn) };
      updateGLeaf(x, gpn, true);
      continue;
    }
    // The G-stage table allows the access: the hart faulted on an entry it cached before the table changed (a
    // spurious guest-page fault). Fence the address and let the guest retry, as KVM does.
    x.traps.push(takeTrap(r.cause, x.from, delegation, 'spurious-guest-page-fault'));
    hfenceGvma(x, gpa(gpn << PAGE_SHIFT));
  }
  throw new LivelockError(`the guest-page fault on ${hex(va)} recurs after the hypervisor resolved it: the guest livelocks`);
}

function guestAction(x: Scratch, a: GuestAction): Observation | null {
  const cfg = x.s.host.cfg;
  switch (a.kind) {
    case 'access':
      return access(x, a.va, a.access, a.priv, a.value, x.s.vsatp);
    case 'ptStore':
      // The guest kernel's direct map is the identity: only the G-stage translates this store.
      access(x, gva(a.addr), 'store', 'S', a.value, { mode: 'bare' });
      return null;
    case 'satp':
      // hstatus.VTVM=0: a VS-mode satp write executes (spec/privilege.ts instructionTrap gives none).
      // Stryker disable next-line ConditionalExpression,EqualityOperator: as below: masking at ASIDLEN 16 is the identity on a 16-bit field
      x.s = { ...x.s, vsatp: a.satp.mode === 'bare' ? a.satp : { ...a.satp, asid: maskAsid(cfg, a.satp.asid) } };
      return null;
    case 'sfence': {
      // In VS-mode SFENCE.VMA acts on the VS-stage (and combined) entries of the current VMID.
      // Stryker disable next-line ConditionalExpression: the models' ASIDLEN is 16, the width of the ASID fields, so masking changes no ASID they can be given
      const rs2 = a.rs2 === null ? null : maskAsid(cfg, a.rs2);
      x.s = { ...x.s, tlb: hartVsFence(x.s.tlb, VMID, a.rs1, rs2, (p) => guestRead(x.s.host, p)) };
      return null;
    }
    case 'sum':
      x.s = { ...x.s, sum: a.value };
      return null;
    case 'mxr':
      x.s = { ...x.s, mxr: a.value };
      return null;
  }
}

function step(bugs: ReadonlySet<NptBug>, s: NptState, e: MachineEvent): StepResult<NptState> {
  const x: Scratch = { s, bugs, traps: [], events: [], walkRefs: 0, hart: [], from: e.kind === 'access' && e.priv === 'U' ? 'VU' : 'VS' };
  let observation: Observation | null = null;
  switch (e.kind) {
    case 'hostRemap':
      x.s = { ...x.s, host: remapPage(x.s.host, e.gpn) };
      updateGLeaf(x, e.gpn, !bugs.has('no-hfence-gvma-after-remap'));
      break;
    case 'hostWriteProtect':
      x.s = { ...x.s, host: setWriteProtected(x.s.host, e.gpn, true) };
      updateGLeaf(x, e.gpn, true);
      x.events.push('write-protect-applied');
      break;
    case 'hostUnprotect':
      x.s = { ...x.s, host: setWriteProtected(x.s.host, e.gpn, false) };
      updateGLeaf(x, e.gpn, true);
      break;
    default:
      observation = guestAction(x, e);
  }
  return { state: x.s, observation, traps: x.traps, events: x.events, walkRefs: x.walkRefs, hart: x.hart };
}

/** Build the G-stage table for guest RAM from the p2m at boot: a 16 KiB root, one level-1 table, superpages where they fit. */
function initialState(cfg: GuestConfig, guestMemory: Memory): NptState {
  let host = initialHost(cfg, guestMemory);
  const root = allocTableFrames(host, 4);
  // Stryker disable next-line ConditionalExpression: an internal invariant that never fails in a correct or seeded run; without the check the next line fails instead
  if (root === null) throw new Error('no room for the G-stage root');
  const l1 = allocTableFrames(root.host);
  // Stryker disable next-line ConditionalExpression: an internal invariant that never fails in a correct or seeded run; without the check the next line fails instead
  if (l1 === null) throw new Error('no room for the G-stage level-1 table');
  host = l1.host;
  const s0: NptState = {
    host, vsatp: { mode: 'bare' }, sum: false, mxr: false, hgatp: { mode: 'sv39x4', vmid: VMID, rootPpn: root.frame },
    gstage: { root: root.frame, l1: l1.frame, split: new Map() }, tlb: emptyTwoStageTlb,
  };
  const x: Scratch = { s: s0, bugs: new Set(), traps: [], events: [], walkRefs: 0, hart: [], from: 'VS' };
  const first = gpa(cfg.ramBasePage << PAGE_SHIFT);
  // Guest RAM lies under one root entry and one level-1 table (8 MiB at 0x8000_0000: decision record 0002).
  store(x, slot(root.frame, gpaVpnIndex(first, 2)), encodePte({ ppn: l1.frame }));
  for (let region = cfg.ramBasePage / REGION_PAGES; region * REGION_PAGES < cfg.ramBasePage + cfg.ramPages; region++) {
    if (regionWhole(x.s.host, region)) store(x, slot(l1.frame, region & 0x1ffn), gLeaf(hostMapping(x.s.host, region * REGION_PAGES).hpn, true));
    else splitRegion(x, region);
  }
  return x.s;
}

/** Every translation to a host frame the hart holds or the G-stage table gives, with the guest page it claims. */
function hostTranslations(s: NptState): HostTranslationView[] {
  const out: HostTranslationView[] = [];
  const pages = (level: Level): bigint => 1n << (9n * BigInt(level));
  for (const es of s.tlb.g.values()) {
    for (const e of es) {
      if (!isValidLeaf(e.pte)) continue;
      out.push({ what: `G-stage TLB L${e.level} prefix=0x${e.prefix.toString(16)}`, gpn: e.prefix << (9n * BigInt(e.level)), hpn: ptePpn(e.pte), pages: pages(e.level) });
    }
  }
  for (const es of s.tlb.combined.values()) {
    for (const e of es) {
      const g = e.leaves.g;
      out.push({ what: `combined TLB va=0x${(e.vpn << PAGE_SHIFT).toString(16)}`, gpn: e.gpa >> PAGE_SHIFT, hpn: leafPhysicalAddress(gva(e.gpa), g.leaf, g.level) >> PAGE_SHIFT, pages: 1n });
    }
  }
  // The G-stage table's own leaves. A leaf that maps a page the p2m never moved, to that page's boot frame, is right
  // by construction (the boot frame backs it); only the others can be wrong, so only they are listed, which keeps the
  // check from walking 2,048 leaves at every step.
  const moved = new Set([...s.host.p2m.keys()]);
  const movedRegions = new Set([...moved].map((g) => g / REGION_PAGES));
  // The level-1 table covers the 1 GiB of guest-physical space guest RAM lies in.
  const top = s.host.cfg.ramBasePage >> 18n;
  for (const [index, pte] of pageWords(s.host.mem, s.gstage.l1)) {
    const region = (top << 9n) | BigInt(index);
    if (!isValidLeaf(pte) || (ptePpn(pte) === bootFrame(region * REGION_PAGES) && !movedRegions.has(region))) continue;
    out.push({ what: `G-stage table L1[${index}]`, gpn: region * REGION_PAGES, hpn: ptePpn(pte), pages: REGION_PAGES });
  }
  for (const [region, l0] of s.gstage.split) {
    for (const [k, pte] of pageWords(s.host.mem, l0)) {
      const gpn = region * REGION_PAGES + BigInt(k);
      if (!isValidLeaf(pte) || (ptePpn(pte) === bootFrame(gpn) && !moved.has(gpn))) continue;
      out.push({ what: `G-stage table L0 of region 0x${region.toString(16)}[${k}]`, gpn, hpn: ptePpn(pte), pages: 1n });
    }
  }
  return out;
}

/**
 * The G-stage table as a trace shows it: a record per table page (its frame, what it
 * is, and for each valid entry `[i]` its PTE word and the word in words). A split
 * region's level-0 table lists only the leaves that differ from the boot layout.
 */
function tablesSnapshot(s: NptState): { [k: string]: { [k: string]: SnapshotValue } } {
  const describe = (pte: bigint): string =>
    isValidPointer(pte) ? `-> table 0x${ptePpn(pte).toString(16)}` : `leaf hpn=0x${ptePpn(pte).toString(16)}${pteW(pte) && pteD(pte) ? ' RW' : ' R-'}`;
  const table = (frame: bigint, what: string, keep: (i: number, pte: bigint) => boolean): { [k: string]: SnapshotValue } => {
    const out: { [k: string]: SnapshotValue } = { frame, table: what };
    // The root is 16 KiB: four frames.
    // Stryker disable next-line all: guest-physical memory here lies below 512 GiB, so the root's last three frames hold nothing; reading other frames instead reads empty ones
    const frames = what === 'root' ? [frame, frame + 1n, frame + 2n, frame + 3n] : [frame];
    frames.forEach((f, n) => {
      // Stryker disable next-line MethodExpression,ArrowFunction,ArithmeticOperator: the words of a table page are in ascending order unless a leaf is cleared and set again; the sort keeps the display ordered then too (display only)
      for (const [slot, pte] of [...pageWords(s.host.mem, f)].sort(([a], [b]) => a - b)) {
        const i = n * 512 + slot;
        if (pte === 0n || !keep(i, pte)) continue;
        out[`[${i}]`] = pte;
        out[`[${i}] means`] = describe(pte);
      }
    });
    return out;
  };
  const out: { [k: string]: { [k: string]: SnapshotValue } } = {
    [`G-stage 0x${s.gstage.root.toString(16)}`]: table(s.gstage.root, 'root', () => true),
    [`G-stage 0x${s.gstage.l1.toString(16)}`]: table(s.gstage.l1, 'L1', () => true),
  };
  for (const [region, l0] of [...s.gstage.split].sort(([a], [b]) => (a < b ? -1 : 1))) {
    out[`G-stage 0x${l0.toString(16)}`] = table(l0, `L0 for guest pages 0x${(region * REGION_PAGES).toString(16)}+`,
      (k, pte) => ptePpn(pte) !== bootFrame(region * REGION_PAGES + BigInt(k)) || !pteW(pte));
  }
  return out;
}

export const nptMachine = (bugs: ReadonlySet<NptBug>): Machine<NptState> => ({
  name: 'npt',
  title: 'nested paging (vsatp over hgatp)',
  delegation,
  vtvm: VTVM,
  init: initialState,
  step: (s, e) => step(bugs, s, e),
  view: {
    host: (s) => s.host,
    guestSatp: (s) => s.vsatp,
    shadowLeaves: () => [],
    hostTranslations,
    protectedPageTables: () => new Set(),
    tableFrames: (s) => s.host.tableFrames,
    shadowPages: () => [],
    shadowRoots: () => ({ roots: new Map(), loaded: null }),
    snapshot: (s) => ({
      tables: tablesSnapshot(s),
      tlb: [
        ...[...s.tlb.vs.values()].flatMap((t) => [...t.values()].flat()).map((e) => `VS ${e.tag} L${e.level} prefix=0x${e.prefix.toString(16)} [0x${e.pteAddr.toString(16)}]=0x${e.pte.toString(16)}`),
        ...[...s.tlb.g.values()].flat().map((e) => `G vmid=${e.tag} L${e.level} prefix=0x${e.prefix.toString(16)} [0x${e.pteAddr.toString(16)}]=0x${e.pte.toString(16)}`),
        ...[...s.tlb.combined.values()].flat().map((e) => `combined ${e.tag} va=0x${(e.vpn << PAGE_SHIFT).toString(16)} gpa=0x${e.gpa.toString(16)}`),
      ].sort(),
    }),
  },
});

export const npt: Machine<NptState> = nptMachine(new Set());
