//! The symbolizer against llvm-symbolizer 19, on fixtures built here from
//! `tests/fixtures/` by rustc (both arches, -O0 to -O3, LTO, compressed
//! DWARF) and gcc / g++ (-O0 to -O3, LTO, compressed DWARF with zlib and
//! zstd, split DWARF in `.dwo` files and in a `.dwp` package; aarch64 when
//! the `aarch64-linux-gnu-` compilers are installed).

mod common;

use common::Split;
use object::{Object, ObjectSection, ObjectSymbol};
use spinel_symbolize::{Frame, NameStyle, SplitDwarf, Symbolizer};
use std::path::Path;

/// Addresses worth asking about: a sweep over every executable section,
/// the start, second byte, last byte and end of every symbol, and a few
/// places outside any function.
fn addresses(elf: &[u8]) -> Vec<u64> {
    let file = object::File::parse(elf).unwrap();
    let mut addresses = Vec::new();
    let mut text_end = 0;
    let mut sections = Vec::new();
    for section in file.sections() {
        if section.kind() == object::SectionKind::Text {
            sections.push((section.address(), section.size()));
            text_end = text_end.max(section.address() + section.size());
        }
    }
    let total: u64 = sections.iter().map(|s| s.1).sum();
    let stride = (total / 4000).max(1);
    for (start, size) in sections {
        let mut address = start;
        while address < start + size {
            addresses.push(address);
            address += stride;
        }
    }
    for symbol in file.symbols() {
        if symbol.address() == 0 {
            continue;
        }
        let (start, size) = (symbol.address(), symbol.size());
        addresses.extend([start, start + 1, start + size.max(1) - 1, start + size]);
    }
    // Outside any function: past the code, in data, far away.
    for section in file.sections() {
        if matches!(
            section.kind(),
            object::SectionKind::ReadOnlyData | object::SectionKind::Data
        ) {
            addresses.push(section.address() + section.size() / 2);
        }
    }
    addresses.extend([text_end + 0x40, text_end + 0x10_0000, 0xffff_ffff_0000_0000]);
    addresses.sort_unstable();
    addresses.dedup();
    addresses
}

/// Whether a C++ name is one `cpp_demangle` 0.5 is known to print unlike
/// LLVM (and wrongly): a function parameter pack expansion (`Dp`: it
/// applies `&&` to the pack's last element only). (Constructors that are
/// templates and empty argument packs, which it also gets wrong, are
/// repaired in `demangle.rs`.)
fn known_demangler_deviation(mangled: &str) -> bool {
    mangled.starts_with("_Z") && ["Dp", "JE"].iter().any(|shape| mangled.contains(shape))
}

/// Whether `ours` differs from `theirs` only in function names of frames
/// whose mangled names `raw` are known demangler deviations.
fn only_known_demangler_deviations(theirs: &str, ours: &str, raw: &[Frame]) -> bool {
    let (theirs, ours): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    theirs.len() == ours.len()
        && theirs.len() == raw.len() * 2
        && theirs.iter().zip(&ours).enumerate().all(|(index, (a, b))| {
            a == b
                || index % 2 == 0
                    && raw[index / 2]
                        .function
                        .as_deref()
                        .is_some_and(known_demangler_deviation)
        })
}

/// Our answer, by both ways of asking (frames, and the batch fast path),
/// which must agree.
fn ours(symbolizer: &Symbolizer, address: u64) -> String {
    let mut out = String::new();
    for frame in symbolizer.symbolize(address) {
        frame.write_llvm(&mut out).unwrap();
    }
    let mut fast = String::new();
    symbolizer.write_llvm(address, &mut fast).unwrap();
    assert_eq!(out, fast, "{address:#x}: symbolize and write_llvm");
    out
}

/// Whether llvm-symbolizer's answer for a non-code address came from the
/// DWARF of a function the linker discarded (its ranges sit at address 0,
/// the tombstone, over the ELF headers and read-only data). Ours is the
/// symbol table's answer alone there, with an unknown location.
fn is_tombstone_answer(symbolizer: &Symbolizer, address: u64, theirs: &str, ours: &str) -> bool {
    !symbolizer.is_code(address)
        && theirs
            .lines()
            .nth(1)
            .is_some_and(|location| location.starts_with('/'))
        && ours.lines().count() == 2
        && ours.ends_with("??:0:0\n")
}

/// The side files of split DWARF as llvm-symbolizer finds them: `FILE.dwp`
/// beside the ELF, else each unit's `.dwo` by its compilation directory.
fn split_dwarf_of(package: Option<&[u8]>) -> SplitDwarf<'_> {
    SplitDwarf {
        package,
        load_dwo: Some(Box::new(|comp_dir: Option<&str>, name: &str| {
            let path = Path::new(comp_dir.unwrap_or("")).join(name);
            std::fs::read(path).ok()
        })),
    }
}

