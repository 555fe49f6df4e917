//! The kernel state on the host: a first process started from a real boot
//! image (with a hand-made ELF), then system calls made as its thread, with
//! good and bad pointers, and page faults.

use spinel_abi::bootstrap;
use spinel_abi::thread::x86_64::LAYOUT;
use spinel_abi::vm::{VM_PERM_EXECUTE, VM_PERM_READ, VM_PERM_WRITE};
use spinel_abi::{Koid, Status, Syscall};
use spinel_kernel_state::{BootError, Devices, KernelState, Outcome};
use spinel_object::Config;
use spinel_vm::elf::EM_X86_64;
use spinel_vm::fake::{FakeMemory, FakeSpace, build_elf};
use std::sync::Mutex;

#[derive(Default)]
struct FakeDevices {
    console: Mutex<Vec<u8>>,
    link_out: Mutex<Vec<u8>>,
    /// Each thread's FP/SIMD image, as the glue's HAL contexts keep them
    /// (an x86_64 FXSAVE image here); a write's first byte 0xff stands for
    /// a value the HAL refuses.
    fp: Mutex<std::collections::HashMap<Koid, Vec<u8>>>,
}

const FP_SIZE: usize = spinel_abi::thread::FP_REGS_SIZE_X86_64;

impl Devices for FakeDevices {
    fn console_write(&self, bytes: &[u8]) {
        self.console.lock().unwrap().extend_from_slice(bytes);
    }
    fn debug_link_write(&self, bytes: &[u8]) {
        self.link_out.lock().unwrap().extend_from_slice(bytes);
    }
    fn debug_link_read(&self, buffer: &mut [u8]) -> usize {
        let n = buffer.len().min(3);
        buffer[..n].copy_from_slice(&b"abc"[..n]);
        n
    }
    fn now_ns(&self) -> u64 {
        1_000
    }
    fn read_fp_registers(&self, thread: Koid, out: &mut [u8]) -> Result<usize, Status> {
        let out = out.get_mut(..FP_SIZE).ok_or(Status::BUFFER_TOO_SMALL)?;
        let fp = self.fp.lock().unwrap();
        match fp.get(&thread) {
            Some(image) => out.copy_from_slice(image),
            None => out.fill(0),
        }
        Ok(FP_SIZE)
    }
    fn write_fp_registers(&self, thread: Koid, data: &[u8]) -> Result<(), Status> {
        if data.len() != FP_SIZE || data[0] == 0xff {
            return Err(Status::INVALID_ARGS);
        }
        self.fp.lock().unwrap().insert(thread, data.to_vec());
        Ok(())
    }
}

struct World {
    system: KernelState<FakeSpace>,
    devices: &'static FakeDevices,
    thread: Koid,
    /// A writable scratch area: the bottom of init's stack.
    scratch: u64,
    /// Init's code page (read-only, executable).
    text: u64,
    bootstrap: u32,
}

const TEXT: u64 = 0x20_0000;

fn world() -> World {
    let memory = FakeMemory::leaked();
    let devices: &'static FakeDevices = Box::leak(Box::default());
    let mut system = KernelState::<FakeSpace>::new(Config::new(LAYOUT), memory, devices);
    let elf = build_elf(EM_X86_64, TEXT, &[(TEXT, 5, b"\xcc\xcc", 2)]);
    let image: &'static [u8] = Box::leak(
        spinel_bootfs::pack(&[("init", &elf)])
            .unwrap()
            .into_boxed_slice(),
    );
    let boot = system
        .start_first_process(
            image,
            image_vmo(memory, image),
            "init",
            "hello world",
            EM_X86_64,
        )
        .unwrap();
    let space = system.space(boot.process).unwrap();
    let stack = space.mappings().find(|m| m.flags.write).unwrap().start;
    let regs = system.objects.thread_registers(boot.thread).unwrap();
    let bootstrap = regs.slots[LAYOUT.arg0] as u32;
    system.objects.take_effects();
    World {
        system,
        devices,
        thread: boot.thread,
        scratch: stack,
        text: TEXT,
        bootstrap,
    }
}

impl World {
    fn call(&mut self, call: Syscall, args: &[u64]) -> Outcome {
        let mut regs = [0u64; 8];
        regs[..args.len()].copy_from_slice(args);
        self.system.syscall(self.thread, call.number() as u64, regs)
    }
    fn status(&mut self, call: Syscall, args: &[u64]) -> Status {
        match self.call(call, args) {
            Outcome::Return(v) => Status(v as i64 as i32),
            Outcome::Blocked => panic!("{call:?} blocked"),
        }
    }
    fn read(&self, address: u64, len: usize) -> Vec<u8> {
        let process = self.system.objects.thread_process(self.thread).unwrap();
        let mut out = vec![0; len];
        self.system
            .space(process)
            .unwrap()
            .read(address, &mut out)
            .unwrap();
        out
    }
    fn u32_at(&self, address: u64) -> u32 {
        u32::from_le_bytes(self.read(address, 4).try_into().unwrap())
    }
}

