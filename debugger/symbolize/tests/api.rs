//! The symbolizer's API on a fixture: readable names, inline chains,
//! function lookup by name, and bad input.

mod common;

use spinel_symbolize::{Error, NameStyle, Symbolizer};

#[test]
fn readable_names_and_inline_chains() {
    let path = common::build_rust("x86_64", 2, &[]);
    let elf = std::fs::read(&path).unwrap();
    let symbolizer = Symbolizer::new(&elf)
        .unwrap()
        .with_style(NameStyle::Readable);
    let checksum = symbolizer.find_function("checksum");
    assert_eq!(checksum.len(), 1, "{checksum:?}");
    let start = checksum[0];
    assert_eq!(
        symbolizer.symbol_for(start + 1),
        Some(("shapes::checksum".to_string(), start))
    );
    // Somewhere in checksum, `u64::wrapping_mul` inlined into `square`,
    // inlined through a closure, iterator adapters and sum_of_squares.
    let chain = (start..start + 0x200)
        .map(|address| symbolizer.symbolize(address))
        .find(|frames| frames.get(1).and_then(|f| f.function.as_deref()) == Some("shapes::square"))
        .expect("square inlined into checksum");
    let names: Vec<_> = chain.iter().map(|f| f.function.clone().unwrap()).collect();
    assert_eq!(names[0], "<u64>::wrapping_mul");
    assert!(
        chain[0]
            .file
            .as_deref()
            .unwrap()
            .ends_with("library/core/src/num/uint_macros.rs")
    );
    assert!(
        chain[1]
            .file
            .as_deref()
            .unwrap()
            .ends_with("fixtures/shapes.rs")
    );
    assert_eq!(names.last().unwrap(), "shapes::checksum");
    assert!(
        names.iter().any(|n| n == "shapes::sum_of_squares"),
        "{names:?}"
    );
    for frame in &chain {
        assert!(frame.file.as_deref().unwrap().ends_with(".rs"));
        assert!(frame.line > 0);
    }
    assert_eq!(symbolizer.arch(), spinel_symbolize::Arch::X86_64);
}

#[test]
fn unknown_addresses_give_one_unknown_frame() {
    let path = common::build_rust("aarch64", 0, &[]);
    let elf = std::fs::read(&path).unwrap();
    let symbolizer = Symbolizer::new(&elf).unwrap();
    assert_eq!(symbolizer.arch(), spinel_symbolize::Arch::Aarch64);
    let frames = symbolizer.symbolize(0xffff_ffff_0000_0000);
    assert_eq!(frames, vec![spinel_symbolize::Frame::default()]);
    let mut text = String::new();
    frames[0].write_llvm(&mut text).unwrap();
    assert_eq!(text, "??\n??:0:0\n");
    assert!(symbolizer.find_function("no_such_function").is_empty());
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(matches!(
        Symbolizer::new(b"not an elf"),
        Err(Error::NotElf(_))
    ));
    assert!(matches!(Symbolizer::new(&[]), Err(Error::NotElf(_))));
    let path = common::build_rust("x86_64", 0, &[]);
    let elf = std::fs::read(&path).unwrap();
    // Truncated images and flipped bytes: errors or answers, never panics.
    for cut in [64, 1000, elf.len() / 2] {
        if let Ok(symbolizer) = Symbolizer::new(&elf[..cut]) {
            let _ = symbolizer.symbolize(0x1000);
        }
    }
    let mut damaged = elf.clone();
    for i in (0..damaged.len()).step_by(97) {
        damaged[i] ^= 0x5a;
    }
    if let Ok(symbolizer) = Symbolizer::new(&damaged) {
        for address in (0..0x4000).step_by(16) {
            let _ = symbolizer.symbolize(address);
        }
    }
    // An ELF for another machine is refused.
    let mut other = elf.clone();
    other[18] = 0x28; // e_machine = EM_ARM
    other[19] = 0;
    assert_eq!(Symbolizer::new(&other).unwrap_err(), Error::UnsupportedArch);
}

#[test]
fn lines_map_back_to_addresses() {
    let source = std::fs::read_to_string(common::fixtures().join("shapes.rs")).unwrap();
    let line = source
        .lines()
        .position(|l| l.trim() == "data[index]")
        .unwrap() as u32
        + 1;
    for arch in ["x86_64", "aarch64"] {
        let path = common::build_rust(arch, 0, &[]);
        let elf = std::fs::read(&path).unwrap();
        let symbolizer = Symbolizer::new(&elf)
            .unwrap()
            .with_style(NameStyle::Readable);
        for query in ["shapes.rs", "fixtures/shapes.rs"] {
            let addresses = symbolizer.find_line(query, line);
            assert!(!addresses.is_empty(), "{arch} {query}:{line}");
            for address in addresses {
                let frames = symbolizer.symbolize(address);
                assert_eq!(frames[0].line, line, "{arch} {address:#x}");
                assert_eq!(
                    frames.last().unwrap().function.as_deref(),
                    Some("shapes::pick")
                );
            }
        }
        assert!(symbolizer.find_line("apes.rs", line).is_empty());
        assert!(symbolizer.find_line("shapes.rs", 100_000).is_empty());
    }
}
