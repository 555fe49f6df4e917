//! The stock tools judge the cores: for each arch, a snapshot built from the
//! real `demo` ELF of this project (its `PT_LOAD` segments as mappings, a
//! stack holding a frame-pointer chain whose return addresses are the real
//! call sites of `plot` ← `draw_shape` ← `render` ← `spinel_main` ←
//! `spinel_rt_start`, the pc inside `plot`, a second thread in `checksum`)
//! is written as a core, then opened with `llvm-readelf --notes`,
//! `gdb-multiarch` and `lldb`; and the crash's symbolizer markup goes
//! through `llvm-symbolizer --filter-markup`. A missing tool makes its test
//! print SKIPPED and pass (`cargo xtask` provisions them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use object::Object;
use spinel_coredump::build_id::{ElfFacts, Hex, elf_facts};
use spinel_coredump::markup::{self, Module};
use spinel_coredump::{
    Arch, Contents, CoreLayout, FpRegisters, MappedFile, Mapping, Permissions, Snapshot, Thread,
    write_core,
};
use spinel_symbolize::symbols::SymbolTable;
use spinel_symbolize::{NameStyle, Symbolizer};

const FAULTING_KOID: u64 = 1053;
const OTHER_KOID: u64 = 1061;
const PROCESS_KOID: u64 = 1047;
const STACK_BASE: u64 = 0x7fff_0000_0000;
const OTHER_STACK_BASE: u64 = 0x7ffe_0000_0000;
const STACK_SIZE: u64 = 0x4000;
/// A value each arch's first argument register holds, to find in the output.
const MARKER: u64 = 0x5eed_1234_abcd_0042;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// The demo ELF for `arch`, built (or found up to date) with cargo as
/// `cargo xtask build` builds it.
fn demo_elf(arch: Arch) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    let target = format!("{}-unknown-none", arch.name());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--package", "demo", "--target", &target])
        .status()
        .expect("running cargo");
    assert!(status.success(), "building demo for {target}");
    target_dir().join(&target).join("debug").join("demo")
}

/// The first of `candidates` that runs (`--version`), if any.
fn find_tool(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|tool| tool.to_string())
}

fn skipped(test: &str, tool: &str) {
    println!("SKIPPED {test}: {tool} is not installed (cargo xtask test provisions it)");
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("$ {command:?}\n{text}");
    text
}

/// A function of the demo: start and size, by readable name.
fn function(symbols: &SymbolTable<'_>, name: &str) -> (u64, u64) {
    symbols
        .functions()
        .find(|s| NameStyle::Readable.demangle(s.name) == name)
        .map(|s| (s.address, s.size))
        .unwrap_or_else(|| panic!("no function {name} in the demo"))
}

/// The bytes of `[address, address + len)` as the ELF's file holds them.
fn code<'a>(elf: &'a [u8], facts: &ElfFacts, address: u64, len: u64) -> &'a [u8] {
    let segment = facts
        .segments
        .iter()
        .find(|s| s.vaddr <= address && address + len <= s.vaddr + s.file_size)
        .expect("code in a segment");
    let start = (segment.file_offset + address - segment.vaddr) as usize;
    &elf[start..start + len as usize]
}

/// The return address of the first direct call from `caller` to `callee`.
fn return_address(
    arch: Arch,
    elf: &[u8],
    facts: &ElfFacts,
    caller: (u64, u64),
    callee: u64,
) -> u64 {
    let bytes = code(elf, facts, caller.0, caller.1);
    match arch {
        // `call rel32` (e8), or `call *rel32(%rip)` (ff 15) through a GOT
        // slot holding the callee.
        Arch::X86_64 => (0..bytes.len().saturating_sub(5))
            .find_map(|i| {
                let direct = bytes[i] == 0xe8;
                let indirect = bytes[i] == 0xff && bytes[i + 1] == 0x15;
                let at = if direct { i + 1 } else { i + 2 };
                let rel = i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
                let next = caller.0 + at as u64 + 4;
                let target = next.wrapping_add_signed(i64::from(rel));
                let hit = (direct && target == callee)
                    || (indirect
                        && facts
                            .segments
                            .iter()
                            .any(|s| s.vaddr <= target && target + 8 <= s.vaddr + s.file_size)
                        && code(elf, facts, target, 8) == callee.to_le_bytes());
                hit.then_some(next)
            })
            .expect("a call to the callee"),
        Arch::Aarch64 => bytes
            .chunks_exact(4)
            .enumerate()
            .find_map(|(i, word)| {
                let insn = u32::from_le_bytes(word.try_into().unwrap());
                let pc = caller.0 + 4 * i as u64;
                // BL: 0b100101 then a signed 26-bit word offset.
                let offset = i64::from(((insn << 6) as i32) >> 6) * 4;
                (insn >> 26 == 0b10_0101 && pc.wrapping_add_signed(offset) == callee)
                    .then_some(pc + 4)
            })
            .expect("a call to the callee"),
    }
}

