//! `cargo xtask profile`: where guest instructions go.
//!
//! Boots the release kernel with init in bench mode under `-icount` and
//! QEMU's execution log with one instruction per translation block, so that
//! every logged block is one executed guest instruction. The log is counted
//! by program counter as it streams, then each counter is attributed to its
//! function (kernel addresses with the kernel's ELF, user addresses with the
//! user program's) by llvm-symbolizer, and the top functions are printed.
//!
//! `cargo xtask profile --arch aarch64 -- exception_round_trip_process 100`

use crate::{Arch, Options, cargo, provision, qemu};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Kernel addresses are in the upper half on both architectures.
const KERNEL_HALF: u64 = 0xffff_0000_0000_0000;
const TOP: usize = 40;

pub fn run(options: &Options) -> Result<(), String> {
    let arch = match options.arches.as_slice() {
        [arch] => *arch,
        _ => Arch::X86_64,
    };
    provision::ensure_targets(&[arch])?;
    provision::ensure_qemu(&[arch])?;
    if options.extra.is_empty() {
        return Err(
            "name a benchmark: cargo xtask profile [--arch A] -- BENCHMARK [ITERATIONS]".into(),
        );
    }
    let kernel = cargo::build_kernel(arch, true)?;
    let user = kernel.with_file_name("benchmarks");
    let log = std::env::temp_dir().join(format!("spinel-profile-{}.log", std::process::id()));
    let cmdline = format!("bench {}", options.extra.join(" "));
    let extra: Vec<String> = [
        "-icount",
        "shift=0,sleep=off",
        "-accel",
        "tcg,one-insn-per-tb=on",
        "-d",
        "nochain,exec",
        "-D",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([log.display().to_string()])
    .collect();
    let guest = qemu::Guest {
        arch,
        kernel: &kernel,
        cmdline: &cmdline,
        extra: &extra,
        gdb: None,
        link: qemu::Link::Null,
        crashes: options.crash_dir.as_deref(),
    };
    println!(
        "profiling `{cmdline}` on {} (the execution log may take a while)",
        arch.name()
    );
    let outcome = qemu::run(&guest, options.timeout.max(1800), false)?;
    for line in outcome.console.lines().filter(|l| l.starts_with("bench ")) {
        println!("{line}");
    }
    let counts = count_log(&log);
    let _ = std::fs::remove_file(&log);
    let counts = counts?;
    report(&counts, &kernel, &user)
}

/// Executions per guest PC. Lines look like
/// `Trace 0: 0x7f... [ffff0000/00000000fffffff0/00000040/ff022201] `.
fn count_log(log: &Path) -> Result<HashMap<u64, u64>, String> {
    let file = std::fs::File::open(log).map_err(|e| format!("reading {}: {e}", log.display()))?;
    let mut counts: HashMap<u64, u64> = HashMap::new();
    for line in BufReader::with_capacity(1 << 20, file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Some(pc) = line.split('/').nth(1) else {
            continue;
        };
        if let Ok(pc) = u64::from_str_radix(pc, 16) {
            *counts.entry(pc).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Function names of `pcs` in `elf`, one per address.
fn symbolize(elf: &Path, pcs: &[u64]) -> Result<Vec<String>, String> {
    let mut child = Command::new("llvm-symbolizer")
        .arg(format!("--obj={}", elf.display()))
        .args(["--no-inlines", "--functions=linkage", "--demangle"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run llvm-symbolizer (apt-get install llvm): {e}"))?;
    let input: String = pcs.iter().map(|pc| format!("{pc:#x}\n")).collect();
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .split("\n\n")
        .map(|block| block.lines().next().unwrap_or("??").to_string())
        .collect())
}

fn report(counts: &HashMap<u64, u64>, kernel: &Path, user: &Path) -> Result<(), String> {
    let total: u64 = counts.values().sum();
    let mut by_function: HashMap<String, u64> = HashMap::new();
    for (elf, prefix, kernel_side) in [(kernel, "kernel", true), (user, "user", false)] {
        let pcs: Vec<(u64, u64)> = counts
            .iter()
            .filter(|(pc, _)| (**pc >= KERNEL_HALF) == kernel_side)
            .map(|(p, c)| (*p, *c))
            .collect();
        let names = symbolize(elf, &pcs.iter().map(|(pc, _)| *pc).collect::<Vec<_>>())?;
        for ((_, count), name) in pcs.iter().zip(names) {
            *by_function
                .entry(format!("{prefix:<6} {name}"))
                .or_default() += count;
        }
    }
    let mut rows: Vec<(String, u64)> = by_function.into_iter().collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.1));
    println!(
        "\n{total} guest instructions in all; the top {TOP} functions (inlined code counts for its caller):"
    );
    for (name, count) in rows.iter().take(TOP) {
        let short: String = name.chars().take(120).collect();
        println!(
            "{:6.2}% {count:>10} {short}",
            *count as f64 * 100.0 / total.max(1) as f64
        );
    }
    Ok(())
}
