/**
 * The hart's own translations are legal: every translation it makes is in the allowed set of the reference run over the tables it walks, with the fences it was given.
 *
 * This holds the hardware model, not the hypervisor, to the architecture: for TSP
 * and SSP the Sv39 reference (spec/reference.ts) over host memory, the shadow root
 * in vsatp as satp and the hypervisor's HFENCE.VVMAs as fences (hgatp is Bare, so
 * guest-physical addresses are host-physical); for nested paging the G-stage
 * reference (spec/gstage-reference.ts) over host memory, with its HFENCE.GVMAs, for
 * every G-stage lookup (the VS-stage part of its translations is what refinement
 * checks). The reference sees memory as it was at each of the hart's translations
 * and fences: the VS-stage and G-stage translate only while the guest runs (V=1),
 * never while the hypervisor edits its tables, so no walk can see a state between.
 */
import { type Gpa, type Gva, PAGE_SHIFT, gva, hex } from '../spec/address.ts';
import { type GuestConfig, inRam } from '../spec/config.ts';
import { outcomeKey } from '../spec/guest-action.ts';
import { type GStageConfig, type GStageReference, allowedGStage, gStageStep, initialGStageReference } from '../spec/gstage-reference.ts';
import { type Memory, readWord } from '../spec/memory.ts';
import { type ReferenceState, allowedOutcomes, initialReference, referenceStep, saturate } from '../spec/reference.ts';
import { addressesRead } from '../spec/saturation.ts';
import { gOutcomeKey } from '../spec/two-stage.ts';
import { encodePte } from '../spec/pte.ts';
import { leafPhysicalAddress } from '../spec/walk.ts';
import type { HartEvent } from '../model/machine.ts';
import { commonFloors } from './floors.ts';
import { LEAF_FRAMES, VAS, guestConfig } from './pools.ts';
import { ALL_MODELS, HARDWARE_SCOPE, property } from './property.ts';
import type { StepRecord } from './record.ts';

/** Host RAM as the hart's PMA check sees it (model/shadow.ts and model/npt.ts): guest backing, the table pool, remapped frames. */
const HOST_RAM = { ramBasePage: 0x100000n, ramPages: 0x700000n };

/** The shadow hart as a Sv39 hart over host memory: Svade (shadow leaves carry A and D), ASIDLEN as the guest's. */
const hostSv39: GuestConfig = { ...guestConfig, ...HOST_RAM, svade: true, walksInFlight: false };

const hostGStage: GStageConfig = { ...HOST_RAM, vmidLen: 14, svade: true };

/**
 * The guest-physical pages the G-stage reference is exact on: every page of RAM a
 * walk of a pool address can end on through a leaf whose frame the generator can
 * write (properties/pools.ts), at any level. Saturating over all 2,048 pages of RAM
 * at every change of the G-stage would cost most of a run.
 */
const GPA_UNIVERSE: readonly Gpa[] = (() => {
  const pages = new Set<bigint>();
  for (const va of VAS) {
    for (const f of LEAF_FRAMES) {
      for (const level of [0, 1, 2] as const) {
        const gpn = leafPhysicalAddress(va, encodePte({ ppn: f, r: true }), level) >> PAGE_SHIFT;
        if (inRam(guestConfig, gpn << PAGE_SHIFT)) pages.add(gpn);
      }
    }
  }
  return [...pages].sort((a, b) => (a < b ? -1 : 1)).map((p) => (p << PAGE_SHIFT) as Gpa);
})();

interface HartReferences {
  readonly vs: ReferenceState | null;
  readonly g: GStageReference | null;
}

export const hartLegality = property({
  name: 'hart-legality',
  sentence: 'The hart\'s own translations are legal: every translation it makes is in the allowed set of the reference run over the tables it walks, with the fences it was given.',
  models: ALL_MODELS,
  guests: 'arbitrary',
  floors: commonFloors,
  scope: HARDWARE_SCOPE,
  start: (): HartReferences => ({ vs: null, g: null }),
  // Each reference's memory is the host's at the hart's last event: what comes next depends on it only at the
  // words its walks read (`seeing` saturates again exactly when one of them changed), the guest's data aside.
  key: (refs) => ({ vs: refs.vs === null ? null : { ...refs.vs, mem: wordsRead(refs.vs.cache, refs.vs.mem) }, g: refs.g === null ? null : { ...refs.g, mem: wordsRead(refs.g.cache, refs.g.mem) } }),
  step: (refs, r) => {
    let now = refs;
    for (const ev of r.result.hart) {
      const judged = judge(now, ev, r);
      if (typeof judged === 'string') return { violation: judged };
      now = judged;
    }
    return { state: now };
  },
});

