//! Boot: the PVH entry, the switch to long mode, and the hand-over to the
//! kernel.
//!
//! QEMU's `-kernel` loads this ELF at its physical (load) addresses and, having
//! found the `.note.Xen` PHYS32_ENTRY note, jumps to `spinel_x86_64_pvh_entry`
//! in 32-bit protected mode with paging off and `ebx` holding the physical
//! address of the `hvm_start_info`. The 32-bit code builds just enough page
//! tables to run the kernel where it is linked (the top 2 GiB), enters long
//! mode and calls [`boot_main`], which sets up the CPU tables, the final page
//! tables and [`BootInfo`], then calls the kernel's `spinel_kernel_main`.

use core::fmt::Write;

use spinel_hal_api::{BootInfo, MAX_REGIONS, MemoryKind, MemoryRegion, PAGE_SIZE, PhysAddr};

use crate::cell::{CpuLocal, Stack};
use crate::paging::{self, KERNEL_VIRTUAL_OFFSET};
use crate::{cpu, serial, timer};

/// `hvm_start_info.magic` (Xen's `arch-x86/hvm/start_info.h`).
const START_INFO_MAGIC: u32 = 0x336e_c578;
/// `hvm_memmap_table_entry.type` for usable RAM (the E820 numbering).
const E820_RAM: u32 = 1;
/// Memory below 1 MiB holds the real-mode interrupt table, the BIOS data
/// and firmware, and is where QEMU puts the start info: it is never handed
/// to the kernel.
const LOW_MEMORY_END: u64 = 0x10_0000;

/// Size of the boot thread's stack, which the kernel keeps using as its
/// first thread.
const BOOT_STACK_SIZE: usize = 64 * 1024;
/// The boot stack, plus one page below it that [`paging`] leaves unmapped so
/// that an overflow faults (and ends in the double-fault report) instead of
/// overwriting whatever lies below.
pub(crate) static BOOT_STACK: CpuLocal<Stack<{ BOOT_STACK_SIZE + PAGE_SIZE }>> =
    CpuLocal::new(Stack::new());

// The PVH note and the 32-bit entry. Only absolute addresses are available
// until paging is on, so every symbol is used as `symbol - KERNEL_OFFSET`,
// its physical address, which the linker resolves as a 32-bit value.
core::arch::global_asm!(
    r#"
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                     // name size ("Xen\0")
    .long 4                     // descriptor size
    .long 18                    // XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .long spinel_x86_64_pvh_entry - {offset}
    .balign 4

    // A GDT just for the jump into long mode; cpu::init loads the real one.
    .section .rodata.spinel_boot_gdt, "a"
    .balign 16
spinel_x86_64_boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    // 0x08: 64-bit code, ring 0
    .quad 0x00cf92000000ffff    // 0x10: data, ring 0
spinel_x86_64_boot_gdt_pointer:
    .word 3 * 8 - 1
    .long spinel_x86_64_boot_gdt - {offset}

    .section .text.spinel_boot32, "ax"
    .code32
    .global spinel_x86_64_pvh_entry
    .type spinel_x86_64_pvh_entry, @function
spinel_x86_64_pvh_entry:
    cli
    cld
    // One page directory of 2 MiB pages maps the first GiB. It is reached
    // three ways: identity (PML4[0], to survive the switch to long mode),
    // the direct map (PML4[256]) and the kernel's link address
    // (PML4[511], PDPT[510]). paging::init replaces all three.
    mov eax, offset {pdpt_low} - {offset} + 0x3      // present | writable
    mov dword ptr [{pml4} - {offset}], eax
    mov dword ptr [{pml4} - {offset} + 256 * 8], eax
    mov eax, offset {pdpt_high} - {offset} + 0x3
    mov dword ptr [{pml4} - {offset} + 511 * 8], eax
    mov eax, offset {pd} - {offset} + 0x3
    mov dword ptr [{pdpt_low} - {offset}], eax
    mov dword ptr [{pdpt_high} - {offset} + 510 * 8], eax
    mov edi, offset {pd} - {offset}
    mov eax, 0x83                                    // present | writable | 2 MiB
    mov ecx, 512
2:
    mov dword ptr [edi], eax
    add eax, 0x200000
    add edi, 8
    dec ecx
    jnz 2b

    mov eax, cr4
    or eax, 1 << 5                                   // PAE
    mov cr4, eax
    mov eax, offset {pml4} - {offset}
    mov cr3, eax
    mov ecx, 0xc0000080                              // EFER
    rdmsr
    or eax, (1 << 0) | (1 << 8) | (1 << 11)          // SCE | LME | NXE
    wrmsr
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16) | (1 << 0)         // PG | WP | PE
    mov cr0, eax

    lgdt [spinel_x86_64_boot_gdt_pointer - {offset}]
    // Far return into the 64-bit code segment (a far jump needs an
    // absolute operand too; this keeps the operand sizes explicit).
    mov eax, offset spinel_x86_64_boot64_low - {offset}
    mov ecx, 0x08
    push ecx
    push eax
    retf

    .code64