/// The boot image as the kernel hands it out: a VMO with the same bytes.
fn image_vmo(memory: &'static FakeMemory, image: &[u8]) -> std::sync::Arc<spinel_vm::Vmo> {
    let vmo = spinel_vm::Vmo::new(memory, image.len() as u64).unwrap();
    vmo.write(0, image).unwrap();
    std::sync::Arc::new(vmo)
}

const BAD_POINTERS: [u64; 5] = [0, 8, 0xffff_8000_0000_0000, u64::MAX - 2, 0x7fff_ffff_f000];

#[test]
fn first_process_reads_its_bootstrap_message() {
    let mut w = world();
    let (bytes, handles, actual_bytes, actual_handles) = (
        w.scratch,
        w.scratch + 1024,
        w.scratch + 2048,
        w.scratch + 2052,
    );
    let status = w.status(
        Syscall::ChannelRead,
        &[
            w.bootstrap as u64,
            0,
            bytes,
            handles,
            1024,
            16,
            actual_bytes,
            actual_handles,
        ],
    );
    assert_eq!(status, Status::OK);
    let n = w.u32_at(actual_bytes) as usize;
    let (header, tags, args) = bootstrap::decode(&w.read(bytes, n))
        .map(|(h, t, a)| (h, t.to_vec(), a.to_string()))
        .unwrap();
    assert_eq!(args, "hello world");
    assert_eq!(header.handle_count, 6);
    assert_eq!(w.u32_at(actual_handles), 6);
    assert_eq!(bootstrap::tag(&tags, 4), Some(bootstrap::TAG_BOOT_IMAGE));
    // Every received handle is a distinct live handle.
    for i in 0..6u64 {
        let value = w.u32_at(handles + 4 * i);
        let status = w.status(
            Syscall::ObjectGetInfo,
            &[value as u64, 2, w.scratch + 3000, 64, 0, 0],
        );
        assert_eq!(status, Status::OK, "handle {i}");
    }
    // The peer is closed once the message is read.
    let again = w.status(
        Syscall::ChannelRead,
        &[w.bootstrap as u64, 0, bytes, handles, 1024, 16, 0, 0],
    );
    assert_eq!(again, Status::PEER_CLOSED);
}

#[test]
fn missing_or_bad_programs_are_clear_errors() {
    let memory = FakeMemory::leaked();
    let devices: &'static FakeDevices = Box::leak(Box::default());
    let mut system = KernelState::<FakeSpace>::new(Config::new(LAYOUT), memory, devices);
    assert_eq!(
        system.start_first_process(&[], image_vmo(memory, &[]), "init", "", EM_X86_64),
        Err(BootError::NoBootImage)
    );
    let garbage: &'static [u8] = b"not a boot image at all";
    assert!(matches!(
        system.start_first_process(garbage, image_vmo(memory, garbage), "init", "", EM_X86_64),
        Err(BootError::BadBootImage(_))
    ));
    let image: &'static [u8] = Box::leak(
        spinel_bootfs::pack(&[("other", b"x")])
            .unwrap()
            .into_boxed_slice(),
    );
    assert_eq!(
        system.start_first_process(image, image_vmo(memory, image), "init", "", EM_X86_64),
        Err(BootError::MissingProgram)
    );
    let image: &'static [u8] = Box::leak(
        spinel_bootfs::pack(&[("init", b"\x7fELF junk")])
            .unwrap()
            .into_boxed_slice(),
    );
    assert!(matches!(
        system.start_first_process(image, image_vmo(memory, image), "init", "", EM_X86_64),
        Err(BootError::BadProgram(_))
    ));
}

#[test]
fn output_pointers_are_checked_before_acting() {
    let mut w = world();
    let objects_before = w.system.objects.object_count();
    for bad in BAD_POINTERS {
        assert_eq!(
            w.status(Syscall::ChannelCreate, &[0, bad, w.scratch]),
            Status::INVALID_ARGS,
            "{bad:#x}"
        );
        assert_eq!(
            w.status(Syscall::ChannelCreate, &[0, w.scratch, bad]),
            Status::INVALID_ARGS,
            "{bad:#x}"
        );
        assert_eq!(
            w.status(Syscall::PortCreate, &[0, bad]),
            Status::INVALID_ARGS,
            "{bad:#x}"
        );
        assert_eq!(
            w.status(Syscall::EventCreate, &[0, bad]),
            Status::INVALID_ARGS,
            "{bad:#x}"
        );
    }
    // Code is not writable: an output pointer into it is refused too.
    assert_eq!(
        w.status(Syscall::ChannelCreate, &[0, w.text, w.scratch]),
        Status::INVALID_ARGS
    );
    assert_eq!(
        w.system.objects.object_count(),
        objects_before,
        "nothing was created by a refused call"
    );
    assert_eq!(
        w.status(Syscall::ChannelCreate, &[0, w.scratch, w.scratch + 4]),
        Status::OK
    );
    assert_ne!(w.u32_at(w.scratch), w.u32_at(w.scratch + 4));
}

