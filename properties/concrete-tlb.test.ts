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
import { gpa, gva } from '../spec/address.ts';
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

test('a G pointer read from memory above an entry cached under another ASID does not make the leaf below it global', () => {
  // Found when decision 0006's choice 7 was fixed in both oracles: the concrete TLB (NPT's VS-stage) still tagged the
  // leaf below a cached ASID-2 pointer GLOBAL because a G pointer had been read from memory above it.
  const store = (addr: bigint, value: bigint) => ({ kind: 'ptStore' as const, addr: gpa(addr), value });
  const satp = (asid: number): Satp => ({ mode: 'sv39', asid, rootPpn: 0x80003n });
  const load = { kind: 'access' as const, va: gva(0x40001000n), access: 'load' as const, priv: 'S' as const, value: 0n };
  const program = [
    store(0x80003008n, 0x20001001n), store(0x80004000n, 0x20001401n), store(0x80005008n, 0x200028c7n),
    satp(2), load, store(0x80003008n, 0x20001821n), satp(1), load, { kind: 'sfence' as const, rs1: gva(0x40001000n), rs2: null },
    satp(2), load, store(0x80006000n, 0x20001c01n), satp(1), load,
  ];
  let ref = initialReference(guestConfig, [gva(0x40001000n)]);
  let tlb: ConcreteTlb = emptyTlb;
  let current: Satp = { mode: 'bare' };
  const outcomes: string[][] = [];
  for (const e of program) {
    if ('mode' in e) {
      current = e;
      ref = referenceStep(ref, { kind: 'satp', satp: e });
      continue;
    }
    if (e.kind !== 'access') {
      if (e.kind === 'sfence') tlb = tlbFence(tlb, e.rs1, e.rs2, (a) => readWord(ref.mem, a));
      ref = referenceStep(ref, e);
      continue;
    }
    if (current.mode !== 'sv39') throw new Error('the program loads satp first');
    const mem = ref.mem;
    const t = tlbTranslate(tlb, e.va, current.asid, current.rootPpn, { kind: 'load', priv: 'S', sum: false, mxr: false },
      (a) => (inRam(guestConfig, a) ? readWord(mem, a) : null), { svade: true }, (pa) => inRam(guestConfig, pa));
    tlb = t.tlb;
    const o: Outcome = t.result.kind === 'ok' ? { kind: 'ok', pa: t.result.pa, adUpdate: null } : { kind: 'fault', cause: exceptionFor(t.result.error, 'load'), tval: e.va };
    outcomes.push([outcomeKey(o), ...allowedOutcomes(ref, e).map(outcomeKey)]);
    ref = referenceAccess(ref, e, o);
  }
  expect(outcomes.at(-1)).toEqual(['fault 13 tval=0x40001000', 'fault 13 tval=0x40001000']);
  for (const [got, ...allowed] of outcomes) expect(allowed).toContain(got);
});
