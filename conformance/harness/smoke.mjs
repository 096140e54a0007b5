#!/usr/bin/env node
// Smoke test of the bare-metal harness (no dependencies):
//   node conformance/harness/smoke.mjs            write a small batch, run QEMU, check the result lines
//   node conformance/harness/smoke.mjs --bench N  time a batch of N simple scenarios (3 lower-mode ops each)
// The batch format and the result lines are conformance/PROTOCOL.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ELF = join(here, 'harness.elf');
const MAGIC = 0x4843544142505353n;

// ------------------------------------------------------------------ batch
const K = { MSTORE: 1, MREAD: 2, MSATP: 3, MVSATP: 4, MHGATP: 5, MFENCE: 6,
  LOAD: 16, STORE: 17, FETCH: 18, CSRW_SATP: 19, CSRR_SATP: 20, SFENCE: 21,
  SFENCE_VA: 22, SFENCE_ASID: 23, SFENCE_VA_ASID: 24, HFENCE_VVMA: 25, HFENCE_GVMA: 26,
  CSRW_HGATP: 27, CSRR_HGATP: 28, ECALL: 29 };
const MODE = { U: 0, S: 1, VU: 2, VS: 3 };

function scenario(s) {
  return { stores: [], satp: 0n, vsatp: 0n, hgatp: 0n, mstatusSet: 0n, vsstatusSet: 0n,
    hstatusSet: 0n, medeleg: 0n, hedeleg: 0n, mode: MODE.S, ops: [], ...s };
}

function encode(scenarios) {
  const w = [MAGIC, BigInt(scenarios.length)];
  for (const s of scenarios) {
    w.push(BigInt(s.stores.length));
    for (const [a, v] of s.stores) w.push(BigInt(a), BigInt(v));
    w.push(s.satp, s.vsatp, s.hgatp, s.mstatusSet, s.vsstatusSet, s.hstatusSet, s.medeleg, s.hedeleg,
      BigInt(s.mode), BigInt(s.ops.length));
    for (const op of s.ops) w.push(BigInt(op.kind), BigInt(op.a ?? 0), BigInt(op.b ?? 0));
  }
  const buf = Buffer.alloc(w.length * 8);
  w.forEach((x, i) => buf.writeBigUInt64LE(BigInt.asUintN(64, x), i * 8));
  return buf;
}

