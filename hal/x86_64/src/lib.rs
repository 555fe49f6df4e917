//! Spinel HAL for x86_64 (to be filled).
#![no_std]
