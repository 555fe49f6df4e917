//! The notes of a Linux core, byte for byte as Linux lays them out.
//!
//! Facts, not code, taken from Linux (`include/uapi/linux/elfcore.h`,
//! `arch/*/include/uapi/asm/ptrace.h`):
//!
//! | note | owner | type | x86_64 | aarch64 |
//! | --- | --- | --- | --- | --- |
//! | `NT_PRSTATUS` (`elf_prstatus`) | CORE | 1 | 336 bytes, 27 registers (`user_regs_struct`) at 0x70 | 392 bytes, 34 registers (`user_pt_regs`: x0-x30, sp, pc, pstate) at 0x70 |
//! | `NT_FPREGSET` | CORE | 2 | 512 (FXSAVE image) | 528 (`user_fpsimd_state`) |
//! | `NT_PRPSINFO` (`elf_prpsinfo`) | CORE | 3 | 136 | 136 |
//! | `NT_SIGINFO` (`siginfo_t`) | CORE | 0x53494749 | 128 | 128 |
//! | `NT_AUXV` | CORE | 6 | (key, value) words: `AT_PAGESZ`, `AT_ENTRY`, `AT_NULL` | same |
//! | `NT_FILE` | CORE | 0x46494c45 | count, page size, (start, end, page offset) each, then the names | same |
//! | `NT_X86_XSTATE` | LINUX | 0x202 | XSAVE image (576: legacy area, XCR0 at 464, header) | |
//! | `NT_ARM_TLS` | LINUX | 0x401 | | 8 (TPIDR_EL0) |
//!
//! The "LINUX"-owned note matters beyond its contents: lldb takes a core
//! for Linux's only when it sees one (or OS ABI GNU), and refuses it
//! otherwise.
//!
//! Order (as Linux's `fill_note_info`): the first thread's `NT_PRSTATUS`,
//! then the process-wide `NT_PRPSINFO`, `NT_SIGINFO`, `NT_AUXV` and `NT_FILE`, then
//! that thread's other register sets; each further thread's `NT_PRSTATUS`
//! followed by its register sets. A reader starts a new thread at every
//! `NT_PRSTATUS`.

use alloc::vec;
use alloc::vec::Vec;

use crate::{Arch, Error, FpRegisters, Mapping, Snapshot, Thread};
use spinel_abi::thread::{aarch64 as arm, x86_64 as x86};

pub const NT_PRSTATUS: u32 = 1;
pub const NT_FPREGSET: u32 = 2;
pub const NT_PRPSINFO: u32 = 3;
pub const NT_AUXV: u32 = 6;
pub const NT_SIGINFO: u32 = 0x5349_4749;
pub const NT_FILE: u32 = 0x4649_4c45;
pub const NT_X86_XSTATE: u32 = 0x202;
pub const NT_ARM_TLS: u32 = 0x401;

pub const OWNER_CORE: &[u8] = b"CORE";
pub const OWNER_LINUX: &[u8] = b"LINUX";

/// Where `pr_reg` starts in `elf_prstatus`, on both arches.
pub const PR_REG_OFFSET: usize = 0x70;
pub const PRSTATUS_SIZE_X86_64: usize = 336;
pub const PRSTATUS_SIZE_AARCH64: usize = 392;
pub const PRPSINFO_SIZE: usize = 136;
pub const SIGINFO_SIZE: usize = 128;
pub const FPREGSET_SIZE_X86_64: usize = 512;
pub const FPREGSET_SIZE_AARCH64: usize = 528;
/// The FXSAVE legacy area plus the 64-byte XSAVE header.
pub const X86_XSTATE_SIZE: usize = 576;
/// Where Linux keeps XCR0 in the FXSAVE area's software-reserved bytes.
pub const X86_XSTATE_XCR0_OFFSET: usize = 464;
/// XCR0 / XSTATE_BV of the state written: x87 and SSE.
pub const X86_XSTATE_X87_SSE: u64 = 0b11;

/// Linux's user selectors on x86_64 (`__USER_CS`, `__USER_DS`): Spinel's
/// registers do not carry segment selectors, and tools expect these.
const X86_USER_CS: u64 = 0x33;
const X86_USER_SS: u64 = 0x2b;

/// A page, as `NT_FILE` counts file offsets.
pub const PAGE_SIZE: u64 = 4096;

