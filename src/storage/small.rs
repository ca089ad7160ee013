//! A byte buffer kept inside its owner while it fits, else in an
//! exact-size block of its own: the small forms of hashes, sets and zsets,
//! so a small collection costs no allocation besides its key's.

/// Up to `N` bytes inline, beside a small number the owner keeps with them
/// (an entry count, an integer width); longer, an exact-size box, as
/// Redis's listpacks and intsets are: no spare capacity per key.
#[derive(Debug, Clone)]
pub enum SmallBytes<const N: usize> {
    Inline { meta: u8, used: u8, buf: [u8; N] },
    Heap { meta: u32, buf: Box<[u8]> },
}

impl<const N: usize> SmallBytes<N> {
    /// No bytes, with `meta`.
    pub const fn empty(meta: u8) -> Self {
        SmallBytes::Inline {
            meta,
            used: 0,
            buf: [0; N],
        }
    }

    /// `bytes` with `meta`: inline when both fit.
    pub fn new(bytes: Vec<u8>, meta: usize) -> Self {
        if bytes.len() <= N && meta <= u8::MAX as usize {
            let mut buf = [0; N];
            buf[..bytes.len()].copy_from_slice(&bytes);
            SmallBytes::Inline {
                meta: meta as u8,
                used: bytes.len() as u8,
                buf,
            }
        } else {
            SmallBytes::Heap {
                meta: u32::try_from(meta).expect("meta fits in u32"),
                buf: bytes.into_boxed_slice(),
            }
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { used, buf, .. } => &buf[..*used as usize],
            SmallBytes::Heap { buf, .. } => buf,
        }
    }

    pub fn meta(&self) -> usize {
        match self {
            SmallBytes::Inline { meta, .. } => *meta as usize,
            SmallBytes::Heap { meta, .. } => *meta as usize,
        }
    }

    /// The length of its own block, or None while inline.
    pub fn block_len(&self) -> Option<usize> {
        match self {
            SmallBytes::Inline { .. } => None,
            SmallBytes::Heap { buf, .. } => Some(buf.len()),
        }
    }
}

/// `buf` with `len` bytes at `at` replaced by `with`, as a new exact-size
/// buffer (the small forms are rebuilt on every change, as Redis's are).
pub fn spliced(buf: &[u8], at: usize, len: usize, with: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(buf.len() - len + with.len());
    v.extend_from_slice(&buf[..at]);
    v.extend_from_slice(with);
    v.extend_from_slice(&buf[at + len..]);
    v
}

#[cfg(test)]
mod tests {
    use super::SmallBytes;

    #[test]
    fn inline_while_it_fits() {
        let s = SmallBytes::<4>::new(b"abcd".to_vec(), 7);
        assert_eq!(
            (s.bytes(), s.meta(), s.block_len()),
            (&b"abcd"[..], 7, None)
        );
        let s = SmallBytes::<4>::new(b"abcde".to_vec(), 7);
        assert_eq!(
            (s.bytes(), s.meta(), s.block_len()),
            (&b"abcde"[..], 7, Some(5))
        );
        // A meta over a byte goes to the heap form, which keeps it.
        let s = SmallBytes::<4>::new(b"ab".to_vec(), 300);
        assert_eq!((s.meta(), s.block_len()), (300, Some(2)));
        assert_eq!(SmallBytes::<4>::empty(2).bytes(), b"");
    }
}
