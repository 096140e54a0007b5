/**
 * The `tlb` lines (counterexamples/README.md; written by model/shadow.ts and
 * model/npt.ts), parsed:
 *
 *   `TAG L<level> prefix=0x… [0xADDR]=0xWORD`          TSP, SSP: the hart's entry over a shadow PTE
 *   `VS TAG L<level> prefix=0x… [0xADDR]=0xWORD`       NPT: VS-stage entry over a guest PTE (ADDR guest-physical)
 *   `G vmid=TAG L<level> prefix=0x… [0xADDR]=0xWORD`   NPT: G-stage entry over a G-stage PTE (ADDR host-physical)
 *   `combined TAG va=0x… gpa=0x…`                     NPT: a combined GVA->GPA entry
 *
 * TAG is an ASID (or VMID) number or `global`. A line of any other form is kept
 * raw, and the page says it could not read it.
 */
import { gpaOf, vaOf } from './pte.ts';

export type TlbEntry =
  | {
      readonly kind: 'walk';
      readonly stage: 'shadow' | 'VS' | 'G';
      readonly tag: string;
      readonly level: number;
      readonly prefix: bigint;
      /** The first address the entry translates: a VA (shadow, VS) or a GPA (G). */
      readonly from: bigint;
      readonly pteAddr: bigint;
      readonly word: bigint;
      readonly line: string;
    }
  | { readonly kind: 'combined'; readonly tag: string; readonly va: bigint; readonly gpa: bigint; readonly line: string }
  | { readonly kind: 'raw'; readonly line: string };

const WALK = /^(?:(VS) (\S+)|G vmid=(\S+)|(\S+)) L([0-2]) prefix=0x([0-9a-f]+) \[0x([0-9a-f]+)\]=0x([0-9a-f]+)$/;
const COMBINED = /^combined (\S+) va=0x([0-9a-f]+) gpa=0x([0-9a-f]+)$/;

export function parseTlbLine(line: string): TlbEntry {
  const w = WALK.exec(line);
  if (w !== null) {
    const stage = w[1] === 'VS' ? 'VS' : w[3] !== undefined ? 'G' : 'shadow';
    const level = Number(w[5]);
    const prefix = BigInt(`0x${w[6]}`);
    return {
      kind: 'walk', stage, tag: (w[2] ?? w[3] ?? w[4]) as string, level, prefix,
      from: stage === 'G' ? gpaOf(prefix, level) : vaOf(prefix, level),
      pteAddr: BigInt(`0x${w[7]}`), word: BigInt(`0x${w[8]}`), line,
    };
  }
  const c = COMBINED.exec(line);
  if (c !== null) return { kind: 'combined', tag: c[1] as string, va: BigInt(`0x${c[2]}`), gpa: BigInt(`0x${c[3]}`), line };
  return { kind: 'raw', line };
}
