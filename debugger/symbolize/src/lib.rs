//! DWARF symbolization and CFI unwinding for the Spinel debugger.
//!
//! `no_std` + `alloc`, so the same code runs in the in-guest agent (which
//! does the DWARF work itself) and in the host client.
//!
//! - [`Symbolizer::symbolize`] turns an address of an ELF into the chain of
//!   source frames at it, innermost inlined function first, each with its
//!   demangled name and `file:line:column`. Its answers follow
//!   `llvm-symbolizer`'s rules (see [`symbols`] for the symbol-table part), so
//!   the host client's `symbolize` command can stand in for it; the tests
//!   compare the two on real binaries from rustc and gcc, on both arches.
//! - [`Symbolizer::unwind`] walks a stopped thread's stack with the ELF's
//!   call frame information (`.eh_frame` and `.debug_frame`), falling back to
//!   the frame-pointer chain where there is none ([`unwind`]).
//!
//! Built on `gimli`, `object` and `addr2line` (all without `std`), and
//! `rustc-demangle`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod demangle;
pub mod sections;
pub mod symbols;
pub mod unwind;

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use addr2line::LookupResult;
pub use sections::DwarfReader;

use object::{Object, ObjectSection, SectionFlags};

pub use demangle::NameStyle;
pub use unwind::{Arch, Memory, UnwindFrame, UnwindMethod};

/// The byte reader of call frame information: a slice of the ELF image.
pub type Reader<'data> = gimli::EndianSlice<'data, gimli::RunTimeEndian>;

/// One source frame at an address.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Frame {
    /// Demangled function name; `None` when unknown (`??`).
    pub function: Option<String>,
    /// Full path of the source file; `None` when unknown.
    pub file: Option<String>,
    /// 0 when unknown.
    pub line: u32,
    /// 0 when unknown.
    pub column: u32,
}

impl Frame {
    /// `function\nfile:line:column\n`, as `llvm-symbolizer` prints a frame.
    pub fn write_llvm(&self, out: &mut impl fmt::Write) -> fmt::Result {
        writeln!(
            out,
            "{}\n{}:{}:{}",
            self.function.as_deref().unwrap_or("??"),
            self.file.as_deref().unwrap_or("??"),
            self.line,
            self.column
        )
    }
}

/// A frame's function name as found: borrowed from the image, made for
/// this answer, or shared with the name cache.
enum NameText<'a> {
    Borrowed(&'a str),
    Owned(String),
    Shared(Arc<str>),
}

impl NameText<'_> {
    fn as_str(&self) -> &str {
        match self {
            NameText::Borrowed(name) => name,
            NameText::Owned(name) => name,
            NameText::Shared(name) => name,
        }
    }
}

/// A [`Frame`] before its texts are copied out.
#[derive(Default)]
struct FrameText<'a> {
    function: Option<NameText<'a>>,
    file: Option<&'a str>,
    line: u32,
    column: u32,
}

/// Why an ELF could not be used.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Error {
    /// Not an ELF file object can read.
    NotElf(String),
    /// The DWARF could not be indexed.
    Dwarf(String),
    /// The ELF's machine is neither x86_64 nor aarch64.
    UnsupportedArch,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotElf(detail) => write!(f, "not a readable ELF file: {detail}"),
            Error::Dwarf(detail) => write!(f, "bad DWARF: {detail}"),
            Error::UnsupportedArch => write!(f, "the ELF is for neither x86_64 nor aarch64"),
        }
    }
}

/// Reads one `.dwo` file: given the unit's compilation directory
/// (`DW_AT_comp_dir`, if any) and its `DW_AT_dwo_name`, the file's bytes, or
/// `None` when there is no such file. Called at most once per split unit,
/// when an address in it is first symbolized.
pub type DwoLoader<'a> = Box<dyn Fn(Option<&str>, &str) -> Option<Vec<u8>> + Send + Sync + 'a>;

