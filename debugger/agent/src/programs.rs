//! The ELF files of the programs being debugged, and their symbolizers.
//!
//! A process is named after its program in the boot image (that is how
//! `spinel_rt::launch` names them). The agent maps that file of the boot
//! image read-only into its own address space, once, and symbolizes it in
//! place: the user ELFs carry their full DWARF (2-3 MB) and are never
//! copied. The symbolizer is built on first use and kept for every process
//! of the same program.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;

use spinel_debug_protocol::{SourceLocation, StackFrame};
use spinel_rt::launch::BootImage;
use spinel_rt::zx::{GeneralRegisters, Process, Vmar};
use spinel_symbolize::{Memory, NameStyle, Symbolizer};

/// Deepest backtrace reported.
pub const MAX_FRAMES: usize = 48;
/// Addresses whose symbolization is remembered (a breakpoint in a loop
/// stops at the same few addresses again and again).
const CACHED_ADDRESSES: usize = 4096;

/// One program's ELF and its symbolizer.
pub struct Program {
    pub symbolizer: Symbolizer<'static>,
    cache: RefCell<BTreeMap<u64, Vec<SourceLocation>>>,
}

impl Program {
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
    pub fn backtrace(&self, process: &Process, registers: &GeneralRegisters) -> Vec<StackFrame> {
        let mut memory = ProcessMemory(process);
        let count = registers.layout.count;
        self.symbolizer
            .unwind(&registers.slots[..count], &mut memory, MAX_FRAMES)
            .into_iter()
            .map(|frame| StackFrame {
                pc: frame.pc,
                locations: self.locations(frame.lookup_pc()),
            })
            .collect()
    }
}

/// The stack of a process, read word by word for the unwinder.
struct ProcessMemory<'a>(&'a Process);

impl Memory for ProcessMemory<'_> {
    fn read_u64(&mut self, address: u64) -> Option<u64> {
        let mut word = [0u8; 8];
        match self.0.read_memory(address, &mut word) {
            Ok(8) => Some(u64::from_le_bytes(word)),
            _ => None,
        }
    }
}

/// The boot image's programs, mapped and parsed on demand.
pub struct Programs {
    image: BootImage,
    vmar: Vmar,
    cache: BTreeMap<String, Result<Rc<Program>, String>>,
}

impl Programs {
    pub fn new(image: BootImage, vmar: Vmar) -> Self {
        Programs {
            image,
            vmar,
            cache: BTreeMap::new(),
        }
    }

    /// The program called `name`, or why it cannot be symbolized.
    pub fn get(&mut self, name: &str) -> Result<Rc<Program>, String> {
        if let Some(entry) = self.cache.get(name) {
            return entry.clone();
        }
        let entry = self.load(name);
        if let Err(reason) = &entry {
            spinel_rt::println!("debug-agent: no symbols for {name}: {reason}");
        }
        self.cache.insert(name.to_string(), entry.clone());
        entry
    }

    fn load(&self, name: &str) -> Result<Rc<Program>, String> {
        let file = self
            .image
            .find(name)
            .map_err(|status| alloc::format!("not in the boot image ({status:?})"))?;
        let elf = spinel_rt::heap::map_read_only(
            &self.vmar,
            &self.image.vmo,
            file.offset,
            file.len as usize,
        )
        .map_err(|status| alloc::format!("cannot map it ({status:?})"))?;
        let symbolizer = Symbolizer::new(elf)
            .map_err(|error| error.to_string())?
            .with_style(NameStyle::Readable);
        Ok(Rc::new(Program {
            symbolizer,
            cache: RefCell::new(BTreeMap::new()),
        }))
    }
}
