//! Stored values. Strings are kept as `Bytes` so a GET reply shares the
//! stored buffer instead of copying it; the collection types join this enum
//! with their compact encodings.

use bytes::Bytes;

pub use super::hash::Hash;
pub use super::list::List;
pub use super::set::Set;
pub use super::zset::ZSet;

/// Collections are boxed so a string entry stays small.
#[derive(Debug, Clone)]
pub enum Value {
    Str(Bytes),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

impl Value {
    /// The TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// The OBJECT ENCODING name Redis would report for the same data.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(b) => {
                if b.len() <= 20 && crate::protocol::parse_i64(b).is_some() {
                    "int"
                } else if b.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::List(v) => v.encoding(),
            Value::Hash(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
        }
    }

    /// Approximate bytes used, for MEMORY USAGE and INFO.
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(b) => std::mem::size_of::<Value>() + b.len(),
            Value::List(v) => std::mem::size_of::<Value>() + v.mem_usage(),
            Value::Hash(v) => std::mem::size_of::<Value>() + v.mem_usage(),
            Value::Set(v) => std::mem::size_of::<Value>() + v.mem_usage(),
            Value::ZSet(v) => std::mem::size_of::<Value>() + v.mem_usage(),
        }
    }

    /// A string value's bytes; None for another type.
    pub fn str_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(b) => Some(b),
            _ => None,
        }
    }

    /// A stored string; copies so the value never pins a read buffer.
    pub fn string(b: &[u8]) -> Value {
        Value::Str(Bytes::copy_from_slice(b))
    }
}
