//! The ELF symbol table, read the way `llvm-symbolizer` reads it.
//!
//! llvm-symbolizer names the function that really contains an address (the
//! outermost of its inline chain) from the symbol table when a symbol covers
//! the address, and uses the table alone where there is no DWARF. Its rules,
//! kept here so that answers agree:
//!
//! - symbols of `.symtab` that are defined in an allocated section, of type `NOTYPE`,
//!   `FUNC`, `OBJECT` or `GNU_IFUNC`, except section and file symbols and the
//!   aarch64 mapping symbols (`$x`, `$d`);
//! - a local symbol's file is the `STT_FILE` symbol before it, shown when
//!   the DWARF has no file for the address;
//! - sorted by address then size; the covering symbol is the last one whose
//!   address is at or below the address, if its size is zero (an assembly
//!   label) or reaches past the address.

use alloc::vec::Vec;
use object::elf;
use object::read::elf::{ElfFile64, Sym};
use object::{Object, ObjectSection, ObjectSymbol};

/// One entry of the table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Symbol<'data> {
    pub name: &'data str,
    pub address: u64,
    pub size: u64,
    /// `STT_FUNC` / `STT_GNU_IFUNC`.
    pub is_function: bool,
    /// For a local symbol, the name of the `STT_FILE` symbol before it (the
    /// object file or source it came from).
    pub file: Option<&'data str>,
}

/// The symbols of one ELF, sorted for lookup.
#[derive(Debug, Default)]
pub struct SymbolTable<'data> {
    symbols: Vec<Symbol<'data>>,
}

impl<'data> SymbolTable<'data> {
    pub fn new(file: &ElfFile64<'data>) -> Self {
        let endian = file.endian();
        let aarch64 = file.architecture() == object::Architecture::Aarch64;
        let mut symbols = Vec::new();
        let mut file_symbol = None;
        for symbol in file.symbols() {
            let raw = symbol.elf_symbol();
            let kind = raw.st_type();
            if kind == elf::STT_FILE {
                file_symbol = symbol.name().ok().filter(|name| !name.is_empty());
                continue;
            }
            if kind != elf::STT_NOTYPE
                && kind != elf::STT_FUNC
                && kind != elf::STT_OBJECT
                && kind != elf::STT_GNU_IFUNC
            {
                continue;
            }
            // Only symbols of sections loaded into memory: gcc's LTO leaves
            // hidden `file.c.1234abcd` symbols in its non-allocated
            // `.gnu.lto_*` / debug sections, at addresses that mean nothing.
            let Some(section) = symbol
                .section_index()
                .and_then(|index| file.section_by_index(index).ok())
            else {
                continue;
            };
            let allocated = match section.flags() {
                object::SectionFlags::Elf { sh_flags, .. } => sh_flags.0 & elf::SHF_ALLOC.0 != 0,
                _ => true,
            };
            if !allocated {
                continue;
            }
            let Ok(name) = symbol.name() else { continue };
            if aarch64 && (name.starts_with("$x") || name.starts_with("$d")) {
                continue;
            }
            symbols.push(Symbol {
                name,
                address: raw.st_value(endian),
                size: raw.st_size(endian),
                is_function: kind == elf::STT_FUNC || kind == elf::STT_GNU_IFUNC,
                file: if raw.st_bind() == elf::STB_LOCAL {
                    file_symbol
                } else {
                    None
                },
            });
        }
        // Stable: among equal (address, size) the later entry wins.
        symbols.sort_by_key(|symbol| (symbol.address, symbol.size));
        SymbolTable { symbols }
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The symbol covering `address`, by llvm-symbolizer's rule.
    pub fn lookup(&self, address: u64) -> Option<&Symbol<'data>> {
        let after = self
            .symbols
            .partition_point(|symbol| symbol.address <= address);
        let symbol = self.symbols.get(after.checked_sub(1)?)?;
        if symbol.size != 0 && symbol.address.saturating_add(symbol.size) <= address {
            return None;
        }
        Some(symbol)
    }

    /// Function symbols, in address order.
    pub fn functions(&self) -> impl Iterator<Item = &Symbol<'data>> {
        self.symbols.iter().filter(|symbol| symbol.is_function)
    }
}
