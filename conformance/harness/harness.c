/*
 * Bare-metal conformance harness: the batch loop (see conformance/PROTOCOL.md).
 * Trap entry/exit and the stubs are in harness.S.
 */
#include <stdint.h>

typedef uint64_t u64;

#define BATCH_ADDR   0x88000000UL
#define BATCH_MAGIC  0x4843544142505353UL /* "SSPBATCH" */
#define UART_BASE    0x10000000UL
#define TEST_DEV     0x100000UL

#define STR_(x) #x
#define STR(x) STR_(x)
#define CSR_READ(csr) ({ u64 v_; __asm__ volatile("csrr %0, " STR(csr) : "=r"(v_)); v_; })
#define CSR_WRITE(csr, v) __asm__ volatile("csrw " STR(csr) ", %0" ::"r"((u64)(v)) : "memory")
#define CSR_SET(csr, v) __asm__ volatile("csrs " STR(csr) ", %0" ::"r"((u64)(v)) : "memory")
#define CSR_CLEAR(csr, v) __asm__ volatile("csrc " STR(csr) ", %0" ::"r"((u64)(v)) : "memory")

/* hypervisor CSRs by number (binutils here rejects the H extension) */
#define VSSTATUS 0x200
#define VSATP    0x280
#define HSTATUS  0x600
#define HEDELEG  0x602
#define HGATP    0x680

#define MSTATUS_ALLOWED  ((1UL << 18) | (1UL << 19) | (1UL << 20) | (1UL << 22)) /* SUM MXR TVM TSR */
#define VSSTATUS_ALLOWED ((1UL << 18) | (1UL << 19))                             /* SUM MXR */
#define HSTATUS_ALLOWED  ((1UL << 20) | (1UL << 21) | (1UL << 22))               /* VTVM VTW VTSR */
#define BREAKPOINT_BIT   (1UL << 3)

struct mctx {
  u64 regs[16]; /* ra sp gp tp s0..s11 */
  u64 kind, a, ebrk, inop;
  u64 where, cause, tval, tval2, value;
};
extern struct mctx m_ctx;
extern char sstubs[], ustubs[];
extern void run_lower(u64 a, u64 b, u64 entry, u64 kind, u64 mode, u64 ebreak_pc);

static u64 cur_scenario, cur_op, n_scenarios;

/* ------------------------------------------------------------------ UART */

static inline void uart_putc(char c) {
  volatile uint8_t *u = (volatile uint8_t *)UART_BASE;
  while ((u[5] & 0x20) == 0) {
  }
  u[0] = (uint8_t)c;
}

static char line[256];
static unsigned line_len;

static void put(char c) { line[line_len++] = c; }

static void put_str(const char *s) {
  while (*s) put(*s++);
}

static void put_hex(u64 v) {
  char tmp[16];
  int n = 0;
  do {
    unsigned d = (unsigned)(v & 0xf);
    tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v >>= 4;
  } while (v);
  while (n) put(tmp[--n]);
}

static void put_sp_hex(u64 v) {
  put(' ');
  put_hex(v);
}

static void flush_line(void) {
  put('\n');
  for (unsigned i = 0; i < line_len; i++) uart_putc(line[i]);
  line_len = 0;
}

static void __attribute__((noreturn)) finish(void) {
  put_str("DONE");
  put_sp_hex(n_scenarios);
  flush_line();
  *(volatile uint32_t *)TEST_DEV = 0x5555;
  for (;;) __asm__ volatile("wfi");
}

/* Called from m_trap for a trap the harness did not expect. */
void __attribute__((noreturn)) harness_fatal(u64 mcause, u64 mepc, u64 mtval) {
  line_len = 0;
  put_str("FATAL");
  put_sp_hex(cur_scenario);
  put_sp_hex(cur_op);
  put_sp_hex(mcause);
  put_sp_hex(mepc);
  put_sp_hex(mtval);
  flush_line();
  finish();
}

/* ------------------------------------------------------------------ fences */

static inline void fences(void) {
  __asm__ volatile(
      "sfence.vma x0, x0\n\t"
      ".insn r 0x73, 0, 0x11, x0, x0, x0\n\t" /* hfence.vvma x0, x0 */
      ".insn r 0x73, 0, 0x31, x0, x0, x0\n\t" /* hfence.gvma x0, x0 */
      ::
          : "memory");
}