/// Where the DWARF of split units (`-gsplit-dwarf`) comes from, for
/// [`Symbolizer::with_split_dwarf`]. Neither is required: without them, a
/// split unit's addresses get the skeleton's answer (the line table, which
/// stays in the image, and the symbol table's name, without inline frames),
/// as llvm-symbolizer gives when it finds no side file.
#[derive(Default)]
pub struct SplitDwarf<'a> {
    /// The image's DWARF package (by convention `FILE.dwp`), looked in first.
    pub package: Option<&'a [u8]>,
    /// Reads the `.dwo` files of units the package does not hold.
    pub load_dwo: Option<DwoLoader<'a>>,
}

impl fmt::Debug for SplitDwarf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitDwarf")
            .field("package", &self.package.map(<[u8]>::len))
            .field("load_dwo", &self.load_dwo.is_some())
            .finish()
    }
}

/// Symbolizes addresses of one ELF image (borrowed for `'data`).
pub struct Symbolizer<'data> {
    arch: Arch,
    context: addr2line::Context<DwarfReader<'data>>,
    /// The same sections, for walks addr2line does not offer (lines → addresses).
    dwarf: gimli::Dwarf<DwarfReader<'data>>,
    /// Why the DWARF could not be read, when it could not (the symbol
    /// table still answers).
    dwarf_problem: Option<String>,
    package: Option<gimli::DwarfPackage<DwarfReader<'data>>>,
    load_dwo: Option<DwoLoader<'data>>,
    symbols: symbols::SymbolTable<'data>,
    /// Executable sections, `(start, end)`, sorted.
    executable: Vec<(u64, u64)>,
    unwinder: unwind::CfiTables<'data>,
    style: NameStyle,
    /// Mangled name → printed name: demangling C++ costs far more than
    /// finding the frames, and a batch asks about the same functions again
    /// and again.
    /// Keyed by where the mangled name is (its address and length in the
    /// image, the sections or a side file, all of which outlive the
    /// symbolizer): hashing or comparing long C++ names costs more than
    /// finding the frames.
    names: RefCell<BTreeMap<(usize, usize), Arc<str>>>,
    /// Per unit (offset, dwo id), its line-0 rows, built when first needed.
    line_zero_rows: RefCell<BTreeMap<(u64, Option<u64>), LineZeroRows>>,
}

impl fmt::Debug for Symbolizer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Symbolizer")
            .field("arch", &self.arch)
            .field("symbols", &self.symbols.len())
            .field("style", &self.style)
            .finish_non_exhaustive()
    }
}

impl<'data> Symbolizer<'data> {
    /// Indexes an ELF image: its DWARF, symbol table and CFI. Names come out
    /// as `llvm-symbolizer` prints them ([`NameStyle::Llvm`]). DWARF that
    /// cannot be read (a corrupt or unknown compression, bad units) leaves
    /// the symbol table's answers; [`Symbolizer::dwarf_problem`] says why.
    pub fn new(elf: &'data [u8]) -> Result<Self, Error> {
        Self::with_split_dwarf(elf, SplitDwarf::default())
    }

