/*
 * Bare-metal conformance harness: boot, trap entry/exit, the lower-mode stubs
 * and the HS/VS trap handlers.  The batch loop is in harness.c.
 * The contract with the driver is conformance/PROTOCOL.md.
 *
 * binutils 2.40 rejects `h` in -march, so hypervisor instructions are emitted
 * with .insn and hypervisor CSRs by number.
 */

        .file   "harness.S"

#define CSR_VSTVEC   0x205
#define CSR_MTVAL2   0x34b

#define CLINT_MTIMECMP 0x2004000
#define CLINT_MTIME    0x200bff8
/* Watchdog for one lower-mode operation, in mtime ticks (10 MHz on virt):
 * an operation that neither completes nor reaches M-mode (e.g. a trap whose
 * handler fetch faults again into the same handler, forever) is cut off by a
 * machine timer interrupt (0.25 to 0.5 s after it was entered) and reported as
 * `M 8000000000000007 0 0`. */
#define WATCHDOG_TICKS 2500000

#define HFENCE_VVMA(rs1, rs2) .insn r 0x73, 0, 0x11, x0, rs1, rs2
#define HFENCE_GVMA(rs1, rs2) .insn r 0x73, 0, 0x31, x0, rs1, rs2

/* m_ctx layout (shared with harness.c: struct mctx) */
#define CTX_RA     0
#define CTX_SP     8
#define CTX_GP     16
#define CTX_TP     24
#define CTX_S0     32      /* s0..s11: 32..120 */
#define CTX_KIND   128
#define CTX_A      136
#define CTX_EBRK   144
#define CTX_INOP   152
#define CTX_WHERE  160
#define CTX_CAUSE  168
#define CTX_TVAL   176
#define CTX_TVAL2  184
#define CTX_VALUE  192
#define CTX_SIZE   200

/* ------------------------------------------------------------------ boot */
        .section .text.start, "ax"
        .globl _start
_start:
        csrw    mie, zero
        csrw    mstatus, zero
        la      t0, m_trap
        csrw    mtvec, t0
        /* PMP: one NAPOT entry covering everything, RWX, so S/U may access memory */
        li      t0, -1
        csrw    pmpaddr0, t0
        li      t0, 0x1f
        csrw    pmpcfg0, t0
        /* lower-mode trap handlers (direct mode), identity-mapped addresses */
        la      t0, hs_handler
        csrw    stvec, t0
        la      t0, vs_handler
        csrw    CSR_VSTVEC, t0
        csrw    mideleg, zero
        csrw    medeleg, zero
        /* watchdog deadline 0 (set by the first operation), machine timer
         * interrupt enabled (taken only while a lower mode runs: mstatus.MIE stays 0) */
        li      t0, CLINT_MTIMECMP
        sd      zero, 0(t0)
        li      t0, 0x80
        csrw    mie, t0
        /* stack, bss */
        la      sp, m_stack_top
        la      t0, __bss_start
        la      t1, __bss_end
1:      bgeu    t0, t1, 2f
        sd      zero, 0(t0)
        addi    t0, t0, 8
        j       1b
2:      call    harness_main
3:      wfi
        j       3b

/* ------------------------------------------------------- run one lower op
 * u64 run_lower(u64 a, u64 b, u64 entry, u64 kind, u64 mode, u64 ebreak_pc)
 * Enters `mode` (0 U, 1 S, 2 VU, 3 VS) at `entry` with a0 = a, a1 = b.
 * Returns (through m_trap) with the result in m_ctx.where/cause/tval/tval2/value.
 */
        .text
        .globl run_lower
        .balign 4
