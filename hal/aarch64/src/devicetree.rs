//! What the device tree says about the machine: RAM, reservations, the
//! command line and the few devices this HAL drives.
//!
//! QEMU does not pass the tree's address to an ELF kernel; it places the
//! blob at the start of RAM when the kernel leaves room there (`link.ld`
//! starts the image 2 MiB in). Parsing uses the `fdt` crate. The blob stays
//! where it is (its range is reported as `KernelAndBoot`), so the command
//! line borrowed from it lives for the whole run.

use crate::mmu;
use spinel_hal_api::{BootInfo, MAX_REGIONS, MemoryKind, MemoryRegion, PAGE_SIZE, PhysAddr};

/// Where QEMU `virt` puts the device tree: the start of RAM.
const DEVICE_TREE_PHYSICAL: u64 = 0x4000_0000;
/// Big-endian magic at the start of a flattened device tree.
const FDT_MAGIC: u32 = 0xd00d_feed;

/// Defaults of QEMU `virt`, used when the tree omits a node.
const DEFAULT_GIC_DISTRIBUTOR: u64 = 0x0800_0000;
const DEFAULT_GIC_CPU_INTERFACE: u64 = 0x0801_0000;
const DEFAULT_CONSOLE_UART: u64 = 0x0900_0000;
/// The debugger's line: the second PL011 QEMU adds for a second `-serial`.
const DEBUG_UART: u64 = 0x0904_0000;
/// EL1 virtual timer interrupt (PPI 11 = INTID 27), the architecture's
/// recommended number and QEMU's.
const DEFAULT_VIRTUAL_TIMER_INTID: u32 = 27;

const MAX_RAM: usize = 8;
const MAX_CARVE_OUTS: usize = 16;
const PAGE: u64 = PAGE_SIZE as u64;

/// How PSCI calls reach the firmware (QEMU implements PSCI itself).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PsciConduit {
    Hvc,
    Smc,
    None,
}

/// What a device-tree node describes, for the nodes we read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Memory,
    Gic,
    GicV3,
    Timer,
    Pl011,
    Psci,
    Other,
}

/// Devices and facts the rest of the HAL needs after boot.
#[derive(Clone, Copy, Debug)]
pub struct Platform {
    pub gic_distributor: u64,
    pub gic_cpu_interface: u64,
    pub virtual_timer_intid: u32,
    /// Physical address and INTID of the debug-link PL011, when present.
    pub debug_uart: Option<(u64, u32)>,
    pub psci: PsciConduit,
}

static PLATFORM: spin::Once<Platform> = spin::Once::new();

/// The machine's devices (QEMU `virt` defaults until the tree was read).
pub fn platform() -> Platform {
    PLATFORM.get().copied().unwrap_or(Platform {
        gic_distributor: DEFAULT_GIC_DISTRIBUTOR,
        gic_cpu_interface: DEFAULT_GIC_CPU_INTERFACE,
        virtual_timer_intid: DEFAULT_VIRTUAL_TIMER_INTID,
        debug_uart: None,
        psci: PsciConduit::Hvc,
    })
}

/// The parsed tree.
pub struct Machine {
    ram: [(u64, u64); MAX_RAM],
    ram_count: usize,
    /// Ranges taken out of RAM, with why.
    carve_outs: [(u64, u64, MemoryKind); MAX_CARVE_OUTS],
    carve_out_count: usize,
    cmdline: &'static str,
    pub debug_uart: Option<(u64, u32)>,
}

/// Big-endian cells of a property, as u32.
fn cells(value: &[u8]) -> impl Iterator<Item = u32> + '_ {
    value
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// INTID of a GIC `interrupts` specifier (type, number, flags).
fn intid(specifier: &[u32]) -> Option<u32> {
    match specifier {
        [0, number, _] => Some(32 + number), // SPI
        [1, number, _] => Some(16 + number), // PPI
        _ => None,
    }
}

