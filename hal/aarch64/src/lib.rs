//! Spinel HAL for aarch64 (to be filled).
#![no_std]
