//! The unwinder on real stacks: `fixtures/unwind.c` runs (natively, or under
//! `qemu-aarch64` for aarch64), captures its registers four calls deep and
//! prints them with its stack; the test unwinds that snapshot offline and
//! symbolizes each frame.

mod common;

use spinel_symbolize::{Memory, NameStyle, Symbolizer, UnwindMethod};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// A snapshot of the fixture's registers and stack.
struct Snapshot {
    registers: Vec<u64>,
    stack_base: u64,
    stack: Vec<u8>,
}

impl Memory for Snapshot {
    fn read_u64(&mut self, address: u64) -> Option<u64> {
        let offset = usize::try_from(address.checked_sub(self.stack_base)?).ok()?;
        let bytes = self.stack.get(offset..offset.checked_add(8)?)?;
        Some(u64::from_le_bytes(bytes.try_into().unwrap()))
    }
}

fn run(elf: &Path, arch: &str) -> Option<Snapshot> {
    let mut command = if cfg!(target_arch = "x86_64") && arch == "x86_64" {
        Command::new(elf)
    } else if arch == "aarch64" && common::have("qemu-aarch64") {
        let mut command = Command::new("qemu-aarch64");
        command.args(["-L", "/usr/aarch64-linux-gnu"]).arg(elf);
        command
    } else {
        eprintln!("SKIPPED: cannot run {arch} programs here (Debian: apt-get install qemu-user)");
        return None;
    };
    let output = command.output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let mut registers = BTreeMap::new();
    let mut stack_base = 0;
    let mut stack = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[..] {
            ["reg", slot, value] => {
                registers.insert(
                    slot.parse::<usize>().unwrap(),
                    u64::from_str_radix(value, 16).unwrap(),
                );
            }
            ["mem", base, bytes] => {
                stack_base = u64::from_str_radix(base, 16).unwrap();
                stack = (0..bytes.len() / 2)
                    .map(|i| u8::from_str_radix(&bytes[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
            }
            _ => panic!("unexpected line {line:?}"),
        }
    }
    Some(Snapshot {
        registers: registers.into_values().collect(),
        stack_base,
        stack,
    })
}

/// Unwinds the snapshot; returns each frame's inline chain of names and
/// how the frame was found.
fn backtrace(elf: &[u8], snapshot: &mut Snapshot) -> Vec<(Vec<String>, UnwindMethod)> {
    let symbolizer = Symbolizer::new(elf)
        .unwrap()
        .with_style(NameStyle::Readable);
    let registers = snapshot.registers.clone();
    symbolizer
        .unwind(&registers, snapshot, 32)
        .iter()
        .filter(|frame| symbolizer.is_code(frame.pc))
        .map(|frame| {
            let names = symbolizer
                .symbolize(frame.lookup_pc())
                .into_iter()
                .map(|f| f.function.unwrap_or_else(|| "??".into()))
                .collect();
            (names, frame.method)
        })
        .collect()
}

fn expect_chain(frames: &[(Vec<String>, UnwindMethod)], label: &str) {
    let names: Vec<Vec<String>> = frames.iter().map(|f| f.0.clone()).collect();
    let expected: Vec<Vec<String>> = [
        vec!["level3"],
        vec!["helper", "level2"],
        vec!["level1"],
        vec!["main"],
    ]
    .iter()
    .map(|chain| chain.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(names, expected, "{label}: {frames:?}");
}

fn each_build(extra: &[&str], mut check: impl FnMut(&str, u32, &[u8], Snapshot)) -> usize {
    let mut runs = 0;
    for arch in ["x86_64", "aarch64"] {
        for opt in [0, 2] {
            let mut flags = vec!["-no-pie"];
            flags.extend(extra);
            let Some(elf_path) = common::build_c("unwind.c", arch, opt, &flags) else {
                eprintln!(
                    "SKIPPED: no C compiler for {arch} (Debian: apt-get install gcc-aarch64-linux-gnu)"
                );
                continue;
            };
            let elf = std::fs::read(&elf_path).unwrap();
            let Some(snapshot) = run(&elf_path, arch) else {
                continue;
            };
            check(arch, opt, &elf, snapshot);
            runs += 1;
        }
    }
    runs
}

#[test]
fn cfi_unwinds_through_every_frame() {
    let runs = each_build(&[], |arch, opt, elf, mut snapshot| {
        let frames = backtrace(elf, &mut snapshot);
        expect_chain(&frames, &format!("{arch} -O{opt}"));
        assert_eq!(frames[0].1, UnwindMethod::Registers);
        assert!(
            frames[1..].iter().all(|f| f.1 == UnwindMethod::EhFrame),
            "{frames:?}"
        );
    });
    eprintln!("{runs} snapshots unwound by CFI");
}

#[test]
fn debug_frame_serves_when_there_is_no_eh_frame() {
    let flags = ["-fno-asynchronous-unwind-tables", "-fno-unwind-tables"];
    let runs = each_build(&flags, |arch, opt, elf, mut snapshot| {
        let frames = backtrace(elf, &mut snapshot);
        expect_chain(&frames, &format!("{arch} -O{opt} .debug_frame"));
        assert!(
            frames[1..].iter().all(|f| f.1 == UnwindMethod::DebugFrame),
            "{frames:?}"
        );
    });
    eprintln!("{runs} snapshots unwound by .debug_frame");
}

#[test]
fn frame_pointers_unwind_where_there_is_no_cfi() {
    let runs = each_build(
        &["-fno-omit-frame-pointer"],
        |arch, opt, elf, mut snapshot| {
            // Hide the CFI by renaming its sections.
            let mut stripped = elf.to_vec();
            for (from, to) in [
                (&b".eh_frame"[..], &b".xh_frame"[..]),
                (b".debug_frame", b".xebug_frame"),
            ] {
                let mut at = 0;
                while let Some(found) = stripped[at..].windows(from.len()).position(|w| w == from) {
                    stripped[at + found..at + found + to.len()].copy_from_slice(to);
                    at += found + to.len();
                }
            }
            let frames = backtrace(&stripped, &mut snapshot);
            expect_chain(&frames, &format!("{arch} -O{opt} frame pointers"));
            assert!(
                frames[1..]
                    .iter()
                    .all(|f| f.1 == UnwindMethod::FramePointer),
                "{frames:?}"
            );
        },
    );
    eprintln!("{runs} snapshots unwound by frame pointers");
}
