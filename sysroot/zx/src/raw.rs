//! The system call instruction: the only architecture-specific code of
//! userspace. Spinel's ABI, the same for every call:
//!
//! | | x86_64 (`syscall`) | aarch64 (`svc #0`) |
//! | --- | --- | --- |
//! | number | rax | x16 |
//! | arguments 0..8 | rdi, rsi, rdx, r10, r8, r9, r12, r13 | x0 .. x7 |
//! | result | rax | x0 |
//!
//! The kernel preserves every other register (x86's `syscall` itself
//! clobbers rcx and r11).

/// Make system call `number` with eight arguments.
///
/// # Safety
/// The arguments must be what the call expects: pointers among them must be
/// valid for the access the call makes (the kernel checks that they are user
/// addresses, not that they point at what the caller meant).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn syscall(number: u64, args: [u64; 8]) -> u64 {
    let result: u64;
    // SAFETY: the kernel's syscall entry preserves all registers but rax
    // (result), rcx and r11 (clobbered by the instruction), and touches no
    // user stack; the caller vouches for the arguments.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => result,
            in("rdi") args[0], in("rsi") args[1], in("rdx") args[2], in("r10") args[3],
            in("r8") args[4], in("r9") args[5], in("r12") args[6], in("r13") args[7],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    result
}

/// Make system call `number` with eight arguments.
///
/// # Safety
/// The arguments must be what the call expects: pointers among them must be
/// valid for the access the call makes (the kernel checks that they are user
/// addresses, not that they point at what the caller meant).
#[cfg(target_arch = "aarch64")]
#[inline(always)]
pub unsafe fn syscall(number: u64, args: [u64; 8]) -> u64 {
    let result: u64;
    // SAFETY: the kernel's exception entry preserves all registers but x0
    // (result) and touches no user stack; the caller vouches for the
    // arguments.
    unsafe {
        core::arch::asm!(
            "svc #0",
            in("x16") number,
            inlateout("x0") args[0] => result,
            in("x1") args[1], in("x2") args[2], in("x3") args[3],
            in("x4") args[4], in("x5") args[5], in("x6") args[6], in("x7") args[7],
            options(nostack),
        );
    }
    result
}

/// Host builds (clippy, docs) have no kernel to call.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub unsafe fn syscall(_number: u64, _args: [u64; 8]) -> u64 {
    unimplemented!("Spinel system calls exist only on x86_64 and aarch64")
}