/// The 27 words of x86_64's `user_regs_struct`, from Spinel's slots.
pub fn x86_64_user_regs(slots: &[u64]) -> [u64; 27] {
    let s = |i: usize| slots.get(i).copied().unwrap_or(0);
    [
        s(x86::R15),
        s(x86::R8 + 6), // r14
        s(x86::R8 + 5), // r13
        s(x86::R8 + 4), // r12
        s(x86::RBP),
        s(x86::RBX),
        s(x86::R8 + 3), // r11
        s(x86::R8 + 2), // r10
        s(x86::R8 + 1), // r9
        s(x86::R8),
        s(x86::RAX),
        s(x86::RCX),
        s(x86::RDX),
        s(x86::RSI),
        s(x86::RDI),
        u64::MAX, // orig_rax: not in a system call
        s(x86::RIP),
        X86_USER_CS,
        s(x86::RFLAGS),
        s(x86::RSP),
        X86_USER_SS,
        s(x86::FS_BASE),
        s(x86::GS_BASE),
        0, // ds
        0, // es
        0, // fs
        0, // gs
    ]
}

/// The 34 words of aarch64's `user_pt_regs` (x0-x30, sp, pc, pstate), from
/// Spinel's slots (the same order, without TPIDR).
pub fn aarch64_user_regs(slots: &[u64]) -> [u64; 34] {
    let mut regs = [0; 34];
    for (i, reg) in regs.iter_mut().enumerate() {
        *reg = slots.get(i).copied().unwrap_or(0);
    }
    regs
}

/// Little-endian field writer over a zeroed buffer.
struct Fields(Vec<u8>);

impl Fields {
    fn new(size: usize) -> Self {
        Fields(vec![0; size])
    }
    fn put(&mut self, offset: usize, bytes: &[u8]) {
        self.0[offset..offset + bytes.len()].copy_from_slice(bytes);
    }
    fn u16(&mut self, offset: usize, value: u16) {
        self.put(offset, &value.to_le_bytes());
    }
    fn u32(&mut self, offset: usize, value: u32) {
        self.put(offset, &value.to_le_bytes());
    }
    fn u64(&mut self, offset: usize, value: u64) {
        self.put(offset, &value.to_le_bytes());
    }
    /// A NUL-terminated string in a field of `size` bytes (cut to fit).
    fn text(&mut self, offset: usize, size: usize, text: &str) {
        let bytes = text.as_bytes();
        let len = bytes.len().min(size - 1);
        self.put(offset, &bytes[..len]);
    }
}

/// A koid as the 32-bit pid fields hold it.
fn pid(koid: u64) -> u32 {
    koid as u32
}

/// `elf_prstatus` of one thread, reporting `signal` (the process's).
pub fn prstatus(arch: Arch, thread: &Thread, process_koid: u64, signal: u32) -> Vec<u8> {
    let size = match arch {
        Arch::X86_64 => PRSTATUS_SIZE_X86_64,
        Arch::Aarch64 => PRSTATUS_SIZE_AARCH64,
    };
    let mut f = Fields::new(size);
    f.u32(0, signal); // pr_info.si_signo
    f.u16(12, signal as u16); // pr_cursig
    f.u32(32, pid(thread.koid)); // pr_pid
    f.u32(40, pid(process_koid)); // pr_pgrp
    f.u32(44, pid(process_koid)); // pr_sid
    let mut offset = PR_REG_OFFSET;
    let mut put_regs = |regs: &[u64]| {
        for reg in regs {
            f.u64(offset, *reg);
            offset += 8;
        }
    };
    match arch {
        Arch::X86_64 => put_regs(&x86_64_user_regs(&thread.registers)),
        Arch::Aarch64 => put_regs(&aarch64_user_regs(&thread.registers)),
    }
    f.u32(offset, u32::from(thread.fp.is_some())); // pr_fpvalid
    f.0
}

/// `elf_prpsinfo` of the process.
pub fn prpsinfo(snapshot: &Snapshot) -> Vec<u8> {
    let mut f = Fields::new(PRPSINFO_SIZE);
    f.0[1] = b'R'; // pr_sname
    let process = pid(snapshot.process_koid);
    f.u32(24, process); // pr_pid
    f.u32(32, process); // pr_pgrp
    f.u32(36, process); // pr_sid
    f.text(40, 16, &snapshot.program); // pr_fname
    let arguments = if snapshot.arguments.is_empty() {
        &snapshot.program
    } else {
        &snapshot.arguments
    };
    f.text(56, 80, arguments); // pr_psargs
    f.0
}

/// `siginfo_t` of the faulting thread: the signal, a `si_code` of 1 (the
/// kernel's first code for each of these signals: SEGV_MAPERR,
/// ILL_ILLOPC, TRAP_BRKPT, BUS_ADRALN, FPE_INTDIV) and the fault address.
pub fn siginfo(thread: &Thread) -> Vec<u8> {
    let mut f = Fields::new(SIGINFO_SIZE);
    f.u32(0, thread.signal); // si_signo
    f.u32(8, u32::from(thread.signal != 0)); // si_code
    f.u64(16, thread.fault_address.unwrap_or(0)); // si_addr
    f.0
}

