//! A keyspace entry and the single heap block that holds it.
//!
//! Every key costs one allocation: `[Entry][key length][key bytes]`, the
//! length a LEB128 varint (one byte below 128),
//! owned by a thin pointer ([`Node`], 8 bytes in the hash table). Short
//! strings, small integer sets and small zsets live inside the `Value`, so
//! those keys need no other block.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::mem::{align_of, size_of};
use std::ptr::NonNull;

use super::value::Value;

/// A stored key's value and metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 when the key is persistent.
    /// Changed only through `Db`, which counts volatile keys.
    pub(super) expire_at: i64,
    /// Last access, seconds on the server's LRU clock (OBJECT IDLETIME).
    pub lru: u32,
}

impl Entry {
    pub fn new(value: Value, expire_at: i64, lru: u32) -> Entry {
        Entry {
            value,
            expire_at,
            lru,
        }
    }

    pub fn expire_at(&self) -> Option<i64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    /// Bytes the key stored as `key` costs: its block, the value's own
    /// blocks, and the table's pointer and control byte.
    pub fn mem_usage(&self, key: &[u8]) -> usize {
        let block = KLEN + varint_len(key.len()) + key.len();
        block + self.value.mem_usage() - size_of::<Value>() + size_of::<Node>() + 1
    }

    /// Whether the key is dead at `now` (unix ms).
    #[inline]
    pub(super) fn expired(&self, now: i64) -> bool {
        self.expire_at != 0 && self.expire_at <= now
    }
}

/// Where the key length sits in a block: after the entry, outside it, so
/// that assigning a whole `Entry` through `&mut Entry` cannot corrupt it.
const KLEN: usize = size_of::<Entry>();

/// Bytes of the LEB128 form of `n`.
fn varint_len(n: usize) -> usize {
    (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

/// Owns one entry block, like a `Box` of a variable-size type.
pub struct Node(NonNull<Entry>);

// SAFETY: a Node is the unique owner of its block, as a Box is.
unsafe impl Send for Node {}
unsafe impl Sync for Node {}

impl Node {
    fn layout(klen: usize) -> Layout {
        let size = KLEN + varint_len(klen) + klen;
        Layout::from_size_align(size, align_of::<Entry>()).expect("key fits in memory")
    }

    pub fn new(key: &[u8], entry: Entry) -> Node {
        let klen = u32::try_from(key.len()).expect("key under 4 GiB");
        let layout = Node::layout(key.len());
        // SAFETY: the layout is non-zero-sized and aligned for Entry; every
        // field is written before the block is read.
        unsafe {
            let p = alloc(layout);
            if p.is_null() {
                handle_alloc_error(layout);
            }
            p.cast::<Entry>().write(entry);
            let mut at = p.add(KLEN);
            let mut n = klen;
            while n >= 0x80 {
                at.write(n as u8 | 0x80);
                at = at.add(1);
                n >>= 7;
            }
            at.write(n as u8);
            std::ptr::copy_nonoverlapping(key.as_ptr(), at.add(1), key.len());
            Node(NonNull::new_unchecked(p.cast()))
        }
    }

    /// The key's length and where its bytes start.
    #[inline]
    fn key_at(&self) -> (usize, *const u8) {
        let (mut len, mut shift) = (0, 0);
        // SAFETY: new wrote a complete varint at KLEN, never changed.
        unsafe {
            let mut at = self.0.as_ptr().cast::<u8>().add(KLEN);
            loop {
                let b = at.read();
                at = at.add(1);
                len |= ((b & 0x7f) as usize) << shift;
                if b < 0x80 {
                    return (len, at);
                }
                shift += 7;
            }
        }
    }

    fn klen(&self) -> usize {
        self.key_at().0
    }

    /// Where the block starts (for prefetching it).
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.0.as_ptr().cast()
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        let (len, at) = self.key_at();
        // SAFETY: len key bytes follow the varint, written by new.
        unsafe { std::slice::from_raw_parts(at, len) }
    }

    #[inline]
    pub fn entry(&self) -> &Entry {
        // SAFETY: the block starts with an initialized Entry we own.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    pub fn entry_mut(&mut self) -> &mut Entry {
        // SAFETY: as entry, and &mut self makes the borrow unique.
        unsafe { self.0.as_mut() }
    }

    /// Frees the block, returning its entry.
    pub fn into_entry(self) -> Entry {
        let layout = Node::layout(self.klen());
        let p = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: the entry is moved out once and the block freed with the
        // layout it was allocated with; forget keeps Drop from running.
        unsafe {
            let e = p.read();
            dealloc(p.cast(), layout);
            e
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let layout = Node::layout(self.klen());
        // SAFETY: drops the entry once and frees the block with its layout.
        unsafe {
            std::ptr::drop_in_place(self.0.as_ptr());
            dealloc(self.0.as_ptr().cast(), layout);
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Node")
            .field(&self.key())
            .field(self.entry())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_holds_key_and_entry() {
        assert_eq!(size_of::<Entry>(), 48);
        for n in [0, 1, 127, 128, 300, 20000] {
            assert_eq!(
                varint_len(n),
                if n < 128 {
                    1
                } else if n < 16384 {
                    2
                } else {
                    3
                }
            );
        }
        for key in [
            &b""[..],
            b"k",
            b"key:00000001",
            &[7u8; 127],
            &[7u8; 128],
            &[7u8; 300],
        ] {
            let mut n = Node::new(key, Entry::new(Value::string(b"v"), 5, 9));
            assert_eq!(n.key(), key);
            assert_eq!(n.entry().expire_at(), Some(5));
            n.entry_mut().value = Value::string(&[1; 100]);
            // Replacing the whole entry leaves the key intact.
            *n.entry_mut() = Entry::new(Value::string(b"w"), 0, 1);
            assert_eq!(n.key(), key);
            let e = n.into_entry();
            assert_eq!(e.value.str_bytes(), Some(&b"w"[..]));
            assert_eq!(e.lru, 1);
        }
    }
}