run_lower:
        la      t0, m_ctx
        sd      ra, CTX_RA(t0)
        sd      sp, CTX_SP(t0)
        sd      gp, CTX_GP(t0)
        sd      tp, CTX_TP(t0)
        sd      s0, CTX_S0+0(t0)
        sd      s1, CTX_S0+8(t0)
        sd      s2, CTX_S0+16(t0)
        sd      s3, CTX_S0+24(t0)
        sd      s4, CTX_S0+32(t0)
        sd      s5, CTX_S0+40(t0)
        sd      s6, CTX_S0+48(t0)
        sd      s7, CTX_S0+56(t0)
        sd      s8, CTX_S0+64(t0)
        sd      s9, CTX_S0+72(t0)
        sd      s10, CTX_S0+80(t0)
        sd      s11, CTX_S0+88(t0)
        sd      a3, CTX_KIND(t0)
        sd      a0, CTX_A(t0)
        sd      a5, CTX_EBRK(t0)
        li      t1, 1
        sd      t1, CTX_INOP(t0)

        csrw    mepc, a2
        /* mstatus: MPP, MPV for the mode, MPRV = 0, written in one csrw.  QEMU
         * flushes its whole TLB whenever a write changes MPP/MPV/MPRV/SUM/MXR, so
         * the value is computed first and, for consecutive operations in one
         * mode, equals the current one (the trap already left MPP/MPV there). */
        csrr    t1, mstatus
        li      t2, (3 << 11) | (1 << 17)
        not     t2, t2
        and     t1, t1, t2
        li      t2, 1
        slli    t2, t2, 39
        not     t2, t2
        and     t1, t1, t2
        andi    t2, a4, 1
        slli    t2, t2, 11              /* S: MPP = 1 */
        or      t1, t1, t2
        andi    t2, a4, 2
        slli    t2, t2, 38              /* V: MPV (bit 39) */
        or      t1, t1, t2
        csrw    mstatus, t1

        /* watchdog: the deadline is at least WATCHDOG_TICKS and at most twice
         * that after this entry.  mtimecmp is rewritten only when less than
         * WATCHDOG_TICKS remain (every write wakes QEMU's main loop, which costs
         * more than the operation), which also clears a pending MTIP. */
        li      t1, CLINT_MTIME
        ld      t2, 0(t1)
        li      t3, WATCHDOG_TICKS
        add     t2, t2, t3
        li      t1, CLINT_MTIMECMP
        ld      t4, 0(t1)
        bltu    t2, t4, 1f
        add     t2, t2, t3
        sd      t2, 0(t1)
1:
        fence.i
        li      t0, 0
        li      t1, 0
        li      t2, 0
        li      t3, 0
        mret

/* ----------------------------------------------------------- M trap entry
 * Never returns to the trapped context.  A trap taken while a lower-mode
 * operation runs ends run_lower; any other trap is FATAL.
 */
        .balign 4
m_trap:
        csrr    t3, mcause
        csrr    t4, mepc
        csrr    t5, mtval
        csrr    t6, CSR_MTVAL2
        csrr    t1, mstatus
        srli    t1, t1, 11
        andi    t1, t1, 3
        li      t2, 3
        beq     t1, t2, m_fatal         /* from M-mode: the harness's own code */
        la      t1, m_ctx
        ld      t2, CTX_INOP(t1)
        beqz    t2, m_fatal
        sd      zero, CTX_INOP(t1)

        li      t2, 3
        bne     t3, t2, m_res_m         /* not a breakpoint */
        ld      t2, CTX_EBRK(t1)
        beq     t4, t2, m_res_ok        /* the stub's own ebreak */
        ld      t2, CTX_KIND(t1)
        li      a5, 18
        bne     t2, a5, 1f
        ld      t2, CTX_A(t1)
        beq     t4, t2, m_res_ok        /* fetch: the ebreak at a */
1:      la      t2, hs_ebreak
        beq     t4, t2, m_res_hs
        la      t2, vs_ebreak
        beq     t4, t2, m_res_vs
        /* fall through: some other breakpoint, reported as M */
m_res_m:
        li      t2, 1
        sd      t2, CTX_WHERE(t1)
        sd      t3, CTX_CAUSE(t1)
        sd      t5, CTX_TVAL(t1)
        sd      t6, CTX_TVAL2(t1)
        sd      zero, CTX_VALUE(t1)
        j       m_back
m_res_ok:
        sd      zero, CTX_WHERE(t1)
        sd      zero, CTX_CAUSE(t1)
        sd      zero, CTX_TVAL(t1)
        sd      zero, CTX_TVAL2(t1)
        sd      t0, CTX_VALUE(t1)
        j       m_back
