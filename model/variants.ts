/**
 * Seeded-bug variants: the models with one documented mistake each, a bug class
 * real hypervisors have had or that SSP invites. Each must be caught by some
 * property (a variant no property can catch is not a bug). Selected by name:
 * `npm start -- --variant NAME`.
 */
import type { AnyMachine, ModelName } from './machine.ts';
import { erase } from './machine.ts';
import { hfenceVvma, shadowMachine, syncLeaves, trap } from './shadow.ts';
import { sspPolicy } from './ssp.ts';
import { CAUSE } from '../spec/walk.ts';

export interface Variant {
  readonly name: string;
  /** The model it breaks. */
  readonly base: ModelName;
  /** What it gets wrong, and the real-world bug it stands for. */
  readonly description: string;
  readonly machine: AnyMachine;
}

export const VARIANTS: readonly Variant[] = [
  {
    name: 'ssp-no-sync-on-va-fence',
    base: 'ssp',
    description:
      'SSP synchronises nothing on an address-specific SFENCE.VMA (it still flushes the hart\'s TLB, which then refills from the stale shadow). '
      + 'Stands for KVM\'s paravirtual TLB-flush path that skipped the shadow sync.',
    machine: erase(shadowMachine({
      ...sspPolicy,
      sfence: (x, rs1, rs2) => {
        trap(x, CAUSE.virtualInstruction, 'sfence');
        if (rs1 === null) syncLeaves(x, (t) => rs2 === null || t.asid === rs2, () => true, true);
        hfenceVvma(x, rs1, rs2);
      },
    })),
  },
];

export function findVariant(name: string): Variant | undefined {
  return VARIANTS.find((v) => v.name === name);
}


