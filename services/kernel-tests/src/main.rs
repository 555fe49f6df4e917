//! kernel-tests: what the kernel does for user programs beyond exceptions
//! and argument checks: preemptive scheduling across processes and threads,
//! many threads at once, sleeping, memory shared between processes, demand
//! paging, and killing tasks that are running, blocked or spinning.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use spinel_rt::launch::{self, BootImage, Inherit};
use spinel_rt::startup::Startup;
use spinel_rt::test::{Test, TestResult};
use spinel_rt::zx::abi::bootstrap::{
    TAG_BOOT_IMAGE, TAG_JOB, TAG_PROCESS_SELF, TAG_USER, TAG_VMAR_ROOT,
};
use spinel_rt::zx::abi::info::{INFO_MAPS_TYPE_MAPPING, INFO_PROCESS_MAPS, InfoMapsEntry};
use spinel_rt::zx::abi::thread::MAX_FP_REGS_SIZE;
use spinel_rt::zx::abi::vm::{VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE};
use spinel_rt::zx::arch::FP_PROBE_REGISTERS;
use spinel_rt::zx::exception::Task;
use spinel_rt::zx::{
    self, HandleBased, Job, ObjectCalls, Port, Process, Rights, Signals, Status, Thread, Vmar, Vmo,
};
use spinel_rt::{check, ensure, ensure_eq, println};

spinel_rt::entry!(main);

const MS: i64 = 1_000_000;

/// Handles the tests share, from the bootstrap message.
struct Fixture {
    job: Job,
    image: BootImage,
    process: Process,
    vmar: Vmar,
}

static FIXTURE: spin::Once<Fixture> = spin::Once::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get().expect("main sets the fixture up first")
}

fn main(args: spinel_rt::StartArgs) -> i64 {
    let mut startup = Startup::from_start(args.bootstrap);
    let words: Vec<String> = startup.words().map(String::from).collect();
    match words.first().map(String::as_str) {
        Some("spin") => loop {
            core::hint::spin_loop();
        },
        Some("shared") => return shared_child(&mut startup),
        _ => {}
    }
    spinel_rt::test::suite("kernel-tests", &mut startup, TESTS, take_fixture)
}

/// The handles the tests share, from the bootstrap message.
fn take_fixture(startup: &mut Startup) -> Result<(), String> {
    let taken = (
        startup.take_typed::<Job>(TAG_JOB),
        startup.take_typed::<Vmo>(TAG_BOOT_IMAGE),
        startup.take_typed::<Process>(TAG_PROCESS_SELF),
        startup.take_typed::<Vmar>(TAG_VMAR_ROOT),
    );
    let (Some(job), Some(image), Some(process), Some(vmar)) = taken else {
        return Err("the bootstrap message lacks a handle".into());
    };
    FIXTURE.call_once(|| Fixture {
        job,
        image: BootImage::new(image),
        process,
        vmar,
    });
    Ok(())
}

const TESTS: &[Test] = &[
    Test::new(
        "sched_spinning_process_does_not_starve_others",
        spinning_process_does_not_starve_others,
    ),
    Test::new(
        "sched_spinning_thread_does_not_starve_its_process",
        spinning_thread_does_not_starve_its_process,
    ),
    Test::new(
        "sched_many_threads_all_run_to_completion",
        many_threads_all_run_to_completion,
    ),
    Test::new(
        "sched_nanosleep_sleeps_at_least_its_time",
        nanosleep_sleeps_at_least_its_time,
    ),
    Test::new("sched_wait_deadline_times_out", wait_deadline_times_out),
    Test::new(
        "vm_vmo_shared_between_processes",
        vmo_shared_between_processes,
    ),
    Test::new(
        "vm_protect_grants_no_more_than_the_vmo_handle",
        protect_grants_no_more_than_the_vmo_handle,
    ),
    Test::new(
        "vm_empty_process_runs_in_no_other_space",
        empty_process_runs_in_no_other_space,
    ),
    Test::new(
        "vm_demand_paging_of_a_large_mapping",
        demand_paging_of_a_large_mapping,
    ),
    Test::new(
        "vm_process_maps_list_the_mappings",
        process_maps_list_the_mappings,
    ),
    Test::new(
        "task_fp_registers_read_and_written_by_a_handler",
        fp_registers_read_and_written_by_a_handler,
    ),
    Test::new("task_kill_a_spinning_process", kill_a_spinning_process),
    Test::new(
        "launch_missing_or_malformed_programs_are_errors",
        missing_or_malformed_programs_are_errors,
    ),
    Test::new(
        "task_kill_a_job_kills_its_processes",
        kill_a_job_kills_its_processes,
    ),
];