pub fn read() -> Result<Machine, &'static str> {
    let base = mmu::phys_to_virt(PhysAddr(DEVICE_TREE_PHYSICAL)).0 as *const u8;
    // SAFETY: the boot tables map the kernel's gigabyte, which starts at
    // the RAM base, in the direct map; we read the magic and the size.
    let header = unsafe { core::slice::from_raw_parts(base, 8) };
    if u32::from_be_bytes([header[0], header[1], header[2], header[3]]) != FDT_MAGIC {
        return Err("no device tree at the start of RAM (is the kernel linked 1 MiB above it?)");
    }
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    // SAFETY: the header says the blob is `size` bytes; it lies in the same
    // mapped gigabyte (QEMU puts it below the kernel) and is never written.
    let blob: &'static [u8] = unsafe { core::slice::from_raw_parts(base, size) };
    let fdt = fdt::Fdt::new(blob).map_err(|_| "device tree does not parse")?;

    let mut machine = Machine {
        ram: [(0, 0); MAX_RAM],
        ram_count: 0,
        carve_outs: [(0, 0, MemoryKind::Reserved); MAX_CARVE_OUTS],
        carve_out_count: 0,
        cmdline: "",
        debug_uart: None,
    };
    machine.carve_out(DEVICE_TREE_PHYSICAL, size as u64, MemoryKind::KernelAndBoot);
    for reservation in fdt.memory_reservations() {
        let start = reservation.address() as u64;
        machine.carve_out(start, reservation.size() as u64, MemoryKind::Reserved);
    }

    // One pass over the tree, one scan of each node's properties: the
    // `fdt` crate re-parses the structure on every search, and a search per
    // fact cost about a million instructions at boot.
    let mut platform = platform();
    let mut gic_v3 = false;
    let mut reserved_memory = false;
    for node in fdt.all_nodes() {
        if node.name == "reserved-memory" {
            reserved_memory = true;
        }
        let mut kind = NodeKind::Other;
        let mut interrupts: &[u8] = &[];
        let mut method: &[u8] = &[];
        for property in node.properties() {
            match property.name {
                "device_type" if property.value == b"memory\0" => kind = NodeKind::Memory,
                "compatible" => {
                    for compatible in property.value.split(|&b| b == 0) {
                        kind = match compatible {
                            b"arm,cortex-a15-gic" | b"arm,gic-400" => NodeKind::Gic,
                            b"arm,gic-v3" => NodeKind::GicV3,
                            b"arm,armv8-timer" | b"arm,armv7-timer" => NodeKind::Timer,
                            b"arm,pl011" => NodeKind::Pl011,
                            b"arm,psci" | b"arm,psci-0.2" | b"arm,psci-1.0" => NodeKind::Psci,
                            _ => continue,
                        };
                        break;
                    }
                }
                "interrupts" => interrupts = property.value,
                "bootargs" if node.name == "chosen" => {
                    machine.cmdline = property.as_str().unwrap_or("");
                }
                "method" => method = property.value,
                _ => {}
            }
        }
        // `reg` needs the parent's cell sizes: parse it for our nodes only.
        let regs = || {
            node.reg()
                .into_iter()
                .flatten()
                .map(|r| (r.starting_address as u64, r.size.unwrap_or(0) as u64))
        };
        let mut specifiers = [0u32; 12];
        let mut specifier_count = 0;
        for (slot, cell) in specifiers.iter_mut().zip(cells(interrupts)) {
            *slot = cell;
            specifier_count += 1;
        }
        match kind {
            NodeKind::Memory => {
                for (start, len) in regs() {
                    if len > 0 && machine.ram_count < MAX_RAM {
                        machine.ram[machine.ram_count] = (start, len);
                        machine.ram_count += 1;
                    }
                }
            }
            NodeKind::Gic => {
                let mut regs = regs();
                if let (Some(d), Some(c)) = (regs.next(), regs.next()) {
                    platform.gic_distributor = d.0;
                    platform.gic_cpu_interface = c.0;
                }
            }
            NodeKind::GicV3 => gic_v3 = true,
            NodeKind::Psci => {
                platform.psci = match method {
                    b"hvc\0" => PsciConduit::Hvc,
                    b"smc\0" => PsciConduit::Smc,
                    _ => PsciConduit::None,
                };
            }
            // Interrupts: secure physical, non-secure physical, virtual, hyp.
            NodeKind::Timer if specifier_count >= 9 => {
                if let Some(id) = intid(&specifiers[6..9]) {
                    platform.virtual_timer_intid = id;
                }
            }
            NodeKind::Pl011 if specifier_count >= 3 => {
                if regs().next().map(|r| r.0) == Some(DEBUG_UART)
                    && let Some(id) = intid(&specifiers[..3])
                {
                    machine.debug_uart = Some((DEBUG_UART, id));
                }
            }
            _ => {}
        }
    }
    if gic_v3 {
        return Err("GICv3 found: this HAL drives GICv2 (QEMU virt default, no gic-version=3)");
    }
    if machine.ram_count == 0 {
        return Err("device tree lists no memory");
    }
    machine.ram[..machine.ram_count].sort_unstable();
    if reserved_memory && let Some(reserved) = fdt.find_node("/reserved-memory") {
        for child in reserved.children() {
            for region in child.reg().into_iter().flatten() {
                let (start, len) = (
                    region.starting_address as u64,
                    region.size.unwrap_or(0) as u64,
                );
                machine.carve_out(start, len, MemoryKind::Reserved);
            }
        }
    }
    platform.debug_uart = machine.debug_uart;
    PLATFORM.call_once(|| platform);
    Ok(machine)
}