spinel_x86_64_boot64_low:
    // Long mode, still running at the physical address through the
    // identity mapping: jump to the link address.
    movabs rax, offset spinel_x86_64_boot64_high
    jmp rax
spinel_x86_64_boot64_high:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    lea rsp, [rip + {stack} + {stack_size}]
    xor ebp, ebp                                     // ends frame-pointer walks
    mov edi, ebx
    call {boot_main}
    ud2
    .size spinel_x86_64_pvh_entry, . - spinel_x86_64_pvh_entry
    "#,
    offset = const KERNEL_VIRTUAL_OFFSET,
    pml4 = sym paging::KERNEL_PML4,
    pdpt_low = sym paging::BOOT_PDPT_LOW,
    pdpt_high = sym paging::KERNEL_PDPT_HIGH,
    pd = sym paging::BOOT_PD,
    stack = sym BOOT_STACK,
    stack_size = const BOOT_STACK_SIZE + PAGE_SIZE,
    boot_main = sym boot_main,
);

unsafe extern "Rust" {
    /// The kernel image's entry, declared with `spinel_hal_api::kernel_entry!`.
    safe fn spinel_kernel_main(info: &'static BootInfo) -> !;
}

/// `struct hvm_start_info` (version 1).
#[repr(C)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    module_count: u32,
    module_list: u64,
    cmdline: u64,
    rsdp: u64,
    memory_map: u64,
    memory_map_entries: u32,
    reserved: u32,
}

/// `struct hvm_memmap_table_entry`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct MemoryMapEntry {
    address: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

const MAX_FIRMWARE_ENTRIES: usize = 128;
const CMDLINE_CAPACITY: usize = 1024;

static BOOT_INFO: CpuLocal<BootInfo> = CpuLocal::new(BootInfo {
    source: "PVH start info",
    regions: [MemoryRegion {
        start: PhysAddr(0),
        len: 0,
        kind: MemoryKind::Reserved,
    }; MAX_REGIONS],
    region_count: 0,
    kernel_start: PhysAddr(0),
    kernel_end: PhysAddr(0),
    cmdline: "",
});
static CMDLINE: CpuLocal<[u8; CMDLINE_CAPACITY]> = CpuLocal::new([0; CMDLINE_CAPACITY]);

/// First Rust code, on the boot stack, in long mode, with the first GiB of
/// physical memory reachable through the direct map.
extern "C" fn boot_main(start_info: u32) -> ! {
    timer::record_boot_time();
    cpu::init();

    // The start info and everything it points to lie in the first GiB,
    // which the boot tables map.
    let (entries, entry_count, cmdline) = read_start_info(PhysAddr(start_info.into()));
    let entries = &entries[..entry_count];
    let ram_end = entries
        .iter()
        .filter(|e| e.kind == E820_RAM)
        .map(|e| e.address + e.size)
        .max()
        .unwrap_or(0);
    let mapped_end = paging::init(ram_end);
    timer::init();

    // SAFETY: single-threaded boot, interrupts off: nothing else refers to
    // BOOT_INFO until it is handed to the kernel below, read-only.
    let info = unsafe { &mut *BOOT_INFO.get() };
    info.kernel_start = paging::kernel_physical_start();
    info.kernel_end = paging::kernel_physical_end();
    info.cmdline = cmdline;
    build_regions(info, entries, mapped_end);

    serial::probe_debug_link();
    spinel_kernel_main(info)
}