/// Start this program again in `job` with `args` and extra handles.
fn child(job: &Job, args: &str, handles: Vec<(u32, zx::Handle)>) -> Result<Process, Status> {
    let inherit = Inherit {
        job: None,
        boot_image: None,
        handles,
    };
    let (process, _thread) = launch::launch(job, &fixture().image, "kernel-tests", args, inherit)?;
    Ok(process)
}

fn spinning_process_does_not_starve_others() -> TestResult {
    let spinner = check!(child(&fixture().job, "spin", Vec::new()))?;
    // While it spins, this process still gets the CPU: sleeping and waking
    // needs the timer to preempt the spinner.
    let start = zx::clock_get_monotonic();
    check!(zx::nanosleep(zx::deadline_after(5 * MS)))?;
    ensure!(zx::clock_get_monotonic() - start >= 5 * MS);
    let info = check!(spinner.info())?;
    ensure_eq!(info.return_code, 0, "the spinner is still running");
    check!(spinner.kill())?;
    check!(spinner.wait_one(Signals::PROCESS_TERMINATED, zx::deadline_after(1000 * MS)))?;
    Ok(())
}

/// A thread of this process running `entry(arg)` on a fresh stack.
fn thread(entry: extern "C" fn(u64, u64) -> !, arg: u64) -> Result<Thread, Status> {
    let (thread, start) = new_thread(entry, arg)?;
    start(&thread)?;
    Ok(thread)
}

/// A thread of this process, not started yet, and how to start it running
/// `entry(arg)` on a fresh stack.
#[allow(clippy::type_complexity)] // reason: the starter is an opaque closure
fn new_thread(
    entry: extern "C" fn(u64, u64) -> !,
    arg: u64,
) -> Result<(Thread, impl FnOnce(&Thread) -> Result<(), Status>), Status> {
    const STACK: u64 = 64 * 1024;
    let stack = Vmo::create(STACK)?;
    let base = fixture()
        .vmar
        .map(VM_PERM_READ | VM_PERM_WRITE, 0, &stack, 0, STACK)?;
    let thread = fixture().process.create_thread(b"worker")?;
    let start = move |thread: &Thread| {
        thread.start(
            entry as *const () as u64,
            zx::arch::initial_stack_pointer(base + STACK),
            arg,
            0,
        )
    };
    Ok((thread, start))
}

extern "C" fn spin_thread(_: u64, _: u64) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

fn spinning_thread_does_not_starve_its_process() -> TestResult {
    let spinner = check!(thread(spin_thread, 0))?;
    let port = check!(Port::create())?;
    // Nothing will arrive: the wait must time out, which takes the CPU back
    // from the spinning thread.
    let result = port.wait(zx::deadline_after(3 * MS));
    ensure_eq!(result.map(|_| ()), Err(Status::TIMED_OUT));
    check!(spinner.kill())?;
    check!(spinner.wait_one(Signals::THREAD_TERMINATED, zx::deadline_after(1000 * MS)))?;
    Ok(())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);
const ROUNDS: u64 = 2_000;

extern "C" fn count_thread(_: u64, _: u64) -> ! {
    for _ in 0..ROUNDS {
        COUNTER.fetch_add(1, Ordering::Relaxed);
        if COUNTER.load(Ordering::Relaxed).is_multiple_of(97) {
            let _ = zx::handle_close(zx::HandleValue::INVALID); // a system call now and then
        }
    }
    zx::thread_exit()
}

fn many_threads_all_run_to_completion() -> TestResult {
    const THREADS: u64 = 12;
    COUNTER.store(0, Ordering::SeqCst);
    let threads: Vec<Thread> = (0..THREADS)
        .map(|i| thread(count_thread, i))
        .collect::<Result<_, _>>()
        .map_err(|s| alloc::format!("{s:?}"))?;
    for t in &threads {
        check!(t.wait_one(Signals::THREAD_TERMINATED, zx::deadline_after(10_000 * MS)))?;
    }
    ensure_eq!(COUNTER.load(Ordering::SeqCst), THREADS * ROUNDS);
    Ok(())
}

fn nanosleep_sleeps_at_least_its_time() -> TestResult {
    for ms in [0, 1, 3, 10] {
        let start = zx::clock_get_monotonic();
        check!(zx::nanosleep(start + ms * MS))?;
        let slept = zx::clock_get_monotonic() - start;
        ensure!(slept >= ms * MS, "asked {ms} ms, slept {slept} ns");
    }
    // A deadline in the past returns at once.
    check!(zx::nanosleep(0))?;
    Ok(())
}

