//! In-guest self-tests of the HAL and the kernel core, written once against
//! the HAL contract and run on every architecture by `cargo xtask test`.
//!
//! Output protocol (parsed by the xtask): one line per test,
//! `test <name> ... ok` or `test <name> ... FAILED: <reason>`, then a final
//! `<N> passed, <M> failed`.

use crate::arch::{AddressSpace, Arch, UserContext};
use crate::{memory, println, sched, trap};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use spinel_hal_api::{
    AddressSpace as _, ArchFacts, FrameAllocator, PAGE_SIZE, PageFlags, Platform, ProvokedTrap,
    TrapKind, TrapRecord, UserContext as _, UserExit, VirtAddr,
};

type TestResult = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(format!($($msg)*));
        }
    };
}

/// A named test.
type Test = (&'static str, fn() -> TestResult);

const TESTS: &[Test] = &[
    (
        "memory_frames_are_zeroed_distinct_and_reused",
        memory_frames,
    ),
    ("memory_heap_allocates_and_frees", memory_heap),
    ("memory_heap_size_classes_reuse_blocks", memory_heap_classes),
    ("memory_copy_and_fill_all_alignments", memory_copy_and_fill),
    (
        "paging_map_translate_protect_unmap",
        paging_map_translate_unmap,
    ),
    (
        "paging_read_of_unmapped_page_faults",
        paging_unmapped_read_faults,
    ),
    ("trap_kernel_breakpoint_reported", trap_breakpoint),
    ("trap_kernel_undefined_instruction_reported", trap_undefined),
    ("timer_ticks_arrive", timer_ticks),
    ("threads_two_kernel_threads_alternate", threads_alternate),
    ("threads_block_until_woken", threads_block_and_wake),
    ("user_context_register_slots", user_context_slots),
    ("user_mode_syscall_then_page_fault", user_syscall_then_fault),
];

/// `panic-test` or `hang-test` on the kernel command line: panic, or hang
/// with interrupts off, on purpose, so that `cargo xtask test` can check the
/// panic markup, the whole-machine dump and the hang report. Nothing but the
/// command line (set by the host) reaches these.
pub fn crash_on_purpose(cmdline: &str) {
    for word in cmdline.split_ascii_whitespace() {
        match word {
            "panic-test" => deliberate_panic(),
            "hang-test" => deliberate_hang(),
            _ => {}
        }
    }
}

/// Never inlined: the host's test looks for this function's name in the
/// symbolized backtrace.
#[inline(never)]
fn deliberate_panic() -> ! {
    panic!("deliberate panic (panic-test on the kernel command line)")
}

#[inline(never)]
fn deliberate_hang() -> ! {
    println!("[kernel] hang-test: hanging on purpose, interrupts off");
    Arch::halt()
}

/// Run the tests whose name contains `filter` (all when `None`); returns the
/// number that failed.
pub fn run_all(filter: Option<&str>) -> usize {
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in TESTS
        .iter()
        .filter(|(name, _)| filter.is_none_or(|f| name.contains(f)))
    {
        match test() {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(reason) => {
                println!("test {name} ... FAILED: {reason}");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    failed
}

fn memory_frames() -> TestResult {
    let mut frames = memory::FRAMES.lock();
    let before = frames.free_pages();
    let taken: Vec<_> = (0..3).filter_map(|_| frames.alloc_frame()).collect();
    ensure!(taken.len() == 3, "allocated {} of 3 frames", taken.len());
    ensure!(
        frames.free_pages() == before - 3,
        "free count did not drop by 3"
    );
    for (i, frame) in taken.iter().enumerate() {
        ensure!(frame.is_page_aligned(), "frame {frame:?} not page aligned");
        ensure!(
            !taken[..i].contains(frame),
            "frame {frame:?} handed out twice"
        );
        let page = Arch::phys_to_virt(*frame).as_mut_ptr::<u8>();
        // SAFETY: the frame is ours until freed below, and the direct map
        // covers it.
        let bytes = unsafe { core::slice::from_raw_parts_mut(page, PAGE_SIZE) };
        ensure!(bytes.iter().all(|&b| b == 0), "frame {frame:?} not zeroed");
        bytes.fill(0xa5);
    }
    for frame in &taken {
        frames.free_frame(*frame);
    }
    ensure!(frames.free_pages() == before, "free count not restored");
    let again = frames.alloc_frame().ok_or("no frame after freeing")?;
    ensure!(
        taken.contains(&again),
        "freed frame {again:?} was not reused first"
    );
    frames.free_frame(again);
    Ok(())
}

fn memory_heap() -> TestResult {
    let (used_before, _) = memory::heap_usage();
    {
        let mut big: Vec<u64> = Vec::with_capacity(1 << 16);
        big.extend(0..1 << 16);
        ensure!(
            big.iter().sum::<u64>() == (1u64 << 16) * ((1 << 16) - 1) / 2,
            "sum wrong"
        );
        let text: String = (0..1000)
            .map(|i| if i % 2 == 0 { 'a' } else { 'b' })
            .collect();
        ensure!(text.len() == 1000, "string length wrong");
        let (used_during, _) = memory::heap_usage();
        ensure!(
            used_during >= used_before + (1 << 19),
            "heap usage did not grow"
        );
    }
    let (used_after, _) = memory::heap_usage();
    ensure!(
        used_after == used_before,
        "heap leaked {} bytes",
        used_after.saturating_sub(used_before)
    );
    Ok(())
}

fn memory_heap_classes() -> TestResult {
    // Blocks of every class (and a large one) are distinct, aligned as
    // asked, keep their contents, and a freed block is reused.
    let mut blocks: Vec<(alloc::boxed::Box<[u8]>, u8)> = Vec::new();
    for (i, size) in [1usize, 15, 16, 17, 100, 256, 1000, 2048, 2049, 5000]
        .into_iter()
        .enumerate()
    {
        let fill = i as u8 + 1;
        blocks.push((alloc::vec![fill; size].into_boxed_slice(), fill));
    }
    for (block, fill) in &blocks {
        ensure!(
            block.iter().all(|b| b == fill),
            "a block of {} bytes was overwritten",
            block.len()
        );
        ensure!(
            (block.as_ptr() as usize).is_multiple_of(8),
            "a block of {} bytes is misaligned",
            block.len()
        );
    }
    let aligned = alloc::alloc::Layout::from_size_align(64, 64).map_err(|e| format!("{e}"))?;
    // SAFETY: a non-zero-sized layout; the block is freed right after.
    let ptr = unsafe { alloc::alloc::alloc(aligned) };
    ensure!(
        !ptr.is_null() && (ptr as usize).is_multiple_of(64),
        "64-byte alignment not kept"
    );
    // SAFETY: allocated just above with this layout.
    unsafe { alloc::alloc::dealloc(ptr, aligned) };
    let first = core::hint::black_box(alloc::boxed::Box::new([7u64; 12]));
    let address = &*first as *const _ as usize;
    drop(first);
    let second = core::hint::black_box(alloc::boxed::Box::new([9u64; 12]));
    ensure!(
        &*second as *const _ as usize == address,
        "a freed block was not reused"
    );
    Ok(())
}

fn memory_copy_and_fill() -> TestResult {
    // memcpy and memset (the HAL's, where it has its own) at every
    // alignment of source and destination, sizes around each loop's step.
    let source: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut target = alloc::vec![0u8; 400];
    for size in (0..70).chain([127, 128, 129, 255, 300, 333]) {
        for from in 0..8 {
            for to in 0..8 {
                target.fill(0xee);
                let src = core::hint::black_box(&source[from..from + size]);
                let dst = core::hint::black_box(&mut target[to..to + size]);
                dst.copy_from_slice(src);
                ensure!(
                    target[to..to + size] == source[from..from + size],
                    "copy of {size} bytes from +{from} to +{to} wrong"
                );
                ensure!(
                    target[..to]
                        .iter()
                        .chain(&target[to + size..])
                        .all(|&b| b == 0xee),
                    "copy of {size} bytes from +{from} to +{to} wrote outside"
                );
            }
            target.fill(0xee);
            let value = core::hint::black_box(size as u8);
            core::hint::black_box(&mut target[from..from + size]).fill(value);
            ensure!(
                target[from..from + size].iter().all(|&b| b == value),
                "fill of {size} bytes at +{from} wrong"
            );
            ensure!(
                target[..from]
                    .iter()
                    .chain(&target[from + size..])
                    .all(|&b| b == 0xee),
                "fill of {size} bytes at +{from} wrote outside"
            );
        }
    }
    Ok(())
}

/// A user address space that stays empty: activated between tests so that
/// no test's freed tables stay live in the MMU.
fn idle_space() -> &'static AddressSpace {
    static IDLE: spin::Once<AddressSpace> = spin::Once::new();
    IDLE.call_once(|| {
        AddressSpace::new(&mut *memory::FRAMES.lock()).expect("memory for an empty address space")
    })
}

const TEST_VA: u64 = 0x40_0000;

fn paging_map_translate_unmap() -> TestResult {
    let mut frames = memory::FRAMES.lock();
    let mut space = AddressSpace::new(&mut *frames).map_err(|e| format!("new: {e:?}"))?;
    let page = frames.alloc_frame().ok_or("no frame")?;
    let va = VirtAddr(TEST_VA);
    space
        .map(va, page, PageFlags::USER_RW, &mut *frames)
        .map_err(|e| format!("map: {e:?}"))?;
    ensure!(
        space.map(va, page, PageFlags::USER_RW, &mut *frames)
            == Err(spinel_hal_api::MapError::AlreadyMapped),
        "mapping twice was not refused"
    );
    ensure!(
        space.map(
            VirtAddr(TEST_VA + 1),
            page,
            PageFlags::USER_RW,
            &mut *frames
        ) == Err(spinel_hal_api::MapError::BadAddress),
        "unaligned map was not refused"
    );
    ensure!(
        space.translate(va) == Some((page, PageFlags::USER_RW)),
        "translate: {:?}",
        space.translate(va)
    );
    ensure!(
        space.translate(va.add(PAGE_SIZE as u64)).is_none(),
        "neighbour page translates"
    );
    space
        .protect(va, PageFlags::USER_RX)
        .map_err(|e| format!("protect: {e:?}"))?;
    ensure!(
        space.translate(va) == Some((page, PageFlags::USER_RX)),
        "after protect: {:?}",
        space.translate(va)
    );
    ensure!(space.unmap(va) == Ok(page), "unmap did not return the page");
    ensure!(
        space.translate(va).is_none(),
        "still translates after unmap"
    );
    ensure!(
        space.unmap(va) == Err(spinel_hal_api::MapError::NotMapped),
        "second unmap not refused"
    );
    frames.free_frame(page);
    space.destroy(&mut *frames);
    Ok(())
}

fn provoke(trap: ProvokedTrap) -> Result<TrapRecord, String> {
    trap::expect_kernel_trap();
    Arch::provoke_kernel_trap(trap);
    trap::take_kernel_trap().ok_or_else(|| format!("{trap:?} did not reach the kernel_trap hook"))
}

fn exception_class(record: &TrapRecord) -> u64 {
    match record.arch {
        ArchFacts::Aarch64 { esr, .. } => esr >> 26,
        ArchFacts::X86_64 { vector, .. } => vector,
    }
}

fn paging_unmapped_read_faults() -> TestResult {
    let mut space = {
        let mut frames = memory::FRAMES.lock();
        AddressSpace::new(&mut *frames).map_err(|e| format!("new: {e:?}"))?
    };
    let va = VirtAddr(TEST_VA);
    let page = memory::FRAMES.lock().alloc_frame().ok_or("no frame")?;
    space
        .map(va, page, PageFlags::USER_RW, &mut *memory::FRAMES.lock())
        .map_err(|e| format!("map: {e:?}"))?;
    space.unmap(va).map_err(|e| format!("unmap: {e:?}"))?;
    space.activate();
    let record = provoke(ProvokedTrap::PageFault(va));
    idle_space().activate();
    let mut frames = memory::FRAMES.lock();
    frames.free_frame(page);
    space.destroy(&mut *frames);
    let record = record?;
    ensure!(
        matches!(
            record.kind,
            TrapKind::PageFault {
                write: false,
                present: false,
                ..
            }
        ),
        "kind {:?}",
        record.kind
    );
    ensure!(
        record.fault_address == Some(va.0),
        "fault address {:x?}",
        record.fault_address
    );
    ensure!(!record.from_user, "reported as from user mode");
    match record.arch {
        ArchFacts::X86_64 {
            vector,
            cr2,
            error_code,
        } => {
            ensure!(vector == 14 && cr2 == va.0, "vector {vector} cr2 {cr2:#x}");
            ensure!(
                error_code & 1 == 0,
                "error code {error_code:#x} says present"
            );
        }
        ArchFacts::Aarch64 { esr, far } => {
            ensure!(
                esr >> 26 == 0x25 && far == va.0,
                "ESR {esr:#x} FAR {far:#x}"
            );
        }
    }
    Ok(())
}

/// Provoke `trap` in kernel mode and check it arrived as `kind`, with the
/// x86 vector or the arm64 exception class given.
fn check_kernel_trap(
    trap: ProvokedTrap,
    kind: TrapKind,
    x86_vector: u64,
    arm64_class: u64,
) -> TestResult {
    let record = provoke(trap)?;
    ensure!(record.kind == kind, "kind {:?}", record.kind);
    let class = exception_class(&record);
    let expected = if matches!(record.arch, ArchFacts::X86_64 { .. }) {
        x86_vector
    } else {
        arm64_class
    };
    ensure!(class == expected, "class {class:#x}, wanted {expected:#x}");
    ensure!(!record.from_user && record.pc != 0, "record {record:x?}");
    Ok(())
}

fn trap_breakpoint() -> TestResult {
    check_kernel_trap(
        ProvokedTrap::Breakpoint,
        TrapKind::SoftwareBreakpoint,
        3,
        0x3c,
    )
}

fn trap_undefined() -> TestResult {
    check_kernel_trap(
        ProvokedTrap::UndefinedInstruction,
        TrapKind::UndefinedInstruction,
        6,
        0,
    )
}

fn timer_ticks() -> TestResult {
    const PERIOD_NS: u64 = 1_000_000;
    Arch::timer_start(PERIOD_NS);
    let start_ticks = trap::TICKS.load(Ordering::Relaxed);
    let start_ns = Arch::now_ns();
    while trap::TICKS.load(Ordering::Relaxed) < start_ticks + 5 {
        ensure!(
            Arch::now_ns() - start_ns < 2_000_000_000,
            "fewer than 5 ticks in 2 s of guest time"
        );
        Arch::wait_for_interrupt();
    }
    // Without -icount, QEMU's timers follow host time, so the period is only
    // roughly right on a loaded host: check that time moved, not by how much.
    let elapsed = Arch::now_ns() - start_ns;
    ensure!(elapsed > 0, "5 ticks but the clock did not move");
    Ok(())
}

fn threads_alternate() -> TestResult {
    let log = Arc::new(spin::Mutex::new(String::new()));
    let spawn_writer = |letter: char| {
        let log = log.clone();
        sched::spawn(move || {
            for _ in 0..4 {
                log.lock().push(letter);
                sched::yield_now();
            }
        })
    };
    let a = spawn_writer('a');
    let b = spawn_writer('b');
    while !(sched::is_finished(a) && sched::is_finished(b)) {
        sched::yield_now();
    }
    let log = log.lock();
    ensure!(log.as_str() == "abababab", "threads ran as {log:?}");
    ensure!(sched::current() == 0, "not back on the boot thread");
    Ok(())
}

fn threads_block_and_wake() -> TestResult {
    let stage = Arc::new(core::sync::atomic::AtomicU32::new(0));
    let sleeper = {
        let stage = stage.clone();
        sched::spawn(move || {
            stage.store(1, Ordering::SeqCst);
            sched::block_current();
            stage.store(2, Ordering::SeqCst);
        })
    };
    // Let the sleeper run until it blocks; yielding again must not run it.
    for _ in 0..3 {
        sched::yield_now();
    }
    ensure!(
        stage.load(Ordering::SeqCst) == 1,
        "sleeper at stage {} before the wake",
        stage.load(Ordering::SeqCst)
    );
    sched::wake(sleeper);
    while !sched::is_finished(sleeper) {
        sched::yield_now();
    }
    ensure!(
        stage.load(Ordering::SeqCst) == 2,
        "sleeper did not finish after the wake"
    );
    Ok(())
}

fn user_context_slots() -> TestResult {
    let mut context = UserContext::new(0x1000, 0x2000, 11, 22);
    ensure!(
        context.pc() == 0x1000 && context.sp() == 0x2000,
        "pc/sp not set by new"
    );
    let count = <UserContext as spinel_hal_api::UserContext>::REGISTER_NAMES.len();
    ensure!(count >= 20, "only {count} registers named");
    for index in 0..count {
        ensure!(
            context.register(index).is_some(),
            "register {index} missing"
        );
    }
    ensure!(
        context.register(count).is_none(),
        "register past the end exists"
    );
    ensure!(!context.set_register(count, 1), "set past the end accepted");
    let pc_slot = (0..count)
        .find(|&i| context.register(i) == Some(0x1000))
        .ok_or("no slot holds the pc")?;
    ensure!(
        context.set_register(pc_slot, 0x3000) && context.pc() == 0x3000,
        "pc slot write not seen by pc()"
    );
    context.set_pc(0x4000);
    ensure!(
        context.register(pc_slot) == Some(0x4000),
        "set_pc not seen in the pc slot"
    );
    // The bulk accessors agree with the slot-by-slot ones, including the
    // values set_register refuses.
    let mut other = context.clone();
    let values: Vec<u64> = (0..count as u64).map(|i| 0x1111 * (i + 1)).collect();
    for (index, value) in values.iter().enumerate() {
        context.set_register(index, *value);
    }
    other.write_registers(&values);
    let mut bulk = alloc::vec![0u64; count];
    other.read_registers(&mut bulk);
    for (index, value) in bulk.iter().enumerate() {
        ensure!(
            Some(*value) == context.register(index)
                && other.register(index) == context.register(index),
            "bulk register {index} differs"
        );
    }
    let hostile: Vec<u64> = (0..count as u64)
        .map(|i| 0x8000_0000_0000_0000 | i)
        .collect();
    for (index, value) in hostile.iter().enumerate() {
        context.set_register(index, *value);
    }
    other.write_registers(&hostile);
    for index in 0..count {
        ensure!(
            other.register(index) == context.register(index),
            "bulk write of a refused value to {index} differs"
        );
    }
    let mut short = [0u64; 3];
    other.read_registers(&mut short);
    ensure!(
        short[..] == bulk_prefix(&other, 3)[..],
        "a short bulk read differs"
    );
    Ok(())
}

fn bulk_prefix(context: &UserContext, n: usize) -> Vec<u64> {
    (0..n).map(|i| context.register(i).unwrap_or(0)).collect()
}

fn user_syscall_then_fault() -> TestResult {
    const CODE_VA: u64 = 0x10_0000;
    const STACK_VA: u64 = 0x20_0000;
    let blob = Arch::user_test_blob();
    ensure!(blob.len() <= PAGE_SIZE, "test blob larger than a page");
    let mut frames = memory::FRAMES.lock();
    let mut space = AddressSpace::new(&mut *frames).map_err(|e| format!("new: {e:?}"))?;
    let code = frames.alloc_frame().ok_or("no frame")?;
    let stack = frames.alloc_frame().ok_or("no frame")?;
    // SAFETY: `code` is a fresh frame that we own; the direct map covers it
    // and the blob fits in one page.
    unsafe {
        core::ptr::copy_nonoverlapping(
            blob.as_ptr(),
            Arch::phys_to_virt(code).as_mut_ptr::<u8>(),
            blob.len(),
        );
    }
    space
        .map(VirtAddr(CODE_VA), code, PageFlags::USER_RX, &mut *frames)
        .map_err(|e| format!("map code: {e:?}"))?;
    space
        .map(VirtAddr(STACK_VA), stack, PageFlags::USER_RW, &mut *frames)
        .map_err(|e| format!("map stack: {e:?}"))?;
    drop(frames);

    space.activate();
    let mut context = UserContext::new(CODE_VA, STACK_VA + PAGE_SIZE as u64, 0, 0);
    let outcome = (|| -> TestResult {
        let exit = loop {
            match context.run() {
                UserExit::Interrupt(_) => continue,
                other => break other,
            }
        };
        ensure!(
            exit == UserExit::Syscall,
            "first exit {exit:x?}, wanted a system call"
        );
        ensure!(
            context.syscall_number() == spinel_hal_api::TEST_BLOB_SYSCALL,
            "syscall number {}",
            context.syscall_number()
        );
        ensure!(
            context.syscall_args()[0] == spinel_hal_api::TEST_BLOB_ARG0,
            "arg0 {:#x}",
            context.syscall_args()[0]
        );
        context.set_syscall_result(0);
        let exit = loop {
            match context.run() {
                UserExit::Interrupt(_) => continue,
                other => break other,
            }
        };
        let UserExit::Exception(record) = exit else {
            return Err(format!("second exit {exit:x?}, wanted an exception"));
        };
        ensure!(record.from_user, "fault not marked as from user mode");
        ensure!(
            matches!(record.kind, TrapKind::PageFault { present: false, .. }),
            "kind {:?}",
            record.kind
        );
        ensure!(
            record.fault_address == Some(spinel_hal_api::TEST_BLOB_FAULT_ADDR),
            "fault address {:x?}",
            record.fault_address
        );
        ensure!(
            (CODE_VA..CODE_VA + PAGE_SIZE as u64).contains(&record.pc) && record.pc == context.pc(),
            "fault pc {:#x}, context pc {:#x}",
            record.pc,
            context.pc()
        );
        Ok(())
    })();
    idle_space().activate();
    let mut frames = memory::FRAMES.lock();
    space.destroy(&mut *frames);
    frames.free_frame(code);
    frames.free_frame(stack);
    outcome
}
