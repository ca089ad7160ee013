//! Stored values. Strings are kept as `Bytes` so a GET reply shares the
//! stored buffer instead of copying it; the collection types join this enum
//! with their compact encodings.

use bytes::Bytes;

#[derive(Debug, Clone)]
pub enum Value {
    Str(Bytes),
}

impl Value {
    /// The TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
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
        }
    }

    /// Approximate bytes used, for MEMORY USAGE and INFO.
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(b) => std::mem::size_of::<Value>() + b.len(),
        }
    }

    /// A stored string; copies so the value never pins a read buffer.
    pub fn string(b: &[u8]) -> Value {
        Value::Str(Bytes::copy_from_slice(b))
    }
}
