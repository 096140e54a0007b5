/**
 * The throughput benchmark's baseline: one Sv39 hart over plain mutable objects
 * (a Map of words, a Map for the TLB, filled on a miss and emptied by any fence),
 * stepping the same events as the models. It checks nothing and models no
 * hypervisor; it shows what a step costs with no persistence, no reference and no
 * properties, so that the other figures read as the price of those.
 */
import type { MachineEvent } from '../model/machine.ts';

const V = 1n;
const RWX = 0xen;

/** Commands per second of the baseline over `programs` (each starting from `boot`'s words). */
export function baselineThroughput(programs: readonly (readonly MachineEvent[])[], boot: ReadonlyMap<bigint, bigint>): number {
  let commands = 0;
  const t0 = performance.now();
  for (const program of programs) {
    const mem = new Map(boot);
    const tlb = new Map<bigint, bigint>();
    let root: bigint | null = null;
    let sink = 0n;
    for (const e of program) {
      commands++;
      switch (e.kind) {
        case 'ptStore': mem.set(e.addr, e.value); break;
        case 'satp': root = e.satp.mode === 'bare' ? null : e.satp.rootPpn; break;
        case 'sfence': tlb.clear(); break;
        case 'access': {
          if (root === null) break;
          const vpn = (e.va >> 12n) & 0x7ffffffn;
          let leaf = tlb.get(vpn);
          if (leaf === undefined) {
            let table = root << 12n;
            for (let level = 2; level >= 0; level--) {
              const pte = mem.get(table + ((vpn >> BigInt(9 * level)) & 0x1ffn) * 8n) ?? 0n;
              if ((pte & V) === 0n) break;
              if ((pte & RWX) !== 0n) {
                leaf = pte;
                break;
              }
              table = (pte >> 10n) << 12n;
            }
            if (leaf === undefined) break;
            tlb.set(vpn, leaf);
          }
          const pa = ((leaf >> 10n) << 12n) | (e.va & 0xff8n);
          if (e.access === 'store') mem.set(pa, e.value);
          else sink ^= mem.get(pa) ?? 0n;
          break;
        }
        default: break;
      }
    }
    if (sink === -1n) throw new Error('unreachable');
  }
  return commands / ((performance.now() - t0) / 1000);
}
