//! demo: a program with a bug, for the debugger to catch.
//!
//! It draws a few shapes into a canvas of two layers, `ink` and `shade`.
//! The shade layer was never given pixels (its pointer is null), and the
//! highlight dot is drawn on it: `render` → `draw_shape` → `plot` →
//! `put_pixel` (always inlined into `plot`) stores through the null
//! pointer, a page fault a few calls deep, inside an inlined helper.
//! `cargo xtask run` starts it under the debugger agent, which stops it
//! there and shows where.
//!
//! A debugger that skips the faulting store lets it go on: it checksums
//! the ink layer twice and prints the result.
//!
//! With `bench N` it calls `tick(now)` N times instead, for the debugger
//! benchmark (a breakpoint on `tick`; `now` is the guest clock).
//!
//! The end-to-end tests find lines here by their `debugger-test:` marks.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use spinel_rt::println;
use spinel_rt::startup::Startup;
use spinel_rt::zx;

spinel_rt::entry!(main);

const WIDTH: usize = 32;
const HEIGHT: usize = 16;

/// One layer of pixels, `WIDTH` × `HEIGHT`.
struct Layer {
    name: &'static str,
    /// Null when the layer was never allocated.
    pixels: *mut u32,
}

struct Canvas {
    ink: Layer,
    shade: Layer,
}

#[derive(Clone, Copy)]
enum Shape {
    /// A horizontal run of ink.
    Span {
        y: usize,
        from: usize,
        to: usize,
        color: u32,
    },
    /// A rectangle outline in ink.
    Frame {
        left: usize,
        top: usize,
        right: usize,
        bottom: usize,
    },
    /// One shaded pixel.
    Highlight { x: usize, y: usize },
}

const SHAPES: [Shape; 3] = [
    Shape::Span {
        y: 1,
        from: 2,
        to: 30,
        color: 0x00ff_8800,
    },
    Shape::Frame {
        left: 4,
        top: 3,
        right: 20,
        bottom: 12,
    },
    Shape::Highlight { x: 3, y: 2 },
];

/// Stores one pixel. Always inlined: the store is part of its caller.
#[inline(always)]
fn put_pixel(layer: &Layer, x: usize, y: usize, color: u32) {
    let offset = y * WIDTH + x;
    let pixel = layer.pixels.wrapping_add(offset);
    // SAFETY: none for the shade layer, whose pixels were never allocated:
    // this store through its null pointer is the bug the demo exists for.
    unsafe { pixel.write_volatile(color) } // debugger-test: crash
}

/// Plots a pixel if it lies on the canvas; the pixels plotted (0 or 1).
#[inline(never)]
fn plot(layer: &Layer, x: usize, y: usize, color: u32) -> usize {
    if x < WIDTH && y < HEIGHT {
        put_pixel(layer, x, y, color);
        1
    } else {
        0
    }
}

/// Draws one shape; the pixels plotted. (Each caller uses what its callee
/// returns, so no call is a tail call and every frame stays on the stack.)
#[inline(never)]
fn draw_shape(canvas: &Canvas, shape: &Shape) -> usize {
    let mut plotted = 0;
    match *shape {
        Shape::Span { y, from, to, color } => {
            for x in from..to {
                plotted += plot(&canvas.ink, x, y, color);
            }
        }
        Shape::Frame {
            left,
            top,
            right,
            bottom,
        } => {
            for x in left..=right {
                plotted += plot(&canvas.ink, x, top, 0xffff_ffff);
                plotted += plot(&canvas.ink, x, bottom, 0xffff_ffff);
            }
            for y in top..=bottom {
                plotted += plot(&canvas.ink, left, y, 0xffff_ffff);
                plotted += plot(&canvas.ink, right, y, 0xffff_ffff);
            }
        }
        Shape::Highlight { x, y } => plotted += plot(&canvas.shade, x, y, 0x4000_00ff),
    }
    core::hint::black_box(plotted)
}

/// Draws every shape; the pixels plotted.
#[inline(never)]
fn render(canvas: &Canvas, shapes: &[Shape]) -> usize {
    let mut plotted = 0;
    for shape in shapes {
        plotted += draw_shape(canvas, shape);
    }
    core::hint::black_box(plotted)
}

/// A rolling checksum of a layer's pixels.
#[inline(never)]
fn checksum(pixels: &[u32]) -> u32 {
    pixels
        .iter()
        .fold(0x5eed_u32, |sum, &pixel| sum.rotate_left(5) ^ pixel)
}

/// The benchmark's breakpoint target.
#[inline(never)]
fn tick(now: i64) -> i64 {
    core::hint::black_box(now)
}

fn main(args: spinel_rt::StartArgs) -> i64 {
    let startup = Startup::from_start(args.bootstrap);
    let words: Vec<&str> = startup.words().collect();
    if let ["bench", count] = words.as_slice() {
        let count: u64 = count.parse().unwrap_or(10);
        for _ in 0..count {
            tick(zx::clock_get_monotonic());
        }
        return 0;
    }

    let mut ink = vec![0u32; WIDTH * HEIGHT];
    let canvas = Canvas {
        ink: Layer {
            name: "ink",
            pixels: ink.as_mut_ptr(),
        },
        // Forgotten: the shade layer never gets its pixels.
        shade: Layer {
            name: "shade",
            pixels: core::hint::black_box(core::ptr::null_mut()),
        },
    };
    println!(
        "demo: drawing {} shapes on layers {} and {}",
        SHAPES.len(),
        canvas.ink.name,
        canvas.shade.name
    );
    let plotted = render(&canvas, &SHAPES);
    let first = checksum(&ink);
    let again = checksum(&ink); // debugger-test: again
    println!("demo: {plotted} pixels, checksum {first:#010x}, again {again:#010x}");
    0
}