/// The first instruction after the frame pointer is set up (`mov rbp, rsp`
/// / `mov|add x29, sp, #n`): there the CFA is the frame pointer plus 16.
fn after_prologue(arch: Arch, elf: &[u8], facts: &ElfFacts, function: (u64, u64)) -> u64 {
    let bytes = code(elf, facts, function.0, function.1.min(64));
    match arch {
        Arch::X86_64 => bytes
            .windows(3)
            .position(|w| w == [0x48, 0x89, 0xe5])
            .map(|i| function.0 + i as u64 + 3),
        Arch::Aarch64 => bytes
            .chunks_exact(4)
            .position(|w| u32::from_le_bytes(w.try_into().unwrap()) & 0xffc0_03ff == 0x9100_03fd)
            .map(|i| function.0 + 4 * i as u64 + 4),
    }
    .expect("a frame-pointer prologue")
}

/// The demo's crash, made by hand: what the test expects the tools to show.
struct Crash {
    arch: Arch,
    elf_path: PathBuf,
    elf: Vec<u8>,
    facts: ElfFacts,
    snapshot: Snapshot,
    /// The faulting thread's pc, then its return addresses.
    frames: Vec<u64>,
    /// Function names expected for each frame.
    functions: Vec<&'static str>,
    other_pc: u64,
    faulting_sp: u64,
}

const CHAIN: [&str; 5] = [
    "demo::plot",
    "demo::draw_shape",
    "demo::render",
    "spinel_main",
    "spinel_rt::start::spinel_rt_start",
];

/// A stack whose frame records (saved frame pointer, return address) sit
/// at `records`, each pointing at the next; the last one ends the chain.
fn stack_image(base: u64, records: &[(u64, u64)]) -> Vec<u8> {
    let mut stack = vec![0u8; STACK_SIZE as usize];
    for (i, &(at, return_address)) in records.iter().enumerate() {
        let next = records.get(i + 1).map_or(0, |&(next, _)| next);
        let offset = (at - base) as usize;
        stack[offset..offset + 8].copy_from_slice(&next.to_le_bytes());
        stack[offset + 8..offset + 16].copy_from_slice(&return_address.to_le_bytes());
    }
    stack
}

fn registers(arch: Arch, pc: u64, sp: u64, fp: u64, lr: u64) -> Vec<u64> {
    let mut regs = vec![0u64; arch.general_register_count()];
    match arch {
        Arch::X86_64 => {
            use spinel_abi::thread::x86_64::*;
            regs[RAX] = MARKER;
            regs[RDI] = 0x10c;
            regs[RBP] = fp;
            regs[RSP] = sp;
            regs[RIP] = pc;
            regs[RFLAGS] = 0x246;
        }
        Arch::Aarch64 => {
            use spinel_abi::thread::aarch64::*;
            regs[X0] = MARKER;
            regs[29] = fp;
            regs[LR] = lr;
            regs[SP] = sp;
            regs[PC] = pc;
            regs[CPSR] = 0x6000_0000;
            regs[TPIDR] = 0x7000_1000;
        }
    }
    regs
}

fn fp_state(arch: Arch) -> FpRegisters {
    match arch {
        Arch::X86_64 => {
            let mut fxsave = spinel_coredump::notes::x86_64_reset_fxsave();
            // xmm0 at 160.
            fxsave[160..176]
                .copy_from_slice(&0x0011_2233_4455_6677_8899_aabb_ccdd_eeff_u128.to_le_bytes());
            FpRegisters::X86_64 { fxsave }
        }
        Arch::Aarch64 => {
            let mut vregs = [0u128; 32];
            vregs[0] = 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff;
            FpRegisters::Aarch64 {
                vregs,
                fpsr: 0,
                fpcr: 0,
            }
        }
    }
}

