//! LZF (liblzf's format), as Redis uses it for RDB strings. The `lzf` crate
//! is deprecated and writes through uninitialised memory, so this is a
//! small safe version: any valid LZF stream decodes, and `Compressor`
//! makes liblzf's choices, so Redis and we usually write the same bytes.
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
/// liblzf's HLOG as Redis builds it.
const HASH_BITS: u32 = 16;

/// liblzf's IDX() over the 3 bytes at `p` (its VERY_FAST variant).
fn hash(p: &[u8]) -> usize {
    let h = (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
    let x = (h ^ (h << 5)) >> (24 - HASH_BITS);
    (x.wrapping_sub(h.wrapping_mul(5)) & ((1 << HASH_BITS) - 1)) as usize
}

/// A compressor making liblzf's choices (Redis's build: HLOG 16,
/// VERY_FAST), so a string usually compresses to the very bytes Redis
/// writes. Its table is kept between calls: entries are stored with a base
/// that grows per call, so old ones read as empty and a short string does
/// not pay for clearing 256 KiB.
pub struct Compressor {
    table: Vec<u32>,
    base: u32,
}

impl Default for Compressor {
    fn default() -> Self {
        Compressor {
            table: vec![0; 1 << HASH_BITS],
            base: 0,
        }
    }
}

impl Compressor {
    /// Compresses `input`; None if the result does not fit in `max_out`
    /// bytes (with liblzf's own margins, so the same strings are refused).
    pub fn compress(&mut self, input: &[u8], max_out: usize) -> Option<Vec<u8>> {
        let n = input.len();
        if n == 0 || n >= (u32::MAX / 2) as usize {
            return None;
        }
        if (self.base as usize) + n + 1 >= u32::MAX as usize {
            self.table.fill(0);
            self.base = 0;
        }
        let base = self.base;
        self.base += n as u32 + 1;
        let mut table = std::mem::take(&mut self.table);
        let out = compress_with(&mut table, base, input, max_out);
        self.table = table;
        out
    }
}

/// Output with the literal run being written: its length byte is
/// reserved at `lit_at` and filled in when the run ends.
struct Out {
    buf: Vec<u8>,
    lit: usize,
    lit_at: usize,
}

impl Out {
    fn start_run(&mut self) {
        self.lit = 0;
        self.lit_at = self.buf.len();
        self.buf.push(0);
    }

    /// Fills in the run's length byte, or drops it if the run is empty.
    fn end_run(&mut self) {
        if self.lit > 0 {
            self.buf[self.lit_at] = (self.lit - 1) as u8;
        } else {
            self.buf.pop();
        }
    }

    fn literal(&mut self, b: u8) {
        self.buf.push(b);
        self.lit += 1;
        if self.lit == MAX_LIT {
            self.end_run();
            self.start_run();
        }
    }
}

/// liblzf's lzf_compress. `table[h]` holds `base + position + 1`; anything
/// at or below `base + 1` means "no earlier position" (liblzf never
/// references position 0 either).
fn compress_with(table: &mut [u32], base: u32, input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Out {
        buf: Vec::with_capacity(max_out.min(n + n / 16 + 16)),
        lit: 0,
        lit_at: 0,
    };
    out.start_run();
    let mut ip = 0;
    while ip + 2 < n {
        let h = hash(&input[ip..]);
        let entry = table[h];
        table[h] = base + ip as u32 + 1;
        let r = entry.wrapping_sub(base + 1) as usize;
        if entry > base + 1
            && r < ip
            && ip - r - 1 < MAX_OFF
            && input[r..r + 3] == input[ip..ip + 3]
        {
            let off = ip - r - 1;
            let maxlen = (n - ip - 2).min(MAX_REF);
            if out.buf.len() - (out.lit == 0) as usize + 4 >= max_out {
                return None;
            }
            // liblzf compares 16 bytes unrolled (past maxlen if it is 17
            // or 18) before its bounded loop; the same lengths come out.
            let mut len = 2;
            let mut mismatch = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        mismatch = true;
                        break;
                    }
                }
            }
            while !mismatch {
                len += 1;
                mismatch = !(len < maxlen && input[r + len] == input[ip + len]);
            }
            out.end_run();
            let l = len - 2;
            let hi = (off >> 8) as u8;
            if l < 7 {
                out.buf.push((l as u8) << 5 | hi);
            } else {
                out.buf.push(7 << 5 | hi);
                out.buf.push((l - 7) as u8);
            }
            out.buf.push(off as u8);
            out.start_run();
            ip += len;
            if ip + 2 >= n {
                break;
            }
            for p in [ip - 2, ip - 1] {
                table[hash(&input[p..])] = base + p as u32 + 1;
            }
        } else {
            if out.buf.len() >= max_out {
                return None;
            }
            out.literal(input[ip]);
            ip += 1;
        }
    }
    if out.buf.len() + 3 > max_out {
        return None;
    }
    input[ip..].iter().for_each(|&b| out.literal(b));
    out.end_run();
    Some(out.buf)
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
        let mut z = Compressor::default();
        for s in samples {
            if let Some(c) = z.compress(&s, s.len() + s.len() / 16 + 16) {
                assert_eq!(decompress(&c, s.len()).unwrap(), s);
            }
        }
        let random: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
        assert!(z.compress(&random, random.len() - 4).is_none());
    }

    #[test]
    fn known_stream() {
        // liblzf's output for 30 'a': one literal, one back reference.
        let c = Compressor::default().compress(&[b'a'; 30], 26).unwrap();
        assert_eq!(decompress(&c, 30).unwrap(), vec![b'a'; 30]);
        assert_eq!(decompress(&[0, b'a', 0xe0, 20, 0], 30).unwrap(), [b'a'; 30]);
        assert!(decompress(&[0xe0, 20, 0], 30).is_err());
        assert!(decompress(&[5, b'a'], 6).is_err());
    }
}
