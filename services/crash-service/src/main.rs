//! crash-service: Spinel's crash service (as Zircon's crashsvc).
//!
//! init starts it first, in every mode, with the root job (`TAG_JOB`), the
//! boot image (`TAG_BOOT_IMAGE`), its VMAR and an event (`TAG_USER`) it
//! signals once it holds the **root job's exception channel**. It then sees
//! exactly the exceptions no debugger, thread, process or job handler took;
//! for each it dumps the process (`dump`): an ELF core Linux's way, a text
//! and a JSON report, sent to the host as files on the console
//! (`transport`), and the backtrace as symbolizer markup on the console
//! (`report`). Then it closes the exception unhandled: the next handler
//! (the system port, if bound) or the kernel's kill (-1028) follows.
//!
//! Rules: it never dies because of its target (every read of the target
//! may fail, and the dump goes on without that piece); it costs nothing
//! until a crash (it sleeps on the channel); it allocates per crash, in
//! bounded pieces, and frees everything before the next one; no `unsafe`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod dump;
mod report;
mod transport;

use alloc::collections::BTreeMap;
use alloc::string::String;

use spinel_rt::launch::BootImage;
use spinel_rt::println;
use spinel_rt::startup::Startup;
use spinel_rt::zx::abi::bootstrap::{TAG_BOOT_IMAGE, TAG_JOB, TAG_USER, TAG_VMAR_ROOT};
use spinel_rt::zx::{
    self, Exception, HandleBased, Job, ObjectCalls, Rights, Signals, Task, Vmar, Vmo,
};

spinel_rt::entry!(main);

/// A handle's name (a process's is its program's).
pub fn name_of<T: HandleBased>(handle: &T) -> String {
    match handle.get_name() {
        Ok(name) => {
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            String::from_utf8_lossy(&name[..end]).into_owned()
        }
        Err(_) => String::new(),
    }
}

/// The programs of the boot image, each ELF mapped read-only once.
struct BootPrograms {
    image: BootImage,
    vmar: Vmar,
    mapped: BTreeMap<String, Option<&'static [u8]>>,
}

impl dump::Programs for BootPrograms {
    fn elf(&mut self, name: &str) -> Option<&'static [u8]> {
        if let Some(elf) = self.mapped.get(name) {
            return *elf;
        }
        let elf = self.image.find(name).ok().and_then(|file| {
            spinel_rt::heap::map_read_only(
                &self.vmar,
                &self.image.vmo,
                file.offset,
                file.len as usize,
            )
            .ok()
        });
        self.mapped.insert(String::from(name), elf);
        elf
    }
}

fn main(args: spinel_rt::StartArgs) -> i64 {
    let mut startup = Startup::from_start(args.bootstrap);
    let (Some(job), Some(image), Some(vmar)) = (
        startup.take_typed::<Job>(TAG_JOB),
        startup.take_typed::<Vmo>(TAG_BOOT_IMAGE),
        startup.take_typed::<Vmar>(TAG_VMAR_ROOT),
    ) else {
        println!("crash-service: needs the root job, the boot image and its VMAR");
        return 1;
    };
    // DWARF work needs more than the 256 KiB every program starts with.
    if let Ok(copy) = vmar.duplicate(Rights::SAME_RIGHTS) {
        spinel_rt::heap::grow_on_demand(copy);
    }
    let channel = match job.create_exception_channel(0) {
        Ok(channel) => channel,
        Err(status) => {
            println!("crash-service: cannot hold the root job's exception channel: {status:?}");
            return 1;
        }
    };
    if let Some(ready) = startup.take_typed::<zx::Event>(TAG_USER) {
        let _ = ready.signal(Signals::NONE, Signals::USER_SIGNAL_0);
    }
    let mut programs = BootPrograms {
        image: BootImage::new(image),
        vmar,
        mapped: BTreeMap::new(),
    };
    let mut next_id = 0u64;
    loop {
        match channel.wait_exception(zx::TIME_INFINITE) {
            Ok((info, exception)) => {
                handle(&exception, info.exception_type, &mut programs, &mut next_id);
                // Closing it unhandled passes it on (TRY_NEXT).
                drop(exception);
            }
            Err(status) => {
                println!("crash-service: the root job's exception channel failed: {status:?}");
                return 1;
            }
        }
    }
}

fn handle(
    exception: &Exception,
    exception_type: u32,
    programs: &mut BootPrograms,
    next_id: &mut u64,
) {
    if zx::abi::exception::is_synthetic(exception_type) {
        return;
    }
    dump::dump(exception, programs, next_id);
}