static void reset_state(void) {
  CSR_CLEAR(mstatus, MSTATUS_ALLOWED | (1UL << 17)); /* and MPRV */
  CSR_CLEAR(VSSTATUS, VSSTATUS_ALLOWED);
  CSR_CLEAR(HSTATUS, HSTATUS_ALLOWED);
  CSR_WRITE(medeleg, 0);
  CSR_WRITE(HEDELEG, 0);
  CSR_WRITE(satp, 0);
  CSR_WRITE(VSATP, 0);
  CSR_WRITE(HGATP, 0);
  fences();
}

/* ------------------------------------------------------ lower-mode stores
 * The scenario's stores and kind-1 stores are zeroed after the scenario by
 * address.  A lower-mode store (kind 17) names a virtual address: right after
 * it completes, the harness walks the current tables (satp, or vsatp and
 * hgatp) in software to find the physical address it wrote, and zeroes that
 * too.  The walk sees the tables as they are at that moment, so a store that
 * QEMU performed through a stale TLB entry (a PTE changed without a fence) is
 * not found; only addresses in scenario memory are zeroed.
 */
#define RAM_BASE      0x80000000UL
#define RAM_END       0x90000000UL
#define SCEN_MEM_BASE 0x80400000UL
#define SCEN_MEM_END  0x88000000UL
#define PTE_V 1UL
#define PTE_R 2UL
#define PTE_X 8UL
#define PPN(x) ((x) & ((1UL << 44) - 1))

static int read_pte(u64 pa, u64 *pte) {
  if (pa < RAM_BASE || pa >= RAM_END || (pa & 7)) return 0;
  *pte = *(volatile u64 *)pa;
  return 1;
}

/* G-stage (hgatp Bare or Sv39x4): guest-physical to physical */
static int g_translate(u64 hgatp, u64 gpa, u64 *pa) {
  u64 mode = hgatp >> 60;
  if (mode == 0) {
    *pa = gpa;
    return 1;
  }
  if (mode != 8 || (gpa >> 41) != 0) return 0;
  u64 table = PPN(hgatp) << 12;
  for (int level = 2; level >= 0; level--) {
    u64 idx = (gpa >> (12 + 9 * level)) & (level == 2 ? 0x7ffUL : 0x1ffUL);
    u64 pte;
    if (!read_pte(table + idx * 8, &pte) || !(pte & PTE_V)) return 0;
    u64 base = PPN(pte >> 10) << 12;
    if (pte & (PTE_R | PTE_X)) {
      u64 off = (1UL << (12 + 9 * level)) - 1;
      *pa = (base & ~off) | (gpa & off);
      return 1;
    }
    table = base;
  }
  return 0;
}

/* satp (virt = 0) or vsatp + hgatp (virt = 1), Bare or Sv39: virtual to physical */
static int translate(u64 atp, u64 hgatp, int virt, u64 va, u64 *pa) {
  u64 mode = atp >> 60;
  u64 gpa;
  if (mode == 0) {
    gpa = va;
  } else {
    if (mode != 8) return 0;
    u64 table = PPN(atp) << 12;
    int found = 0;
    for (int level = 2; level >= 0 && !found; level--) {
      u64 pte_addr = table + ((va >> (12 + 9 * level)) & 0x1ff) * 8, pte;
      if (virt && !g_translate(hgatp, pte_addr, &pte_addr)) return 0;
      if (!read_pte(pte_addr, &pte) || !(pte & PTE_V)) return 0;
      u64 base = PPN(pte >> 10) << 12;
      if (pte & (PTE_R | PTE_X)) {
        u64 off = (1UL << (12 + 9 * level)) - 1;
        gpa = (base & ~off) | (va & off);
        found = 1;
      }
      table = base;
    }
    if (!found) return 0;
  }
  if (virt) return g_translate(hgatp, gpa, pa);
  *pa = gpa;
  return 1;
}

#define MAX_DIRTY 65536
static u64 dirty[MAX_DIRTY];
static u64 n_dirty;

static void note_lower_store(u64 va, u64 mode) {
  u64 pa;
  int virt = mode >= 2;
  u64 atp = virt ? CSR_READ(VSATP) : CSR_READ(satp);
  if (!translate(atp, CSR_READ(HGATP), virt, va, &pa)) return;
  if (pa < SCEN_MEM_BASE || pa >= SCEN_MEM_END) return;
  if (n_dirty == MAX_DIRTY) harness_fatal(~1UL, va, pa); /* more lower-mode stores than recorded */
  dirty[n_dirty++] = pa & ~7UL;
}

