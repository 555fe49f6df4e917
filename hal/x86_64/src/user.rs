//! User threads: [`UserContext`] and `run`, which enters ring 3 and returns
//! at the next trap; plus the self-test's user program.
//!
//! Spinel's x86_64 system call ABI: `syscall` with the number in `rax` and
//! arguments in `rdi, rsi, rdx, r10, r8, r9, r12, r13`; the result comes
//! back in `rax`; `rcx` and `r11` are clobbered by the instruction itself.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use spinel_hal_api::{TrapKind, TrapRecord, UserExit};
use x86_64::registers::model_specific::{FsBase, GsBase};

use crate::cpu::{self, USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use crate::entry::{self, SYSCALL_VECTOR, TrapFrame};
use crate::trap::{self, Interrupt};

// RFLAGS bits.
const RFLAGS_RESERVED_ONE: u64 = 1 << 1;
const RFLAGS_INTERRUPT: u64 = 1 << 9;
/// TF: a #DB after each instruction (a debugger's single step).
const RFLAGS_TRAP: u64 = 1 << 8;
/// What user mode may set: the arithmetic flags, TF (single-step, for
/// debuggers), DF, AC (alignment checking) and ID. Never IF, IOPL, NT, RF.
const RFLAGS_USER_MASK: u64 = 0x0000_0000_0024_0dd5;

/// The FS and GS base MSRs as the last return from user mode left them
/// (a non-canonical value until then: written on the first entry).
static CPU_FS_BASE: AtomicU64 = AtomicU64::new(u64::MAX);
static CPU_GS_BASE: AtomicU64 = AtomicU64::new(u64::MAX);

/// End of the lower half (the first non-canonical address).
const LOWER_HALF_END: u64 = 1 << 47;
const GENERAL_PROTECTION: u64 = 13;

/// FXSAVE image: x87, MMX and SSE state (512 bytes, 16-byte aligned).
#[repr(C, align(16))]
#[derive(Clone)]
struct FpuState([u8; 512]);

/// Offsets in the FXSAVE image.
const FXSAVE_MXCSR: usize = 24;
const FXSAVE_MXCSR_MASK: usize = 28;
/// The MXCSR bits a CPU that stores MXCSR_MASK as 0 supports (Intel SDM
/// 10.5.1.2: all but DAZ).
const MXCSR_DEFAULT_MASK: u32 = 0xffbf;

fn u32_at(image: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes([
        image[offset],
        image[offset + 1],
        image[offset + 2],
        image[offset + 3],
    ])
}

impl FpuState {
    /// The MXCSR bits this CPU accepts (FXRSTOR raises #GP for any other):
    /// MXCSR_MASK as FXSAVE stored it, or the default mask when it stored 0
    /// or the image has not been through FXSAVE yet.
    fn mxcsr_mask(&self) -> u32 {
        match u32_at(&self.0, FXSAVE_MXCSR_MASK) {
            0 => MXCSR_DEFAULT_MASK,
            mask => mask,
        }
    }

    /// Take `data` (a 512-byte FXSAVE image) if its MXCSR is one this CPU
    /// accepts; MXCSR_MASK stays as the CPU stored it (FXRSTOR ignores it).
    fn replace(&mut self, data: &[u8]) -> bool {
        let Ok(image) = <[u8; 512]>::try_from(data) else {
            return false;
        };
        if u32_at(&image, FXSAVE_MXCSR) & !self.mxcsr_mask() != 0 {
            return false;
        }
        let mask = u32_at(&self.0, FXSAVE_MXCSR_MASK);
        self.0 = image;
        self.0[FXSAVE_MXCSR_MASK..FXSAVE_MXCSR_MASK + 4].copy_from_slice(&mask.to_le_bytes());
        true
    }
}

impl Default for FpuState {
    /// The state after `finit` and with the default MXCSR: all floating
    /// point exceptions masked, round to nearest.
    fn default() -> Self {
        const FCW_OFFSET: usize = 0;
        let mut image = [0u8; 512];
        image[FCW_OFFSET..FCW_OFFSET + 2].copy_from_slice(&0x037fu16.to_le_bytes());
        image[FXSAVE_MXCSR..FXSAVE_MXCSR + 4].copy_from_slice(&0x1f80u32.to_le_bytes());
        Self(image)
    }
}

/// Saved user-mode state of one thread.
///
/// The [`TrapFrame`] comes first and ends 16-byte aligned because, while
/// the thread runs, TSS.rsp0 points at its end: traps from user mode push
/// the registers directly into it (see `entry.rs`). `fs_base` and `gs_base`
/// are the thread's segment bases (the kernel uses neither), and the FPU
/// state is switched with the thread because user code may use SSE.
#[repr(C, align(16))]
#[derive(Clone, Default)]
pub struct UserContext {
    frame: TrapFrame,
    fs_base: u64,
    gs_base: u64,
    fpu: FpuState,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>().is_multiple_of(16));

impl fmt::Debug for UserContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use spinel_hal_api::UserContext as _;
        let mut map = f.debug_map();
        for (index, name) in Self::REGISTER_NAMES.iter().enumerate() {
            map.entry(
                name,
                &format_args!("{:#x}", self.register(index).unwrap_or(0)),
            );
        }
        map.finish()
    }
}