fn wait_deadline_times_out() -> TestResult {
    let port = check!(Port::create())?;
    let start = zx::clock_get_monotonic();
    ensure_eq!(
        port.wait(start + 2 * MS).map(|_| ()),
        Err(Status::TIMED_OUT)
    );
    ensure!(zx::clock_get_monotonic() - start >= 2 * MS);
    let event = check!(zx::Event::create())?;
    ensure_eq!(
        event.wait_one(Signals::USER_SIGNAL_0, 0),
        Err(Status::TIMED_OUT),
        "deadline 0 polls"
    );
    Ok(())
}

fn vmo_shared_between_processes() -> TestResult {
    let vmo = check!(Vmo::create(4096))?;
    check!(vmo.write(b"from the parent", 0))?;
    let (ours, theirs) = check!(zx::Channel::create())?;
    let handles = vec![
        (
            TAG_USER,
            check!(vmo.duplicate(Rights::SAME_RIGHTS))?.into_handle(),
        ),
        (TAG_USER + 1, theirs.into_handle()),
    ];
    let process = check!(child(&fixture().job, "shared", handles))?;
    check!(process.wait_one(Signals::PROCESS_TERMINATED, zx::deadline_after(2000 * MS)))?;
    ensure_eq!(check!(process.info())?.return_code, 0, "the child failed");
    let mut back = [0u8; 14];
    check!(vmo.read(&mut back, 100))?;
    ensure_eq!(&back, b"from the child");
    drop(ours);
    Ok(())
}

/// The child side: map the VMO, check the parent's bytes, write its own.
fn shared_child(startup: &mut Startup) -> i64 {
    let mut run = || -> Result<(), Status> {
        let vmo: Vmo = startup.take_typed(TAG_USER).ok_or(Status::NOT_FOUND)?;
        let vmar: Vmar = startup.take_typed(TAG_VMAR_ROOT).ok_or(Status::NOT_FOUND)?;
        let address = vmar.map(VM_PERM_READ | VM_PERM_WRITE, 0, &vmo, 0, 4096)?;
        // SAFETY: the mapping is ours, 4096 bytes long and readable and
        // writable; the parent does not touch the bytes until we exit.
        let bytes = unsafe { core::slice::from_raw_parts_mut(address as *mut u8, 4096) };
        if &bytes[..15] != b"from the parent" {
            return Err(Status::INTERNAL);
        }
        bytes[100..114].copy_from_slice(b"from the child");
        Ok(())
    };
    match run() {
        Ok(()) => 0,
        Err(status) => {
            println!("kernel-tests shared child: {status:?}");
            2
        }
    }
}

extern "C" fn exit_42(_: u64, _: u64) -> ! {
    zx::process_exit(42)
}

/// A process that never mapped anything has no address space of its own,
/// and must not run in another's: started at one of *our* functions (which
/// would exit with 42 here), its thread faults at once and is killed.
fn empty_process_runs_in_no_other_space() -> TestResult {
    const STACK: u64 = 16 * 1024;
    let job = check!(fixture().job.create_child())?;
    let stack = check!(Vmo::create(STACK))?;
    let base = check!(
        fixture()
            .vmar
            .map(VM_PERM_READ | VM_PERM_WRITE, 0, &stack, 0, STACK)
    )?;
    // Our page tables hold the stack's pages (the intruder's faults would
    // otherwise end it whichever space it ran in).
    check!(stack.write(&[0; STACK as usize], 0))?;
    for page in (0..STACK).step_by(4096) {
        // SAFETY: the mapping is ours, STACK bytes, readable and writable.
        unsafe { core::ptr::write_volatile((base + page) as *mut u8, 0) };
    }
    let (process, _vmar) = check!(job.create_process(b"empty"))?;
    let thread = check!(process.create_thread(b"intruder"))?;
    check!(process.start(
        &thread,
        exit_42 as *const () as u64,
        zx::arch::initial_stack_pointer(base + STACK),
        zx::Handle::invalid(),
        0,
    ))?;
    check!(process.wait_one(Signals::PROCESS_TERMINATED, zx::deadline_after(2000 * MS)))?;
    ensure_eq!(
        check!(process.info())?.return_code,
        zx::abi::object::TASK_RETCODE_EXCEPTION_KILL,
        "the empty process ran code of another address space"
    );
    check!(fixture().vmar.unmap(base, STACK))?;
    Ok(())
}

