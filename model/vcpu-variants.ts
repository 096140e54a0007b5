/**
 * Seeded-bug variants of the several-vCPU machines (model/vcpus.ts,
 * docs/decisions/0015): one cross-hart mistake each, caught by the several-hart
 * lockstep runner (properties/harts-run.ts) in a fixed-seed check
 * (properties/harts.test.ts). They are kept apart from model/variants.ts's
 * `VARIANTS`, whose machinery (the one-hart suite, the variant-evidence tests) runs
 * one-hart programs; the schema's variant enum and the committed traces
 * (counterexamples/seeded/, several-hart ITF traces of counterexamples/harts-trace.ts)
 * take both.
 */
import { CAUSE } from '../spec/walk.ts';
import type { ModelName } from './machine.ts';
import { type ShadowPolicy, hfenceForGuest, shadowMachine, trap } from './shadow.ts';
import { sspPolicy } from './ssp.ts';
import { tspPolicy } from './tsp.ts';
import { type AnyVcpuMachine, DEFAULT_VCPU_OPTIONS, eraseVcpu, nptVcpus, shadowVcpus } from './vcpus.ts';

export interface HartVariant {
  readonly name: string;
  readonly base: ModelName;
  /** What it gets wrong, and the real-world bug it stands for. */
  readonly description: string;
  /** The runner's checks that catch it first (properties/harts-run.ts `HartsViolation.check`), the most frequent first. */
  readonly caughtBy: readonly string[];
  readonly machine: AnyVcpuMachine;
}

/** SSP whose SFENCE.VMA only fences the hart (HFENCE.VVMA), syncing nothing: what its SBI path runs in the first variant. */
const sspFenceWithoutSync: ShadowPolicy = {
  ...sspPolicy,
  sfence: (x, rs1, rs2) => {
    trap(x, CAUSE.virtualInstruction, 'sfence');
    hfenceForGuest(x, rs1, rs2);
  },
};

export const HART_VARIANTS: readonly HartVariant[] = [
  {
    name: 'ssp-no-sync-on-sbi-remote-fence',
    base: 'ssp',
    description: 'SSP syncs the shadow on a hart\'s own SFENCE.VMA but serves an SBI remote fence with HFENCE.VVMA on the named harts alone: '
      + 'they refill their TLBs from the stale shadow. KVM\'s paravirtual TLB-flush path that skipped the shadow sync, on RISC-V.',
    caughtBy: ['justified-shadow', 'refinement'],
    machine: eraseVcpu(shadowVcpus(sspPolicy, { ...DEFAULT_VCPU_OPTIONS, remoteFence: shadowMachine(sspFenceWithoutSync) })),
  },
  {
    name: 'ssp-resync-without-remote-flush',
    base: 'ssp',
    description: 'SSP syncs the shared shadow for every hart an SBI remote fence names, and for any change of the shadow, but flushes only the hardware TLB '
      + 'of the hart it runs on: the other harts keep translating through entries the sync replaced. The shadow is the TLB\'s source, not the TLB.',
    caughtBy: ['isolation', 'refinement'],
    machine: eraseVcpu(shadowVcpus(sspPolicy, { ...DEFAULT_VCPU_OPTIONS, broadcast: false, remoteSbiFlush: false })),
  },
  {
    name: 'tsp-flush-current-hart-only',
    base: 'tsp',
    description: 'TSP updates the shared shadow eagerly (a guest PTE store, a host remap or write protection) but issues HFENCE.VVMA on the hart that '
      + 'took the exit only: another hart keeps a leaf to a frame the host moved, or a writable leaf to a page now protected.',
    caughtBy: ['isolation', 'refinement'],
    machine: eraseVcpu(shadowVcpus(tspPolicy, { ...DEFAULT_VCPU_OPTIONS, broadcast: false })),
  },
  {
    name: 'ssp-shadow-keyed-by-asid',
    base: 'ssp',
    description: 'SSP\'s base-address buffer keys shadows by ASID alone, one buffer shared by every hart: two harts that run different roots under one ASID '
      + '(ASIDs are per hart) load the same shadow, and one translates through the other\'s tables.',
    caughtBy: ['justified-shadow', 'refinement'],
    machine: eraseVcpu(shadowVcpus({ ...sspPolicy, bufferKey: (_root, asid) => `asid=${asid}` })),
  },
  {
    name: 'ssp-sync-state-shared-by-harts',
    base: 'ssp',
    description: 'SSP keeps one unsync flag per shadow page for all harts: a page synced while one hart had it loaded counts as in sync for a hart that loads it later, '
      + 'which then uses PTEs read before its satp reached them, changed since without a fence it could have missed.',
    caughtBy: ['justified-shadow', 'refinement'],
    machine: eraseVcpu(shadowVcpus(sspPolicy, { ...DEFAULT_VCPU_OPTIONS, perHartSync: false })),
  },
  {
    name: 'npt-hfence-gvma-local-only',
    base: 'npt',
    description: 'Nested paging fences a G-stage change (a host remap or write protection) with HFENCE.GVMA on the hart whose hypervisor thread made it, '
      + 'without the IPIs to the others: HFENCE.GVMA is local, and another hart keeps the old G-stage or combined entry.',
    caughtBy: ['isolation', 'transparency'],
    machine: eraseVcpu(nptVcpus({ ...DEFAULT_VCPU_OPTIONS, broadcast: false })),
  },
];

/** The several-hart variant of that name, if any (as `findVariant` finds a one-hart one). */
export function findHartVariant(name: string): HartVariant | undefined {
  return HART_VARIANTS.find((v) => v.name === name);
}
