/**
 * Trap routing follows medeleg and hedeleg, never lowers privilege, and costs
 * what the deployment says (decision record 0001).
 */
import { expect, test } from 'vitest';
import { bits, costClass, trapTarget } from './privilege.ts';
import { CAUSE } from './walk.ts';

const none = { medeleg: 0n, hedeleg: 0n };
const nested = { medeleg: bits(12, 13, 15, 20, 21, 22, 23), hedeleg: bits(12, 13, 15) };
const ssp = { medeleg: bits(12, 13, 15, 20, 21, 23), hedeleg: 0n };

test('without delegation every trap goes to M', () => {
  for (const from of ['HS', 'VS', 'VU'] as const) expect(trapTarget(CAUSE.loadPageFault, from, none)).toBe('M');
});

test('guest page faults reach the guest under nested paging; guest-page faults stop in HS', () => {
  expect(trapTarget(CAUSE.loadPageFault, 'VS', nested)).toBe('VS');
  expect(trapTarget(CAUSE.loadGuestPageFault, 'VS', nested)).toBe('HS');
  expect(costClass('VS', 'HS')).toBe('vm-exit');
});

test('hedeleg bits 10 and 20-23 are read-only zero', () => {
  const all = { medeleg: (1n << 64n) - 1n, hedeleg: (1n << 64n) - 1n };
  for (const c of [10, 20, 21, 22, 23]) expect(trapTarget(c, 'VS', all)).toBe('HS');
  expect(trapTarget(CAUSE.storePageFault, 'VS', all)).toBe('VS');
});

test('SSP keeps virtual-instruction traps in M; a trap in HS never goes to VS', () => {
  expect(trapTarget(CAUSE.virtualInstruction, 'VS', ssp)).toBe('M');
  expect(costClass('VS', 'M')).toBe('m-trap');
  expect(trapTarget(CAUSE.loadPageFault, 'HS', nested)).toBe('HS');
  expect(trapTarget(CAUSE.loadPageFault, 'M', nested)).toBe('M');
});
