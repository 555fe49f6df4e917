//! CPU set-up: feature bits, control registers, the GDT and TSS, the IDT,
//! the `syscall` MSRs and the legacy PIC (remapped, then masked for good).

use core::arch::x86_64::__cpuid_count;
use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::PrivilegeLevel;
use x86_64::VirtAddr;
use x86_64::instructions::port::Port;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags, LStar, SFMask, Star};
use x86_64::registers::rflags::RFlags;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::structures::tss::TaskStateSegment;

use crate::cell::{CpuLocal, Stack};
use crate::entry;

// The GDT layout `syscall`/`sysret` demand: kernel code, kernel data, then
// user data and user code (sysret takes SS = base + 8, CS = base + 16).
pub(crate) const KERNEL_CODE_SELECTOR: u16 = 0x08;
pub(crate) const KERNEL_DATA_SELECTOR: u16 = 0x10;
pub(crate) const USER_DATA_SELECTOR: u16 = 0x18 | 3;
pub(crate) const USER_CODE_SELECTOR: u16 = 0x20 | 3;

/// Interrupt-stack-table slots (the x86_64 crate counts from 0 for IST1).
const DOUBLE_FAULT_IST: u16 = 0;
const NMI_IST: u16 = 1;
/// #DB needs its own stack: single-stepping a `syscall` raises #DB on the
/// first instruction of the syscall entry, in ring 0 but with the user's
/// stack pointer still loaded.
const DEBUG_IST: u16 = 2;
pub(crate) const IST_STACK_SIZE: usize = 16 * 1024;

/// Where the 8259 PICs' vectors go (they stay masked; this only keeps their
/// spurious interrupts away from the exception vectors).
pub(crate) const PIC_VECTOR_BASE: u8 = 0x30;

static GDT: CpuLocal<GlobalDescriptorTable> = CpuLocal::new(GlobalDescriptorTable::new());
static TSS: CpuLocal<TaskStateSegment> = CpuLocal::new(TaskStateSegment::new());
static IDT: CpuLocal<InterruptDescriptorTable> = CpuLocal::new(InterruptDescriptorTable::new());
static DOUBLE_FAULT_STACK: CpuLocal<Stack<IST_STACK_SIZE>> = CpuLocal::new(Stack::new());
static NMI_STACK: CpuLocal<Stack<IST_STACK_SIZE>> = CpuLocal::new(Stack::new());
/// The #DB stack; `entry.rs` moves frames of user-mode #DBs from it into
/// the thread's frame.
pub(crate) static DEBUG_STACK: CpuLocal<Stack<IST_STACK_SIZE>> = CpuLocal::new(Stack::new());

static HAS_1GIB_PAGES: AtomicBool = AtomicBool::new(false);

/// Whether the CPU maps 1 GiB pages (CPUID 0x8000_0001 EDX bit 26).
pub(crate) fn has_1gib_pages() -> bool {
    HAS_1GIB_PAGES.load(Ordering::Relaxed)
}

fn cpuid(leaf: u32, subleaf: u32) -> core::arch::x86_64::CpuidResult {
    __cpuid_count(leaf, subleaf)
}