    /// As [`Symbolizer::new`], finding the DWARF of split units in `split`.
    /// A package that cannot be read counts as a DWARF problem.
    pub fn with_split_dwarf(elf: &'data [u8], split: SplitDwarf<'data>) -> Result<Self, Error> {
        let file = object::read::elf::ElfFile64::<object::Endianness>::parse(elf)
            .map_err(|e| Error::NotElf(e.to_string()))?;
        let arch = match file.architecture() {
            object::Architecture::X86_64 => Arch::X86_64,
            object::Architecture::Aarch64 => Arch::Aarch64,
            _ => return Err(Error::UnsupportedArch),
        };
        let endian = sections::endian_of(&file);
        let mut dwarf_problem = None;
        let [dwarf, for_context] =
            sections::load_dwarf_twice(&file, endian, false).unwrap_or_else(|problem| {
                dwarf_problem = Some(problem);
                [empty_dwarf(endian), empty_dwarf(endian)]
            });
        let context = match addr2line::Context::from_dwarf(for_context) {
            Ok(context) => context,
            Err(problem) => {
                dwarf_problem.get_or_insert(problem.to_string());
                addr2line::Context::from_dwarf(empty_dwarf(endian))
                    .map_err(|e| Error::Dwarf(e.to_string()))?
            }
        };
        let package = split
            .package
            .and_then(|bytes| match sections::load_package(bytes) {
                Ok(package) => Some(package),
                Err(problem) => {
                    dwarf_problem.get_or_insert(alloc::format!("DWARF package: {problem}"));
                    None
                }
            });

        let mut executable = Vec::new();
        for section in file.sections() {
            let flags = match section.flags() {
                SectionFlags::Elf { sh_flags, .. } => sh_flags.0,
                _ => 0,
            };
            let wanted = object::elf::SHF_ALLOC.0 | object::elf::SHF_EXECINSTR.0;
            if flags & wanted == wanted && section.size() > 0 {
                executable.push((section.address(), section.address() + section.size()));
            }
        }
        executable.sort_unstable();

        let unwinder = unwind::CfiTables::new(&file, arch, endian);
        Ok(Symbolizer {
            arch,
            context,
            dwarf,
            dwarf_problem,
            package,
            load_dwo: split.load_dwo,
            symbols: symbols::SymbolTable::new(&file),
            executable,
            unwinder,
            style: NameStyle::Llvm,
            names: RefCell::new(BTreeMap::new()),
            line_zero_rows: RefCell::new(BTreeMap::new()),
        })
    }

    /// Chooses how names are printed.
    pub fn with_style(mut self, style: NameStyle) -> Self {
        self.style = style;
        self.names.get_mut().clear();
        self
    }

    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Why the image's DWARF could not be read, if it could not: answers
    /// then come from the symbol table alone.
    pub fn dwarf_problem(&self) -> Option<&str> {
        self.dwarf_problem.as_deref()
    }

    /// Whether `address` lies in an executable section of the image.
    pub fn is_code(&self, address: u64) -> bool {
        in_ranges(&self.executable, address)
    }

    /// The source frames at `address`, innermost inlined function first.
    /// Never empty: an address nothing is known about gives one frame with
    /// every field unknown (`??` / `??:0:0`).
    pub fn symbolize(&self, address: u64) -> Vec<Frame> {
        self.frames_text(address)
            .into_iter()
            .map(|frame| Frame {
                function: frame
                    .function
                    .as_ref()
                    .map(|name| name.as_str().to_string()),
                file: frame.file.map(ToString::to_string),
                line: frame.line,
                column: frame.column,
            })
            .collect()
    }

    /// Writes the answer for `address` as `llvm-symbolizer` prints it (the
    /// frames of [`Symbolizer::symbolize`], each `function\nfile:line:column\n`),
    /// without building [`Frame`]s: the fast path of a batch.
    pub fn write_llvm(&self, address: u64, out: &mut impl fmt::Write) -> fmt::Result {
        for frame in self.frames_text(address) {
            out.write_str(frame.function.as_ref().map_or("??", NameText::as_str))?;
            out.write_char('\n')?;
            out.write_str(frame.file.unwrap_or("??"))?;
            writeln!(out, ":{}:{}", frame.line, frame.column)?;
        }
        Ok(())
    }