fn crash(arch: Arch) -> Crash {
    let elf_path = demo_elf(arch);
    let elf = std::fs::read(&elf_path).expect("reading the demo");
    let facts = elf_facts(&elf).expect("the demo's facts");
    assert_eq!(facts.arch, Some(arch));
    let file = object::read::elf::ElfFile64::<object::Endianness>::parse(elf.as_slice()).unwrap();
    let symbols = SymbolTable::new(&file);
    let chain: Vec<(u64, u64)> = CHAIN.iter().map(|name| function(&symbols, name)).collect();
    let pc = after_prologue(arch, &elf, &facts, chain[0]);
    let returns: Vec<u64> = (1..chain.len())
        .map(|i| return_address(arch, &elf, &facts, chain[i], chain[i - 1].0))
        .collect();

    // The faulting thread: frame records 0x80 apart near the stack's top.
    let top = STACK_BASE + STACK_SIZE;
    let records: Vec<(u64, u64)> = (0..chain.len() as u64)
        .map(|i| {
            (
                top - 0x400 + i * 0x80,
                returns.get(i as usize).copied().unwrap_or(0),
            )
        })
        .collect();
    let stack = stack_image(STACK_BASE, &records);
    let frame_pointer = records[0].0;
    // Right after the prologue the stack pointer equals the frame pointer.
    let faulting = Thread {
        koid: FAULTING_KOID,
        registers: registers(arch, pc, frame_pointer, frame_pointer, returns[0]),
        fp: Some(fp_state(arch)),
        signal: 11,
        fault_address: Some(0x10c),
    };

    // The other thread: in `checksum`, called from `spinel_main`.
    let checksum = function(&symbols, "demo::checksum");
    let other_pc = after_prologue(arch, &elf, &facts, checksum);
    let other_return = return_address(arch, &elf, &facts, chain[3], checksum.0);
    let other_top = OTHER_STACK_BASE + STACK_SIZE;
    let other_records = [(other_top - 0x200, other_return)];
    let other_stack = stack_image(OTHER_STACK_BASE, &other_records);
    let other = Thread {
        koid: OTHER_KOID,
        registers: registers(
            arch,
            other_pc,
            other_records[0].0,
            other_records[0].0,
            other_return,
        ),
        fp: None,
        signal: 0,
        fault_address: None,
    };

    // The demo's segments, page-rounded: text left out (the ELF has it),
    // read-only data and data captured.
    let path = elf_path.display().to_string();
    let mut mappings = Vec::new();
    for segment in &facts.segments {
        let base = segment.vaddr & !0xfff;
        let end = (segment.vaddr + segment.size).next_multiple_of(0x1000);
        let contents = if segment.permissions.execute {
            Contents::LeftOut
        } else {
            let mut image = vec![0u8; (end - base) as usize];
            let start = (segment.vaddr - base) as usize;
            let file = &elf[segment.file_offset as usize..][..segment.file_size as usize];
            image[start..start + file.len()].copy_from_slice(file);
            Contents::Bytes(image)
        };
        mappings.push(Mapping {
            base,
            size: end - base,
            permissions: segment.permissions,
            name: "demo".into(),
            file: Some(MappedFile {
                path: path.clone(),
                offset: segment.file_offset & !0xfff,
            }),
            contents,
        });
    }
    for (base, bytes, name) in [
        (STACK_BASE, stack, "stack: thread 1053"),
        (OTHER_STACK_BASE, other_stack, "stack: thread 1061"),
    ] {
        mappings.push(Mapping {
            base,
            size: STACK_SIZE,
            permissions: Permissions::RW,
            name: name.into(),
            file: None,
            contents: Contents::Bytes(bytes),
        });
    }
    let snapshot = Snapshot {
        arch,
        program: "demo".into(),
        arguments: String::new(),
        process_koid: PROCESS_KOID,
        entry: file.entry(),
        threads: vec![faulting, other],
        mappings,
    };
    let mut frames = vec![pc];
    frames.extend(&returns);
    Crash {
        arch,
        elf_path,
        elf,
        facts,
        snapshot,
        frames,
        functions: CHAIN.to_vec(),
        other_pc,
        faulting_sp: frame_pointer,
    }
}

/// Writes the crash's core into the test's temporary directory.
fn core_file(crash: &Crash) -> PathBuf {
    let core = write_core(&crash.snapshot).expect("writing the core");
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("demo-{}.core", crash.arch.name()));
    std::fs::write(&path, &core).unwrap();
    println!("{}: {} bytes", path.display(), core.len());
    path
}

