/**
 * Nested paging (the H extension's two-stage translation): the guest's own Sv39
 * table in vsatp, over the hypervisor's G-stage table in hgatp. Guest page-table
 * stores, SFENCE.VMA and satp writes never leave the guest; the hardware caches
 * VS-stage reads (tagged by ASID; one VMID) and G-stage translations, and the
 * hypervisor fences the G-stage with HFENCE.GVMA after every change it makes.
 *
 * The G-stage table is the hypervisor's p2m (model/host.ts), walked in one step
 * and counted as an Sv39x4 walk of three references (decision record 0001).
 */
import { type Gpa, type Hpa, PAGE_SHIFT, gpa, hpa } from '../spec/address.ts';
import { type ConcreteTlb, emptyTlb, tlbFence, tlbTranslate } from '../spec/concrete-tlb.ts';
import { type GuestConfig, inRam, maskAsid } from '../spec/config.ts';
import type { AccessAction, GuestAction, Satp } from '../spec/guest-action.ts';
import { type Memory, readWord } from '../spec/memory.ts';
import { type Trap, bits, takeTrap } from '../spec/privilege.ts';
import { CAUSE, exceptionFor } from '../spec/walk.ts';
import { match } from 'ts-pattern';
import {
  type HostMapping, type HostState, guestRead, hostMapping, hostStore, initialHost, logDirty, remapPage, setWriteProtected,
} from './host.ts';
import type { Machine, MachineEvent, ModelEvent, Observation, StepResult } from './machine.ts';

export interface NptState {
  readonly host: HostState;
  readonly vsatp: Satp;
  readonly sum: boolean;
  readonly mxr: boolean;
  /** The VS-stage address-translation cache (spec/concrete-tlb.ts) over guest-physical PTE addresses. */
  readonly vsTlb: ConcreteTlb;
  /** The G-stage TLB: guest page -> host frame and write permission, as cached. */
  readonly gTlb: ReadonlyMap<bigint, HostMapping>;
}

/** Page faults go on to the guest (hedeleg); guest-page faults and virtual instructions stop in HS. */
const delegation = { medeleg: bits(12, 13, 15, 20, 21, 22, 23), hedeleg: bits(12, 13, 15) };
const VTVM = false;

const guestPageFaultCause = (kind: AccessAction['access']): number =>
  match(kind).with('fetch', () => CAUSE.fetchGuestPageFault).with('load', () => CAUSE.loadGuestPageFault)
    .with('store', () => CAUSE.storeGuestPageFault).exhaustive();

/** Mutable scratch of one step: the traps, events and references it accumulates. Never escapes `step`. */
interface Scratch {
  s: NptState;
  /** The mode the guest instruction of this step runs in (VU for a U-mode access). */
  from: 'VS' | 'VU';
  traps: Trap[];
  events: ModelEvent[];
  walkRefs: number;
}

/** HFENCE.GVMA for one guest page: drop its G-stage TLB entry (VS-stage entries hold values, not frames). */
function hfenceGvma(s: NptState, gpn: bigint): NptState {
  if (!s.gTlb.has(gpn)) return s;
  const gTlb = new Map(s.gTlb);
  gTlb.delete(gpn);
  return { ...s, gTlb };
}

/**
 * G-stage translation of a guest-physical address (H extension, "Guest Physical
 * Address Translation"): through the G-stage TLB, or a walk that fills it. A
 * store to a write-protected page exits with a store guest-page fault; the
 * hypervisor logs the page dirty, gives write access back, fences and retries.
 */
function gStage(x: Scratch, a: Gpa, write: boolean): Hpa {
  const gpn = a >> PAGE_SHIFT;
  let m = x.s.gTlb.get(gpn);
  if (m === undefined) {
    m = hostMapping(x.s.host, gpn);
    x.walkRefs += 3;
    x.s = { ...x.s, gTlb: new Map(x.s.gTlb).set(gpn, m) };
  }
  if (write && m.writeProtected) {
    x.traps.push(takeTrap(CAUSE.storeGuestPageFault, x.from, delegation, 'dirty-log'));
    x.events.push('dirty-logged');
    x.s = hfenceGvma({ ...x.s, host: logDirty(x.s.host, gpn) }, gpn);
    return gStage(x, a, write);
  }
  return hpa((m.hpn << PAGE_SHIFT) | (a & 0xfffn));
}

