//! Software breakpoints: `int3` / `brk #0` written into the target's text
//! (the kernel lets a debugger write read-only text), with the original
//! bytes kept.
//!
//! The rules:
//! - An address holds one instruction's original bytes however many
//!   breakpoints cover it; the bytes go back only when the last one goes.
//! - Memory as the host reads it is the program's own: the original bytes
//!   show through the agent's breakpoints, and a write over a breakpoint
//!   becomes its new original while the breakpoint stays planted.
//! - Continuing or stepping from a breakpoint lifts it for one
//!   single-stepped instruction and plants it again (`commands` and
//!   `events` do that with [`original_at`] and [`replant`]).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use spinel_abi::{Koid, Status};
use spinel_debug_protocol::{Arch, Breakpoint, BreakpointId, BreakpointLocation, Error, Reply};

use crate::{Agent, Link, System, Target, not_found, status_error};

/// A planted software breakpoint.
pub struct Planted {
    pub info: Breakpoint,
    /// The original bytes under each breakpoint instruction.
    pub saved: Vec<(u64, Vec<u8>)>,
}

impl<'elf, S: System<'elf>, L: Link> Agent<'elf, S, L> {
    pub(crate) fn set_breakpoint(
        &mut self,
        pid: Koid,
        location: BreakpointLocation,
    ) -> Result<Breakpoint, Error> {
        self.attached(pid)?;
        let mut addresses = match &location {
            BreakpointLocation::Address(address) => vec![*address],
            BreakpointLocation::Function(name) => {
                self.program_of(pid)?.symbolizer.find_function(name)
            }
            BreakpointLocation::Line { file, line } => {
                self.program_of(pid)?.symbolizer.find_line(file, *line)
            }
        };
        addresses.sort_unstable();
        addresses.dedup();
        if addresses.is_empty() {
            return Err(not_found(format!("no code for {}", describe(&location))));
        }
        let instruction = breakpoint_instruction(self.arch);
        let id = self.next_breakpoint;
        let system = &self.system;
        let target = self
            .targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))?;
        let mut planted = Planted {
            info: Breakpoint {
                id,
                location,
                addresses: addresses.clone(),
            },
            saved: Vec::new(),
        };
        for &address in &addresses {
            // An address another breakpoint already holds keeps its
            // original bytes there.
            if let Some(original) = original_at(target, address) {
                planted.saved.push((address, original.to_vec()));
                continue;
            }
            let mut original = vec![0u8; instruction.len()];
            let result = system
                .read_memory(&target.handle, address, &mut original)
                .and_then(|n| {
                    if n == original.len() {
                        system.write_memory(&target.handle, address, instruction)
                    } else {
                        Err(Status::NO_MEMORY)
                    }
                });
            if let Err(status) = result {
                restore(system, target, &planted);
                return Err(status_error(
                    &format!("planting a breakpoint at {address:#x}"),
                    status,
                ));
            }
            planted.saved.push((address, original));
        }
        let info = planted.info.clone();
        target.breakpoints.push(planted);
        self.next_breakpoint += 1;
        Ok(info)
    }

    pub(crate) fn clear_breakpoint(&mut self, pid: Koid, id: BreakpointId) -> Result<Reply, Error> {
        self.attached(pid)?;
        let system = &self.system;
        let target = self
            .targets
            .get_mut(&pid)
            .ok_or_else(|| not_found(format!("no process {pid}")))?;
        let index = target
            .breakpoints
            .iter()
            .position(|b| b.info.id == id)
            .ok_or_else(|| not_found(format!("no breakpoint {id}")))?;
        let planted = target.breakpoints.remove(index);
        restore(system, target, &planted);
        Ok(Reply::Done)
    }
}

fn describe(location: &BreakpointLocation) -> String {
    match location {
        BreakpointLocation::Address(address) => format!("{address:#x}"),
        BreakpointLocation::Function(name) => format!("function {name}"),
        BreakpointLocation::Line { file, line } => format!("{file}:{line}"),
    }
}

/// The instruction a breakpoint writes.
pub fn breakpoint_instruction(arch: Arch) -> &'static [u8] {
    match arch {
        Arch::X86_64 => &[0xcc],                    // int3
        Arch::Aarch64 => &[0x00, 0x00, 0x20, 0xd4], // brk #0
    }
}

/// The original bytes a planted breakpoint keeps for `address` (borrowed:
/// continuing from a breakpoint looks them up twice, with no copy).
pub(crate) fn original_at<'a, 'elf, S: System<'elf>>(
    target: &'a Target<'elf, S>,
    address: u64,
) -> Option<&'a [u8]> {
    target.breakpoints.iter().find_map(|planted| {
        planted
            .saved
            .iter()
            .find(|(at, _)| *at == address)
            .map(|(_, original)| original.as_slice())
    })
}

/// Put the original bytes back where `planted` (already out of the list)
/// was the only breakpoint.
pub(crate) fn restore<'elf, S: System<'elf>>(
    system: &S,
    target: &Target<'elf, S>,
    planted: &Planted,
) {
    for (address, original) in &planted.saved {
        if original_at(target, *address).is_none() {
            let _ = system.write_memory(&target.handle, *address, original);
        }
    }
}

/// Write the breakpoint instruction back at `address`, if a breakpoint
/// still wants it.
pub(crate) fn replant<'elf, S: System<'elf>>(
    system: &S,
    target: &Target<'elf, S>,
    address: u64,
    arch: Arch,
) {
    if original_at(target, address).is_some() {
        let _ = system.write_memory(&target.handle, address, breakpoint_instruction(arch));
    }
}

/// Show the program's own bytes under the breakpoints in `bytes`, read at
/// `address`.
pub(crate) fn show_originals<'elf, S: System<'elf>>(
    target: &Target<'elf, S>,
    address: u64,
    bytes: &mut [u8],
) {
    for planted in &target.breakpoints {
        for (at, original) in &planted.saved {
            for (i, &byte) in original.iter().enumerate() {
                let at = at + i as u64;
                if at >= address && at < address + bytes.len() as u64 {
                    bytes[(at - address) as usize] = byte;
                }
            }
        }
    }
}

/// `data` was written at `address`: where it covers a breakpoint, it is
/// the new original and the breakpoint instruction goes back on top.
pub(crate) fn write_through<'elf, S: System<'elf>>(
    system: &S,
    target: &mut Target<'elf, S>,
    address: u64,
    data: &[u8],
    arch: Arch,
) {
    let end = address + data.len() as u64;
    let mut replants = Vec::new();
    for planted in &mut target.breakpoints {
        for (at, original) in &mut planted.saved {
            let mut touched = false;
            for (i, byte) in original.iter_mut().enumerate() {
                let at = *at + i as u64;
                if at >= address && at < end {
                    *byte = data[(at - address) as usize];
                    touched = true;
                }
            }
            if touched {
                replants.push(*at);
            }
        }
    }
    for at in replants {
        let _ = system.write_memory(&target.handle, at, breakpoint_instruction(arch));
    }
}