m_res_hs:
        li      t2, 2
        j       1f
m_res_vs:
        li      t2, 3
1:      sd      t2, CTX_WHERE(t1)
        sd      a2, CTX_CAUSE(t1)
        sd      a3, CTX_TVAL(t1)
        sd      a4, CTX_TVAL2(t1)
        sd      zero, CTX_VALUE(t1)

m_back:
        /* restore the M context of run_lower's caller (MPRV is 0: run_lower
         * cleared it and a trap does not set it) */
        ld      ra, CTX_RA(t1)
        ld      sp, CTX_SP(t1)
        ld      gp, CTX_GP(t1)
        ld      tp, CTX_TP(t1)
        ld      s0, CTX_S0+0(t1)
        ld      s1, CTX_S0+8(t1)
        ld      s2, CTX_S0+16(t1)
        ld      s3, CTX_S0+24(t1)
        ld      s4, CTX_S0+32(t1)
        ld      s5, CTX_S0+40(t1)
        ld      s6, CTX_S0+48(t1)
        ld      s7, CTX_S0+56(t1)
        ld      s8, CTX_S0+64(t1)
        ld      s9, CTX_S0+72(t1)
        ld      s10, CTX_S0+80(t1)
        ld      s11, CTX_S0+88(t1)
        ret

m_fatal:
        li      t2, (1 << 17)
        csrc    mstatus, t2
        la      sp, m_stack_top
        mv      a0, t3
        mv      a1, t4
        mv      a2, t5
        call    harness_fatal           /* prints FATAL and DONE, exits */
1:      wfi
        j       1b

/* ------------------------------------------------- HS and VS trap handlers
 * Record the cause and values in a2, a3, a4 (M reads them from there) and
 * ebreak to M (breakpoints are never delegated).  No memory accesses, so a
 * handler works whenever its own fetch does.
 */
        .balign 4
        .globl hs_handler, hs_ebreak
hs_handler:
        csrr    a2, scause
        csrr    a3, stval
        csrr    a4, 0x643               /* htval */
        .option push
        .option norvc
hs_ebreak:
        ebreak
        .option pop

        .balign 4
        .globl vs_handler, vs_ebreak
vs_handler:
        csrr    a2, scause              /* vscause in VS-mode */
        csrr    a3, stval               /* vstval */
        li      a4, 0
        .option push
        .option norvc
vs_ebreak:
        ebreak
        .option pop

/* ------------------------------------------------------------------ stubs
 * One 8-byte slot per kind 16..29: the operation, then ebreak.
 * The stub for kind k is at base + (k - 16) * 8, its ebreak at + 4.
 * a0 = a, a1 = b, t0 = value register.
 */
        .macro STUBS
        .option push
        .option norvc
        ld      t0, 0(a0)               /* 16 load */
        ebreak
        sd      a1, 0(a0)               /* 17 store */
        ebreak
        jr      a0                      /* 18 fetch */
        ebreak
        csrw    satp, a0                /* 19 */
        ebreak
        csrr    t0, satp                /* 20 */
        ebreak
        sfence.vma x0, x0               /* 21 */
        ebreak
        sfence.vma a0, x0               /* 22 */
        ebreak
        sfence.vma x0, a1               /* 23 */
        ebreak
        sfence.vma a0, a1               /* 24 */
        ebreak
        HFENCE_VVMA(x0, x0)             /* 25 */
        ebreak
        HFENCE_GVMA(x0, x0)             /* 26 */
        ebreak
        csrw    0x680, a0               /* 27 hgatp */
        ebreak
        csrr    t0, 0x680               /* 28 hgatp */
        ebreak
        ecall                           /* 29 */
        ebreak
        .option pop
        .endm

        .section .text.sstubs, "ax"
        .balign 64
        .globl sstubs
sstubs:
        STUBS

        .section .ustubs, "ax"
        .globl ustubs
ustubs:
        STUBS

/* ------------------------------------------------------------------- data */
        .section .bss
        .balign 64
        .globl m_ctx
m_ctx:
        .space  CTX_SIZE
        .balign 16
m_stack:
        .space  16384
m_stack_top:
