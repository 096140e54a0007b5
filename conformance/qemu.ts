/**
 * Run a batch on QEMU: `qemu-system-riscv64 -machine virt -cpu rv64,h=true`,
 * the harness as the kernel, the batch loaded next to it; one boot per batch.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BATCH_ADDRESS, HarnessError, type OpResult, type Scenario, encodeBatch, parseResults } from './protocol.ts';

export const HARNESS = new URL('./harness/harness.elf', import.meta.url).pathname;
export const QEMU = 'qemu-system-riscv64';

/** Why conformance cannot run here, or null if it can. */
export function conformanceUnavailable(): string | null {
  const probe = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    return `${QEMU} not found: install Debian's qemu-system-misc (and gcc-riscv64-unknown-elf to rebuild the harness)`;
  }
  if (!existsSync(HARNESS)) return `${HARNESS} is missing: run conformance/harness/build.sh (needs gcc-riscv64-unknown-elf)`;
  return null;
}

export function runBatch(scenarios: readonly Scenario[], timeoutMs = 600_000): OpResult[][] {
  const dir = mkdtempSync(join(tmpdir(), 'ssp-conformance-'));
  try {
    const batch = join(dir, 'batch.bin');
    writeFileSync(batch, encodeBatch(scenarios));
    // QEMU's UART writes a character at a time: into a file it is about three times faster than into a pipe.
    const out = join(dir, 'uart.txt');
    const fd = openSync(out, 'w');
    try {
      const r = spawnSync(QEMU, [
        '-machine', 'virt', '-cpu', 'rv64,h=true', '-bios', 'none', '-nographic', '-m', '256M',
        '-kernel', HARNESS, '-device', `loader,file=${batch},addr=0x${BATCH_ADDRESS.toString(16)}`,
      ], { stdio: ['ignore', fd, 'pipe'], timeout: timeoutMs });
      if (r.error !== undefined) throw new HarnessError(`QEMU failed to run: ${r.error.message}`);
    } finally {
      closeSync(fd);
    }
    return parseResults(readFileSync(out, 'utf8'), scenarios.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