/// vmar_protect may not grant what the VMO handle the mapping was made
/// with lacked: a read-only handle (or the boot image, which is the
/// kernel's own read-only pages) stays read-only however it is protected.
fn protect_grants_no_more_than_the_vmo_handle() -> TestResult {
    let vmar = &fixture().vmar;
    let vmo = check!(Vmo::create(4096))?;
    let rights = check!(vmo.rights())?;
    let read_only = check!(vmo.as_handle().duplicate(rights.difference(Rights::WRITE)))?;
    let read_only = Vmo::from_raw(read_only.into_raw());
    let at = check!(vmar.map(VM_PERM_READ, 0, &read_only, 0, 4096))?;
    ensure_eq!(
        vmar.protect(VM_PERM_READ | VM_PERM_WRITE, at, 4096),
        Err(Status::ACCESS_DENIED),
        "a read-only VMO handle's mapping made writable"
    );
    check!(vmar.unmap(at, 4096))?;
    let image = &fixture().image.vmo;
    let at = check!(vmar.map(VM_PERM_READ, 0, image, 0, 4096))?;
    ensure_eq!(
        vmar.protect(VM_PERM_READ | VM_PERM_WRITE, at, 4096),
        Err(Status::ACCESS_DENIED),
        "the boot image made writable"
    );
    check!(vmar.unmap(at, 4096))?;
    // What the handle allows, protect still grants.
    let at = check!(vmar.map(VM_PERM_READ, 0, &vmo, 0, 4096))?;
    check!(vmar.protect(VM_PERM_READ | VM_PERM_WRITE, at, 4096))?;
    // SAFETY: the mapping is ours, a page, now writable.
    unsafe { core::ptr::write_volatile(at as *mut u8, 7) };
    check!(vmar.unmap(at, 4096))?;
    Ok(())
}

fn demand_paging_of_a_large_mapping() -> TestResult {
    const SIZE: u64 = 8 << 20;
    let vmo = check!(Vmo::create(SIZE))?;
    let address = check!(
        fixture()
            .vmar
            .map(VM_PERM_READ | VM_PERM_WRITE, 0, &vmo, 0, SIZE)
    )?;
    // SAFETY: the mapping is ours, SIZE bytes, readable and writable, and
    // unmapped only below, after the last use of the slice.
    let bytes = unsafe { core::slice::from_raw_parts_mut(address as *mut u8, SIZE as usize) };
    // Touch a byte in every 64th page: each first touch is a page fault the
    // VM resolves; untouched pages read as zero.
    for page in (0..SIZE as usize / 4096).step_by(64) {
        ensure_eq!(bytes[page * 4096 + 7], 0);
        bytes[page * 4096 + 7] = page as u8 | 1;
    }
    let mut check_back = [0u8; 8];
    check!(vmo.read(&mut check_back, 64 * 4096))?;
    ensure_eq!(
        check_back[7],
        64u8 | 1,
        "the VMO sees writes made through the mapping"
    );
    check!(fixture().vmar.unmap(address, SIZE))?;
    Ok(())
}

/// The mappings of `process` with `base` in `[low, high)`, by
/// `INFO_PROCESS_MAPS` (the whole list first, in address order).
fn maps_in(process: &Process, low: u64, high: u64) -> Result<Vec<InfoMapsEntry>, String> {
    let count = check!(process.maps_count())?;
    let mut buffer = vec![0u8; (count + 4) * InfoMapsEntry::SIZE];
    let maps = check!(process.maps(&mut buffer))?;
    ensure_eq!((maps.actual, maps.avail), (count, count));
    let all: Vec<InfoMapsEntry> = maps.collect();
    ensure!(
        all.windows(2).all(|p| p[0].base + p[0].size <= p[1].base),
        "not in address order"
    );
    Ok(all
        .into_iter()
        .filter(|m| m.base >= low && m.base < high)
        .collect())
}

