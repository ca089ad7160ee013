//! Lists: listpack while small, quicklist past `list-max-listpack-size`.
//!
//! The collection-types issue gives this type its encodings and operations;
//! until then no command can create one.

/// A stored list.
#[derive(Debug, Clone, Default)]
pub struct List {}

impl List {
    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    /// Approximate heap bytes used.
    pub fn mem_usage(&self) -> usize {
        0
    }
}
