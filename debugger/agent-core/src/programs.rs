//! The ELF files of the programs being debugged, and their symbolizers.
//!
//! A process is named after its program ([`System::program`] finds its
//! ELF: in the guest, the boot image's file, mapped read-only once and
//! symbolized in place, since the user ELFs carry their full DWARF (2-3 MB)
//! and are never copied). The symbolizer is built on first use and kept for
//! every process of the same program; a program that cannot be symbolized
//! is said once on the console and remembered as such.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use spinel_debug_protocol::{SourceLocation, StackFrame};
use spinel_symbolize::{Memory, NameStyle, Symbolizer};

use crate::{System, ThreadRegisters};

/// Deepest backtrace reported.
pub const MAX_FRAMES: usize = 48;
/// Addresses whose symbolization is remembered (a breakpoint in a loop
/// stops at the same few addresses again and again).
const CACHED_ADDRESSES: usize = 4096;

/// One program's ELF and its symbolizer.
pub struct Program<'elf> {
    pub symbolizer: Symbolizer<'elf>,
    cache: RefCell<BTreeMap<u64, Vec<SourceLocation>>>,
}

impl<'elf> Program<'elf> {
    /// The inline chain at `address`, innermost first, without the
    /// all-unknown entries.
    pub fn locations(&self, address: u64) -> Vec<SourceLocation> {
        if let Some(known) = self.cache.borrow().get(&address) {
            return known.clone();
        }
        let locations = self.lookup(address);
        let mut cache = self.cache.borrow_mut();
        if cache.len() == CACHED_ADDRESSES {
            cache.clear();
        }
        cache.insert(address, locations.clone());
        locations
    }

    fn lookup(&self, address: u64) -> Vec<SourceLocation> {
        self.symbolizer
            .symbolize(address)
            .into_iter()
            .filter(|frame| frame.function.is_some() || frame.file.is_some())
            .map(|frame| SourceLocation {
                function: frame.function,
                file: frame.file,
                line: frame.line,
                column: frame.column,
            })
            .collect()
    }

    /// Unwind a stopped thread's stack and symbolize each frame.
    pub fn backtrace<S: System<'elf>>(
        &self,
        system: &S,
        process: &S::Process,
        registers: &ThreadRegisters,
    ) -> Vec<StackFrame> {
        let mut memory = ProcessMemory {
            system,
            process,
            _elf: core::marker::PhantomData,
        };
        self.symbolizer
            .unwind(registers.values(), &mut memory, MAX_FRAMES)
            .into_iter()
            .map(|frame| StackFrame {
                pc: frame.pc,
                locations: self.locations(frame.lookup_pc()),
            })
            .collect()
    }
}

/// The stack of a process, read word by word for the unwinder.
struct ProcessMemory<'a, 'elf, S: System<'elf>> {
    system: &'a S,
    process: &'a S::Process,
    // The ELF lifetime only ties `S` down.
    _elf: core::marker::PhantomData<&'elf ()>,
}

impl<'elf, S: System<'elf>> Memory for ProcessMemory<'_, 'elf, S> {
    fn read_u64(&mut self, address: u64) -> Option<u64> {
        let mut word = [0u8; 8];
        match self.system.read_memory(self.process, address, &mut word) {
            Ok(8) => Some(u64::from_le_bytes(word)),
            _ => None,
        }
    }
}

/// The programs' symbolizers, built on demand.
pub struct Programs<'elf> {
    cache: BTreeMap<String, Result<Rc<Program<'elf>>, String>>,
}

impl<'elf> Programs<'elf> {
    pub fn new() -> Self {
        Programs {
            cache: BTreeMap::new(),
        }
    }

    /// The program called `name`, or why it cannot be symbolized.
    pub fn get<S: System<'elf>>(
        &mut self,
        system: &mut S,
        name: &str,
    ) -> Result<Rc<Program<'elf>>, String> {
        if let Some(entry) = self.cache.get(name) {
            return entry.clone();
        }
        let entry = load(system, name);
        if let Err(reason) = &entry {
            system.log(format_args!("debug-agent: no symbols for {name}: {reason}"));
        }
        self.cache.insert(name.to_string(), entry.clone());
        entry
    }
}

impl Default for Programs<'_> {
    fn default() -> Self {
        Self::new()
    }
}

fn load<'elf, S: System<'elf>>(system: &mut S, name: &str) -> Result<Rc<Program<'elf>>, String> {
    let elf = system.program(name)?;
    let symbolizer = Symbolizer::new(elf)
        .map_err(|error| error.to_string())?
        .with_style(NameStyle::Readable);
    Ok(Rc::new(Program {
        symbolizer,
        cache: RefCell::new(BTreeMap::new()),
    }))
}
