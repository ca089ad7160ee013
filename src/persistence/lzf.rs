//! LZF (liblzf's format), as Redis uses it for RDB strings. The `lzf` crate
//! is deprecated and writes through uninitialised memory, so this is a
//! small safe version: any valid LZF stream decodes, and what `compress`
//! writes decodes with liblzf.
//!
//! A stream is a sequence of runs. Control byte `c`:
//! - `c < 32`: `c + 1` literal bytes follow.
//! - else a back reference: length field `c >> 5` (7 means one more byte
//!   follows to add), offset `(c & 31) << 8 | next byte`; it copies
//!   `length + 2` bytes starting `offset + 1` bytes back in the output.

/// Longest literal run.
const MAX_LIT: usize = 32;
/// Farthest a back reference can point.
const MAX_OFF: usize = 1 << 13;
/// Longest back reference: 7 + 255 in the length fields, plus 2.
const MAX_REF: usize = 264;
/// Hash table size for the longest inputs; short ones get a table about
/// their own size, so a small string does not pay for clearing 64 KiB.
const MAX_HASH_BITS: u32 = 14;

fn hash(b: &[u8], bits: u32) -> usize {
    let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
    (v.wrapping_mul(2_654_435_761) >> (32 - bits)) as usize
}

/// Appends `lit` as literal runs.
fn literals(out: &mut Vec<u8>, lit: &[u8]) {
    for run in lit.chunks(MAX_LIT) {
        out.push((run.len() - 1) as u8);
        out.extend_from_slice(run);
    }
}

/// Compresses `input`; None if the result would be longer than `max_out`
/// bytes (Redis only stores a compressed string when it saves space).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(max_out.min(n + n / 16 + 16));
    // Position + 1 of the last place each 3-byte hash was seen (0: none).
    let bits = (usize::BITS - n.leading_zeros()).clamp(4, MAX_HASH_BITS);
    let mut table = vec![0u32; 1 << bits];
    let (mut ip, mut lit_start) = (0, 0);
    while ip + 2 < n {
        let h = hash(&input[ip..], bits);
        let cand = table[h] as usize;
        table[h] = ip as u32 + 1;
        if cand > 0 {
            let r = cand - 1;
            let off = ip - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
                let max = (n - ip).min(MAX_REF);
                let mut len = 3;
                while len < max && input[r + len] == input[ip + len] {
                    len += 1;
                }
                literals(&mut out, &input[lit_start..ip]);
                let l = len - 2;
                let hi = (off >> 8) as u8;
                if l < 7 {
                    out.push((l as u8) << 5 | hi);
                } else {
                    out.push(7 << 5 | hi);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                if out.len() > max_out {
                    return None;
                }
                ip += len;
                lit_start = ip;
                continue;
            }
        }
        ip += 1;
        if ip - lit_start > max_out {
            return None;
        }
    }
    literals(&mut out, &input[lit_start..]);
    (out.len() <= max_out).then_some(out)
}

/// Decompresses `input`, which must expand to exactly `len` bytes.
pub fn decompress(input: &[u8], len: usize) -> Result<Vec<u8>, &'static str> {
    // A corrupt length must not allocate gigabytes up front.
    let mut out = Vec::with_capacity(len.min(input.len().saturating_mul(300)));
    let mut ip = 0;
    while ip < input.len() {
        let c = input[ip] as usize;
        ip += 1;
        if c < 32 {
            let run = input
                .get(ip..ip + c + 1)
                .ok_or("LZF literal run past the input")?;
            if out.len() + run.len() > len {
                return Err("LZF output longer than declared");
            }
            out.extend_from_slice(run);
            ip += c + 1;
            continue;
        }
        let mut l = c >> 5;
        if l == 7 {
            l += *input.get(ip).ok_or("LZF reference past the input")? as usize;
            ip += 1;
        }
        let lo = *input.get(ip).ok_or("LZF reference past the input")? as usize;
        ip += 1;
        let back = ((c & 31) << 8 | lo) + 1;
        let count = l + 2;
        if back > out.len() {
            return Err("LZF reference before the output start");
        }
        if out.len() + count > len {
            return Err("LZF output longer than declared");
        }
        // Byte by byte: a reference may overlap what it produces.
        let from = out.len() - back;
        for i in 0..count {
            out.push(out[from + i]);
        }
    }
    if out.len() != len {
        return Err("LZF output shorter than declared");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut rng = 12345u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let samples: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"hello hello hello hello world world world".repeat(50),
            (0..100_000).map(|i| (i % 251) as u8).collect(),
            (0..5000).map(|_| (next() % 4) as u8 + b'a').collect(),
            b"abc".to_vec(),
        ];
        for s in samples {
            if let Some(c) = compress(&s, s.len() + s.len() / 16 + 16) {
                assert_eq!(decompress(&c, s.len()).unwrap(), s);
            }
        }
        let random: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
        assert!(compress(&random, random.len() - 4).is_none());
    }

    #[test]
    fn known_stream() {
        // liblzf's output for 30 'a': one literal, one back reference.
        let c = compress(&[b'a'; 30], 26).unwrap();
        assert_eq!(decompress(&c, 30).unwrap(), vec![b'a'; 30]);
        assert_eq!(decompress(&[0, b'a', 0xe0, 20, 0], 30).unwrap(), [b'a'; 30]);
        assert!(decompress(&[0xe0, 20, 0], 30).is_err());
        assert!(decompress(&[5, b'a'], 6).is_err());
    }
}