function access(x: Scratch, a: AccessAction): Observation {
  const cfg = x.s.host.cfg;
  const fault = (cause: number): Observation => ({ kind: 'fault', cause, tval: a.va });
  /** A guest-physical address outside RAM has no G-stage mapping: the hypervisor emulates the access fault. */
  const accessFault = (): Observation => {
    x.traps.push(takeTrap(guestPageFaultCause(a.access), x.from, delegation, 'access-fault-emulation'));
    return fault(exceptionFor('pa-access-fault', a.access));
  };
  let pa: Gpa;
  if (x.s.vsatp.mode === 'bare') {
    if (!inRam(cfg, a.va)) return accessFault();
    pa = gpa(a.va);
  } else {
    let pteOutsideRam = false;
    const t = tlbTranslate(
      x.s.vsTlb, a.va, x.s.vsatp.asid, x.s.vsatp.rootPpn, { kind: a.access, priv: a.priv, sum: x.s.sum, mxr: x.s.mxr },
      (pteAddr) => {
        if (!inRam(cfg, pteAddr)) {
          pteOutsideRam = true;
          return null;
        }
        x.walkRefs++;
        // Every VS-stage PTE read is itself G-stage translated, as an implicit load.
        return readWord(x.s.host.mem, gStage(x, pteAddr, false));
      },
      { svade: cfg.svade }, () => true,
    );
    x.s = { ...x.s, vsTlb: t.tlb };
    if (t.result.kind === 'fault') {
      if (pteOutsideRam) return accessFault();
      const cause = exceptionFor(t.result.error, a.access);
      x.traps.push(takeTrap(cause, x.from, delegation, 'page-fault-to-guest'));
      return fault(cause);
    }
    if (!inRam(cfg, t.result.pa)) return accessFault();
    pa = t.result.pa;
  }
  const h = gStage(x, pa, a.access === 'store');
  if (a.access === 'store') {
    x.s = { ...x.s, host: hostStore(x.s.host, h, a.value) };
    return { kind: 'ok', hpa: h, value: a.value };
  }
  return { kind: 'ok', hpa: h, value: readWord(x.s.host.mem, h) };
}

function guestAction(x: Scratch, a: GuestAction): Observation | null {
  const cfg = x.s.host.cfg;
  switch (a.kind) {
    case 'access':
      return access(x, a);
    case 'ptStore': {
      const h = gStage(x, a.addr, true);
      x.s = { ...x.s, host: hostStore(x.s.host, h, a.value) };
      return null;
    }
    case 'satp':
      // hstatus.VTVM=0: a VS-mode satp write executes (spec/privilege.ts instructionTrap gives none).
      x.s = { ...x.s, vsatp: a.satp.mode === 'bare' ? a.satp : { ...a.satp, asid: maskAsid(cfg, a.satp.asid) } };
      return null;
    case 'sfence': {
      // In VS-mode SFENCE.VMA acts on the VS-stage entries of the current VMID.
      const rs2 = a.rs2 === null ? null : maskAsid(cfg, a.rs2);
      x.s = { ...x.s, vsTlb: tlbFence(x.s.vsTlb, a.rs1, rs2, (p) => guestRead(x.s.host, p)) };
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

/** Mistakes a nested-paging hypervisor can make, switched on by the seeded-bug variants (model/variants.ts). */
export type NptBug =
  /** A host remap changes the G-stage entry without HFENCE.GVMA: the hart keeps using the old frame. */
  'no-hfence-gvma-after-remap';

function step(bugs: ReadonlySet<NptBug>, s: NptState, e: MachineEvent): StepResult<NptState> {
  const x: Scratch = { s, traps: [], events: [], walkRefs: 0, from: e.kind === 'access' && e.priv === 'U' ? 'VU' : 'VS' };
  let observation: Observation | null = null;
  switch (e.kind) {
    case 'hostRemap':
      x.s = { ...x.s, host: remapPage(x.s.host, e.gpn) };
      if (!bugs.has('no-hfence-gvma-after-remap')) x.s = hfenceGvma(x.s, e.gpn);
      break;
    case 'hostWriteProtect':
      x.s = hfenceGvma({ ...x.s, host: setWriteProtected(x.s.host, e.gpn, true) }, e.gpn);
      x.events.push('write-protect-applied');
      break;
    case 'hostUnprotect':
      x.s = hfenceGvma({ ...x.s, host: setWriteProtected(x.s.host, e.gpn, false) }, e.gpn);
      break;
    default:
      observation = guestAction(x, e);
  }
  return { state: x.s, observation, traps: x.traps, events: x.events, walkRefs: x.walkRefs };
}

export const nptMachine = (bugs: ReadonlySet<NptBug>): Machine<NptState> => ({
  name: 'npt',
  title: 'nested paging (vsatp over hgatp)',
  delegation,
  vtvm: VTVM,
  init: (cfg: GuestConfig, guestMemory: Memory): NptState => ({
    host: initialHost(cfg, guestMemory),
    vsatp: { mode: 'bare' },
    sum: false,
    mxr: false,
    vsTlb: emptyTlb,
    gTlb: new Map(),
  }),
  step: (s, e) => step(bugs, s, e),
  view: {
    host: (s) => s.host,
    guestSatp: (s) => s.vsatp,
    shadowLeaves: () => [],
    hostTranslations: (s) => [...s.gTlb].map(([gpn, m]) => ({ what: `G-stage TLB gpn=0x${gpn.toString(16)}`, gpn, hpn: m.hpn })),
    protectedPageTables: () => new Set(),
    snapshot: (s) => ({
      tables: Object.fromEntries([...s.host.p2m].map(([gpn, m]) => [
        `gpn 0x${gpn.toString(16)}`, { hpn: m.hpn, writeProtected: m.writeProtected },
      ])),
      tlb: [
        ...[...s.vsTlb.values()].flat().map((e) => `VS ${e.tag} L${e.level} prefix=0x${e.prefix.toString(16)} [0x${e.pteAddr.toString(16)}]=0x${e.pte.toString(16)}`),
        ...[...s.gTlb].map(([gpn, m]) => `G gpn=0x${gpn.toString(16)} -> hpn=0x${m.hpn.toString(16)}${m.writeProtected ? ' RO' : ''}`),
      ].sort(),
    }),
  },
});

export const npt: Machine<NptState> = nptMachine(new Set());