/// Compares every address; returns (compared, mismatches).
fn compare(elf_path: &Path, label: &str) -> (usize, Vec<String>) {
    let elf = std::fs::read(elf_path).unwrap();
    let dwp = std::fs::read(format!("{}.dwp", elf_path.display())).ok();
    let symbolizer = Symbolizer::with_split_dwarf(&elf, split_dwarf_of(dwp.as_deref())).unwrap();
    assert_eq!(symbolizer.dwarf_problem(), None, "{label}");
    let raw = Symbolizer::with_split_dwarf(&elf, split_dwarf_of(dwp.as_deref()))
        .unwrap()
        .with_style(NameStyle::Raw);
    let addresses = addresses(&elf);
    let theirs = common::llvm_symbolize(elf_path, &addresses);
    let mut mismatches = Vec::new();
    let mut tombstones = 0;
    let mut demangler = 0;
    let mut inlined = 0;
    let mut outside = 0;
    for (address, expected) in addresses.iter().zip(&theirs) {
        let got = ours(&symbolizer, *address);
        if expected.lines().count() > 2 {
            inlined += 1;
        }
        if expected.starts_with("??\n") {
            outside += 1;
        }
        if &got != expected && is_tombstone_answer(&symbolizer, *address, expected, &got) {
            tombstones += 1;
            continue;
        }
        if &got != expected
            && only_known_demangler_deviations(expected, &got, &raw.symbolize(*address))
        {
            demangler += 1;
            continue;
        }
        if &got != expected {
            mismatches.push(format!(
                "{label} {address:#x}:\n--- llvm-symbolizer\n{expected}--- ours\n{got}"
            ));
        }
    }
    eprintln!(
        "{label}: {} addresses ({inlined} in inlined code, {outside} unknown to llvm), \
         {} agree exactly, {tombstones} non-code addresses where llvm-symbolizer \
         reports discarded functions' DWARF, {demangler} where only C++ names \
         cpp_demangle is known to print wrongly differ",
        addresses.len(),
        addresses.len() - mismatches.len() - tombstones - demangler
    );
    (addresses.len(), mismatches)
}

fn check(results: Vec<(usize, Vec<String>)>) {
    let mismatches: Vec<String> = results.into_iter().flat_map(|r| r.1).collect();
    if let Ok(path) = std::env::var("SYMBOLIZE_MISMATCHES") {
        std::fs::write(path, mismatches.join("\n")).unwrap();
    }
    if !mismatches.is_empty() {
        for mismatch in mismatches.iter().take(12) {
            eprintln!("{mismatch}");
        }
        panic!(
            "{} addresses disagree with llvm-symbolizer",
            mismatches.len()
        );
    }
}

fn llvm_installed() -> bool {
    if common::have(common::LLVM_SYMBOLIZER) {
        return true;
    }
    eprintln!("SKIPPED: llvm-symbolizer-19 is not installed (Debian: apt-get install llvm-19)");
    false
}

#[test]
fn rust_fixtures_agree_with_llvm_symbolizer() {
    if !llvm_installed() {
        return;
    }
    let mut results = Vec::new();
    for arch in ["x86_64", "aarch64"] {
        for opt in [0, 1, 2, 3] {
            let elf = common::build_rust(arch, opt, &[]);
            results.push(compare(&elf, &format!("rust {arch} -O{opt}")));
        }
        for (kind, flags) in [
            ("lto", &["-C", "lto=fat"][..]),
            (
                "zlib",
                &["-C", "link-arg=--compress-debug-sections=zlib"][..],
            ),
            (
                "zstd",
                &["-C", "link-arg=--compress-debug-sections=zstd"][..],
            ),
        ] {
            let elf = common::build_rust(arch, 2, flags);
            results.push(compare(&elf, &format!("rust {arch} -O2 {kind}")));
        }
    }
    check(results);
}