/* ------------------------------------------------------------------ batch */

static void result(u64 where, u64 cause, u64 tval, u64 tval2, u64 value) {
  static const char *const names[4] = {"ok", "M", "HS", "VS"};
  put('R');
  put_sp_hex(cur_scenario);
  put_sp_hex(cur_op);
  put(' ');
  put_str(names[where & 3]);
  put_sp_hex(cause);
  put_sp_hex(tval);
  put_sp_hex(tval2);
  put_sp_hex(value);
  flush_line();
}

static void run_op(u64 kind, u64 a, u64 b, u64 mode) {
  switch (kind) {
  case 1:
    *(volatile u64 *)a = b;
    result(0, 0, 0, 0, 0);
    return;
  case 2: {
    u64 v = *(volatile u64 *)a;
    result(0, 0, 0, 0, v);
    return;
  }
  case 3:
    CSR_WRITE(satp, a);
    result(0, 0, 0, 0, 0);
    return;
  case 4:
    CSR_WRITE(VSATP, a);
    result(0, 0, 0, 0, 0);
    return;
  case 5:
    CSR_WRITE(HGATP, a);
    result(0, 0, 0, 0, 0);
    return;
  case 6:
    fences();
    result(0, 0, 0, 0, 0);
    return;
  default:
    break;
  }
  if (kind < 16 || kind > 29) harness_fatal(~0UL, kind, 0); /* unknown kind */
  char *base = (mode == 0 || mode == 2) ? ustubs : sstubs;
  u64 entry = (u64)(base + (kind - 16) * 8);
  run_lower(a, b, entry, kind, mode, entry + 4);
  if (kind == 17 && m_ctx.where == 0) note_lower_store(a, mode);
  u64 value = (kind == 16 || kind == 20 || kind == 28) ? m_ctx.value : 0;
  result(m_ctx.where, m_ctx.cause, m_ctx.tval, m_ctx.tval2, value);
}

void harness_main(void) {
  const u64 *p = (const u64 *)BATCH_ADDR;
  cur_scenario = 0;
  cur_op = 0;
  if (p[0] != BATCH_MAGIC) {
    n_scenarios = 0;
    harness_fatal(~0UL, BATCH_ADDR, p[0]); /* no batch at 0x88000000 */
  }
  n_scenarios = p[1];
  p += 2;
  for (u64 s = 0; s < n_scenarios; s++) {
    cur_scenario = s;
    cur_op = 0;
    reset_state();

    u64 n_stores = *p++;
    const u64 *stores = p;
    p += 2 * n_stores;
    for (u64 i = 0; i < n_stores; i++) *(volatile u64 *)stores[2 * i] = stores[2 * i + 1];
    __asm__ volatile("fence.i" ::: "memory");

    CSR_WRITE(satp, p[0]);
    CSR_WRITE(VSATP, p[1]);
    CSR_WRITE(HGATP, p[2]);
    CSR_SET(mstatus, p[3] & MSTATUS_ALLOWED);
    CSR_SET(VSSTATUS, p[4] & VSSTATUS_ALLOWED);
    CSR_SET(HSTATUS, p[5] & HSTATUS_ALLOWED);
    CSR_WRITE(medeleg, p[6] & ~BREAKPOINT_BIT);
    CSR_WRITE(HEDELEG, p[7] & ~BREAKPOINT_BIT);
    u64 mode = p[8] & 3;
    u64 n_ops = p[9];
    p += 10;
    const u64 *ops = p;
    p += 3 * n_ops;

    for (u64 i = 0; i < n_ops; i++) {
      cur_op = i;
      run_op(ops[3 * i], ops[3 * i + 1], ops[3 * i + 2], mode);
    }

    /* zero what the scenario stored, so the next one starts from zeroed memory */
    for (u64 i = 0; i < n_stores; i++) *(volatile u64 *)stores[2 * i] = 0;
    for (u64 i = 0; i < n_ops; i++)
      if (ops[3 * i] == 1) *(volatile u64 *)ops[3 * i + 1] = 0;
    for (u64 i = 0; i < n_dirty; i++) *(volatile u64 *)dirty[i] = 0;
    n_dirty = 0;
  }
  finish();
}
