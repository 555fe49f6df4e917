//! From reset to `spinel_kernel_main`.
//!
//! QEMU loads the ELF at its physical addresses and enters
//! `spinel_boot_start` (the ELF entry is its physical address) at EL1, or at
//! EL2 with `virtualization=on`, with the MMU off. The assembly below:
//!
//! 1. drops from EL2 to EL1 if needed;
//! 2. enables FP/SIMD (the compiler uses NEON registers everywhere);
//! 3. zeroes the boot tables (the rest of .bss once the MMU is on);
//! 4. builds tiny boot tables out of 1 GiB blocks: an identity map of the
//!    gigabyte holding the kernel (TTBR0), the same gigabyte at
//!    `KERNEL_OFFSET` and in the direct map, and the first gigabyte (the
//!    devices) in the direct map as Device memory (TTBR1);
//! 5. turns the MMU on, jumps to the link address, installs the exception
//!    vectors and calls [`boot_main`] on the boot stack.
//!
//! `boot_main` then brings up the console, reads the device tree, replaces
//! the boot tables by the final kernel half and calls the kernel.

use crate::{cpu, devicetree, mmu, pl011, timer};
use core::fmt::Write;
use spinel_hal_api::{BootInfo, ExitCode};

/// Bytes of the boot stack (the kernel's first thread keeps running on it).
pub const BOOT_STACK_SIZE: usize = 128 * 1024;