fn is_canonical(address: u64) -> bool {
    // Bits 63..47 all equal.
    ((address as i64) << 16 >> 16) as u64 == address
}

impl UserContext {
    /// The trap that would occur on entering user mode at a non-canonical
    /// `rip` (iretq or sysret would raise it in kernel mode, with the stack
    /// pointer inside the thread's frame, so it is reported without
    /// entering).
    fn bad_rip(&self) -> UserExit {
        UserExit::Exception(TrapRecord {
            kind: TrapKind::General,
            pc: self.frame.rip,
            sp: self.frame.rsp,
            fault_address: None,
            from_user: true,
            arch: spinel_hal_api::ArchFacts::X86_64 {
                vector: GENERAL_PROTECTION,
                error_code: 0,
                cr2: 0,
            },
        })
    }

    /// One trip to user mode and back.
    fn enter(&mut self) {
        let frame = &raw mut self.frame;
        let frame_top = frame as u64 + core::mem::size_of::<TrapFrame>() as u64;
        cpu::set_kernel_stack(frame_top);
        entry::USER_FRAME_TOP.store(frame_top, Ordering::Relaxed);
        let (mut fs_base, mut gs_base) = (FsBase::MSR, GsBase::MSR);
        // Only bases that differ from what the CPU holds are written (the
        // MSRs keep the last thread's values; nothing else touches them).
        // SAFETY: both bases are canonical (`set_register` refuses anything
        // else and the CPU never reports anything else); the kernel uses
        // neither segment.
        unsafe {
            if self.fs_base != CPU_FS_BASE.load(Ordering::Relaxed) {
                fs_base.write(self.fs_base);
            }
            if self.gs_base != CPU_GS_BASE.load(Ordering::Relaxed) {
                gs_base.write(self.gs_base);
            }
        }
        // sysret is cheaper but loads rcx and r11 with rip and rflags, so it
        // only returns from a system call (which clobbers both anyway) whose
        // rcx and r11 still say so: a debugger that wrote other values into
        // a thread stopped in a system call (thread_write_state during a
        // POLICY_ERROR, say) must find them again, which takes iretq. It is
        // also kept to lower-half targets: a kernel-half rip goes by iretq
        // and faults in user mode, as it should.
        let f = &self.frame;
        let sysret = f.vector == SYSCALL_VECTOR
            && f.rip < LOWER_HALF_END
            && f.rcx == f.rip
            && f.r11 == f.rflags;
        // SAFETY: interrupts are disabled; the frame holds user selectors, a
        // sanitised RFLAGS (IF set, IOPL 0) and a canonical rip
        // (checked by `run`), so the CPU enters ring 3 rather than faulting
        // in ring 0; TSS.rsp0 and USER_FRAME_TOP point at the end of this
        // frame, which stays borrowed until enter_user returns. FXRSTOR
        // reads a 16-byte aligned FXSAVE image (only ever written by
        // FXSAVE or the defaults above).
        unsafe {
            core::arch::asm!("fxrstor64 [{}]", in(reg) &raw const self.fpu, options(nostack, readonly));
            entry::spinel_x86_64_enter_user(frame, u64::from(sysret));
            core::arch::asm!("fxsave64 [{}]", in(reg) &raw mut self.fpu, options(nostack));
        }
        // The thread may have changed its bases (by loading a segment
        // register): keep what the CPU has. Raw reads: the CPU only holds
        // canonical values, so the x86_64 crate's checks would be dead code
        // on the hot path.
        // SAFETY: reading these MSRs has no side effects.
        unsafe {
            self.fs_base = fs_base.read();
            self.gs_base = gs_base.read();
        }
        CPU_FS_BASE.store(self.fs_base, Ordering::Relaxed);
        CPU_GS_BASE.store(self.gs_base, Ordering::Relaxed);
    }
}