#[test]
fn input_pointers_are_checked() {
    let mut w = world();
    assert_eq!(
        w.status(Syscall::ChannelCreate, &[0, w.scratch, w.scratch + 4]),
        Status::OK
    );
    let channel = w.u32_at(w.scratch) as u64;
    for bad in BAD_POINTERS {
        if bad == 0 {
            continue; // A null pointer with a length of zero is fine; tested below.
        }
        assert_eq!(
            w.status(Syscall::ChannelWrite, &[channel, 0, bad, 4, 0, 0]),
            Status::INVALID_ARGS,
            "{bad:#x}"
        );
        assert_eq!(
            w.status(Syscall::DebugWrite, &[bad, 4]),
            Status::INVALID_ARGS,
            "{bad:#x}"
        );
        assert_eq!(
            w.status(Syscall::PortQueue, &[channel, bad]),
            Status::INVALID_ARGS,
            "{bad:#x}"
        );
    }
    assert_eq!(
        w.status(Syscall::ChannelWrite, &[channel, 0, 0, 0, 0, 0]),
        Status::OK
    );
    assert_eq!(
        w.status(
            Syscall::ChannelWrite,
            &[channel, 0, w.scratch, 1 << 20, 0, 0]
        ),
        Status::OUT_OF_RANGE
    );
    // A pointer plus a length that runs off the end of the mapping.
    let stack_end = w.scratch + spinel_kernel_state::INIT_STACK_SIZE;
    assert_eq!(
        w.status(Syscall::DebugWrite, &[stack_end - 2, 4]),
        Status::INVALID_ARGS
    );
}

