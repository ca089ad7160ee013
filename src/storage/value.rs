//! Stored values. A `Value` is 32 bytes and lives inside its keyspace entry:
//! strings of up to [`Str::INLINE`] bytes, and sets' and zsets' small
//! encodings (a pointer to one exact-size buffer), need no other block.
//! Longer strings are kept as a boxed `Bytes` so a GET reply shares the
//! stored buffer instead of copying it.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

pub use super::hash::Hash;
pub use super::list::List;
pub use super::set::Set;
pub use super::stream::Stream;
pub use super::zset::ZSet;

/// Lists, hashes and streams are boxed so that every value fits in 32 bytes.
#[derive(Debug, Clone)]
pub enum Value {
    Str(Str),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Set),
    ZSet(ZSet),
    Stream(Box<Stream>),
}

// The entry layout (db.rs) is sized around this.
const _: () = assert!(std::mem::size_of::<Value>() == 32);

impl Value {
    /// The TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
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
            Value::Stream(_) => "stream",
        }
    }

    /// Approximate bytes used, for MEMORY USAGE and INFO.
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Value>()
            + match self {
                Value::Str(b) => b.heap_usage(),
                Value::List(v) => v.mem_usage(),
                Value::Hash(v) => v.mem_usage(),
                Value::Set(v) => v.mem_usage(),
                Value::ZSet(v) => v.mem_usage(),
                Value::Stream(v) => v.mem_usage(),
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
        Value::Str(Str::copy_from(b))
    }
}

/// Lengths an inline string can have. An enum rather than a `u8` so that
/// the byte's unused values hold `Str`'s and `Value`'s discriminants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
enum Len {
    L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15,
    L16, L17, L18, L19, L20, L21, L22, L23, L24, L25, L26, L27, L28, L29, L30,
}

#[rustfmt::skip]
const LENS: [Len; Str::INLINE + 1] = {
    use Len::*;
    [
        L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15,
        L16, L17, L18, L19, L20, L21, L22, L23, L24, L25, L26, L27, L28, L29, L30,
    ]
};

/// `len` last, at an offset past every other variant's fields.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Inline {
    buf: [u8; Str::INLINE],
    len: Len,
}

#[derive(Debug, Clone)]
enum Repr {
    Inline(Inline),
    Heap(Box<Bytes>),
}

/// A string value: short ones inline, long ones as shared `Bytes`.
#[derive(Debug, Clone)]
pub struct Str(Repr);

impl Str {
    /// The longest string kept inline.
    pub const INLINE: usize = 30;

    pub fn copy_from(b: &[u8]) -> Str {
        if b.len() <= Str::INLINE {
            let mut buf = [0; Str::INLINE];
            buf[..b.len()].copy_from_slice(b);
            Str(Repr::Inline(Inline {
                buf,
                len: LENS[b.len()],
            }))
        } else {
            Str(Repr::Heap(Box::new(Bytes::copy_from_slice(b))))
        }
    }

    /// The value as `Bytes`: shares a long string, copies a short one.
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline(_) => copy_small(self),
            Repr::Heap(b) => Bytes::clone(b),
        }
    }

    /// Takes the value out as `Bytes`, leaving an empty string.
    pub fn take(&mut self) -> Bytes {
        match std::mem::take(self).0 {
            Repr::Inline(i) => Bytes::copy_from_slice(&i.buf[..i.len as usize]),
            Repr::Heap(b) => *b,
        }
    }

    /// Bytes held outside the value itself.
    fn heap_usage(&self) -> usize {
        match &self.0 {
            Repr::Inline(_) => 0,
            Repr::Heap(b) => std::mem::size_of::<Bytes>() + b.len(),
        }
    }
}

thread_local! {
    /// Where short strings are copied for replies: a slice of a shared
    /// chunk costs a reference count, where its own block would cost an
    /// allocation and a free on every GET.
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

fn copy_small(b: &[u8]) -> Bytes {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.capacity() < b.len() {
            *s = BytesMut::with_capacity(4096);
        }
        s.extend_from_slice(b);
        s.split().freeze()
    })
}

impl Default for Str {
    fn default() -> Str {
        Str::copy_from(b"")
    }
}

/// Keeps `b` (already a private copy) without copying it again.
impl From<Bytes> for Str {
    fn from(b: Bytes) -> Str {
        if b.len() <= Str::INLINE {
            Str::copy_from(&b)
        } else {
            Str(Repr::Heap(Box::new(b)))
        }
    }
}

impl std::ops::Deref for Str {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(i) => &i.buf[..i.len as usize],
            Repr::Heap(b) => b,
        }
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap() {
        for n in [0, 1, 16, Str::INLINE, Str::INLINE + 1, 100] {
            let data: Vec<u8> = (0..n as u8).collect();
            let mut s = Str::copy_from(&data);
            assert_eq!(&s[..], &data[..]);
            assert_eq!(s.heap_usage() == 0, n <= Str::INLINE);
            assert_eq!(s.to_bytes(), data);
            assert_eq!(&Str::from(Bytes::from(data.clone()))[..], &data[..]);
            assert_eq!(s.take(), data);
            assert!(s.is_empty());
        }
    }
}
