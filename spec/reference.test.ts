/**
 * The reference is exact only on its universe of virtual pages (saturation walks
 * those pages alone): an access anywhere else is refused, not answered with a set
 * that would be too small.
 */
import { expect, test } from 'vitest';
import { gva } from './address.ts';
import { defaultGuestConfig } from './config.ts';
import { OutsideUniverseError, allowedOutcomes, initialReference, referenceStep } from './reference.ts';

test('an access outside the universe is refused; inside it, and non-canonical ones, are answered', () => {
  const r = referenceStep(initialReference(defaultGuestConfig, [gva(0x4000_1000n)]), { kind: 'satp', satp: { mode: 'sv39', asid: 1, rootPpn: 0x80010n } });
  const access = (va: bigint) => allowedOutcomes(r, { kind: 'access', va: gva(va), access: 'load', priv: 'S', value: 0n });
  expect(() => access(0x4000_2000n)).toThrow(OutsideUniverseError);
  expect(access(0x4000_1000n)).toEqual([{ kind: 'fault', cause: 13, tval: 0x4000_1000n }]);
  // A non-canonical address faults before any walk: no universe needed.
  expect(access(0x40_0000_0000n)).toEqual([{ kind: 'fault', cause: 13, tval: 0x40_0000_0000n }]);
});
