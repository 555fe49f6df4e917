//! LLVM's "Symbolizer Markup Format": the lines a crash prints on the
//! console so that `llvm-symbolizer --filter-markup` (given the ELFs by
//! build id) turns raw addresses into functions and source lines.
//!
//! ```text
//! {{{reset}}}
//! {{{module:0:demo:elf:5f0e...}}}
//! {{{mmap:0x200000:0x5000:load:0:rx:0x200000}}}
//! {{{bt:0:0x200204:pc}}}
//! {{{bt:1:0x200136:ra}}}
//! ```
//!
//! `mmap` maps a range of the process to a module: its last field is the
//! address in the module's own terms (its `p_vaddr`), so a relocated
//! module is still found. A `bt` of kind `pc` is an exact instruction
//! address (the faulting pc); `ra` a return address, which the symbolizer
//! moves back into the call instruction.

use core::fmt::{self, Write};

use crate::Permissions;
use crate::build_id::{Hex, LoadSegment};

/// What a backtrace address is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FrameKind {
    /// The exact pc (frame 0 of a stopped thread).
    Pc,
    /// A return address (every caller's frame).
    ReturnAddress,
}

/// `{{{reset}}}`: forget the modules and mappings told before.
pub fn reset(out: &mut dyn Write) -> fmt::Result {
    writeln!(out, "{{{{{{reset}}}}}}")
}

/// `{{{module:ID:NAME:elf:BUILDID}}}`.
pub fn module(out: &mut dyn Write, id: u32, name: &str, build_id: &[u8]) -> fmt::Result {
    writeln!(out, "{{{{{{module:{id}:{name}:elf:{}}}}}}}", Hex(build_id))
}

/// `{{{mmap:START:SIZE:load:ID:PERMS:VADDR}}}`.
pub fn mmap(
    out: &mut dyn Write,
    start: u64,
    size: u64,
    module_id: u32,
    permissions: Permissions,
    module_vaddr: u64,
) -> fmt::Result {
    writeln!(
        out,
        "{{{{{{mmap:{start:#x}:{size:#x}:load:{module_id}:{permissions}:{module_vaddr:#x}}}}}}}"
    )
}

/// `{{{bt:N:ADDR:pc}}}` or `{{{bt:N:ADDR:ra}}}`.
pub fn bt(out: &mut dyn Write, frame: usize, address: u64, kind: FrameKind) -> fmt::Result {
    let kind = match kind {
        FrameKind::Pc => "pc",
        FrameKind::ReturnAddress => "ra",
    };
    writeln!(out, "{{{{{{bt:{frame}:{address:#x}:{kind}}}}}}}")
}

/// A loaded ELF, as the markup's context describes it.
#[derive(Clone, Copy, Debug)]
pub struct Module<'a> {
    pub id: u32,
    pub name: &'a str,
    pub build_id: &'a [u8],
    /// Its `PT_LOAD` segments (see [`crate::build_id::elf_facts`]).
    pub segments: &'a [LoadSegment],
    /// Where it was loaded relative to its link addresses (0 for Spinel's
    /// fixed-address programs).
    pub load_bias: u64,
}

/// The markup of a crashed thread's backtrace: reset, each module with
/// its mappings, then one `bt` per frame (frame 0 the exact pc, the rest
/// return addresses).
pub fn backtrace(out: &mut dyn Write, modules: &[Module<'_>], frames: &[u64]) -> fmt::Result {
    reset(out)?;
    for m in modules {
        module(out, m.id, m.name, m.build_id)?;
        for segment in m.segments {
            // Markup ranges are whole pages, as a loader maps them.
            let start = (m.load_bias + segment.vaddr) & !0xfff;
            let end = (m.load_bias + segment.vaddr + segment.size).next_multiple_of(0x1000);
            let vaddr = segment.vaddr & !0xfff;
            mmap(out, start, end - start, m.id, segment.permissions, vaddr)?;
        }
    }
    for (i, &address) in frames.iter().enumerate() {
        let kind = if i == 0 {
            FrameKind::Pc
        } else {
            FrameKind::ReturnAddress
        };
        bt(out, i, address, kind)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn elements_are_spelled_as_llvm_reads_them() {
        let mut out = String::new();
        reset(&mut out).unwrap();
        module(&mut out, 0, "demo", &[0xde, 0xad, 0x01]).unwrap();
        mmap(&mut out, 0x200000, 0x3000, 0, Permissions::RX, 0x200000).unwrap();
        bt(&mut out, 0, 0x200204, FrameKind::Pc).unwrap();
        bt(&mut out, 1, 0x200136, FrameKind::ReturnAddress).unwrap();
        assert_eq!(
            out,
            "{{{reset}}}\n\
             {{{module:0:demo:elf:dead01}}}\n\
             {{{mmap:0x200000:0x3000:load:0:rx:0x200000}}}\n\
             {{{bt:0:0x200204:pc}}}\n\
             {{{bt:1:0x200136:ra}}}\n"
        );
    }
}