#[test]
fn unknown_calls_and_debug_output() {
    let mut w = world();
    assert_eq!(
        w.status(Syscall::DebugWrite, &[w.text, 2]),
        Status::OK,
        "code is readable"
    );
    assert_eq!(w.devices.console.lock().unwrap().as_slice(), b"\xcc\xcc");
    match w.system.syscall(w.thread, 9999, [0; 8]) {
        Outcome::Return(v) => assert_eq!(Status(v as i32), Status::BAD_SYSCALL),
        other => panic!("{other:?}"),
    }
    match w.call(Syscall::ClockGetMonotonic, &[]) {
        Outcome::Return(now) => assert_eq!(now, 1_000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn vmo_create_map_and_copy() {
    let mut w = world();
    let out = w.scratch;
    assert_eq!(
        w.status(Syscall::VmoCreate, &[3 * 4096, 0, out]),
        Status::OK
    );
    let vmo = w.u32_at(out) as u64;
    let message = b"through the vmo";
    w.system
        .space(w.system.objects.thread_process(w.thread).unwrap())
        .unwrap()
        .write(w.scratch + 100, message, spinel_vm::Access::Write)
        .unwrap();
    assert_eq!(
        w.status(
            Syscall::VmoWrite,
            &[vmo, w.scratch + 100, 4090, message.len() as u64]
        ),
        Status::OK
    );
    assert_eq!(
        w.status(
            Syscall::VmoRead,
            &[vmo, w.scratch + 200, 4090, message.len() as u64]
        ),
        Status::OK
    );
    assert_eq!(w.read(w.scratch + 200, message.len()), message);
    assert_eq!(
        w.status(Syscall::VmoRead, &[vmo, w.scratch, 3 * 4096 - 1, 2]),
        Status::OUT_OF_RANGE
    );
    // Map it through the root VMAR handle from the bootstrap message.
    let (bytes, handles) = (w.scratch + 1024, w.scratch + 2048);
    assert_eq!(
        w.status(
            Syscall::ChannelRead,
            &[w.bootstrap as u64, 0, bytes, handles, 1024, 16, 0, 0]
        ),
        Status::OK
    );
    let vmar = w.u32_at(handles + 12) as u64;
    let mapped = w.scratch + 8;
    let options = (VM_PERM_READ | VM_PERM_WRITE) as u64;
    assert_eq!(
        w.status(
            Syscall::VmarMap,
            &[vmar, options, 0, vmo, 0, 3 * 4096, mapped]
        ),
        Status::OK
    );
    let address = u64::from_le_bytes(w.read(mapped, 8).try_into().unwrap());
    assert_eq!(w.read(address + 4090, message.len()), message);
    assert_eq!(
        w.system
            .page_fault(w.thread, address + 5000, spinel_vm::Access::Write),
        Ok(())
    );
    assert_eq!(
        w.system
            .page_fault(w.thread, address + 5000, spinel_vm::Access::Execute),
        Err(Status::ACCESS_DENIED)
    );
    assert_eq!(
        w.status(Syscall::VmarUnmap, &[vmar, address, 3 * 4096]),
        Status::OK
    );
    assert_eq!(
        w.system
            .page_fault(w.thread, address, spinel_vm::Access::Read),
        Err(Status::NOT_FOUND)
    );
    // Write+execute together is refused; so are unknown options.
    assert_eq!(
        w.status(Syscall::VmarMap, &[vmar, 7, 0, vmo, 0, 4096, mapped]),
        Status::INVALID_ARGS
    );
    assert_eq!(
        w.status(Syscall::VmarMap, &[vmar, 1 << 20, 0, vmo, 0, 4096, mapped]),
        Status::INVALID_ARGS
    );
    // A VMO handle where the VMAR belongs is WRONG_TYPE.
    assert_eq!(
        w.status(Syscall::VmarMap, &[vmo, 1, 0, vmo, 0, 4096, mapped]),
        Status::WRONG_TYPE
    );
}

#[test]
fn blocked_waits_write_their_outputs_when_they_finish() {
    let mut w = world();
    assert_eq!(w.status(Syscall::PortCreate, &[0, w.scratch]), Status::OK);
    let port = w.u32_at(w.scratch) as u64;
    let packet = w.scratch + 64;
    assert_eq!(
        w.call(Syscall::PortWait, &[port, i64::MAX as u64, packet]),
        Outcome::Blocked
    );
    // Another thread would queue a packet; here the kernel's view is enough:
    // finishing the call writes the packet.
    let sent = spinel_abi::PortPacket::user(7, [1, 2, 3, 4]);
    let value = w.system.finish_blocked(
        w.thread,
        Status::OK,
        spinel_object::Completion::Packet(sent),
    );
    assert_eq!(value, 0);
    assert_eq!(w.read(packet, 48), sent.to_bytes());
}

#[test]
fn an_endless_wait_sets_no_timer_and_a_finite_one_does() {
    let mut w = world();
    assert_eq!(w.status(Syscall::PortCreate, &[0, w.scratch]), Status::OK);
    let port = w.u32_at(w.scratch) as u64;
    let packet = w.scratch + 64;
    // User space's TIME_INFINITE is INT64_MAX.
    assert_eq!(
        w.call(Syscall::PortWait, &[port, i64::MAX as u64, packet]),
        Outcome::Blocked
    );
    assert_eq!(w.system.objects.next_deadline(), None);
    let mut w = world();
    assert_eq!(w.status(Syscall::PortCreate, &[0, w.scratch]), Status::OK);
    let port = w.u32_at(w.scratch) as u64;
    let deadline = i64::MAX as u64 - 1;
    assert_eq!(
        w.call(Syscall::PortWait, &[port, deadline, packet]),
        Outcome::Blocked
    );
    assert_eq!(w.system.objects.next_deadline(), Some(deadline));
}

#[test]
fn the_debug_link_is_readable_from_its_interrupt_until_a_read_drains_it() {
    let mut w = world();
    let (bytes, handles, actual) = (w.scratch, w.scratch + 1024, w.scratch + 2048);
    let status = w.status(
        Syscall::ChannelRead,
        &[w.bootstrap as u64, 0, bytes, handles, 1024, 16, actual, 0],
    );
    assert_eq!(status, Status::OK);
    let n = w.u32_at(actual) as usize;
    let (_, tags, _) = bootstrap::decode(&w.read(bytes, n))
        .map(|(h, t, a)| (h, t.to_vec(), a.to_string()))
        .unwrap();
    let index = (0..6)
        .find(|&i| bootstrap::tag(&tags, i) == Some(bootstrap::TAG_DEBUG_LINK))
        .unwrap();
    let link = w.u32_at(handles + 4 * index as u64) as u64;
    // object_wait_one for READABLE with a deadline in the past: OK when
    // it is asserted now, TIMED_OUT otherwise.
    let readable = |w: &mut World| {
        let out = w.scratch + 3000;
        w.status(Syscall::ObjectWaitOne, &[link, 1, 0, out]) == Status::OK
    };
    assert!(!readable(&mut w), "quiet at first");
    w.system.debug_link_ready();
    assert!(readable(&mut w), "READABLE after the interrupt");
    // A read that fills its buffer leaves it readable; one that comes back
    // short drained the line.
    let buffer = w.scratch + 2048;
    assert_eq!(
        w.call(Syscall::DebugLinkRead, &[link, buffer, 3]),
        Outcome::Return(3)
    );
    assert!(readable(&mut w));
    assert_eq!(
        w.call(Syscall::DebugLinkRead, &[link, buffer, 16]),
        Outcome::Return(3)
    );
    assert!(!readable(&mut w), "drained");
}

#[test]
fn every_call_of_the_table_is_decoded() {
    // Each call with arguments of zero, then of all ones, in a fresh
    // world: never BAD_SYSCALL, never a panic.
    for &call in Syscall::ALL {
        for filler in [0, u64::MAX] {
            let mut w = world();
            let args = vec![filler; call.arg_count()];
            if let Outcome::Return(value) = w.call(call, &args) {
                assert_ne!(
                    Status(value as i32),
                    Status::BAD_SYSCALL,
                    "{} with {filler:#x}",
                    call.name()
                );
            }
        }
    }
}

#[test]
fn arguments_decode_as_the_table_says() {
    use spinel_kernel_state::syscall::args;
    // A u32 argument is the register's low 32 bits; a handle too.
    let registers = [
        (1 << 32) | 7,
        (5 << 32) | 2,
        0x1000,
        (1 << 40) | 16,
        0x2000,
        3,
        0,
        0,
    ];
    let decoded = args::ChannelWrite::decode(&registers);
    assert_eq!(decoded.handle, spinel_abi::HandleValue(7));
    assert_eq!(decoded.options, 2);
    assert_eq!(decoded.num_bytes, 16);
    assert_eq!(decoded.num_handles, 3);
    let decoded = args::ObjectWaitOne::decode(&[1, 2, u64::MAX, 0, 0, 0, 0, 0]);
    assert_eq!(decoded.deadline, -1);
    assert!(decoded.observed.optional().is_none(), "null is no output");
    // A u32 length with high bits set is its low bits, as in the C ABI.
    let mut w = world();
    assert_eq!(
        w.status(Syscall::ChannelCreate, &[0, w.scratch, w.scratch + 4]),
        Status::OK
    );
    let channel = w.u32_at(w.scratch) as u64;
    assert_eq!(
        w.status(Syscall::ChannelWrite, &[channel, 0, 0, 1 << 32, 0, 0]),
        Status::OK
    );
}

#[test]
fn the_vm_rules_check_options_then_handles_then_rights() {
    let mut w = world();
    let (bytes, handles) = (w.scratch + 1024, w.scratch + 2048);
    assert_eq!(
        w.status(
            Syscall::ChannelRead,
            &[w.bootstrap as u64, 0, bytes, handles, 1024, 16, 0, 0]
        ),
        Status::OK
    );
    let vmar = w.u32_at(handles + 12) as u64;
    let image = w.u32_at(handles + 16) as u64;
    let bogus = 0x7ead_beef_u64 | 3;
    let mapped = w.scratch + 8;
    let (read, write, execute) = (
        VM_PERM_READ as u64,
        VM_PERM_WRITE as u64,
        VM_PERM_EXECUTE as u64,
    );
    // Bad options come first, whatever the handles.
    for options in [1 << 20, write, execute, read | write | execute] {
        assert_eq!(
            w.status(
                Syscall::VmarMap,
                &[bogus, options, 0, bogus, 0, 4096, mapped]
            ),
            Status::INVALID_ARGS,
            "map {options:#x}"
        );
        assert_eq!(
            w.status(Syscall::VmarProtect, &[bogus, options, 0x10_0000, 4096]),
            Status::INVALID_ARGS,
            "protect {options:#x}"
        );
    }
    // VM_SPECIFIC is a map option, not a protect one.
    assert_eq!(
        w.status(
            Syscall::VmarProtect,
            &[vmar, read | (1 << 10), 0x10_0000, 4096]
        ),
        Status::INVALID_ARGS
    );
    // Then the VMAR handle, then the VMO handle.
    assert_eq!(
        w.status(Syscall::VmarMap, &[bogus, read, 0, image, 0, 4096, mapped]),
        Status::BAD_HANDLE
    );
    assert_eq!(
        w.status(Syscall::VmarMap, &[vmar, read, 0, bogus, 0, 4096, mapped]),
        Status::BAD_HANDLE
    );
    // The boot image's handle lacks WRITE: no writable mapping of it, but
    // a readable and an executable one.
    assert_eq!(
        w.status(
            Syscall::VmarMap,
            &[vmar, read | write, 0, image, 0, 4096, mapped]
        ),
        Status::ACCESS_DENIED
    );
    assert_eq!(
        w.status(
            Syscall::VmarMap,
            &[vmar, read | execute, 0, image, 0, 4096, mapped]
        ),
        Status::OK
    );
    let address = u64::from_le_bytes(w.read(mapped, 8).try_into().unwrap());
    // And protect cannot grant what the handle lacked.
    assert_eq!(
        w.status(Syscall::VmarProtect, &[vmar, read | write, address, 4096]),
        Status::ACCESS_DENIED
    );
    assert_eq!(
        w.status(Syscall::VmarProtect, &[vmar, read, address, 4096]),
        Status::OK
    );
    // vmo_read needs READ, vmo_write WRITE.
    assert_eq!(
        w.status(Syscall::VmoWrite, &[image, w.scratch, 0, 4]),
        Status::ACCESS_DENIED
    );
    assert_eq!(
        w.status(Syscall::VmoRead, &[image, w.scratch, 0, 4]),
        Status::OK
    );
}

/// `INFO_PROCESS_MAPS` records decoded from the caller's memory.
fn maps_at(w: &World, buffer: u64, count: usize) -> Vec<spinel_abi::InfoMapsEntry> {
    use spinel_abi::InfoMapsEntry;
    let bytes = w.read(buffer, count * InfoMapsEntry::SIZE);
    bytes
        .chunks_exact(InfoMapsEntry::SIZE)
        .map(|c| InfoMapsEntry::from_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn process_maps_list_what_is_mapped_as_it_is_mapped() {
    use spinel_abi::InfoMapsEntry;
    use spinel_abi::info::PROP_NAME;
    use spinel_abi::info::{INFO_MAPS_TYPE_MAPPING, INFO_PROCESS_MAPS};
    let mut w = world();
    let (bytes, handles) = (w.scratch + 1024, w.scratch + 2048);
    assert_eq!(
        w.status(
            Syscall::ChannelRead,
            &[w.bootstrap as u64, 0, bytes, handles, 1024, 16, 0, 0]
        ),
        Status::OK
    );
    let (process, thread, vmar) = (
        w.u32_at(handles + 4) as u64,
        w.u32_at(handles + 8) as u64,
        w.u32_at(handles + 12) as u64,
    );
    let (actual, avail, buffer) = (w.scratch + 16, w.scratch + 24, w.scratch + 3072);
    let maps = INFO_PROCESS_MAPS as u64;
    // What the loader mapped: init's text and its stack.
    assert_eq!(
        w.status(
            Syscall::ObjectGetInfo,
            &[process, maps, 0, 0, actual, avail]
        ),
        Status::OK
    );
    let before = w.u32_at(avail) as usize;
    assert!(before >= 2, "text and stack: {before}");
    assert_eq!(w.u32_at(actual), 0);
    // A named VMO of 3 pages, one page written, mapped read-write at a
    // known address.
    let out = w.scratch + 32;
    assert_eq!(
        w.status(Syscall::VmoCreate, &[3 * 4096, 0, out]),
        Status::OK
    );
    let vmo = w.u32_at(out) as u64;
    w.system
        .space(w.system.objects.thread_process(w.thread).unwrap())
        .unwrap()
        .write(w.scratch + 100, b"heap", spinel_vm::Access::Write)
        .unwrap();
    assert_eq!(
        w.status(
            Syscall::ObjectSetProperty,
            &[vmo, PROP_NAME as u64, w.scratch + 100, 4]
        ),
        Status::OK
    );
    assert_eq!(
        w.status(Syscall::VmoWrite, &[vmo, w.scratch + 100, 4096, 4]),
        Status::OK
    );
    let at = 0x4000_0000u64;
    let rw = (VM_PERM_READ | VM_PERM_WRITE) as u64;
    assert_eq!(
        w.status(
            Syscall::VmarMap,
            &[vmar, rw | (1 << 10), at, vmo, 0, 3 * 4096, out]
        ),
        Status::OK
    );
    let info = spinel_abi::HandleBasicInfo::SIZE as u64;
    assert_eq!(
        w.status(
            Syscall::ObjectGetInfo,
            &[vmo, 2, w.scratch + 40, info, 0, 0]
        ),
        Status::OK
    );
    let vmo_koid = u64::from_le_bytes(w.read(w.scratch + 40, 8).try_into().unwrap());
    let size = 16 * InfoMapsEntry::SIZE as u64;
    assert_eq!(
        w.status(
            Syscall::ObjectGetInfo,
            &[process, maps, buffer, size, actual, avail]
        ),
        Status::OK
    );
    let n = w.u32_at(actual) as usize;
    assert_eq!((n, w.u32_at(avail) as usize), (before + 1, before + 1));
    let list = maps_at(&w, buffer, n);
    assert!(
        list.windows(2).all(|p| p[0].base + p[0].size <= p[1].base),
        "address order"
    );
    let heap = *list.iter().find(|m| m.base == at).unwrap();
    assert_eq!(heap.name_bytes(), b"heap");
    assert_eq!(
        (heap.size, heap.depth, heap.kind, heap.mmu_flags),
        (
            3 * 4096,
            1,
            INFO_MAPS_TYPE_MAPPING,
            VM_PERM_READ | VM_PERM_WRITE
        )
    );
    assert_eq!(
        (heap.vmo_koid, heap.vmo_offset, heap.committed_bytes),
        (vmo_koid, 0, 4096)
    );
    assert!(
        list.iter()
            .any(|m| m.mmu_flags == VM_PERM_READ | VM_PERM_EXECUTE && m.base == w.text)
    );
    // Protect the middle page read-only: the mapping splits in three.
    assert_eq!(
        w.status(
            Syscall::VmarProtect,
            &[vmar, VM_PERM_READ as u64, at + 4096, 4096]
        ),
        Status::OK
    );
    assert_eq!(
        w.status(
            Syscall::ObjectGetInfo,
            &[process, maps, buffer, size, actual, avail]
        ),
        Status::OK
    );
    let list = maps_at(&w, buffer, w.u32_at(actual) as usize);
    let heap: Vec<_> = list.iter().filter(|m| m.vmo_koid == vmo_koid).collect();
    assert_eq!(heap.len(), 3);
    assert_eq!(
        heap.iter()
            .map(|m| (m.base, m.mmu_flags, m.vmo_offset, m.committed_bytes))
            .collect::<Vec<_>>(),
        [
            (at, VM_PERM_READ | VM_PERM_WRITE, 0, 0),
            (at + 4096, VM_PERM_READ, 4096, 4096),
            (at + 8192, VM_PERM_READ | VM_PERM_WRITE, 8192, 0),
        ]
    );
    // The name and koid outlive the VMO's last handle; the mapping keeps it.
    assert_eq!(w.status(Syscall::HandleClose, &[vmo]), Status::OK);
    // A buffer for one record: one written, all counted; no error.
    let one = InfoMapsEntry::SIZE as u64;
    assert_eq!(
        w.status(
            Syscall::ObjectGetInfo,
            &[process, maps, buffer, one + 87, actual, avail]
        ),
        Status::OK
    );
    assert_eq!(
        (w.u32_at(actual), w.u32_at(avail) as usize),
        (1, before + 3)
    );
    // Unmapped: gone.
    assert_eq!(
        w.status(Syscall::VmarUnmap, &[vmar, at, 3 * 4096]),
        Status::OK
    );
    assert_eq!(
        w.status(
            Syscall::ObjectGetInfo,
            &[process, maps, buffer, size, actual, avail]
        ),
        Status::OK
    );
    let list = maps_at(&w, buffer, w.u32_at(actual) as usize);
    assert_eq!(list.len(), before);
    assert!(list.iter().all(|m| m.vmo_koid != vmo_koid));
    // The rules: a bad handle, a thread, a process handle without INSPECT.
    assert_eq!(
        w.status(
            Syscall::ObjectGetInfo,
            &[0x7ead_beef | 3, maps, buffer, size, actual, avail]
        ),
        Status::BAD_HANDLE
    );
    assert_eq!(
        w.status(
            Syscall::ObjectGetInfo,
            &[thread, maps, buffer, size, actual, avail]
        ),
        Status::WRONG_TYPE
    );
    let inspectless = spinel_abi::Rights::DEFAULT_PROCESS.difference(spinel_abi::Rights::INSPECT);
    assert_eq!(
        w.status(
            Syscall::HandleDuplicate,
            &[process, inspectless.bits() as u64, out]
        ),
        Status::OK
    );
    let weak = w.u32_at(out) as u64;
    assert_eq!(
        w.status(
            Syscall::ObjectGetInfo,
            &[weak, maps, buffer, size, actual, avail]
        ),
        Status::ACCESS_DENIED
    );
    // Bad output pointers, before anything is written.
    for bad in BAD_POINTERS.into_iter().filter(|&p| p != 0) {
        assert_eq!(
            w.status(
                Syscall::ObjectGetInfo,
                &[process, maps, bad, size, actual, avail]
            ),
            Status::INVALID_ARGS,
            "buffer {bad:#x}"
        );
        assert_eq!(
            w.status(
                Syscall::ObjectGetInfo,
                &[process, maps, buffer, size, bad, avail]
            ),
            Status::INVALID_ARGS,
            "actual {bad:#x}"
        );
    }
}

#[test]
fn fp_registers_are_ruled_like_the_general_ones_and_reach_the_glue() {
    use spinel_abi::thread::{THREAD_STATE_FP_REGS, THREAD_STATE_VECTOR_REGS};
    let mut w = world();
    let (bytes, handles) = (w.scratch + 1024, w.scratch + 2048);
    assert_eq!(
        w.status(
            Syscall::ChannelRead,
            &[w.bootstrap as u64, 0, bytes, handles, 1024, 16, 0, 0]
        ),
        Status::OK
    );
    let (process, vmar) = (w.u32_at(handles + 4) as u64, w.u32_at(handles + 12) as u64);
    let out = w.scratch + 8;
    assert_eq!(
        w.status(Syscall::ThreadCreate, &[process, w.scratch, 1, 0, out]),
        Status::OK
    );
    let thread = w.u32_at(out) as u64;
    let koid = {
        let info = spinel_abi::HandleBasicInfo::SIZE as u64;
        assert_eq!(
            w.status(
                Syscall::ObjectGetInfo,
                &[thread, 2, w.scratch + 16, info, 0, 0]
            ),
            Status::OK
        );
        u64::from_le_bytes(w.read(w.scratch + 16, 8).try_into().unwrap())
    };
    let fp = THREAD_STATE_FP_REGS as u64;
    let buffer = w.scratch + 3072;
    let size = FP_SIZE as u64;
    // Not started, then running: BAD_STATE, as for the general registers.
    assert_eq!(
        w.status(Syscall::ThreadReadState, &[thread, fp, buffer, size]),
        Status::BAD_STATE
    );
    assert_eq!(
        w.status(
            Syscall::ThreadStart,
            &[thread, w.text, w.scratch + 4096, 0, 0]
        ),
        Status::OK
    );
    w.system.objects.take_effects();
    assert_eq!(
        w.status(Syscall::ThreadReadState, &[thread, fp, buffer, size]),
        Status::BAD_STATE
    );
    assert_eq!(
        w.status(Syscall::ThreadWriteState, &[thread, fp, buffer, size]),
        Status::BAD_STATE
    );
    // Suspended: readable and writable.
    assert_eq!(w.status(Syscall::TaskSuspend, &[thread, out]), Status::OK);
    w.system.objects.take_effects();
    let image: Vec<u8> = (0..FP_SIZE).map(|i| (i % 251) as u8 + 1).collect();
    w.system
        .space(w.system.objects.thread_process(w.thread).unwrap())
        .unwrap()
        .write(buffer, &image, spinel_vm::Access::Write)
        .unwrap();
    assert_eq!(
        w.status(Syscall::ThreadWriteState, &[thread, fp, buffer, size]),
        Status::OK
    );
    assert_eq!(
        w.devices.fp.lock().unwrap()[&koid],
        image,
        "the glue has it"
    );
    let back = buffer + 1024;
    assert_eq!(
        w.status(Syscall::ThreadReadState, &[thread, fp, back, size + 100]),
        Status::OK
    );
    assert_eq!(w.read(back, FP_SIZE), image);
    // Sizes: a short buffer, a write of the wrong size, a refused value.
    assert_eq!(
        w.status(Syscall::ThreadReadState, &[thread, fp, back, size - 1]),
        Status::BUFFER_TOO_SMALL
    );
    assert_eq!(
        w.status(Syscall::ThreadWriteState, &[thread, fp, buffer, size - 16]),
        Status::INVALID_ARGS
    );
    w.system
        .space(w.system.objects.thread_process(w.thread).unwrap())
        .unwrap()
        .write(buffer, &[0xff], spinel_vm::Access::Write)
        .unwrap();
    assert_eq!(
        w.status(Syscall::ThreadWriteState, &[thread, fp, buffer, size]),
        Status::INVALID_ARGS
    );
    assert_eq!(w.devices.fp.lock().unwrap()[&koid], image, "unchanged");
    // Vector registers stay unsupported.
    let vector = THREAD_STATE_VECTOR_REGS as u64;
    assert_eq!(
        w.status(Syscall::ThreadReadState, &[thread, vector, back, size]),
        Status::NOT_SUPPORTED
    );
    // Handles: bad, of the wrong type, without READ / WRITE.
    assert_eq!(
        w.status(Syscall::ThreadReadState, &[0x7ead_beef | 3, fp, back, size]),
        Status::BAD_HANDLE
    );
    assert_eq!(
        w.status(Syscall::ThreadReadState, &[vmar, fp, back, size]),
        Status::WRONG_TYPE
    );
    let rights = spinel_abi::Rights::DEFAULT_THREAD;
    for (call, missing) in [
        (Syscall::ThreadReadState, spinel_abi::Rights::READ),
        (Syscall::ThreadWriteState, spinel_abi::Rights::WRITE),
    ] {
        assert_eq!(
            w.status(
                Syscall::HandleDuplicate,
                &[thread, rights.difference(missing).bits() as u64, out]
            ),
            Status::OK
        );
        let weak = w.u32_at(out) as u64;
        assert_eq!(
            w.status(call, &[weak, fp, buffer, size]),
            Status::ACCESS_DENIED,
            "{call:?}"
        );
    }
    // Bad buffers.
    for bad in BAD_POINTERS.into_iter().filter(|&p| p != 0) {
        assert_eq!(
            w.status(Syscall::ThreadReadState, &[thread, fp, bad, size]),
            Status::INVALID_ARGS,
            "read into {bad:#x}"
        );
        assert_eq!(
            w.status(Syscall::ThreadWriteState, &[thread, fp, bad, size]),
            Status::INVALID_ARGS,
            "write from {bad:#x}"
        );
    }
}