impl Machine {
    fn carve_out(&mut self, start: u64, len: u64, kind: MemoryKind) {
        if len > 0 && self.carve_out_count < MAX_CARVE_OUTS {
            self.carve_outs[self.carve_out_count] = (start, len, kind);
            self.carve_out_count += 1;
        }
    }

    /// RAM ranges for the direct map.
    pub fn ram_ranges(&self) -> ([(u64, u64); MAX_RAM], usize) {
        (self.ram, self.ram_count)
    }

    /// MMIO ranges for the direct map (Device memory): the GIC, both UARTs.
    pub fn device_ranges(&self) -> ([(u64, u64); 4], usize) {
        let p = platform();
        let mut ranges = [
            (p.gic_distributor, 0x1_0000),
            (p.gic_cpu_interface, 0x1_0000),
            (DEFAULT_CONSOLE_UART, PAGE),
            (0, 0),
        ];
        let mut count = 3;
        if let Some((address, _)) = self.debug_uart {
            ranges[3] = (address, PAGE);
            count = 4;
        }
        (ranges, count)
    }

    /// The boot memory map: RAM split into usable pieces around the kernel
    /// image, the device tree and reservations; sorted by address.
    pub fn boot_info(&self, kernel_start: u64, kernel_end: u64) -> BootInfo {
        let mut carve_outs = self.carve_outs;
        let mut count = self.carve_out_count;
        if count < MAX_CARVE_OUTS {
            carve_outs[count] = (
                kernel_start,
                kernel_end - kernel_start,
                MemoryKind::KernelAndBoot,
            );
            count += 1;
        }
        let carve_outs = &mut carve_outs[..count];
        carve_outs.sort_unstable_by_key(|c| c.0);

        let mut info = BootInfo {
            source: "device tree",
            regions: [MemoryRegion::default(); MAX_REGIONS],
            region_count: 0,
            kernel_start: PhysAddr(kernel_start),
            kernel_end: PhysAddr(kernel_end),
            cmdline: self.cmdline,
        };
        let mut push = |start: u64, end: u64, kind: MemoryKind| {
            let (start, end) = if kind == MemoryKind::Usable {
                (start.next_multiple_of(PAGE), end & !(PAGE - 1))
            } else {
                (start & !(PAGE - 1), end.next_multiple_of(PAGE))
            };
            if end > start && info.region_count < MAX_REGIONS {
                info.regions[info.region_count] = MemoryRegion {
                    start: PhysAddr(start),
                    len: end - start,
                    kind,
                };
                info.region_count += 1;
            }
        };
        for &(ram_start, ram_len) in &self.ram[..self.ram_count] {
            let ram_end = ram_start + ram_len;
            let mut cursor = ram_start;
            for &(c_start, c_len, kind) in carve_outs.iter() {
                let c_end = (c_start + c_len).min(ram_end);
                let c_start = c_start.max(cursor);
                if c_start >= c_end {
                    continue;
                }
                push(cursor, c_start, MemoryKind::Usable);
                push(c_start, c_end, kind);
                cursor = c_end.next_multiple_of(PAGE);
            }
            push(cursor, ram_end, MemoryKind::Usable);
        }
        info
    }
}
