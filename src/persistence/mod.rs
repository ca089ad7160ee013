//! Persistence formats. `rdb` is Redis's snapshot file (the same bytes a
//! master streams to a replica); `lzf` is the compression RDB strings use.
//! This layer only encodes and decodes: when and where snapshots are taken
//! (SAVE, BGSAVE, replication) and loading at start-up live above it.

pub mod lzf;
pub mod rdb;
