//! The pooling allocator's settings: slot counts from the per-call limits, and how a
//! slot's memory is reset between calls.
//!
//! A call gets a fresh instance in a pool slot; returning the slot resets its memory.
//! With Linux's `PAGEMAP_SCAN` (kernel 6.7 or later) wasmtime finds the pages the call
//! dirtied and resets only those with `memset`, keeping them resident: no `madvise`, so
//! no TLB shootdown on the other core, and no page faults next time. Without it, the
//! first [`MEMSET_KEEP_RESIDENT`] bytes are reset with `memset` and the rest is given
//! back with `madvise`. The sizes are measured (docs/PERFORMANCE.md).

use super::Limits;
use wasmtime::{Enabled, PoolingAllocationConfig};

/// Bytes of a slot's memory kept resident when `PAGEMAP_SCAN` resets only dirty pages.
pub const SCAN_KEEP_RESIDENT: usize = 1 << 20;
/// Bytes reset with `memset` (dirty or not) without `PAGEMAP_SCAN`.
pub const MEMSET_KEEP_RESIDENT: usize = 64 << 10;
/// Pool slots decommitted together (see `PoolingAllocationConfig::decommit_batch_size`):
/// one TLB shootdown per batch instead of one per call.
const DECOMMIT_BATCH: usize = 16;

/// How slots are reset between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotReset {
    /// `PAGEMAP_SCAN`: only the dirtied pages, with `memset`, kept resident.
    PagemapScan,
    /// The first bytes with `memset`, the rest with `madvise`.
    Memset,
}

impl SlotReset {
    /// The best this kernel offers.
    pub fn detect() -> SlotReset {
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            SlotReset::PagemapScan
        } else {
            SlotReset::Memset
        }
    }

    /// The measured bytes to keep resident with this reset.
    pub fn keep_resident(self) -> usize {
        match self {
            SlotReset::PagemapScan => SCAN_KEEP_RESIDENT,
            SlotReset::Memset => MEMSET_KEEP_RESIDENT,
        }
    }
}

/// Overrides of the pool's reset, for measuring the alternatives; the default detects
/// `PAGEMAP_SCAN` and keeps the measured bytes resident.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolTuning {
    /// The reset to use (default: [`SlotReset::detect`]).
    pub reset: Option<SlotReset>,
    /// Bytes kept resident (default: the reset's measured size).
    pub keep_resident: Option<usize>,
}

impl PoolTuning {
    /// The reset and the bytes kept resident in force.
    pub fn resolve(self) -> (SlotReset, usize) {
        let reset = self.reset.unwrap_or_else(SlotReset::detect);
        (reset, self.keep_resident.unwrap_or(reset.keep_resident()))
    }
}

/// The pool for `limits`, resetting slots as `tuning` says.
pub fn pool_config(limits: &Limits, tuning: PoolTuning) -> PoolingAllocationConfig {
    let slots = limits.max_concurrent_calls.max(1);
    let (reset, keep) = tuning.resolve();
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .total_memories(slots * 2)
        .total_tables(slots * 8)
        .total_stacks(slots)
        .max_memory_size(limits.memory_bytes)
        .max_memories_per_component(2)
        .max_tables_per_component(8)
        .max_core_instances_per_component(16)
        .pagemap_scan(match reset {
            SlotReset::PagemapScan => Enabled::Yes,
            SlotReset::Memset => Enabled::No,
        })
        .linear_memory_keep_resident(keep)
        .table_keep_resident(keep.min(64 << 10))
        .decommit_batch_size(DECOMMIT_BATCH);
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tuning_defaults_to_the_detected_reset_and_its_measured_size() {
        let (reset, keep) = PoolTuning::default().resolve();
        assert_eq!(reset, SlotReset::detect());
        assert_eq!(keep, reset.keep_resident());
        let forced = PoolTuning {
            reset: Some(SlotReset::Memset),
            keep_resident: None,
        };
        assert_eq!(forced.resolve(), (SlotReset::Memset, MEMSET_KEEP_RESIDENT));
        let sized = PoolTuning {
            reset: Some(SlotReset::PagemapScan),
            keep_resident: Some(4 << 20),
        };
        assert_eq!(sized.resolve(), (SlotReset::PagemapScan, 4 << 20));
    }
}