/// `AT_*` keys of the auxiliary vector.
pub const AT_NULL: u64 = 0;
pub const AT_PAGESZ: u64 = 6;
pub const AT_ENTRY: u64 = 9;

/// `NT_AUXV`: the page size and, when known, the entry point.
pub fn auxv(entry: u64) -> Vec<u8> {
    let mut pairs = vec![(AT_PAGESZ, PAGE_SIZE)];
    if entry != 0 {
        pairs.push((AT_ENTRY, entry));
    }
    pairs.push((AT_NULL, 0));
    pairs
        .iter()
        .flat_map(|&(key, value)| [key, value])
        .flat_map(u64::to_le_bytes)
        .collect()
}

/// The FXSAVE image of x87/SSE in their reset state (FCW 0x37f, MXCSR
/// 0x1f80), for threads whose FP state could not be read.
pub fn x86_64_reset_fxsave() -> [u8; 512] {
    let mut image = [0; 512];
    image[0..2].copy_from_slice(&0x037f_u16.to_le_bytes());
    image[24..28].copy_from_slice(&0x1f80_u32.to_le_bytes());
    image[28..32].copy_from_slice(&0xffff_u32.to_le_bytes()); // MXCSR_MASK
    image
}

/// `NT_FPREGSET`'s contents for a thread (the reset state when unknown).
pub fn fpregset(arch: Arch, fp: Option<&FpRegisters>) -> Vec<u8> {
    match (arch, fp) {
        (Arch::X86_64, Some(FpRegisters::X86_64 { fxsave })) => fxsave.to_vec(),
        (Arch::X86_64, _) => x86_64_reset_fxsave().to_vec(),
        (Arch::Aarch64, Some(FpRegisters::Aarch64 { vregs, fpsr, fpcr })) => {
            let mut f = Fields::new(FPREGSET_SIZE_AARCH64);
            for (i, v) in vregs.iter().enumerate() {
                f.put(i * 16, &v.to_le_bytes());
            }
            f.u32(512, *fpsr);
            f.u32(516, *fpcr);
            f.0
        }
        (Arch::Aarch64, _) => vec![0; FPREGSET_SIZE_AARCH64],
    }
}

/// `NT_X86_XSTATE`: the FXSAVE area with XCR0 in its software-reserved
/// bytes, then an XSAVE header saying x87 and SSE state follow.
pub fn x86_xstate(fpregset: &[u8]) -> Vec<u8> {
    let mut f = Fields::new(X86_XSTATE_SIZE);
    f.put(0, &fpregset[..FPREGSET_SIZE_X86_64]);
    f.u64(X86_XSTATE_XCR0_OFFSET, X86_XSTATE_X87_SSE);
    f.u64(512, X86_XSTATE_X87_SSE); // xstate_bv
    f.0
}