/// Set up the CPU for the kernel. Runs once, first thing in `boot_main`.
pub(crate) fn init() {
    let max_leaf = cpuid(0, 0).eax;
    let leaf7 = if max_leaf >= 7 {
        cpuid(7, 0)
    } else {
        cpuid(0, 0)
    };
    let (smep, smap, umip) = if max_leaf >= 7 {
        (
            leaf7.ebx & (1 << 7) != 0,
            leaf7.ebx & (1 << 20) != 0,
            leaf7.ecx & (1 << 2) != 0,
        )
    } else {
        (false, false, false)
    };
    let gib_pages =
        cpuid(0x8000_0000, 0).eax >= 0x8000_0001 && cpuid(0x8000_0001, 0).edx & (1 << 26) != 0;
    HAS_1GIB_PAGES.store(gib_pages, Ordering::Relaxed);

    // SAFETY: these bits only add checks (WP, AM, SMEP, SMAP, UMIP) or
    // enable SSE state handling (MP/NE/OSFXSR/OSXMMEXCPT, no EM/TS); the
    // kernel never touches user memory through user addresses (SMAP) and
    // never runs user pages (SMEP).
    unsafe {
        Cr0::update(|flags| {
            flags.insert(
                Cr0Flags::MONITOR_COPROCESSOR
                    | Cr0Flags::NUMERIC_ERROR
                    | Cr0Flags::WRITE_PROTECT
                    // #AC for misaligned user accesses once a thread sets
                    // EFLAGS.AC: the trap becomes UnalignedAccess.
                    | Cr0Flags::ALIGNMENT_MASK,
            );
            flags.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        Cr4::update(|flags| {
            flags.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE);
            flags.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, smep);
            flags.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, smap);
            flags.set(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION, umip);
        });
        // Already set by the 32-bit entry; stated again here, where the
        // kernel's CPU state is described.
        Efer::update(|flags| {
            flags.insert(EferFlags::SYSTEM_CALL_EXTENSIONS | EferFlags::NO_EXECUTE_ENABLE)
        });
    }

    load_gdt();
    load_idt();
    init_syscall();
    disable_pic();
}

fn load_gdt() {
    // SAFETY: single-threaded boot: nothing else refers to TSS or GDT yet.
    let (tss, gdt) = unsafe { (&mut *TSS.get(), &mut *GDT.get()) };
    tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST)] =
        VirtAddr::new(DOUBLE_FAULT_STACK.top());
    tss.interrupt_stack_table[usize::from(NMI_IST)] = VirtAddr::new(NMI_STACK.top());
    tss.interrupt_stack_table[usize::from(DEBUG_IST)] = VirtAddr::new(DEBUG_STACK.top());

    let kernel_code = gdt.append(Descriptor::kernel_code_segment());
    let kernel_data = gdt.append(Descriptor::kernel_data_segment());
    let user_data = gdt.append(Descriptor::user_data_segment());
    let user_code = gdt.append(Descriptor::user_code_segment());
    // SAFETY: the TSS is a static that lives for ever; it is changed later
    // only through `set_kernel_stack`, with interrupts disabled.
    let tss_selector = gdt.append(unsafe { Descriptor::tss_segment_unchecked(TSS.get()) });
    debug_assert_eq!(kernel_code.0, KERNEL_CODE_SELECTOR);
    debug_assert_eq!(kernel_data.0, KERNEL_DATA_SELECTOR);
    debug_assert_eq!(user_data.0, USER_DATA_SELECTOR);
    debug_assert_eq!(user_code.0, USER_CODE_SELECTOR);

    // SAFETY: the GDT is a static that stays in place; the selectors were
    // just created in it, and the code/data ones match what the boot GDT
    // used, so the running code stays valid.
    unsafe {
        gdt.load_unsafe();
        CS::set_reg(kernel_code);
        SS::set_reg(kernel_data);
        DS::set_reg(SegmentSelector(0));
        ES::set_reg(SegmentSelector(0));
        load_tss(tss_selector);
    }
}

/// Point TSS.rsp0, the stack the CPU switches to on a trap from user mode,
/// at `top`. `UserContext::run` sets it to the end of the thread's frame.
pub(crate) fn set_kernel_stack(top: u64) {
    // SAFETY: one CPU, interrupts disabled by the caller; the field is
    // written unaligned because the TSS is a packed structure, and the
    // CPU reads it only on the next ring 3 -> 0 transition.
    unsafe {
        let field = &raw mut (*TSS.get()).privilege_stack_table;
        field.cast::<u64>().write_unaligned(top);
    }
}