impl spinel_hal_api::UserContext for UserContext {
    const REGISTER_NAMES: &'static [&'static str] = &[
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15", "rip", "rflags", "fs_base", "gs_base",
    ];

    fn new(pc: u64, sp: u64, arg0: u64, arg1: u64) -> Self {
        let mut context = Self::default();
        context.frame.rip = pc;
        context.frame.rsp = sp;
        context.frame.rdi = arg0;
        context.frame.rsi = arg1;
        context.frame.rflags = RFLAGS_RESERVED_ONE | RFLAGS_INTERRUPT;
        context
    }

    fn run(&mut self) -> UserExit {
        x86_64::instructions::interrupts::disable();
        loop {
            if !is_canonical(self.frame.rip) {
                return self.bad_rip();
            }
            self.frame.cs = USER_CODE_SELECTOR.into();
            self.frame.ss = USER_DATA_SELECTOR.into();
            self.frame.rflags =
                (self.frame.rflags & RFLAGS_USER_MASK) | RFLAGS_INTERRUPT | RFLAGS_RESERVED_ONE;
            self.enter();

            return match self.frame.vector {
                SYSCALL_VECTOR => UserExit::Syscall,
                0..32 => UserExit::Exception(trap::record(&self.frame, true)),
                vector => match trap::acknowledge(vector) {
                    Interrupt::Deliver(irq) => {
                        trap::deliver_irq(irq);
                        UserExit::Interrupt(irq)
                    }
                    // Nothing happened as far as the thread is concerned.
                    Interrupt::Ignore => continue,
                },
            };
        }
    }

    fn pc(&self) -> u64 {
        self.frame.rip
    }
    fn set_pc(&mut self, pc: u64) {
        self.frame.rip = pc;
    }
    fn sp(&self) -> u64 {
        self.frame.rsp
    }
    fn set_sp(&mut self, sp: u64) {
        self.frame.rsp = sp;
    }

    fn syscall_number(&self) -> u64 {
        self.frame.rax
    }
    fn syscall_args(&self) -> [u64; 8] {
        let f = &self.frame;
        [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9, f.r12, f.r13]
    }
    fn set_syscall_result(&mut self, value: u64) {
        self.frame.rax = value;
    }

    fn register(&self, index: usize) -> Option<u64> {
        let f = &self.frame;
        Some(match index {
            0 => f.rax,
            1 => f.rbx,
            2 => f.rcx,
            3 => f.rdx,
            4 => f.rsi,
            5 => f.rdi,
            6 => f.rbp,
            7 => f.rsp,
            8 => f.r8,
            9 => f.r9,
            10 => f.r10,
            11 => f.r11,
            12 => f.r12,
            13 => f.r13,
            14 => f.r14,
            15 => f.r15,
            16 => f.rip,
            17 => f.rflags,
            18 => self.fs_base,
            19 => self.gs_base,
            _ => return None,
        })
    }

    fn read_registers(&self, out: &mut [u64]) {
        let f = &self.frame;
        let all = [
            f.rax,
            f.rbx,
            f.rcx,
            f.rdx,
            f.rsi,
            f.rdi,
            f.rbp,
            f.rsp,
            f.r8,
            f.r9,
            f.r10,
            f.r11,
            f.r12,
            f.r13,
            f.r14,
            f.r15,
            f.rip,
            f.rflags,
            self.fs_base,
            self.gs_base,
        ];
        let n = out.len().min(all.len());
        out[..n].copy_from_slice(&all[..n]);
    }

    fn write_registers(&mut self, values: &[u64]) {
        let f = &mut self.frame;
        let slots = [
            &mut f.rax,
            &mut f.rbx,
            &mut f.rcx,
            &mut f.rdx,
            &mut f.rsi,
            &mut f.rdi,
            &mut f.rbp,
            &mut f.rsp,
            &mut f.r8,
            &mut f.r9,
            &mut f.r10,
            &mut f.r11,
            &mut f.r12,
            &mut f.r13,
            &mut f.r14,
            &mut f.r15,
            &mut f.rip,
            &mut f.rflags,
        ];
        for (slot, value) in slots.into_iter().zip(values) {
            *slot = *value;
        }
        // The segment bases as set_register takes them: canonical only.
        for (index, value) in values.iter().enumerate().skip(18).take(2) {
            self.set_register(index, *value);
        }
    }

    /// Also refuses values the CPU could not load: non-canonical segment
    /// bases. (RFLAGS is sanitised on every entry instead.)
    fn set_register(&mut self, index: usize, value: u64) -> bool {
        let f = &mut self.frame;
        let slot = match index {
            0 => &mut f.rax,
            1 => &mut f.rbx,
            2 => &mut f.rcx,
            3 => &mut f.rdx,
            4 => &mut f.rsi,
            5 => &mut f.rdi,
            6 => &mut f.rbp,
            7 => &mut f.rsp,
            8 => &mut f.r8,
            9 => &mut f.r9,
            10 => &mut f.r10,
            11 => &mut f.r11,
            12 => &mut f.r12,
            13 => &mut f.r13,
            14 => &mut f.r14,
            15 => &mut f.r15,
            16 => &mut f.rip,
            17 => &mut f.rflags,
            18 | 19 if !is_canonical(value) => return false,
            18 => &mut self.fs_base,
            19 => &mut self.gs_base,
            _ => return false,
        };
        *slot = value;
        true
    }

    /// RFLAGS.TF: the CPU raises #DB (a trap: `rip` is past the
    /// instruction) after the next user instruction.
    fn set_single_step(&mut self, on: bool) {
        if on {
            self.frame.rflags |= RFLAGS_TRAP;
        } else {
            self.frame.rflags &= !RFLAGS_TRAP;
        }
    }

    /// The FXSAVE image itself.
    const FP_STATE_SIZE: usize = 512;

    fn read_fp_state(&self, out: &mut [u8]) {
        out[..Self::FP_STATE_SIZE].copy_from_slice(&self.fpu.0);
    }

    fn write_fp_state(&mut self, data: &[u8]) -> bool {
        self.fpu.replace(data)
    }
}