/// A process maps a few VMOs (named, partly written, one protected) and
/// reads its own mappings back; a too-small buffer is not an error.
fn process_maps_list_the_mappings() -> TestResult {
    let (vmar, process) = (&fixture().vmar, &fixture().process);
    let heap = check!(Vmo::create(4 * 4096))?;
    check!(heap.set_name(b"maps-heap"))?;
    check!(heap.write(b"committed", 4096))?;
    let code = check!(Vmo::create(4096))?;
    let rw = VM_PERM_READ | VM_PERM_WRITE;
    let at = check!(vmar.map(rw, 0, &heap, 0, 4 * 4096))?;
    let code_at = check!(vmar.map(VM_PERM_READ | VM_PERM_EXECUTE, 0, &code, 0, 4096))?;
    check!(vmar.protect(VM_PERM_READ, at + 3 * 4096, 4096))?;
    let heap_koid = check!(heap.koid())?;
    let mine = maps_in(process, at, at + 4 * 4096)?;
    let summary: Vec<_> = mine
        .iter()
        .map(|m| {
            (
                m.base - at,
                m.size,
                m.mmu_flags,
                m.vmo_offset,
                m.committed_bytes,
            )
        })
        .collect();
    ensure_eq!(
        summary,
        vec![
            (0, 3 * 4096, rw, 0, 4096),
            (3 * 4096, 4096, VM_PERM_READ, 3 * 4096, 0)
        ]
    );
    for m in &mine {
        ensure_eq!(m.name_bytes(), b"maps-heap");
        ensure_eq!(
            (m.vmo_koid, m.depth, m.kind),
            (heap_koid, 1, INFO_MAPS_TYPE_MAPPING)
        );
    }
    let code_maps = maps_in(process, code_at, code_at + 1)?;
    ensure_eq!(code_maps.len(), 1);
    ensure_eq!(code_maps[0].mmu_flags, VM_PERM_READ | VM_PERM_EXECUTE);
    ensure_eq!(code_maps[0].name_bytes(), b"");
    // One record's room: one record, every mapping counted.
    let mut one = [0u8; InfoMapsEntry::SIZE + 10];
    let maps = check!(process.maps(&mut one))?;
    ensure_eq!(maps.actual, 1);
    ensure!(maps.avail >= 4, "avail {}", maps.avail);
    check!(vmar.unmap(at, 4 * 4096))?;
    check!(vmar.unmap(code_at, 4096))?;
    ensure_eq!(maps_in(process, at, at + 4 * 4096)?.len(), 0);
    // A thread is not a process.
    let thread = check!(thread(spin_thread, 0))?;
    ensure_eq!(
        zx::object::object_get_info(thread.raw(), INFO_PROCESS_MAPS, &mut []).map(|_| ()),
        Err(Status::WRONG_TYPE)
    );
    check!(thread.kill())?;
    Ok(())
}

/// The vector registers each FP test thread loads (and finds again).
static FP_SLOTS: [spin::Mutex<[u128; FP_PROBE_REGISTERS]>; 2] =
    [const { spin::Mutex::new([0; FP_PROBE_REGISTERS]) }; 2];

extern "C" fn fp_thread(slot: u64, _: u64) -> ! {
    let mut values = FP_SLOTS[slot as usize].lock();
    zx::arch::fp_probe(&mut values);
    drop(values);
    zx::thread_exit()
}

/// A distinct value for vector register `register` of thread `slot`.
fn fp_value(slot: usize, register: usize, round: u128) -> u128 {
    0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128.rotate_left((slot * 8 + register) as u32 * 5)
        ^ round
}

fn vector(image: &[u8], register: usize) -> u128 {
    let at = zx::arch::FP_VECTOR0_OFFSET + register * 16;
    u128::from_le_bytes(image[at..at + 16].try_into().expect("16 bytes"))
}

fn set_vector(image: &mut [u8], register: usize, value: u128) {
    let at = zx::arch::FP_VECTOR0_OFFSET + register * 16;
    image[at..at + 16].copy_from_slice(&value.to_le_bytes());
}

