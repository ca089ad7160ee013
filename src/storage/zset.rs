//! Sorted sets: listpack while small, skiplist (with a member index) past `zset-max-listpack-*`.
//!
//! The collection-types issue gives this type its encodings and operations;
//! until then no command can create one.

/// A stored zset.
#[derive(Debug, Clone, Default)]
pub struct ZSet {}

impl ZSet {
    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Approximate heap bytes used.
    pub fn mem_usage(&self) -> usize {
        0
    }
}