/// `needles` appear in `text` in this order.
fn assert_in_order(text: &str, needles: &[&str]) {
    let mut rest = text;
    for needle in needles {
        match rest.find(needle) {
            Some(at) => rest = &rest[at + needle.len()..],
            None => panic!("{needle:?} missing (or out of order) in:\n{text}"),
        }
    }
}

fn readelf_notes(arch: Arch) {
    let Some(readelf) = find_tool(&[
        "llvm-readelf",
        "llvm-readelf-19",
        "llvm-readelf-16",
        "llvm-readelf-14",
    ]) else {
        return skipped("readelf_notes", "llvm-readelf");
    };
    let crash = crash(arch);
    let core = core_file(&crash);
    let text = run(Command::new(&readelf)
        .args(["--file-header", "--program-headers", "--notes"])
        .arg(&core));
    let prstatus_size = match arch {
        Arch::X86_64 => "0x00000150",
        Arch::Aarch64 => "0x00000188",
    };
    let fpregset_size = match arch {
        Arch::X86_64 => "0x00000200",
        Arch::Aarch64 => "0x00000210",
    };
    assert!(text.contains("CORE (Core file)"), "ET_CORE");
    // One NT_PRSTATUS per thread, in order, each with its register sets.
    let prstatus = format!("CORE                 {prstatus_size}\tNT_PRSTATUS");
    assert_eq!(text.matches(&prstatus).count(), 2, "{prstatus}");
    assert_in_order(
        &text,
        &[
            &prstatus,
            "CORE                 0x00000088\tNT_PRPSINFO",
            "NT_SIGINFO",
            "NT_FILE",
            &format!("CORE                 {fpregset_size}\tNT_FPREGSET"),
            "LINUX",
            &prstatus,
            &format!("CORE                 {fpregset_size}\tNT_FPREGSET"),
        ],
    );
    // NT_FILE names the demo's ELF.
    assert!(
        text.contains(&crash.elf_path.display().to_string()),
        "NT_FILE names the ELF"
    );
    // PT_NOTE first, then one PT_LOAD per mapping; text left out.
    let program_headers: Vec<&str> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("NOTE ") || l.starts_with("LOAD "))
        .collect();
    assert!(
        program_headers[0].starts_with("NOTE "),
        "{program_headers:?}"
    );
    assert_eq!(program_headers.len(), 1 + crash.snapshot.mappings.len());
    let text_segment = program_headers
        .iter()
        .find(|l| l.contains(" R E "))
        .expect("the text segment");
    let fields: Vec<&str> = text_segment.split_whitespace().collect();
    assert_eq!(fields[4], "0x000000", "text left out: {text_segment}");
}

#[test]
fn readelf_notes_x86_64() {
    readelf_notes(Arch::X86_64);
}

#[test]
fn readelf_notes_aarch64() {
    readelf_notes(Arch::Aarch64);
}

fn gdb(arch: Arch) {
    let Some(gdb) = find_tool(&["gdb-multiarch"]) else {
        return skipped("gdb", "gdb-multiarch");
    };
    let crash = crash(arch);
    let core = core_file(&crash);
    let (pc_name, sp_name, marker_reg, xmm) = match arch {
        Arch::X86_64 => ("rip", "rsp", "rax", "p/x $xmm0.uint128"),
        Arch::Aarch64 => ("pc", "sp", "x0", "p/x $v0.q.u"),
    };
    let text = run(Command::new(&gdb)
        .args([
            "-nx",
            "-batch",
            "-ex",
            "info threads",
            "-ex",
            "bt",
            "-ex",
            "info registers",
        ])
        .args(["-ex", xmm, "-ex", "thread 2", "-ex", "bt", "-ex", "p/x $pc"])
        .arg(&crash.elf_path)
        .arg(&core));
    assert!(
        text.contains("Program terminated with signal SIGSEGV"),
        "the signal"
    );
    // Every thread, by koid.
    for koid in [FAULTING_KOID, OTHER_KOID] {
        assert!(
            text.contains(&format!("LWP {koid}")),
            "thread {koid} listed"
        );
    }
    // The backtrace: each frame's function, in order (gdb adds the inlined
    // frames of `core` above `plot`), callers with their return address
    // (but `spinel_main`, whose frame gdb shows as inlined `demo::main`).
    let expected: Vec<String> = crash
        .functions
        .iter()
        .zip(&crash.frames)
        .enumerate()
        .map(|(i, (name, address))| match i {
            0 | 3 => name.to_string(),
            _ => format!("{address:#018x} in {name} "),
        })
        .collect();
    let borrowed: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_in_order(&text, &borrowed);
    // The registers as put.
    let pc = format!("{:#x}", crash.frames[0]);
    let register_line = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in info registers"))
            .to_string()
    };
    assert!(register_line(pc_name).contains(&pc), "{pc_name} = {pc}");
    assert!(register_line(sp_name).contains(&format!("{:#x}", crash.faulting_sp)));
    assert!(register_line(marker_reg).contains(&format!("{MARKER:#x}")));
    assert!(
        text.contains("0x112233445566778899aabbccddeeff"),
        "FP state"
    );
    // Thread 2's frame 0 is in checksum at its pc.
    assert_in_order(
        &text,
        &[
            "[Switching to thread 2",
            "demo::checksum",
            &format!("$2 = {:#x}\n", crash.other_pc),
        ],
    );
}