    /// The frames at `address`, names and files borrowed where they can be.
    fn frames_text(&self, address: u64) -> Vec<FrameText<'_>> {
        let symbol = self.symbols.lookup(address);
        let mut frames = self.dwarf_frames(address, symbol.is_none());
        if frames.is_empty() {
            frames.push(FrameText::default());
        }
        // As llvm-symbolizer does: the outermost frame (the function really
        // containing the address) takes its name from the symbol table when
        // a symbol covers the address.
        if let Some(symbol) = symbol {
            let outer = frames.len() - 1;
            frames[outer].function = Some(self.symbol_name(symbol.name));
            if frames[outer].file.is_none() {
                frames[outer].file = symbol.file;
            }
        }
        frames
    }

    /// The name of the symbol-table entry covering `address`, demangled,
    /// with the address of that symbol.
    pub fn symbol_for(&self, address: u64) -> Option<(String, u64)> {
        self.symbols
            .lookup(address)
            .map(|symbol| (self.demangle(symbol.name), symbol.address))
    }

    /// The symbol covering a data address, as llvm-symbolizer's `DATA`
    /// query answers: demangled name, start and size.
    pub fn data_symbol_for(&self, address: u64) -> Option<(String, u64, u64)> {
        self.symbols
            .lookup(address)
            .map(|symbol| (self.demangle(symbol.name), symbol.address, symbol.size))
    }

    /// Addresses of the functions whose (demangled) name is `name`, or ends
    /// with `::name`; a Rust hash suffix (`::h0123…`) may be left out.
    pub fn find_function(&self, name: &str) -> Vec<u64> {
        let mut found: Vec<u64> = self
            .symbols
            .functions()
            .filter(|symbol| demangle::name_matches(&self.style.demangle(symbol.name), name))
            .map(|symbol| symbol.address)
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The code addresses where `line` of a source file begins: the first
    /// address of each run of line-table rows for it (a line inlined or
    /// unrolled in several places has several). `file` matches a path equal
    /// to it or ending in `/file`.
    pub fn find_line(&self, file: &str, line: u32) -> Vec<u64> {
        let mut found = Vec::new();
        let mut units = self.dwarf.units();
        while let Ok(Some(header)) = units.next() {
            let Ok(unit) = self.dwarf.unit(header) else {
                continue;
            };
            let Some(program) = unit.line_program.clone() else {
                continue;
            };
            let mut rows = program.rows();
            let mut previous_matched = false;
            let mut matching_files = alloc::collections::BTreeMap::new();
            while let Ok(Some((header, row))) = rows.next_row() {
                if row.end_sequence() {
                    previous_matched = false;
                    continue;
                }
                let file_index = row.file_index();
                let file_matches = *matching_files.entry(file_index).or_insert_with(|| {
                    row.file(header)
                        .and_then(|entry| self.dwarf.attr_string(&unit, entry.path_name()).ok())
                        .and_then(|name| {
                            gimli::Reader::to_string_lossy(&name)
                                .ok()
                                .map(|name| path_matches(file)(&name))
                        })
                        .unwrap_or(false)
                });
                let matched = file_matches && row.line().map(|l| l.get()) == Some(u64::from(line));
                if matched && !previous_matched && row.is_stmt() && self.is_code(row.address()) {
                    found.push(row.address());
                }
                previous_matched = matched;
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Walks the stack of a thread stopped with `registers` (in
    /// `spinel_abi::thread` slot order for this ELF's arch), reading memory
    /// through `memory`. The first frame is the stop itself.
    pub fn unwind(
        &self,
        registers: &[u64],
        memory: &mut dyn Memory,
        max_frames: usize,
    ) -> Vec<UnwindFrame> {
        self.unwinder
            .unwind(registers, memory, max_frames, |pc| self.is_code(pc))
    }

    /// `outer_name`: whether the outermost frame's name is wanted (not when
    /// the symbol table names it).
    fn dwarf_frames(&self, address: u64, outer_name: bool) -> Vec<FrameText<'_>> {
        // DWARF of functions the linker discarded points at address 0 (the
        // linker's tombstone), over whatever the image has there: only code
        // addresses are looked up. (llvm-symbolizer 14 does look up the
        // others, and answers with the discarded functions' lines.)
        if !self.is_code(address) {
            return Vec::new();
        }
        let mut frames = Vec::new();
        let Ok(mut iter) = self.resolve(self.context.find_frames(address)) else {
            return frames;
        };
        let mut innermost = true;
        let mut raw_frames = Vec::new();
        while let Ok(Some(frame)) = iter.next() {
            raw_frames.push(frame);
        }
        let count = raw_frames.len();
        for (index, frame) in raw_frames.into_iter().enumerate() {
            let function = if index + 1 == count && !outer_name {
                None
            } else {
                frame.function.as_ref().map(|name| {
                    let bytes = name.name.bytes();
                    if bytes.starts_with(b"_Z") || bytes.starts_with(b"_R") {
                        NameText::Shared(self.demangle_at(bytes))
                    } else {
                        NameText::Owned(String::from_utf8_lossy(bytes).into_owned())
                    }
                })
            };
            let (file, line, mut column) = match frame.location {
                Some(location) => (
                    location.file,
                    location.line.unwrap_or(0),
                    location.column.unwrap_or(0),
                ),
                None => (None, 0, 0),
            };
            // A line-table row with line 0 (code with no source line, e.g.
            // compiler-generated) still has a column, which llvm-symbolizer
            // prints and addr2line drops.
            if innermost && line == 0 && file.is_some() {
                column = self.row_column(address).unwrap_or(0);
            }
            innermost = false;
            frames.push(FrameText {
                function,
                file,
                line,
                column,
            });
        }
        frames
    }
}

impl<'data> Symbolizer<'data> {
    /// A symbol-table name as this symbolizer prints names.
    fn demangle(&self, raw: &str) -> String {
        self.symbol_name(raw).as_str().to_string()
    }

    /// A symbol-table name (of the image, so borrowed for `'data`) as this
    /// symbolizer prints names.
    fn symbol_name<'a>(&self, raw: &'a str) -> NameText<'a> {
        if !raw.starts_with("_Z") && !raw.starts_with("_R") {
            return match self.style.demangle(raw) {
                Cow::Borrowed(name) => NameText::Borrowed(name),
                Cow::Owned(name) => NameText::Owned(name),
            };
        }
        NameText::Shared(self.demangle_at(raw.as_bytes()))
    }

    /// The mangled name `raw` (bytes of the image, its sections or side
    /// files, whose place keys `names`) as this symbolizer prints names,
    /// from the cache when seen before.
    fn demangle_at(&self, raw: &[u8]) -> Arc<str> {
        let key = key_of(raw);
        if let Some(name) = self.names.borrow().get(&key) {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(self.style.demangle(&String::from_utf8_lossy(raw)));
        self.names.borrow_mut().insert(key, name.clone());
        name
    }

    /// Runs a lookup to the end, loading the split DWARF it asks for.
    fn resolve<L>(&self, mut lookup: LookupResult<L>) -> L::Output
    where
        L: addr2line::LookupContinuation<Buf = DwarfReader<'data>>,
    {
        loop {
            match lookup {
                LookupResult::Output(output) => return output,
                LookupResult::Load { load, continuation } => {
                    lookup = continuation.resume(self.load_split(&load).map(Arc::new));
                }
            }
        }
    }

    /// The DWARF of one split unit, from the package or its `.dwo` file.
    fn load_split(
        &self,
        load: &addr2line::SplitDwarfLoad<DwarfReader<'data>>,
    ) -> Option<gimli::Dwarf<DwarfReader<'data>>> {
        if let Some(package) = &self.package
            && let Ok(Some(dwarf)) = package.find_cu(load.dwo_id, &load.parent)
        {
            return Some(dwarf);
        }
        let loader = self.load_dwo.as_ref()?;
        let text = |reader: &Option<DwarfReader>| {
            reader
                .as_ref()
                .and_then(|r| gimli::Reader::to_string_lossy(r).ok())
                .map(Cow::into_owned)
        };
        let comp_dir = text(&load.comp_dir);
        let path = text(&load.path)?;
        let bytes = loader(comp_dir.as_deref(), &path)?;
        let mut dwarf = sections::load_dwo(&bytes).ok()?;
        let header = dwarf.units().next().ok()??;
        let unit = dwarf.unit(header).ok()?;
        if unit.dwo_id != Some(load.dwo_id) {
            return None;
        }
        dwarf.make_dwo(&load.parent);
        Some(dwarf)
    }

    /// The column of the line-table row covering `address`, when that row
    /// has line 0: addr2line drops such columns, llvm-symbolizer prints them.
    /// Each unit's line program is walked once, into [`LineZeroRows`].
    fn row_column(&self, address: u64) -> Option<u32> {
        let unit = self.resolve(self.context.find_dwarf_and_unit(address))?;
        let key = (unit.header.offset().0 as u64, unit.dwo_id.map(|id| id.0));
        if let Some(rows) = self.line_zero_rows.borrow().get(&key) {
            return rows.column(address);
        }
        let rows = LineZeroRows::new(&unit);
        let column = rows.column(address);
        self.line_zero_rows.borrow_mut().insert(key, rows);
        column
    }
}

/// The rows of one unit's line table that have line 0, as address ranges
/// (a row covers up to the next row of its sequence), sorted by start.
#[derive(Default)]
struct LineZeroRows {
    /// `(start, end, sequence number, column)`.
    ranges: Vec<(u64, u64, u32, u32)>,
    longest: u64,
}

impl LineZeroRows {
    fn new(unit: &gimli::Unit<DwarfReader>) -> Self {
        let mut ranges = Vec::new();
        let Some(program) = unit.line_program.clone() else {
            return LineZeroRows::default();
        };
        let mut rows = program.rows();
        let mut sequence = 0u32;
        // The previous row of this sequence, if its line is 0: (address, column).
        let mut previous: Option<(u64, Option<u32>)> = None;
        while let Ok(Some((_, row))) = rows.next_row() {
            if let Some((start, Some(column))) = previous
                && start < row.address()
            {
                ranges.push((start, row.address(), sequence, column));
            }
            if row.end_sequence() {
                previous = None;
                sequence += 1;
                continue;
            }
            let column = match row.column() {
                gimli::ColumnType::LeftEdge => 0,
                gimli::ColumnType::Column(column) => column.get() as u32,
            };
            let line_zero = row.line().is_none();
            previous = Some((row.address(), line_zero.then_some(column)));
        }
        ranges.sort_unstable();
        let longest = ranges.iter().map(|r| r.1 - r.0).max().unwrap_or(0);
        LineZeroRows { ranges, longest }
    }

    /// The column of the range covering `address`, from the first sequence
    /// that covers it.
    fn column(&self, address: u64) -> Option<u32> {
        let after = self.ranges.partition_point(|range| range.0 <= address);
        self.ranges[..after]
            .iter()
            .rev()
            .take_while(|range| range.0.saturating_add(self.longest) > address)
            .filter(|range| address < range.1)
            .min_by_key(|range| range.2)
            .map(|range| range.3)
    }
}

/// A predicate: whether a file name from the line table is `query` (a
/// path or a path's tail). The line table's name may itself be relative.
fn path_matches(query: &str) -> impl Fn(&str) -> bool + '_ {
    move |name: &str| {
        let tail_of = |long: &str, short: &str| {
            long == short
                || long
                    .strip_suffix(short)
                    .is_some_and(|head| head.ends_with('/'))
        };
        tail_of(name, query) || tail_of(query, name)
    }
}

/// Where bytes of the image (or of sections and side files the symbolizer
/// holds) are: the key of the name cache.
fn key_of(bytes: &[u8]) -> (usize, usize) {
    (bytes.as_ptr() as usize, bytes.len())
}

fn empty_dwarf(endian: gimli::RunTimeEndian) -> gimli::Dwarf<DwarfReader<'static>> {
    let empty = |_| -> Result<DwarfReader<'static>, ()> {
        Ok(sections::reader(Cow::Borrowed(&[]), endian))
    };
    match gimli::Dwarf::load(empty) {
        Ok(dwarf) => dwarf,
        Err(()) => unreachable!("loading empty sections cannot fail"),
    }
}

fn in_ranges(ranges: &[(u64, u64)], address: u64) -> bool {
    ranges
        .iter()
        .any(|&(start, end)| start <= address && address < end)
}