// The self-test's user program (position independent): system call
// TEST_BLOB_SYSCALL with TEST_BLOB_ARG0, then a read of TEST_BLOB_FAULT_ADDR.
core::arch::global_asm!(
    r#"
    .section .rodata.spinel_user_test_blob, "a"
    .global spinel_x86_64_user_blob_start
    .global spinel_x86_64_user_blob_end
spinel_x86_64_user_blob_start:
    mov eax, {syscall}
    mov edi, {arg0}
    syscall
    mov eax, {fault}
    mov rax, qword ptr [rax]
    ud2
spinel_x86_64_user_blob_end:
    "#,
    syscall = const spinel_hal_api::TEST_BLOB_SYSCALL,
    arg0 = const spinel_hal_api::TEST_BLOB_ARG0,
    fault = const spinel_hal_api::TEST_BLOB_FAULT_ADDR,
);

unsafe extern "C" {
    static spinel_x86_64_user_blob_start: u8;
    static spinel_x86_64_user_blob_end: u8;
}

pub(crate) fn test_blob() -> &'static [u8] {
    let start = &raw const spinel_x86_64_user_blob_start;
    let end = &raw const spinel_x86_64_user_blob_end;
    // SAFETY: the two labels delimit the program in read-only data above.
    unsafe { core::slice::from_raw_parts(start, end as usize - start as usize) }
}
