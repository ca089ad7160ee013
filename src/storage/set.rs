//! Sets: intset or listpack while small, hashtable past the `set-max-*` thresholds.
//!
//! The collection-types issue gives this type its encodings and operations;
//! until then no command can create one.

/// A stored set.
#[derive(Debug, Clone, Default)]
pub struct Set {}

impl Set {
    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Approximate heap bytes used.
    pub fn mem_usage(&self) -> usize {
        0
    }
}