/// Each native build kind: (label, source, optimization, flags, split).
fn native_kinds() -> Vec<(String, &'static str, u32, &'static [&'static str], Split)> {
    let mut kinds = Vec::new();
    for (language, source) in [("c", "shapes.c"), ("c++", "shapes.cc")] {
        for opt in [0, 1, 2, 3] {
            kinds.push((
                format!("{language} -O{opt}"),
                source,
                opt,
                &[][..],
                Split::None,
            ));
        }
        kinds.push((
            format!("{language} -O2 lto"),
            source,
            2,
            &["-flto"][..],
            Split::None,
        ));
    }
    let source = "shapes.cc";
    kinds.push((
        "c++ -O2 zlib".into(),
        source,
        2,
        &["-gz=zlib"][..],
        Split::None,
    ));
    kinds.push((
        "c++ -O2 zstd".into(),
        source,
        2,
        &["-Wl,--compress-debug-sections=zstd"][..],
        Split::None,
    ));
    kinds.push(("c++ -O2 dwo".into(), source, 2, &[][..], Split::Dwo));
    kinds.push(("c++ -O2 dwp".into(), source, 2, &[][..], Split::Dwp));
    kinds.push(("c -O2 dwo".into(), "shapes.c", 2, &[][..], Split::Dwo));
    kinds
}

#[test]
fn c_and_cpp_fixtures_agree_with_llvm_symbolizer() {
    if !llvm_installed() {
        return;
    }
    let mut results = Vec::new();
    for arch in ["x86_64", "aarch64"] {
        for (label, source, opt, flags, split) in native_kinds() {
            match common::build_native(source, arch, opt, flags, split) {
                Some(elf) => results.push(compare(&elf, &format!("{arch} {label}"))),
                None => eprintln!(
                    "SKIPPED: {arch} {label}: no compiler (Debian: apt-get install \
                     gcc-aarch64-linux-gnu g++-aarch64-linux-gnu) or no llvm-dwp-19 (llvm-19)"
                ),
            }
        }
    }
    check(results);
}

/// The flag a build kind rests on really took effect: the DWARF is
/// compressed by the named method, split off into `.dwo` files or a
/// package. (A toolchain that ignored a flag would make the comparison
/// above prove nothing.)
#[test]
fn build_kinds_are_what_they_claim() {
    let arch = "x86_64";
    let compression = |elf: &Path| {
        let bytes = std::fs::read(elf).unwrap();
        let file = object::File::parse(&*bytes).unwrap();
        let section = file.section_by_name(".debug_info").unwrap();
        section.compressed_data().unwrap().format
    };
    let Some(zlib) = common::build_native("shapes.cc", arch, 2, &["-gz=zlib"], Split::None) else {
        eprintln!("SKIPPED: no g++");
        return;
    };
    assert_eq!(compression(&zlib), object::CompressionFormat::Zlib);
    let zstd = common::build_native(
        "shapes.cc",
        arch,
        2,
        &["-Wl,--compress-debug-sections=zstd"],
        Split::None,
    )
    .unwrap();
    assert_eq!(compression(&zstd), object::CompressionFormat::Zstandard);
    for flags in [
        &["-C", "link-arg=--compress-debug-sections=zlib"][..],
        &["-C", "link-arg=--compress-debug-sections=zstd"][..],
    ] {
        let elf = common::build_rust(arch, 2, flags);
        assert_ne!(compression(&elf), object::CompressionFormat::None);
    }

    // Split DWARF: the answers need the side files (inline frames live in
    // the .dwo), and both ways of passing them give the same answers.
    let dwo = common::build_native("shapes.cc", arch, 2, &[], Split::Dwo).unwrap();
    let elf = std::fs::read(&dwo).unwrap();
    let addresses = addresses(&elf);
    let alone = Symbolizer::new(&elf).unwrap();
    let with_dwo = Symbolizer::with_split_dwarf(&elf, split_dwarf_of(None)).unwrap();
    let inlined = |symbolizer: &Symbolizer| {
        addresses
            .iter()
            .filter(|&&a| symbolizer.symbolize(a).len() > 1)
            .count()
    };
    assert_eq!(
        inlined(&alone),
        0,
        "the skeleton alone has no inline frames"
    );
    assert!(
        inlined(&with_dwo) > 100,
        "the .dwo files give inline frames"
    );
    if let Some(dwp) = common::build_native("shapes.cc", arch, 2, &[], Split::Dwp) {
        let elf_dwp = std::fs::read(&dwp).unwrap();
        let package = std::fs::read(format!("{}.dwp", dwp.display())).unwrap();
        let from_package = Symbolizer::with_split_dwarf(
            &elf_dwp,
            SplitDwarf {
                package: Some(&package),
                load_dwo: None,
            },
        )
        .unwrap();
        assert!(
            inlined(&from_package) > 100,
            "the package gives inline frames"
        );
    }
}

/// DWARF that cannot be read (here: a compressed .debug_info whose bytes
/// are garbage) costs the source lines, never the symbol table.
#[test]
fn unreadable_dwarf_keeps_the_symbol_table() {
    let Some(path) = common::build_native("shapes.cc", "x86_64", 2, &["-gz=zlib"], Split::None)
    else {
        eprintln!("SKIPPED: no g++");
        return;
    };
    let mut elf = std::fs::read(&path).unwrap();
    let (start, end, main) = {
        let file = object::File::parse(&*elf).unwrap();
        let section = file.section_by_name(".debug_info").unwrap();
        let range = section.compressed_file_range().unwrap();
        let (offset, size) = (range.offset, range.compressed_size);
        let main = file.symbols().find(|s| s.name() == Ok("main")).unwrap();
        (offset as usize, (offset + size) as usize, main.address())
    };
    // Past the zlib header, so that inflating fails.
    for byte in &mut elf[start + 2..end] {
        *byte = 0xa5;
    }
    let symbolizer = Symbolizer::new(&elf).unwrap();
    let problem = symbolizer.dwarf_problem().expect("a DWARF problem");
    assert!(problem.contains(".debug_info"), "{problem}");
    let frames = symbolizer.symbolize(main + 1);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].function.as_deref(), Some("main"));
}
