/**
 * What several vCPUs cost each design (docs/decisions/0015), on a scripted program
 * where two threads share an address space (`npm run bench:vcpus`): both harts run
 * root 0 under ASID 1 and touch the same pages; each round, hart 0 remaps one of
 * them to another data page, fences it locally and asks SBI to fence hart 1
 * (`sbi_remote_sfence_vma`, one page), and both touch it again; halfway, the host
 * remaps a frame from hart 1's hypervisor thread. Every step is checked in lockstep
 * against the N-hart reference (properties/harts-run.ts). Counts, not times.
 */
import { encodePte } from '../spec/pte.ts';
import type { SbiCall } from '../spec/sbi.ts';
import { MODEL_NAMES } from '../model/models.ts';
import { type AnyVcpuMachine, DEFAULT_VCPU_OPTIONS, type VcpuStep, VCPU_MODELS, eraseVcpu, shadowVcpus } from '../model/vcpus.ts';
import { sspPolicy } from '../model/ssp.ts';
import { type HartsProgram, runHartsProgram } from '../properties/harts-run.ts';
import { DATA_FRAMES, ROOTS, VAS, bootMemory, guestConfig, pteAddress } from '../properties/pools.ts';

const ROUNDS = 4;
const at = <T>(xs: readonly T[], i: number): T => xs[i % xs.length] as T;

function program(): HartsProgram {
  const steps: VcpuStep[] = [];
  const g = (hart: number, action: Extract<VcpuStep, { kind: 'guest' }>['action']) => steps.push({ kind: 'guest', hart, action });
  for (const hart of [0, 1]) g(hart, { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: at(ROOTS, 0) } });
  const pages = [at(VAS, 0), at(VAS, 1)];
  // Address space 0's level-0 table (properties/pools.ts bootMemory): slot 1 maps VAS[0], slot 2 VAS[1].
  const leafAddr = [pteAddress(0x80012n, 1n), pteAddress(0x80012n, 2n)];
  for (let round = 0; round < ROUNDS; round++) {
    for (const hart of [0, 1]) for (const va of pages) g(hart, { kind: 'access', va, access: 'store', priv: 'S', value: BigInt(round * 10 + hart) });
    const k = round % 2;
    const va = at(pages, k);
    g(0, { kind: 'ptStore', addr: at(leafAddr, k), value: encodePte({ ppn: at(DATA_FRAMES, round + 2), r: true, w: true, a: true, d: true }) });
    g(0, { kind: 'sfence', rs1: va, rs2: null });
    const call: SbiCall = { kind: 'remoteSfenceVma', hartMask: 1n, hartMaskBase: 1n, startAddr: va, size: 4096n };
    steps.push({ kind: 'sbi', hart: 0, call });
    if (round === ROUNDS / 2) steps.push({ kind: 'host', hart: 1, event: { kind: 'hostRemap', gpn: at(DATA_FRAMES, 0) } });
    for (const hart of [1, 0]) g(hart, { kind: 'access', va, access: 'load', priv: 'S', value: 0n });
  }
  return { harts: 2, steps };
}

const p = program();
console.log(`bench/vcpus.ts: two threads sharing address space 0, ${ROUNDS} rounds, ${p.steps.length} steps, every step checked against the 2-hart reference`);
console.log('| design | VM exits | M-mode traps | of them: remote-fence IPIs | SBI call traps | hidden faults | shadow resyncs | resyncs seen by hart 1/0 |');
console.log('|---|---|---|---|---|---|---|---|');
const designs: [string, AnyVcpuMachine][] = [
  ...MODEL_NAMES.map((n) => [n, VCPU_MODELS[n]] as [string, AnyVcpuMachine]),
  // The alternative routing: medeleg[10]=1, SBI calls forwarded to the hypervisor in HS.
  ['ssp, SBI in HS', eraseVcpu(shadowVcpus(sspPolicy, { ...DEFAULT_VCPU_OPTIONS, sbiTo: 'HS' }))],
];
for (const [name, vm] of designs) {
  const r = runHartsProgram(vm, p);
  if (r.violation !== null) throw new Error(`${name}: ${r.violation.check}: ${r.violation.message}`);
  const ev = (e: string) => r.stats.events.get(e) ?? 0;
  // Traps by reason, from a second pass over the steps (the runner counts by cost).
  let s = vm.init(guestConfig, bootMemory(), 2);
  const reasons = new Map<string, number>();
  for (const st of p.steps) {
    const out = vm.step(s, st);
    for (const t of out.traps) if (t.cost !== 'none') reasons.set(t.reason, (reasons.get(t.reason) ?? 0) + 1);
    s = out.state;
  }
  console.log(`| ${name} | ${ev('vm-exit')} | ${ev('m-trap')} | ${reasons.get('remote-fence-ipi') ?? 0} | ${reasons.get('sbi-call') ?? 0} | ${ev('hidden-fault')} | ${ev('shadow-resync')} | ${ev('resync-seen-by-other-hart')} |`);
  console.log(`|   ${name} traps by reason: ${[...reasons].map(([k, v]) => `${k} ${v}`).join(', ')} | | | | | | | |`);
}