// QEMU's 16550 costs one write(2) per character: with stdout a file rather than a pipe
// (no reader woken per character) a batch runs about three times faster.
function runQemu(batch, timeoutMs) {
  const dir = mkdtempSync(join(tmpdir(), 'ssp-harness-'));
  const file = join(dir, 'batch.bin'), outFile = join(dir, 'uart.txt');
  writeFileSync(file, batch);
  const out = openSync(outFile, 'w');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('qemu-system-riscv64', ['-machine', 'virt', '-cpu', 'rv64,h=true', '-bios', 'none',
    '-nographic', '-m', '256M', '-kernel', ELF, '-device', `loader,file=${file},addr=0x88000000`],
  { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', out, 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  closeSync(out);
  const stdout = readFileSync(outFile, 'utf8');
  rmSync(dir, { recursive: true, force: true });
  if (r.error) throw new Error(`qemu: ${r.error.message}\n${stdout}${r.stderr ?? ''}`);
  const lines = stdout.split(/\r?\n/).filter((l) => /^(R|FATAL|DONE)/.test(l));
  return { lines, ms, status: r.status, stderr: r.stderr };
}

// ------------------------------------------------------------------ page tables
const PTE = { V: 1n, R: 2n, W: 4n, X: 8n, U: 16n, G: 32n, A: 64n, D: 128n };
const RWXAD = PTE.V | PTE.R | PTE.W | PTE.X | PTE.A | PTE.D;
const pte = (pa, flags) => ((BigInt(pa) >> 12n) << 10n) | flags;
const vpn = (va, level) => Number((BigInt(va) >> BigInt(12 + 9 * level)) & 0x1ffn);

// Sv39 single-stage tables (also used as VS-stage tables, whose "physical" addresses are GPAs).
function sv39Tables(base, extra) {
  const root = base, l1code = base + 0x1000, l1data = base + 0x2000, l0data = base + 0x3000;
  const st = [
    [root + vpn(0x80000000, 2) * 8, pte(l1code, PTE.V)],
    [l1code + vpn(0x80000000, 1) * 8, pte(0x80000000, RWXAD)],
    [l1code + vpn(0x80200000, 1) * 8, pte(0x80200000, RWXAD | PTE.U)],
    [root + vpn(0x40000000, 2) * 8, pte(l1data, PTE.V)],
    [l1data + vpn(0x40000000, 1) * 8, pte(l0data, PTE.V)],
  ];
  for (const [va, pa, flags] of extra) st.push([l0data + vpn(va, 0) * 8, pte(pa, flags)]);
  return { stores: st, rootPPN: BigInt(root) >> 12n, l0data };
}
const SATP = (ppn, asid = 0n) => (8n << 60n) | (asid << 44n) | ppn;

const DATA = 0x80404000, CODE = 0x80405000, ADPAGE = 0x80406000, SPAGE = 0x80407000, SCRATCH = 0x80500000;
const VALUE = 0x1122334455667788n, EBREAK = 0x00100073n;

function sv39Scenario(mode, ops, more = {}) {
  const t = sv39Tables(0x80400000, [
    [0x40000000, DATA, PTE.V | PTE.R | PTE.W | PTE.A | PTE.D],
    [0x40001000, CODE, PTE.V | PTE.R | PTE.X | PTE.A],
    [0x40002000, ADPAGE, PTE.V | PTE.R | PTE.W], // A = D = 0
    [0x40003000, DATA, PTE.V | PTE.R | PTE.W | PTE.A | PTE.D | PTE.U],
    [0x40004000, SPAGE, PTE.V | PTE.R | PTE.W | PTE.A | PTE.D], // not written by the stores
  ]);
  return scenario({ stores: [...t.stores, [DATA, VALUE], [CODE, EBREAK]], satp: SATP(t.rootPPN, 5n), mode, ops, ...more });
}

// Two-stage: VS-stage tables at GPA 0x80410000.. (identity-mapped by the G-stage gigapage
// GPA 0x8000_0000..0xbfff_ffff), G-stage root at 0x80420000 (16 KiB aligned, 4 pages);
// GPA 0xc000_0000 (2 MiB) -> PA 0x8060_0000; VA 0x4000_0000 -> GPA 0xc000_0000.
const GDATA = 0x80600000;
function twoStageScenario(mode, ops, more = {}) {
  const vs = sv39Tables(0x80410000, [
    [0x40000000, 0xc0000000, PTE.V | PTE.R | PTE.W | PTE.A | PTE.D],
    [0x40001000, 0xc0001000, PTE.V | PTE.R | PTE.X | PTE.A],
    [0x40002000, 0xc0400000, PTE.V | PTE.R | PTE.W | PTE.A | PTE.D], // GPA not mapped in the G-stage
    [0x40003000, 0xc0000000, PTE.V | PTE.R | PTE.W | PTE.A | PTE.D | PTE.U],
    [0x40004000, 0xc0002000, PTE.V | PTE.R | PTE.W | PTE.A | PTE.D], // PA GDATA + 0x2000, not written by the stores
  ]);
  const groot = 0x80420000, gl1 = 0x80424000;
  const g = [
    [groot + 2 * 8, pte(0x80000000, RWXAD | PTE.U)], // 1 GiB identity leaf, GPA 0x8000_0000
    [groot + 3 * 8, pte(gl1, PTE.V)], // GPA 0xc000_0000..
    [gl1 + 0 * 8, pte(GDATA, RWXAD | PTE.U)], // 2 MiB leaf -> PA 0x8060_0000
  ];
  return scenario({ stores: [...vs.stores, ...g, [GDATA, VALUE], [GDATA + 0x1000, EBREAK]],
    vsatp: SATP(vs.rootPPN, 3n), hgatp: (8n << 60n) | (7n << 44n) | (BigInt(groot) >> 12n), mode, ops, ...more });
}

// ------------------------------------------------------------------ the smoke batch
const bit = (n) => 1n << BigInt(n);
const h = (x) => BigInt.asUintN(64, BigInt(x)).toString(16);
const ok = (value = 0) => `ok 0 0 0 ${h(value)}`;
const M = (cause, tval = 0, tval2 = 0) => `M ${h(cause)} ${h(tval)} ${h(tval2)} 0`;
const HS = (cause, tval = 0, tval2 = 0) => `HS ${h(cause)} ${h(tval)} ${h(tval2)} 0`;
const VS = (cause, tval = 0) => `VS ${h(cause)} ${h(tval)} 0 0`;
const OBSERVE = null; // printed, not checked

const cases = []; // [scenario, [expected per op]]
const add = (s, expected) => cases.push([s, expected]);

// M-mode store and read
add(scenario({ ops: [{ kind: K.MSTORE, a: SCRATCH, b: 0xabcdn }, { kind: K.MREAD, a: SCRATCH }] }),
  [ok(), ok(0xabcd)]);
// the previous scenario's store was zeroed; U-mode ecall, satp Bare, medeleg 0
add(scenario({ mode: MODE.U, ops: [{ kind: K.MREAD, a: SCRATCH }, { kind: K.ECALL }, { kind: K.CSRR_SATP }] }),
  [ok(0), M(8), OBSERVE]);
// S-mode, satp Bare: load a physical address; load 0x0 (no memory); ecall; hgatp write/read; fences
add(scenario({ stores: [[SCRATCH, VALUE]], ops: [
  { kind: K.LOAD, a: SCRATCH }, { kind: K.LOAD, a: 0 }, { kind: K.ECALL }, { kind: K.STORE, a: SCRATCH + 8, b: 0x77n },
  { kind: K.MREAD, a: SCRATCH + 8 }, { kind: K.CSRW_HGATP, a: 0 }, { kind: K.CSRR_HGATP },
  { kind: K.SFENCE }, { kind: K.SFENCE_VA_ASID, a: 0x1000, b: 0 }, { kind: K.HFENCE_VVMA }, { kind: K.HFENCE_GVMA },
  { kind: K.MSTORE, a: SCRATCH + 8, b: 0 }] }),
  [ok(VALUE), M(5, 0), M(9), ok(), ok(0x77), ok(), ok(0), ok(), ok(), ok(), ok(), ok()]);
// U-mode ecall delegated to HS
add(scenario({ mode: MODE.U, medeleg: bit(8) | bit(3), ops: [{ kind: K.ECALL }] }), [HS(8)]);
// Sv39, S-mode
add(sv39Scenario(MODE.S, [
  { kind: K.LOAD, a: 0x40000000 }, { kind: K.FETCH, a: 0x40001000 }, { kind: K.CSRR_SATP },
  { kind: K.LOAD, a: 0x40005000 }, { kind: K.STORE, a: 0x40001000, b: 1 }, { kind: K.LOAD, a: 0x40003000 },
  { kind: K.LOAD, a: 0x40002000 }, { kind: K.MREAD, a: 0x80403000 + 2 * 8 },
  { kind: K.STORE, a: 0x40002000, b: 5 }, { kind: K.MREAD, a: 0x80403000 + 2 * 8 }]),
[ok(VALUE), ok(), ok(SATP(0x80400n, 5n)), M(13, 0x40005000), M(15, 0x40001000), M(13, 0x40003000),
  OBSERVE, OBSERVE, OBSERVE, OBSERVE]);
// Sv39, S-mode with SUM: U page readable
add(sv39Scenario(MODE.S, [{ kind: K.LOAD, a: 0x40003000 }], { mstatusSet: bit(18) }), [ok(VALUE)]);
// Sv39, U-mode: U=0 page faults (to M, then to HS), U=1 page loads, fetch of a U=0 page faults
add(sv39Scenario(MODE.U, [{ kind: K.LOAD, a: 0x40000000 }, { kind: K.LOAD, a: 0x40003000 }, { kind: K.FETCH, a: 0x40001000 }]),
  [M(13, 0x40000000), ok(VALUE), M(12, 0x40001000)]);
add(sv39Scenario(MODE.U, [{ kind: K.LOAD, a: 0x40000000 }], { medeleg: bit(13) }), [HS(13, 0x40000000)]);
// Sv39, S-mode with TVM: csrr satp is illegal
add(sv39Scenario(MODE.S, [{ kind: K.CSRR_SATP }], { mstatusSet: bit(20) }), [OBSERVE]);
// two-stage, VS-mode
add(twoStageScenario(MODE.VS, [
  { kind: K.LOAD, a: 0x40000000 }, { kind: K.FETCH, a: 0x40001000 }, { kind: K.CSRR_SATP },
  { kind: K.LOAD, a: 0x40005000 }, { kind: K.LOAD, a: 0x40002000 }, { kind: K.ECALL }, { kind: K.CSRR_HGATP }]),
[ok(VALUE), ok(), ok(SATP(0x80410n, 3n)), M(13, 0x40005000), M(21, 0x40002000, 0xc0400000 / 4), M(10), OBSERVE]);
add(twoStageScenario(MODE.VS, [{ kind: K.LOAD, a: 0x40005000 }, { kind: K.LOAD, a: 0x40002000 }, { kind: K.ECALL }],
  { medeleg: bit(13) | bit(21) | bit(10), hedeleg: bit(13) }),
[VS(13, 0x40005000), HS(21, 0x40002000, 0xc0400000 / 4), HS(10)]);
add(twoStageScenario(MODE.VU, [{ kind: K.LOAD, a: 0x40003000 }, { kind: K.LOAD, a: 0x40000000 }, { kind: K.ECALL }]),
  [ok(VALUE), M(13, 0x40000000), M(8)]);
add(twoStageScenario(MODE.VU, [{ kind: K.ECALL }, { kind: K.HFENCE_VVMA }], { medeleg: bit(8), hedeleg: bit(8) }),
  [VS(8), OBSERVE]);
// observations (QEMU-specific behaviour, printed, not checked): VU-mode privileged instructions,
// hgatp VMID as read back in HS-mode, a stale translation after a PTE store without sfence
add(twoStageScenario(MODE.VU, [{ kind: K.SFENCE }, { kind: K.CSRR_SATP }, { kind: K.CSRR_HGATP }, { kind: K.HFENCE_GVMA }]),
  [OBSERVE, OBSERVE, OBSERVE, OBSERVE]);
add(twoStageScenario(MODE.VS, [{ kind: K.HFENCE_VVMA }, { kind: K.SFENCE }, { kind: K.CSRW_SATP, a: 0 }, { kind: K.CSRR_SATP }],
  { hstatusSet: bit(20) }), [OBSERVE, OBSERVE, OBSERVE, OBSERVE]);
add(twoStageScenario(MODE.S, [{ kind: K.CSRR_HGATP }]), [OBSERVE]);
add(sv39Scenario(MODE.S, [{ kind: K.LOAD, a: 0x40000000 },
  { kind: K.MSTORE, a: 0x80403000, b: pte(SCRATCH, PTE.V | PTE.R | PTE.W | PTE.A | PTE.D) },
  { kind: K.MSTORE, a: SCRATCH, b: 0x5ca1ab1en },
  { kind: K.LOAD, a: 0x40000000 }, { kind: K.SFENCE_VA, a: 0x40000000 }, { kind: K.LOAD, a: 0x40000000 }]),
[ok(VALUE), ok(), ok(), OBSERVE, ok(), ok(0x5ca1ab1e)]);
// stale translation in VS-mode (VS-stage PTE changed without a fence), G-stage leaf with A = D = 0
add(twoStageScenario(MODE.VS, [{ kind: K.LOAD, a: 0x40000000 },
  { kind: K.MSTORE, a: 0x80413000, b: pte(0xc0003000, PTE.V | PTE.R | PTE.W | PTE.A | PTE.D) },
  { kind: K.MSTORE, a: GDATA + 0x3000, b: 0x5ca1ab1en },
  { kind: K.LOAD, a: 0x40000000 }]), [ok(VALUE), ok(), ok(), OBSERVE]);
add(twoStageScenario(MODE.VS, [{ kind: K.MSTORE, a: 0x80424000, b: pte(GDATA, PTE.V | PTE.R | PTE.W | PTE.X | PTE.U) },
  { kind: K.LOAD, a: 0x40000000 }, { kind: K.MREAD, a: 0x80424000 }, { kind: K.STORE, a: 0x40000000, b: 9 },
  { kind: K.MREAD, a: 0x80424000 }]), [ok(), OBSERVE, OBSERVE, OBSERVE, OBSERVE]);
// watchdog: S-mode with a satp whose (empty) table maps nothing, instruction page faults
// delegated to HS: the HS handler's own fetch faults into itself forever
add(scenario({ satp: SATP(0x80430n), medeleg: bit(12), ops: [{ kind: K.LOAD, a: 0x80000000 }] }),
  [M(0x8000000000000007n)]);
// lower-mode stores to memory the scenario's stores did not write (Bare, Sv39, two-stage)
add(scenario({ mode: MODE.U, ops: [{ kind: K.STORE, a: SCRATCH + 0x1008, b: 1 }, { kind: K.LOAD, a: SCRATCH + 0x1008 }] }),
  [ok(), ok(1)]);
add(sv39Scenario(MODE.S, [{ kind: K.STORE, a: 0x40004010, b: 2 }, { kind: K.MREAD, a: SPAGE + 0x10 }]), [ok(), ok(2)]);
add(twoStageScenario(MODE.VS, [{ kind: K.STORE, a: 0x40004018, b: 3 }, { kind: K.MREAD, a: GDATA + 0x2018 }]), [ok(), ok(3)]);
// memory is clean again
add(scenario({ ops: [{ kind: K.MREAD, a: DATA }, { kind: K.MREAD, a: 0x80400000 + 2 * 8 }, { kind: K.MREAD, a: GDATA },
  { kind: K.MREAD, a: SCRATCH + 0x1008 }, { kind: K.MREAD, a: SPAGE + 0x10 }, { kind: K.MREAD, a: GDATA + 0x2018 }] }),
[ok(0), ok(0), ok(0), ok(0), ok(0), ok(0)]);

function smoke() {
  let failures = 0;
  const r = runQemu(encode(cases.map((c) => c[0])), 60000);
  const want = [];
  cases.forEach(([, exp], s) => exp.forEach((e, o) => want.push([`R ${h(s)} ${h(o)}`, e])));
  const got = r.lines.filter((l) => l.startsWith('R '));
  for (const [i, [prefix, e]] of want.entries()) {
    const line = got[i] ?? '(missing)';
    const body = line.startsWith(prefix + ' ') ? line.slice(prefix.length + 1) : null;
    const pass = body !== null && (e === OBSERVE || body === e);
    if (!pass) failures++;
    console.log(`${pass ? (e === OBSERVE ? 'obs ' : 'ok  ') : 'FAIL'} ${line}${pass ? '' : `   (want ${prefix} ${e})`}`);
  }
  if (got.length !== want.length) { failures++; console.log(`FAIL ${got.length} result lines, want ${want.length}`); }
  const done = r.lines[r.lines.length - 1];
  if (done !== `DONE ${h(cases.length)}`) { failures++; console.log(`FAIL last line ${done}`); }
  console.log(`${done}  (${r.ms.toFixed(0)} ms, qemu exit ${r.status})`);

  // an unexpected trap in the harness's own code: FATAL, then DONE
  const f = runQemu(encode([scenario({ ops: [{ kind: K.MREAD, a: SCRATCH }, { kind: K.MREAD, a: 0 }, { kind: K.MREAD, a: SCRATCH }] }),
    scenario({})]), 20000);
  console.log(f.lines.join('\n'));
  const fwant = ['R 0 0 ok 0 0 0 0', 'FATAL 0 1 5', 'DONE 2'];
  if (f.lines.length !== 3 || !fwant.every((w, i) => f.lines[i].startsWith(w))) { failures++; console.log('FAIL fatal batch'); }

  console.log(failures ? `${failures} FAILURE(S)` : 'smoke: all checks passed');
  process.exit(failures ? 1 : 0);
}

function bench(n) {
  const empty = runQemu(encode([]), 60000);
  const scenarios = [];
  for (let i = 0; i < n; i++) {
    scenarios.push(scenario({ stores: [[SCRATCH + (i % 512) * 8, BigInt(i)]], mode: MODE.S, ops: [
      { kind: K.LOAD, a: SCRATCH + (i % 512) * 8 }, { kind: K.STORE, a: SCRATCH + 4096, b: 1 }, { kind: K.ECALL }] }));
  }
  const r = runQemu(encode(scenarios), 600000);
  const ops = 3 * n;
  const bad = r.lines.filter((l, i) => l.startsWith('R ') && !(i % 3 === 2 ? / M 9 0 0 0$/ : / ok /).test(l)).length;
  const sec = (r.ms - empty.ms) / 1000;
  console.log(`${n} scenarios, ${ops} lower-mode ops, ${r.lines.length} lines (${bad} unexpected), ` +
    `${r.ms.toFixed(0)} ms total, ${empty.ms.toFixed(0)} ms QEMU start-up (empty batch)`);
  console.log(`${(ops / sec).toFixed(0)} ops/s, ${(n / sec).toFixed(0)} scenarios/s (start-up excluded); ` +
    `${(ops / (r.ms / 1000)).toFixed(0)} ops/s including start-up`);
}

const bi = process.argv.indexOf('--bench');
if (bi >= 0) bench(Number(process.argv[bi + 1] ?? 10000));
else smoke();