/// Copy what the kernel needs out of the start info: the memory map and the
/// command line (into [`CMDLINE`]), so that low memory holds nothing the HAL
/// still uses.
fn read_start_info(
    start_info: PhysAddr,
) -> ([MemoryMapEntry; MAX_FIRMWARE_ENTRIES], usize, &'static str) {
    let pointer = paging::phys_to_virt(start_info).as_u64() as *const StartInfo;
    // SAFETY: QEMU passed the start info's address in ebx; it lies in low
    // memory, which the boot tables map through the direct map.
    let start = unsafe { pointer.read() };
    if start.magic != START_INFO_MAGIC || start.version < 1 {
        boot_failure("no PVH start info (version 1) in ebx");
    }

    let mut entries = [MemoryMapEntry::default(); MAX_FIRMWARE_ENTRIES];
    let count = (start.memory_map_entries as usize).min(MAX_FIRMWARE_ENTRIES);
    let table = paging::phys_to_virt(PhysAddr(start.memory_map)).as_u64() as *const MemoryMapEntry;
    for (index, entry) in entries[..count].iter_mut().enumerate() {
        // SAFETY: the start info says the table has `memory_map_entries`
        // entries at `memory_map`, in low memory.
        *entry = unsafe { table.add(index).read() };
    }

    let cmdline = if start.cmdline == 0 {
        ""
    } else {
        // SAFETY: single-threaded boot; CMDLINE is written here once and
        // only read afterwards, through the returned `&'static str`.
        let buffer = unsafe { &mut *CMDLINE.get() };
        let source = paging::phys_to_virt(PhysAddr(start.cmdline)).as_u64() as *const u8;
        let mut length = 0;
        while length < CMDLINE_CAPACITY {
            // SAFETY: the command line is a NUL-terminated string in low
            // memory; reading stops at the NUL or at the buffer's end.
            let byte = unsafe { source.add(length).read() };
            if byte == 0 {
                break;
            }
            buffer[length] = byte;
            length += 1;
        }
        let bytes = &buffer[..length];
        match core::str::from_utf8(bytes) {
            Ok(text) => text,
            // Keep the valid prefix rather than nothing.
            Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or(""),
        }
    };
    (entries, count, cmdline)
}

/// Turn the firmware map into [`BootInfo::regions`]: sorted, usable regions
/// page aligned and excluding low memory, the kernel image (which holds all
/// the HAL's own tables and stacks) and RAM beyond the direct map.
fn build_regions(info: &mut BootInfo, entries: &[MemoryMapEntry], mapped_end: u64) {
    let kernel = (info.kernel_start.as_u64(), info.kernel_end.as_u64());
    let mut count = 0;
    let mut push = |start: u64, end: u64, kind: MemoryKind| {
        let (start, end) = if kind == MemoryKind::Usable {
            (align_up(start), end & !(PAGE_SIZE as u64 - 1))
        } else {
            (start, end)
        };
        if start >= end {
            return;
        }
        if count == MAX_REGIONS {
            let _ = writeln!(serial::Console, "x86_64 HAL: memory map truncated");
            return;
        }
        info.regions[count] = MemoryRegion {
            start: PhysAddr(start),
            len: end - start,
            kind,
        };
        count += 1;
    };

    for entry in entries {
        let (start, end) = (entry.address, entry.address.saturating_add(entry.size));
        if entry.kind != E820_RAM {
            push(start, end, MemoryKind::Reserved);
            continue;
        }
        // Cut the RAM range at every boundary that changes its kind.
        let mut cuts = [start, LOW_MEMORY_END, kernel.0, kernel.1, mapped_end, end];
        cuts.sort_unstable();
        for pair in cuts.windows(2) {
            let (piece_start, piece_end) = (pair[0].max(start), pair[1].min(end));
            if piece_start >= piece_end {
                continue;
            }
            let kind = if piece_end <= LOW_MEMORY_END || piece_start >= mapped_end {
                MemoryKind::Reserved
            } else if piece_start >= kernel.0 && piece_end <= kernel.1 {
                MemoryKind::KernelAndBoot
            } else {
                MemoryKind::Usable
            };
            push(piece_start, piece_end, kind);
        }
    }
    info.region_count = count;
    info.regions[..count].sort_unstable_by_key(|region| region.start);
}

fn align_up(address: u64) -> u64 {
    address.next_multiple_of(PAGE_SIZE as u64)
}

/// Nothing can continue: say why and stop.
pub(crate) fn boot_failure(reason: &str) -> ! {
    let _ = writeln!(serial::Console, "x86_64 HAL: boot failed: {reason}");
    crate::power_off(spinel_hal_api::ExitCode::Failure)
}