/// `NT_FILE`: the file-backed mappings, sorted by address.
pub fn file_note(mappings: &[&Mapping]) -> Vec<u8> {
    let files: Vec<&Mapping> = mappings
        .iter()
        .copied()
        .filter(|m| m.file.is_some())
        .collect();
    let mut out = Vec::new();
    out.extend_from_slice(&(files.len() as u64).to_le_bytes());
    out.extend_from_slice(&PAGE_SIZE.to_le_bytes());
    for mapping in &files {
        let offset = mapping.file.as_ref().map_or(0, |file| file.offset);
        for word in [
            mapping.base,
            mapping.base + mapping.size,
            offset / PAGE_SIZE,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
    for mapping in &files {
        if let Some(file) = &mapping.file {
            out.extend_from_slice(file.path.as_bytes());
            out.push(0);
        }
    }
    out
}

/// Appends one note: header, owner name and contents, each padded to 4.
pub fn push_note(out: &mut Vec<u8>, owner: &[u8], kind: u32, desc: &[u8]) {
    let pad = |out: &mut Vec<u8>| out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(&(owner.len() as u32 + 1).to_le_bytes());
    out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(owner);
    out.push(0);
    pad(out);
    out.extend_from_slice(desc);
    pad(out);
}

/// Checks a thread against its arch.
pub(crate) fn check_thread(arch: Arch, thread: &Thread) -> Result<(), Error> {
    if thread.registers.len() != arch.general_register_count() {
        return Err(Error::RegisterCount {
            koid: thread.koid,
            count: thread.registers.len(),
        });
    }
    match (arch, &thread.fp) {
        (_, None)
        | (Arch::X86_64, Some(FpRegisters::X86_64 { .. }))
        | (Arch::Aarch64, Some(FpRegisters::Aarch64 { .. })) => Ok(()),
        _ => Err(Error::FpArch { koid: thread.koid }),
    }
}

/// A thread's register sets after its `NT_PRSTATUS`.
fn push_register_sets(out: &mut Vec<u8>, arch: Arch, thread: &Thread) {
    let fp = fpregset(arch, thread.fp.as_ref());
    push_note(out, OWNER_CORE, NT_FPREGSET, &fp);
    match arch {
        Arch::X86_64 => push_note(out, OWNER_LINUX, NT_X86_XSTATE, &x86_xstate(&fp)),
        Arch::Aarch64 => {
            let tpidr = thread.registers.get(arm::TPIDR).copied().unwrap_or(0);
            push_note(out, OWNER_LINUX, NT_ARM_TLS, &tpidr.to_le_bytes());
        }
    }
}

/// Every note of the core, in Linux's order; `mappings` sorted by address.
pub fn all_notes(snapshot: &Snapshot, mappings: &[&Mapping]) -> Vec<u8> {
    let arch = snapshot.arch;
    let mut out = Vec::new();
    let signal = snapshot.threads.first().map_or(0, |t| t.signal);
    for (i, thread) in snapshot.threads.iter().enumerate() {
        push_note(
            &mut out,
            OWNER_CORE,
            NT_PRSTATUS,
            &prstatus(arch, thread, snapshot.process_koid, signal),
        );
        if i == 0 {
            push_note(&mut out, OWNER_CORE, NT_PRPSINFO, &prpsinfo(snapshot));
            push_note(&mut out, OWNER_CORE, NT_SIGINFO, &siginfo(thread));
            push_note(&mut out, OWNER_CORE, NT_AUXV, &auxv(snapshot.entry));
            push_note(&mut out, OWNER_CORE, NT_FILE, &file_note(mappings));
        }
        push_register_sets(&mut out, arch, thread);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_registers_land_in_linux_order() {
        let slots: Vec<u64> = (0..x86::COUNT as u64).map(|i| 100 + i).collect();
        let regs = x86_64_user_regs(&slots);
        // r15, r14, ..., rbp, rbx; rax at 10; rip at 16; rsp at 19.
        assert_eq!(regs[0], 115);
        assert_eq!(regs[1], 114);
        assert_eq!(regs[4], 106);
        assert_eq!(regs[5], 101);
        assert_eq!(regs[9], 108);
        assert_eq!(regs[10], 100);
        assert_eq!(regs[14], 105);
        assert_eq!(regs[16], 116);
        assert_eq!(regs[18], 117);
        assert_eq!(regs[19], 107);
        assert_eq!(regs[21], 118);
        assert_eq!(regs[22], 119);
    }

    #[test]
    fn sizes_are_linux_sizes() {
        let thread = |arch: Arch| Thread {
            koid: 7,
            registers: vec![1; arch.general_register_count()],
            fp: None,
            signal: 11,
            fault_address: Some(0x10c),
        };
        let x = prstatus(Arch::X86_64, &thread(Arch::X86_64), 3, 11);
        assert_eq!(x.len(), 336);
        assert_eq!(
            u64::from_le_bytes(x[0x70 + 15 * 8..][..8].try_into().unwrap()),
            u64::MAX
        );
        assert_eq!(u32::from_le_bytes(x[32..36].try_into().unwrap()), 7);
        assert_eq!(u16::from_le_bytes(x[12..14].try_into().unwrap()), 11);
        let a = prstatus(Arch::Aarch64, &thread(Arch::Aarch64), 3, 11);
        assert_eq!(a.len(), 392);
        assert_eq!(fpregset(Arch::Aarch64, None).len(), 528);
        assert_eq!(fpregset(Arch::X86_64, None).len(), 512);
        assert_eq!(x86_xstate(&fpregset(Arch::X86_64, None)).len(), 576);
        assert_eq!(siginfo(&thread(Arch::X86_64)).len(), 128);
    }

    #[test]
    fn notes_are_padded_to_four() {
        let mut out = Vec::new();
        push_note(&mut out, OWNER_LINUX, NT_ARM_TLS, &[1, 2, 3, 4, 5]);
        // 12 header + "LINUX\0" padded to 8 + 5 padded to 8.
        assert_eq!(out.len(), 28);
        assert_eq!(&out[0..4], &6u32.to_le_bytes());
        assert_eq!(&out[12..18], b"LINUX\0");
    }
}
