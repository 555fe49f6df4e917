//! `memcpy` and `memset` for the kernel, replacing compiler-builtins'
//! generic ones (a word and four instructions per eight bytes, bytes at a
//! time at the ends): the kernel copies registers, effects, messages and
//! user memory all the time, and under emulation every instruction counts.
//!
//! When both pointers share their alignment modulo 8 (nearly always: kernel
//! values and pages), 64 bytes go per loop with pairs of 64-bit loads and
//! stores after a byte-wise head; modulo 4 (the payload of an enum behind
//! a 32-bit tag), 32 bytes per loop in 32-bit pairs; anything else, and
//! the tails, a byte at a time. Only general registers
//! and aligned accesses are used, so these are safe before the MMU is on
//! (Device memory refuses unaligned accesses) and never touch user FP state.

core::arch::global_asm!(
    r#"
    .section .text.spinel_mem, "ax"

    // void *memcpy(void *dst (x0), const void *src (x1), size_t n (x2))
    .global memcpy
    .type memcpy, %function
    .balign 16
memcpy:
    mov     x3, x0
    cmp     x2, #16
    b.lo    9f
    eor     x4, x0, x1
    tst     x4, #3
    b.ne    9f                      // no common alignment: bytes
    tst     x4, #7
    b.ne    5f                      // 4-byte common alignment
    // Same alignment mod 8: bytes up to it, then 64-bit words.
0:  tst     x3, #7
    b.eq    1f
    ldrb    w4, [x1], #1
    sub     x2, x2, #1
    strb    w4, [x3], #1
    b       0b
1:  cmp     x2, #64
    b.lo    2f
    ldp     x4, x5, [x1]
    ldp     x6, x7, [x1, #16]
    ldp     x8, x9, [x1, #32]
    ldp     x10, x11, [x1, #48]
    add     x1, x1, #64
    sub     x2, x2, #64
    stp     x4, x5, [x3]
    stp     x6, x7, [x3, #16]
    stp     x8, x9, [x3, #32]
    stp     x10, x11, [x3, #48]
    add     x3, x3, #64
    b       1b
2:  cmp     x2, #16
    b.lo    3f
    ldp     x4, x5, [x1], #16
    sub     x2, x2, #16
    stp     x4, x5, [x3], #16
    b       2b
3:  cmp     x2, #8
    b.lo    9f
    ldr     x4, [x1], #8
    sub     x2, x2, #8
    str     x4, [x3], #8
    b       9f
    // Same alignment mod 4: bytes up to it, then 32-bit words.
5:  tst     x3, #3
    b.eq    6f
    ldrb    w4, [x1], #1
    sub     x2, x2, #1
    strb    w4, [x3], #1
    b       5b
6:  cmp     x2, #32
    b.lo    7f
    ldp     w4, w5, [x1]
    ldp     w6, w7, [x1, #8]
    ldp     w8, w9, [x1, #16]
    ldp     w10, w11, [x1, #24]
    add     x1, x1, #32
    sub     x2, x2, #32
    stp     w4, w5, [x3]
    stp     w6, w7, [x3, #8]
    stp     w8, w9, [x3, #16]
    stp     w10, w11, [x3, #24]
    add     x3, x3, #32
    b       6b
7:  cmp     x2, #4
    b.lo    9f
    ldr     w4, [x1], #4
    sub     x2, x2, #4
    str     w4, [x3], #4
    b       7b
    // The rest, a byte at a time.
9:  cbz     x2, 10f
    ldrb    w4, [x1], #1
    sub     x2, x2, #1
    strb    w4, [x3], #1
    b       9b
10: ret
    .size memcpy, . - memcpy

    // void *memset(void *dst (x0), int c (w1), size_t n (x2))
    .global memset
    .type memset, %function
    .balign 16
memset:
    mov     x3, x0
    and     x4, x1, #0xff
    cmp     x2, #16
    b.lo    3f
    // The byte in all eight lanes; bytes up to 8-byte alignment.
    mov     x5, #0x0101010101010101
    mul     x4, x4, x5
5:  tst     x3, #7
    b.eq    0f
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       5b
0:  cmp     x2, #64
    b.lo    1f
    stp     x4, x4, [x3]
    stp     x4, x4, [x3, #16]
    stp     x4, x4, [x3, #32]
    stp     x4, x4, [x3, #48]
    add     x3, x3, #64
    sub     x2, x2, #64
    b       0b
1:  cmp     x2, #8
    b.lo    3f
    str     x4, [x3], #8
    sub     x2, x2, #8
    b       1b
3:  cbz     x2, 4f
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       3b
4:  ret
    .size memset, . - memset
    "#
);
