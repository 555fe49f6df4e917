//! init: the first user process.
#![no_std]
#![no_main]

use spinel_rt::println;

spinel_rt::entry!(main);

fn main(_args: spinel_rt::StartArgs) -> i64 {
    println!("init: hello from user mode");
    0
}