/** The words of `mem` a saturated cache's walks read, by address. */
function wordsRead(cache: Parameters<typeof addressesRead>[0], mem: Memory): [bigint, bigint][] {
  return [...addressesRead(cache)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((a) => [a, readWord(mem, a)]);
}

/**
 * Whether memory changed, between two of the hart's events, at a word some walk
 * reads. A saturated cache holds every PTE the walks from the current roots read,
 * so if none of those words changed, no walk did and saturating again would add
 * nothing (the data stores of most steps change nothing a walk reads).
 */
function walksChanged(cache: Parameters<typeof addressesRead>[0], before: Memory, after: Memory): boolean {
  if (before === after) return false;
  for (const a of addressesRead(cache)) if (readWord(before, a) !== readWord(after, a)) return true;
  return false;
}

/** A reference that sees `mem` now: memory changed wholesale since its last event, so it saturates again if a walk can tell. */
function seeing(ref: ReferenceState, mem: Memory): ReferenceState {
  if (ref.mem === mem) return ref;
  return walksChanged(ref.cache, ref.mem, mem) ? saturate({ ...ref, mem }) : { ...ref, mem };
}

/** The same for the G-stage reference: writing hgatp again changes nothing but saturates over the new memory. */
function seeingG(g: GStageReference, mem: Memory): GStageReference {
  if (g.mem === mem) return g;
  return walksChanged(g.cache, g.mem, mem) ? gStageStep({ ...g, mem }, { kind: 'hgatp', hgatp: g.hgatp }) : { ...g, mem };
}

function judge(refs: HartReferences, ev: HartEvent, r: StepRecord): HartReferences | string {
  switch (ev.kind) {
    case 'vs-translate': {
      let vs = seeing(refs.vs ?? initialReference(hostSv39, r.refBefore.universe.map((vpn) => gva(vpn << PAGE_SHIFT)), ev.mem), ev.mem);
      if (vs.satp.mode !== 'sv39' || vs.satp.asid !== ev.vsatp.asid || vs.satp.rootPpn !== ev.vsatp.root) {
        vs = referenceStep(vs, { kind: 'satp', satp: { mode: 'sv39', asid: ev.vsatp.asid, rootPpn: ev.vsatp.root } });
      }
      if (vs.sum !== ev.ctx.sum || vs.mxr !== ev.ctx.mxr) vs = { ...vs, sum: ev.ctx.sum, mxr: ev.ctx.mxr };
      const allowed = allowedOutcomes(vs, { kind: 'access', va: ev.va, access: ev.ctx.kind, priv: ev.ctx.priv, value: 0n });
      const got = ev.result;
      const ok = allowed.some((o) => (got.kind === 'ok' ? o.kind === 'ok' && (o.pa as bigint) === (got.hpa as bigint) : o.kind === 'fault' && o.cause === got.cause));
      if (!ok) {
        const said = got.kind === 'ok' ? `host address ${hex(got.hpa)}` : `fault ${got.cause}`;
        return `the hart translated ${hex(ev.va)} over the shadow to ${said}; the reference over the tables it walked allows ${allowed.map(outcomeKey).join('; ')}`;
      }
      return { ...refs, vs };
    }
    case 'hfence-vvma': {
      if (refs.vs === null) return refs;
      return { ...refs, vs: referenceStep(seeing(refs.vs, ev.mem), { kind: 'sfence', rs1: ev.rs1 as Gva | null, rs2: ev.rs2 }) };
    }
    case 'g-lookup': {
      const g = seeingG(refs.g ?? gStageStep(initialGStageReference(hostGStage, GPA_UNIVERSE, ev.mem), { kind: 'hgatp', hgatp: ev.hgatp }), ev.mem);
      const { gpa, ctx, outcome } = ev.lookup;
      // The G-stage maps guest RAM only: an address outside it has no mapping in any cache either, so it must fault.
      if (!inGuestRam(r.hostBefore.cfg, gpa)) {
        return outcome.kind === 'ok' ? `the hart's G-stage translated ${hex(gpa)}, outside guest RAM, to ${gOutcomeKey(outcome)}` : { ...refs, g };
      }
      // A page of RAM no pool leaf reaches (a random 64-bit leaf word, about one in 2^33) is outside the reference's universe: not judged.
      if (!GPA_UNIVERSE.some((p) => p >> PAGE_SHIFT === gpa >> PAGE_SHIFT)) return { ...refs, g };
      const allowed = allowedGStage(g, gpa, ctx);
      if (!allowed.some((o) => gOutcomeKey(o) === gOutcomeKey(outcome))) {
        return `the hart's G-stage translated ${hex(gpa)} to ${gOutcomeKey(outcome)}; the G-stage reference allows ${allowed.map(gOutcomeKey).join('; ')}`;
      }
      return { ...refs, g };
    }
    case 'hfence-gvma': {
      if (refs.g === null) return refs;
      return { ...refs, g: gStageStep(seeingG(refs.g, ev.mem), { kind: 'hfenceGvma', rs1: ev.rs1, rs2: ev.rs2 }) };
    }
  }
}

const inGuestRam = (cfg: GuestConfig, a: Gpa): boolean => a >> PAGE_SHIFT >= cfg.ramBasePage && a >> PAGE_SHIFT < cfg.ramBasePage + cfg.ramPages;
