/**
 * The concrete, deterministic TLB refines the reference: on random guest
 * programs every outcome it produces is in the allowed set, and it does take
 * stale outcomes (it is as stale as a TLB may be).
 */
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { programArb, resolveProgram } from './commands.ts';
import { VAS, bootMemory, guestConfig } from './pools.ts';
import { testBudget } from './test-budget.ts';
import { inRam, maskAsid } from '../spec/config.ts';
import { type ConcreteTlb, emptyTlb, tlbFence, tlbTranslate } from '../spec/concrete-tlb.ts';
import { type Outcome, type Satp, outcomeKey } from '../spec/guest-action.ts';
import { readWord } from '../spec/memory.ts';
import { allowedOutcomes, freshOutcome, initialReference, referenceAccess, referenceStep } from '../spec/reference.ts';
import { exceptionFor } from '../spec/walk.ts';

const budget = testBudget('properties/concrete-tlb.test.ts');

test('every outcome of the concrete TLB is allowed by the reference', () => {
  let stale = 0;
  fc.assert(
    fc.property(programArb('arbitrary', budget.maxCommands), (program) => {
      let ref = initialReference(guestConfig, VAS, bootMemory());
      let tlb: ConcreteTlb = emptyTlb;
      let satp: Satp = { mode: 'bare' };
      let sum = false;
      let mxr = false;
      for (const e of resolveProgram(program, 'arbitrary')) {
        if (e.kind === 'hostRemap' || e.kind === 'hostWriteProtect' || e.kind === 'hostUnprotect') continue;
        if (e.kind !== 'access') {
          if (e.kind === 'satp') satp = e.satp.mode === 'bare' ? e.satp : { ...e.satp, asid: maskAsid(guestConfig, e.satp.asid) };
          if (e.kind === 'sum') sum = e.value;
          if (e.kind === 'mxr') mxr = e.value;
          if (e.kind === 'sfence') tlb = tlbFence(tlb, e.rs1, e.rs2 === null ? null : maskAsid(guestConfig, e.rs2), (a) => readWord(ref.mem, a));
          ref = referenceStep(ref, e);
          continue;
        }
        if (satp.mode !== 'sv39') continue;
        const mem = ref.mem;
        const t = tlbTranslate(tlb, e.va, satp.asid, satp.rootPpn, { kind: e.access, priv: e.priv, sum, mxr },
          (a) => (inRam(guestConfig, a) ? readWord(mem, a) : null), { svade: true }, (pa) => inRam(guestConfig, pa));
        tlb = t.tlb;
        const o: Outcome = t.result.kind === 'ok'
          ? { kind: 'ok', pa: t.result.pa, adUpdate: null }
          : { kind: 'fault', cause: exceptionFor(t.result.error, e.access), tval: e.va };
        const allowed = allowedOutcomes(ref, e).map(outcomeKey);
        expect(allowed).toContain(outcomeKey(o));
        if (outcomeKey(o) !== outcomeKey(freshOutcome(ref, e))) stale++;
        ref = referenceAccess(ref, e, o);
      }
    }),
    { numRuns: budget.runs, seed: budget.seed },
  );
  expect(stale).toBeGreaterThan(budget.runs / 10);
});