#[test]
fn gdb_x86_64() {
    gdb(Arch::X86_64);
}

#[test]
fn gdb_aarch64() {
    gdb(Arch::Aarch64);
}

fn lldb(arch: Arch) {
    let Some(lldb) = find_tool(&["lldb", "lldb-19", "lldb-16", "lldb-15", "lldb-14"]) else {
        return skipped("lldb", "lldb");
    };
    let crash = crash(arch);
    let core = core_file(&crash);
    let text = run(Command::new(&lldb)
        .args(["--no-lldbinit", "-b", "-c"])
        .arg(&core)
        .arg(&crash.elf_path)
        .args(["-o", "thread list", "-o", "bt", "-o", "register read"]));
    assert!(!text.contains("error:"), "lldb reported an error");
    for koid in [FAULTING_KOID, OTHER_KOID] {
        assert!(
            text.contains(&format!("tid = {koid}")),
            "thread {koid} listed"
        );
    }
    assert!(text.contains("SIGSEGV"), "the signal");
    let mut expected: Vec<String> = Vec::new();
    for (i, (name, address)) in crash.functions.iter().zip(&crash.frames).enumerate() {
        expected.push(format!("frame #{i}: {address:#018x} demo`{name}"));
    }
    let borrowed: Vec<&str> = expected.iter().map(String::as_str).collect();
    // lldb shows return addresses as they are; the names must match.
    let names: Vec<String> = crash
        .functions
        .iter()
        .map(|n| format!("demo`{n}"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_in_order(&text, &names);
    assert!(
        text.contains(borrowed[0]),
        "frame 0 at the pc: {}",
        borrowed[0]
    );
    assert!(
        text.contains(&format!("{MARKER:#018x}")),
        "the marker register"
    );
}

#[test]
fn lldb_x86_64() {
    lldb(Arch::X86_64);
}

#[test]
fn lldb_aarch64() {
    lldb(Arch::Aarch64);
}

/// An `llvm-symbolizer` that reads markup (LLVM 15 and later).
fn markup_symbolizer() -> Option<String> {
    [
        "llvm-symbolizer",
        "llvm-symbolizer-19",
        "llvm-symbolizer-18",
        "llvm-symbolizer-17",
        "llvm-symbolizer-16",
        "llvm-symbolizer-15",
    ]
    .iter()
    .find(|tool| {
        Command::new(tool)
            .arg("--help")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("filter-markup"))
    })
    .map(|tool| tool.to_string())
}

fn symbolizer_markup(arch: Arch) {
    let Some(symbolizer) = markup_symbolizer() else {
        return skipped(
            "symbolizer_markup",
            "llvm-symbolizer with --filter-markup (LLVM 15+)",
        );
    };
    let crash = crash(arch);
    let build_id = crash
        .facts
        .build_id
        .clone()
        .expect("the demo has a build id");
    // llvm-symbolizer finds the ELF by build id: .build-id/xx/rest.debug.
    let debug_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("debug-{}", arch.name()));
    let hex = Hex(&build_id).to_string();
    let id_dir = debug_dir.join(".build-id").join(&hex[..2]);
    std::fs::create_dir_all(&id_dir).unwrap();
    std::fs::copy(&crash.elf_path, id_dir.join(format!("{}.debug", &hex[2..]))).unwrap();

    let mut log = String::from("demo: drawing 3 shapes\n");
    let modules = [Module {
        id: 0,
        name: "demo",
        build_id: &build_id,
        segments: &crash.facts.segments,
        load_bias: 0,
    }];
    markup::backtrace(&mut log, &modules, &crash.frames).unwrap();
    let markup_path = debug_dir.join("console.log");
    std::fs::write(&markup_path, &log).unwrap();
    println!("{log}");
    let text = run(Command::new(&symbolizer)
        .arg("--filter-markup")
        .arg(format!("--debug-file-directory={}", debug_dir.display()))
        .stdin(std::fs::File::open(&markup_path).unwrap()));
    assert!(
        text.contains("demo: drawing 3 shapes"),
        "plain lines pass through"
    );
    // Each frame: its function and file:line, as our symbolizer says too.
    let ours = Symbolizer::new(&crash.elf).unwrap();
    let mut expected = Vec::new();
    for (i, &address) in crash.frames.iter().enumerate() {
        let lookup = if i == 0 { address } else { address - 1 };
        let frame = ours.symbolize(lookup).pop().unwrap();
        let file = frame.file.unwrap();
        let file = Path::new(&file)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        expected.push(format!("#{i}"));
        expected.push(crash.functions[i].to_string());
        expected.push(format!("{file}:{}", frame.line));
    }
    let borrowed: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_in_order(&text, &borrowed);
}

