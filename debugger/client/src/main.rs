//! The Spinel debugger host client (work in progress).
#![forbid(unsafe_code)]
fn main() {}
