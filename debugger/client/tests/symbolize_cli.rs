//! `spinel-debug symbolize` against `llvm-symbolizer`, byte for byte.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn run(program: &str, args: &[String], stdin: &str) -> (Vec<u8>, i32) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_string();
    let writer = std::thread::spawn(move || pipe.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (output.stdout, output.status.code().unwrap_or(-1))
}

/// Runs both tools with the same arguments and input; they must print the
/// same bytes.
fn same_output(elf: &Path, extra: &[&str], addresses: &[&str], stdin: &str) -> usize {
    let mut ours_args = vec![
        "symbolize".to_string(),
        "--elf".into(),
        elf.display().to_string(),
    ];
    let mut llvm_args = vec![format!("--obj={}", elf.display())];
    for arg in extra.iter().chain(addresses) {
        ours_args.push(arg.to_string());
        llvm_args.push(arg.to_string());
    }
    let (ours, ours_code) = run(env!("CARGO_BIN_EXE_spinel-debug"), &ours_args, stdin);
    let (theirs, theirs_code) = run("llvm-symbolizer", &llvm_args, stdin);
    if ours != theirs {
        let ours = String::from_utf8_lossy(&ours);
        let theirs = String::from_utf8_lossy(&theirs);
        let (index, (a, b)) = ours
            .split("\n\n")
            .zip(theirs.split("\n\n"))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((0, ("(lengths differ)", "")));
        panic!(
            "{extra:?} {addresses:?}: answer {index} differs:\n--- ours\n{a}\n--- llvm-symbolizer\n{b}"
        );
    }
    assert_eq!(ours_code, theirs_code);
    ours.len()
}

fn llvm() -> bool {
    let have = common::have("llvm-symbolizer");
    if !have {
        eprintln!("SKIPPED: llvm-symbolizer is not installed (Debian: apt-get install llvm)");
    }
    have
}

/// Every 7th byte of code (llvm-symbolizer 14 answers for non-code
/// addresses from discarded functions' DWARF; the symbolizer's own tests
/// cover those), as stdin lines.
fn sweep(elf: &Path) -> String {
    let bytes = std::fs::read(elf).unwrap();
    let symbolizer = spinel_symbolize::Symbolizer::new(&bytes).unwrap();
    (0..0x10_0000u64)
        .step_by(7)
        .filter(|&address| symbolizer.is_code(address))
        .map(|address| format!("{address:#x}\n"))
        .collect()
}

/// A code address of `elf`, in decimal (llvm-symbolizer reads decimal too).
fn decimal_code_address(elf: &Path) -> String {
    let bytes = std::fs::read(elf).unwrap();
    let symbolizer = spinel_symbolize::Symbolizer::new(&bytes).unwrap();
    symbolizer.find_function("checksum")[0].to_string()
}

#[test]
fn stdin_output_matches_llvm_symbolizer() {
    if !llvm() {
        return;
    }
    let elf = common::rust_fixture("x86_64", 2);
    let bytes = same_output(&elf, &[], &[], &sweep(&elf));
    assert!(bytes > 10_000);
    let elf = common::rust_fixture("aarch64", 0);
    same_output(&elf, &[], &[], &sweep(&elf));
}

#[test]
fn odd_input_lines_are_echoed_like_llvm_symbolizer() {
    if !llvm() {
        return;
    }
    let Some(elf) = common::c_fixture(0) else {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    };
    let stdin = "0x1139\n4409\n01000\nzzz\n\n  0x1139  \nCODE 0x1139\nDATA 0x4010\n\
                 DATA 0x99999\n0X1139\n0x1139 junk\n0xffffffffffffffff\n0x\r\n0x1140\r\n";
    same_output(&elf, &[], &[], stdin);
    same_output(&elf, &["-a"], &[], stdin);
    same_output(&elf, &["--no-demangle"], &[], stdin);
}

#[test]
fn command_line_addresses_match_llvm_symbolizer() {
    if !llvm() {
        return;
    }
    let elf = common::rust_fixture("aarch64", 2);
    let decimal = decimal_code_address(&elf);
    same_output(&elf, &[], &["bogus", &decimal, "0xffffffff00000000"], "");
    same_output(
        &elf,
        &["--addresses"],
        &[&decimal, "0xffffffff00000000"],
        "",
    );
}

#[test]
fn a_missing_file_is_an_error_like_llvm_symbolizer_19() {
    // llvm-symbolizer 19 (unlike 14) answers nothing and exits 1.
    let args: Vec<String> = ["symbolize", "--elf", "/nonexistent/elf", "0x10", "zz"]
        .map(String::from)
        .to_vec();
    let (ours, code) = run(env!("CARGO_BIN_EXE_spinel-debug"), &args, "");
    assert!(ours.is_empty());
    assert_eq!(code, 1);
    if common::have("llvm-symbolizer-19") {
        let llvm_args = ["--obj=/nonexistent/elf", "0x10", "zz"].map(String::from);
        assert_eq!(run("llvm-symbolizer-19", &llvm_args, ""), (ours, code));
    }
}