#[test]
fn symbolizer_markup_x86_64() {
    symbolizer_markup(Arch::X86_64);
}

#[test]
fn symbolizer_markup_aarch64() {
    symbolizer_markup(Arch::Aarch64);
}

/// Copies the memory at `address` out of `(base, bytes)` captures.
fn read_from(sources: &[(u64, Vec<u8>)], address: u64, buffer: &mut [u8]) -> bool {
    let Some((base, bytes)) = sources
        .iter()
        .find(|(base, bytes)| (*base..base + bytes.len() as u64).contains(&address))
    else {
        return false;
    };
    let at = (address - base) as usize;
    buffer.copy_from_slice(&bytes[at..at + buffer.len()]);
    true
}

/// Streaming gives the same bytes as the whole core in memory, with a
/// reader asked in chunks, and a mapping that vanishes comes out as zeros.
#[test]
fn streamed_core_matches_and_survives_a_vanished_mapping() {
    let crash = crash(Arch::X86_64);
    let whole = write_core(&crash.snapshot).unwrap();
    let mut streamed_snapshot = crash.snapshot.clone();
    let sources: Vec<(u64, Vec<u8>)> = streamed_snapshot
        .mappings
        .iter_mut()
        .filter_map(
            |m| match std::mem::replace(&mut m.contents, Contents::Streamed) {
                Contents::Bytes(bytes) => Some((m.base, bytes)),
                left_out => {
                    m.contents = left_out;
                    None
                }
            },
        )
        .collect();
    let layout = CoreLayout::new(&streamed_snapshot).unwrap();
    assert!(layout.head().len() < 8192, "the head is small");
    let mut out = Vec::new();
    let mut largest_read = 0;
    let summary = layout
        .write::<()>(
            &streamed_snapshot,
            &mut |bytes| {
                out.extend_from_slice(bytes);
                Ok(())
            },
            &mut |address, buffer| {
                largest_read = largest_read.max(buffer.len());
                read_from(&sources, address, buffer)
            },
        )
        .unwrap();
    assert_eq!(summary.bytes, whole.len() as u64);
    assert_eq!(summary.unreadable, 0);
    assert!(largest_read <= spinel_coredump::core_file::CHUNK);
    assert!(out == whole, "streamed core differs");

    // The other thread's stack vanishes mid-dump.
    let mut out = Vec::new();
    let summary = layout
        .write::<()>(
            &streamed_snapshot,
            &mut |bytes| {
                out.extend_from_slice(bytes);
                Ok(())
            },
            &mut |address, buffer| {
                if (OTHER_STACK_BASE..OTHER_STACK_BASE + STACK_SIZE).contains(&address) {
                    return false;
                }
                read_from(&sources, address, buffer)
            },
        )
        .unwrap();
    assert_eq!(summary.unreadable, STACK_SIZE);
    assert_eq!(out.len(), whole.len());
}
