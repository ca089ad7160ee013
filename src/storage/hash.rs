//! Hashes: listpack while small, hashtable past `hash-max-listpack-entries/value`.
//!
//! The collection-types issue gives this type its encodings and operations;
//! until then no command can create one.

/// A stored hash.
#[derive(Debug, Clone, Default)]
pub struct Hash {}

impl Hash {
    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Approximate heap bytes used.
    pub fn mem_usage(&self) -> usize {
        0
    }
}