fn load_idt() {
    let stub = |vector: u8| {
        VirtAddr::new(entry::spinel_x86_64_trap_stubs as *const () as u64 + 16 * u64::from(vector))
    };
    // SAFETY: single-threaded boot; nothing refers to IDT yet.
    let idt = unsafe { &mut *IDT.get() };
    // SAFETY: every address is the stub for exactly that vector (the stubs
    // are 16 bytes apart and know which vectors push an error code), and
    // the IST indices name stacks set up in `load_gdt`.
    unsafe {
        idt.divide_error.set_handler_addr(stub(0));
        idt.debug
            .set_handler_addr(stub(1))
            .set_stack_index(DEBUG_IST);
        idt.non_maskable_interrupt
            .set_handler_addr(stub(2))
            .set_stack_index(NMI_IST);
        // int3 and into are allowed from user mode; every other vector
        // raised by `int n` in user mode becomes #GP.
        idt.breakpoint
            .set_handler_addr(stub(3))
            .set_privilege_level(PrivilegeLevel::Ring3);
        idt.overflow
            .set_handler_addr(stub(4))
            .set_privilege_level(PrivilegeLevel::Ring3);
        idt.bound_range_exceeded.set_handler_addr(stub(5));
        idt.invalid_opcode.set_handler_addr(stub(6));
        idt.device_not_available.set_handler_addr(stub(7));
        idt.double_fault
            .set_handler_addr(stub(8))
            .set_stack_index(DOUBLE_FAULT_IST);
        idt[9].set_handler_addr(stub(9));
        idt.invalid_tss.set_handler_addr(stub(10));
        idt.segment_not_present.set_handler_addr(stub(11));
        idt.stack_segment_fault.set_handler_addr(stub(12));
        idt.general_protection_fault.set_handler_addr(stub(13));
        idt.page_fault.set_handler_addr(stub(14));
        idt.x87_floating_point.set_handler_addr(stub(16));
        idt.alignment_check.set_handler_addr(stub(17));
        idt.machine_check
            .set_handler_addr(stub(18))
            .set_stack_index(NMI_IST);
        idt.simd_floating_point.set_handler_addr(stub(19));
        idt.virtualization.set_handler_addr(stub(20));
        idt.cp_protection_exception.set_handler_addr(stub(21));
        idt.hv_injection_exception.set_handler_addr(stub(28));
        idt.vmm_communication_exception.set_handler_addr(stub(29));
        idt.security_exception.set_handler_addr(stub(30));
        // Vectors 15, 22-27 and 31 are reserved: the x86_64 crate keeps
        // their entries private and the CPU never raises them.
        for vector in 32..=255u8 {
            idt[vector].set_handler_addr(stub(vector));
        }
        idt.load_unsafe();
    }
}

fn init_syscall() {
    let written = Star::write(
        SegmentSelector(USER_CODE_SELECTOR),
        SegmentSelector(USER_DATA_SELECTOR),
        SegmentSelector(KERNEL_CODE_SELECTOR),
        SegmentSelector(KERNEL_DATA_SELECTOR),
    );
    debug_assert!(written.is_ok());
    LStar::write(VirtAddr::new(
        entry::spinel_x86_64_syscall_entry as *const () as u64,
    ));
    // The syscall entry runs with interrupts off (it borrows a static
    // scratch slot) and must not single-step or keep the user's DF/AC.
    SFMask::write(
        RFlags::INTERRUPT_FLAG
            | RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::ALIGNMENT_CHECK
            | RFlags::NESTED_TASK
            | RFlags::IOPL_HIGH
            | RFlags::IOPL_LOW,
    );
}

/// Remap the two 8259s away from the exception vectors and mask every
/// line: the local APIC delivers the timer, and an unmasked PIC would
/// deliver its IRQ 0 as vector 8, which looks like a double fault.
fn disable_pic() {
    const ICW1_INIT_WITH_ICW4: u8 = 0x11;
    const ICW4_8086: u8 = 0x01;
    let writes: [(u16, u8); 10] = [
        (0x20, ICW1_INIT_WITH_ICW4),
        (0xa0, ICW1_INIT_WITH_ICW4),
        (0x21, PIC_VECTOR_BASE),
        (0xa1, PIC_VECTOR_BASE + 8),
        (0x21, 1 << 2), // the secondary PIC hangs off IRQ 2
        (0xa1, 2),
        (0x21, ICW4_8086),
        (0xa1, ICW4_8086),
        (0x21, 0xff), // mask all lines
        (0xa1, 0xff),
    ];
    for (port, value) in writes {
        // SAFETY: the PIC's command and data ports; the sequence is the
        // documented initialisation and leaves every line masked.
        unsafe { Port::<u8>::new(port).write(value) };
    }
}