/// Two threads load known values into their vector registers and fault; a
/// handler reads each one's FP_REGS (its own values, not the other's),
/// writes new ones (refused when a reserved control bit is set or the size
/// is wrong), moves the PC past the fault and resumes: each thread then
/// finds the values written for it.
fn fp_registers_read_and_written_by_a_handler() -> TestResult {
    const ROUND: u128 = 0x5a5a_0000_0000_0000_0000_0000_0000_a5a5;
    let size = zx::arch::FP_REGS_SIZE;
    let mut workers = Vec::new();
    for (slot, values) in FP_SLOTS.iter().enumerate() {
        *values.lock() = core::array::from_fn(|r| fp_value(slot, r, 0));
        let (thread, start) = check!(new_thread(fp_thread, slot as u64))?;
        let channel = check!(thread.create_exception_channel(0))?;
        check!(start(&thread))?;
        workers.push((thread, channel));
    }
    let mut stops = Vec::new();
    for (slot, (thread, channel)) in workers.iter().enumerate() {
        let (_, exception) = check!(channel.wait_exception(zx::deadline_after(2000 * MS)))?;
        let mut image = [0u8; MAX_FP_REGS_SIZE];
        ensure_eq!(
            thread.read_fp_state(&mut image[..size - 1]),
            Err(Status::BUFFER_TOO_SMALL)
        );
        ensure_eq!(check!(thread.read_fp_state(&mut image))?, size);
        for r in 0..FP_PROBE_REGISTERS {
            ensure_eq!(
                vector(&image, r),
                fp_value(slot, r, 0),
                "thread {slot} register {r}"
            );
        }
        stops.push((exception, image));
    }
    for (slot, ((thread, _), (exception, mut image))) in workers.iter().zip(stops).enumerate() {
        for r in 0..FP_PROBE_REGISTERS {
            set_vector(&mut image, r, fp_value(slot, r, ROUND));
        }
        let mut bad = image;
        bad[zx::arch::FP_CONTROL_OFFSET + 3] |= 0x80;
        ensure_eq!(
            thread.write_fp_state(&bad[..size]),
            Err(Status::INVALID_ARGS)
        );
        ensure_eq!(
            thread.write_fp_state(&image[..size - 4]),
            Err(Status::INVALID_ARGS)
        );
        check!(thread.write_fp_state(&image[..size]))?;
        let mut regs = check!(thread.read_registers())?;
        ensure_eq!(regs.pc(), zx::arch::fp_probe_site());
        regs.set_pc(zx::arch::fp_probe_resume());
        check!(thread.write_registers(&regs))?;
        check!(exception.handled())?;
    }
    for (thread, _) in &workers {
        check!(thread.wait_one(Signals::THREAD_TERMINATED, zx::deadline_after(2000 * MS)))?;
    }
    for (slot, values) in FP_SLOTS.iter().enumerate() {
        let expected: [u128; FP_PROBE_REGISTERS] =
            core::array::from_fn(|r| fp_value(slot, r, ROUND));
        ensure_eq!(*values.lock(), expected, "thread {slot} after resuming");
    }
    // A thread that runs (or is gone) has no FP state to read.
    let mut image = [0u8; MAX_FP_REGS_SIZE];
    ensure_eq!(
        workers[0].0.read_fp_state(&mut image),
        Err(Status::BAD_STATE)
    );
    let spinner = check!(thread(spin_thread, 0))?;
    ensure_eq!(spinner.read_fp_state(&mut image), Err(Status::BAD_STATE));
    ensure_eq!(
        spinner.write_fp_state(&image[..size]),
        Err(Status::BAD_STATE)
    );
    check!(spinner.kill())?;
    Ok(())
}

fn kill_a_spinning_process() -> TestResult {
    let spinner = check!(child(&fixture().job, "spin", Vec::new()))?;
    check!(zx::nanosleep(zx::deadline_after(2 * MS)))?;
    check!(spinner.kill())?;
    check!(spinner.wait_one(Signals::PROCESS_TERMINATED, zx::deadline_after(1000 * MS)))?;
    ensure_eq!(
        check!(spinner.info())?.return_code,
        zx::abi::object::TASK_RETCODE_SYSCALL_KILL
    );
    Ok(())
}

fn missing_or_malformed_programs_are_errors() -> TestResult {
    let image = &fixture().image;
    let launch =
        |name| launch::launch(&fixture().job, image, name, "", Inherit::default()).map(|_| ());
    ensure_eq!(launch("no-such-program"), Err(Status::NOT_FOUND));
    // The boot image carries a file that is not an ELF executable.
    ensure!(
        image.find("not-a-program").is_ok(),
        "the boot image lacks its non-program file"
    );
    ensure_eq!(launch("not-a-program"), Err(Status::INVALID_ARGS));
    Ok(())
}

fn kill_a_job_kills_its_processes() -> TestResult {
    let job = check!(fixture().job.create_child())?;
    let spinners: Vec<Process> = (0..3)
        .map(|_| child(&job, "spin", Vec::new()))
        .collect::<Result<_, _>>()
        .map_err(|s| alloc::format!("{s:?}"))?;
    check!(job.kill())?;
    for spinner in &spinners {
        check!(spinner.wait_one(Signals::PROCESS_TERMINATED, zx::deadline_after(1000 * MS)))?;
    }
    check!(job.wait_one(Signals::JOB_TERMINATED, zx::deadline_after(1000 * MS)))?;
    Ok(())
}