core::arch::global_asm!(
    r#"
    .section .text.boot, "ax"
    .balign 4
    .global spinel_boot_start
spinel_boot_start:
    .cfi_startproc
    .cfi_undefined x30                  // the root of every backtrace
    // Exception level: continue at EL1, leave EL2, refuse anything else.
    mrs     x9, CurrentEL
    ubfx    x9, x9, #2, #2
    cmp     x9, #1
    b.eq    1f
    cmp     x9, #2
    b.ne    9f

    // EL2 -> EL1: EL1 is AArch64 (HCR_EL2.RW), may use the physical counter
    // and timer (CNTHCTL_EL2.EL1PCTEN/EL1PCEN), no virtual offset, no FP or
    // system-register traps to EL2.
    mov     x9, #(1 << 31)
    msr     hcr_el2, x9
    mrs     x9, cnthctl_el2
    orr     x9, x9, #3
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    mov     x9, #0x33ff
    msr     cptr_el2, x9
    msr     hstr_el2, xzr
    ldr     x9, ={sctlr_mmu_off}
    msr     sctlr_el1, x9
    mov     x9, #0x3c5                  // EL1h, D A I F masked
    msr     spsr_el2, x9
    adr     x9, 1f
    msr     elr_el2, x9
    eret

1:  // EL1, MMU off. FP/SIMD first: compiled code uses NEON registers.
    mov     x9, #(3 << 20)              // CPACR_EL1.FPEN = 0b11
    msr     cpacr_el1, x9
    isb

    // Zero the boot tables (addresses are PC-relative, hence physical
    // here); the rest of .bss waits for the MMU, when DC ZVA can do it.
    adrp    x9, __spinel_boot_tables_start
    add     x9, x9, :lo12:__spinel_boot_tables_start
    adrp    x10, __spinel_boot_tables_end
    add     x10, x10, :lo12:__spinel_boot_tables_end
2:  cmp     x9, x10
    b.hs    3f
    stp     xzr, xzr, [x9], #16
    b       2b
3:
    // Boot tables: x0 TTBR0 L0, x1 TTBR0 L1, x2 TTBR1 L0, x3 TTBR1 L1 for
    // the kernel image, x4 TTBR1 L1 for the direct map.
    adrp    x0, spinel_boot_tables
    add     x1, x0, #4096
    add     x2, x1, #4096
    add     x3, x2, #4096
    add     x4, x3, #4096
    orr     x9, x1, #3                  // valid table descriptors
    str     x9, [x0]                    // identity: L0[0]
    orr     x9, x3, #3
    str     x9, [x2]                    // KERNEL_OFFSET: L0[0]
    orr     x9, x4, #3
    str     x9, [x2, #(256 * 8)]        // DIRECT_MAP_BASE: L0[256]
    ldr     x9, ={block_device}
    str     x9, [x4]                    // devices: the first gigabyte
    adrp    x10, spinel_boot_start
    lsr     x11, x10, #30               // the kernel's gigabyte
    lsl     x12, x11, #30
    ldr     x9, ={block_ram}
    orr     x9, x9, x12
    str     x9, [x1, x11, lsl #3]
    str     x9, [x3, x11, lsl #3]
    str     x9, [x4, x11, lsl #3]

    // The tables were written with the MMU (and so the data cache) off:
    // drop any stale cache lines so the cacheable walks see them.
    mrs     x10, ctr_el0
    ubfx    x10, x10, #16, #4           // DminLine: log2(words per line)
    mov     x11, #4
    lsl     x10, x11, x10               // line size in bytes
    mov     x11, x0
    add     x12, x0, #(5 * 4096)
4:  dc      ivac, x11
    add     x11, x11, x10
    cmp     x11, x12
    b.lo    4b
    dsb     sy

    ldr     x9, ={mair}
    msr     mair_el1, x9
    ldr     x9, ={tcr}
    mrs     x10, id_aa64mmfr0_el1
    and     x10, x10, #0xf              // PARange
    mov     x11, #5                     // at most 48 bits (no LPA)
    cmp     x10, x11
    csel    x10, x10, x11, ls
    bfi     x9, x10, #32, #3            // TCR_EL1.IPS
    msr     tcr_el1, x9
    msr     ttbr0_el1, x0
    msr     ttbr1_el1, x2
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ldr     x9, ={sctlr}
    msr     sctlr_el1, x9
    isb

    // Continue at the link address, in the upper half.
    ldr     x9, =5f
    br      x9
5:  // Zero .bss (it holds the boot stack: nothing is on it yet), with
    // DC ZVA unless DCZID_EL0.DZP forbids it.
    ldr     x9, =__spinel_bss_start
    ldr     x10, =__spinel_bss_end
    mrs     x11, dczid_el0
    tbnz    x11, #4, 7f
    and     x11, x11, #0xf              // BS: log2(words per block)
    mov     x12, #4
    lsl     x11, x12, x11               // block size in bytes
6:  cmp     x9, x10
    b.hs    8f
    dc      zva, x9
    add     x9, x9, x11
    b       6b
7:  cmp     x9, x10
    b.hs    8f
    stp     xzr, xzr, [x9], #16
    b       7b
8:  ldr     x9, =spinel_boot_stack_top
    mov     sp, x9
    mov     x29, xzr
    mov     x30, xzr
    ldr     x9, =spinel_exception_vectors
    msr     vbar_el1, x9
    isb
    bl      {boot_main}

9:  wfe
    b       9b
    .cfi_endproc

    // Switch TTBR1 to `x0`; called at its *physical* address through the
    // identity map, so no TTBR1 translation is in use while the tables
    // change (no break-before-make problem). Touches no memory.
    .balign 4
    .global spinel_switch_ttbr1_identity
spinel_switch_ttbr1_identity:
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ret

    .section .bss.spinel_boot_tables, "aw", %nobits
    .balign 4096
spinel_boot_tables:
    .space  5 * 4096

    .section .bss.spinel_boot_stack, "aw", %nobits
    .balign 16
spinel_boot_stack:
    .space  {stack_size}
    .global spinel_boot_stack_top
spinel_boot_stack_top:
    "#,
    sctlr_mmu_off = const cpu::SCTLR_MMU_OFF,
    sctlr = const cpu::SCTLR_VALUE,
    mair = const cpu::MAIR_VALUE,
    tcr = const cpu::TCR_VALUE,
    block_ram = const mmu::BOOT_BLOCK_RAM,
    block_device = const mmu::BOOT_BLOCK_DEVICE,
    stack_size = const BOOT_STACK_SIZE,
    boot_main = sym boot_main,
);

unsafe extern "C" {
    fn spinel_switch_ttbr1_identity(ttbr1: u64);
}

unsafe extern "Rust" {
    fn spinel_kernel_main(info: &'static BootInfo) -> !;
}

/// Switch to the final kernel tables (`ttbr1`) and the empty user half.
pub fn switch_kernel_tables(ttbr1: u64, empty_ttbr0: u64) {
    let trampoline = spinel_switch_ttbr1_identity as *const () as u64 - mmu::KERNEL_OFFSET;
    // SAFETY: the boot identity map (TTBR0) still maps the kernel's
    // gigabyte, so the trampoline runs at its physical address; it only
    // writes TTBR1 and flushes the TLB, and the new tables map the kernel
    // image, stack and direct map at the same virtual addresses.
    unsafe {
        core::arch::asm!(
            "blr {trampoline}",
            trampoline = in(reg) trampoline,
            in("x0") ttbr1,
            clobber_abi("C"),
        );
    }
    // The identity map is no longer needed: from now on TTBR0 is user space
    // (ASID 0 = no process).
    aarch64_cpu::registers::TTBR0_EL1.set_baddr(empty_ttbr0);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    // SAFETY: TLB maintenance only.
    unsafe { core::arch::asm!("tlbi vmalle1", "dsb nsh", "isb", options(nostack)) };
}

static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

/// First Rust code: MMU on (boot tables), vectors installed, boot stack.
extern "C" fn boot_main() -> ! {
    pl011::init_console();
    timer::mark_boot();
    let machine = match devicetree::read() {
        Ok(machine) => machine,
        Err(why) => fatal_boot(why),
    };
    pl011::init_debug_link(machine.debug_uart);
    let image = mmu::image_bounds();
    let (ram, ram_count) = machine.ram_ranges();
    let (devices, device_count) = machine.device_ranges();
    if let Err(e) = mmu::init_kernel_space(&ram[..ram_count], &devices[..device_count]) {
        let mut console = pl011::console();
        let _ = writeln!(console, "boot: building the kernel tables failed: {e:?}");
        crate::power::off(ExitCode::Failure);
    }
    cpu::enable_pan();
    let info = BOOT_INFO.call_once(|| {
        machine.boot_info(
            image.start - mmu::KERNEL_OFFSET,
            image.end - mmu::KERNEL_OFFSET,
        )
    });
    // SAFETY: the kernel image defines `spinel_kernel_main` through
    // `kernel_entry!` with exactly this signature; console, memory map,
    // direct map and exception vectors are ready.
    unsafe { spinel_kernel_main(info) }
}

fn fatal_boot(why: &str) -> ! {
    let mut console = pl011::console();
    let _ = writeln!(console, "boot: {why}");
    crate::power::off(ExitCode::Failure)
}
