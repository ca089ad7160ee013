//! Redis's listpack and intset blobs, built for writing and walked for
//! reading (listpack.c, intset.c). Walking checks every bound, so a corrupt
//! blob is an error, never a panic.
//!
//! Listpack: `total bytes u32 LE | count u16 LE (65535: unknown) | entries
//! | 0xFF`. Entry: encoding + data, then its size as a "back length" (7 bits
//! a byte, read right to left). Canonical decimal integers are stored as
//! numbers, everything else as strings.
//!
//! Intset: `width u32 LE (2, 4, 8) | count u32 LE | sorted integers LE`.

use crate::protocol::parse_i64;
use crate::storage::set::Elem;

const HEADER: usize = 6;
const END: u8 = 0xFF;
/// Header count meaning "count the entries".
const COUNT_UNKNOWN: usize = u16::MAX as usize;

/// Builds one listpack.
pub struct LpBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for LpBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LpBuilder {
    pub fn new() -> LpBuilder {
        LpBuilder {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes the finished listpack will take.
    pub fn size(&self) -> usize {
        self.buf.len() + 1
    }

    /// Bytes an element adds (for Redis's node size limit).
    pub fn entry_size(s: &[u8]) -> usize {
        let head = match parse_i64(s) {
            Some(n) => int_size(n),
            None => str_header(s.len()) + s.len(),
        };
        head + backlen_size(head)
    }

    pub fn push(&mut self, s: &[u8]) {
        encode(&mut self.buf, s);
        self.count += 1;
    }

    /// An integer element (lpAppendInteger).
    pub fn push_int(&mut self, n: i64) {
        encode_int(&mut self.buf, n);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(END);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(COUNT_UNKNOWN) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// Appends element `s` (with its back length): a canonical integer as a
/// number, anything else as a string.
fn encode(out: &mut Vec<u8>, s: &[u8]) {
    if let Some(n) = parse_i64(s) {
        return encode_int(out, n);
    }
    let start = out.len();
    let n = s.len();
    if n < 64 {
        out.push(0x80 | n as u8);
    } else if n < 4096 {
        out.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
    let size = out.len() - start;
    put_backlen(out, size);
}

/// Appends integer element `n` (with its back length).
fn encode_int(out: &mut Vec<u8>, n: i64) {
    let start = out.len();
    match n {
        0..=127 => out.push(n as u8),
        -4096..=4095 => {
            let u = (n as u16) & 0x1FFF;
            out.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
        }
        _ if i16::try_from(n).is_ok() => {
            out.push(0xF1);
            out.extend_from_slice(&(n as i16).to_le_bytes());
        }
        -8_388_608..=8_388_607 => {
            out.push(0xF2);
            out.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
        }
        _ if i32::try_from(n).is_ok() => {
            out.push(0xF3);
            out.extend_from_slice(&(n as i32).to_le_bytes());
        }
        _ => {
            out.push(0xF4);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    let size = out.len() - start;
    put_backlen(out, size);
}

fn int_size(n: i64) -> usize {
    match n {
        0..=127 => 1,
        -4096..=4095 => 2,
        _ if i16::try_from(n).is_ok() => 3,
        -8_388_608..=8_388_607 => 4,
        _ if i32::try_from(n).is_ok() => 5,
        _ => 9,
    }
}

fn str_header(n: usize) -> usize {
    match n {
        0..=63 => 1,
        64..=4095 => 2,
        _ => 5,
    }
}

/// Bytes of a back length, with lpEncodeBacklen's (slightly uneven) bounds.
fn backlen_size(n: usize) -> usize {
    match n {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// The back length: most significant 7-bit group first; every byte but the
/// leftmost has the high bit set, so it reads right to left.
fn put_backlen(out: &mut Vec<u8>, n: usize) {
    let k = backlen_size(n);
    for i in (0..k).rev() {
        let group = (n >> (7 * i)) as u8 & 0x7F;
        out.push(if i + 1 < k { group | 0x80 } else { group });
    }
}

/// Bounds-checked reads from a blob.
pub struct Cur<'a> {
    b: &'a [u8],
    pub at: usize,
}

impl<'a> Cur<'a> {
    pub fn new(b: &'a [u8]) -> Cur<'a> {
        Cur { b, at: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let end = end.ok_or_else(|| format!("entry past the end at byte {}", self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub fn u32_le(&mut self) -> Result<u32, String> {
        Ok(self.int_le(4)? as u32)
    }

    /// A little-endian signed integer of `n` bytes.
    pub fn int_le(&mut self, n: usize) -> Result<i64, String> {
        let s = self.take(n)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(s);
        // Sign-extend from n bytes.
        let shift = 64 - 8 * n as u32;
        Ok((i64::from_le_bytes(v) << shift) >> shift)
    }
}

/// The element at the cursor, its back length checked, the cursor moved
/// past it; None at the terminator.
fn decode<'a>(c: &mut Cur<'a>) -> Result<Option<Elem<'a>>, String> {
    let start = c.at;
    let e = c.byte()?;
    if e == END {
        return Ok(None);
    }
    let elem = match e {
        0x00..=0x7F => Elem::Int(e as i64),
        0x80..=0xBF => Elem::Str(c.take((e & 0x3F) as usize)?),
        0xC0..=0xDF => {
            let v = ((e as i64 & 0x1F) << 8) | c.byte()? as i64;
            Elem::Int(if v >= 1 << 12 { v - (1 << 13) } else { v })
        }
        0xE0..=0xEF => {
            let n = ((e as usize & 0x0F) << 8) | c.byte()? as usize;
            Elem::Str(c.take(n)?)
        }
        0xF0 => {
            let n = c.u32_le()? as usize;
            Elem::Str(c.take(n)?)
        }
        0xF1 => Elem::Int(c.int_le(2)?),
        0xF2 => Elem::Int(c.int_le(3)?),
        0xF3 => Elem::Int(c.int_le(4)?),
        0xF4 => Elem::Int(c.int_le(8)?),
        _ => {
            return Err(format!(
                "bad listpack entry encoding {e:#04x} at byte {start}"
            ))
        }
    };
    let size = c.at - start;
    let mut want = Vec::with_capacity(5);
    put_backlen(&mut want, size);
    if c.take(want.len())? != want {
        return Err(format!("bad listpack back length at byte {}", c.at));
    }
    Ok(Some(elem))
}

/// Editing a finished listpack in place (streams keep their nodes as
/// listpacks, as Redis does, so they are saved and loaded as they are).
pub mod edit {
    use super::*;

    /// An empty listpack.
    pub fn new() -> Vec<u8> {
        LpBuilder::new().finish()
    }

    /// Offset of the first element.
    pub fn first() -> usize {
        HEADER
    }

    /// The element at `pos` and the offset of the next one; None at the end.
    pub fn get(lp: &[u8], pos: usize) -> Option<(Elem<'_>, usize)> {
        let mut c = Cur::new(lp);
        c.at = pos;
        let e = decode(&mut c).ok()??;
        Some((e, c.at))
    }

    /// The integer at `pos` (0 for a string, which stream nodes never hold
    /// where an integer belongs), and the next offset.
    pub fn int(lp: &[u8], pos: usize) -> (i64, usize) {
        match get(lp, pos) {
            Some((Elem::Int(n), next)) => (n, next),
            Some((Elem::Str(s), next)) => (parse_i64(s).unwrap_or(0), next),
            None => (0, lp.len()),
        }
    }

    fn set_header(lp: &mut [u8], added: usize) {
        let total = lp.len() as u32;
        lp[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::from_le_bytes([lp[4], lp[5]]) as usize;
        if added > 0 && count != COUNT_UNKNOWN {
            let n = (count + added).min(COUNT_UNKNOWN) as u16;
            lp[4..6].copy_from_slice(&n.to_le_bytes());
        }
    }

    /// Appends a string element (an integer if it is one, as lpAppend).
    pub fn append(lp: &mut Vec<u8>, s: &[u8]) {
        lp.pop();
        encode(lp, s);
        lp.push(END);
        set_header(lp, 1);
    }

    /// Appends an integer element.
    pub fn append_int(lp: &mut Vec<u8>, n: i64) {
        lp.pop();
        encode_int(lp, n);
        lp.push(END);
        set_header(lp, 1);
    }

    /// Replaces the element at `pos` with integer `n`; returns the offset
    /// of the element after it.
    pub fn replace_int(lp: &mut Vec<u8>, pos: usize, n: i64) -> usize {
        let Some((_, next)) = get(lp, pos) else {
            return pos;
        };
        let mut new = Vec::with_capacity(10);
        encode_int(&mut new, n);
        let end = pos + new.len();
        lp.splice(pos..next, new);
        set_header(lp, 0);
        end
    }
}

/// Calls `f` for each element of a listpack; returns how many there were.
pub fn listpack_each(
    blob: &[u8],
    mut f: impl FnMut(Elem) -> Result<(), String>,
) -> Result<usize, String> {
    if blob.len() < HEADER + 1 {
        return Err("listpack shorter than its header".into());
    }
    let total = u32::from_le_bytes(blob[..4].try_into().expect("4 bytes")) as usize;
    if total != blob.len() {
        return Err(format!("listpack says {total} bytes, has {}", blob.len()));
    }
    let declared = u16::from_le_bytes([blob[4], blob[5]]) as usize;
    let mut c = Cur::new(blob);
    c.at = HEADER;
    let mut count = 0;
    while let Some(elem) = decode(&mut c)? {
        f(elem)?;
        count += 1;
    }
    if c.at != blob.len() {
        return Err("listpack terminator before its end".into());
    }
    if declared != COUNT_UNKNOWN && declared != count {
        return Err(format!("listpack says {declared} entries, has {count}"));
    }
    Ok(count)
}

/// An intset blob of `ints` (ascending, distinct).
pub fn intset(ints: &[i64]) -> Vec<u8> {
    let width = ints
        .iter()
        .map(|&n| {
            if i16::try_from(n).is_ok() {
                2
            } else if i32::try_from(n).is_ok() {
                4
            } else {
                8
            }
        })
        .max()
        .unwrap_or(2);
    let mut out = Vec::with_capacity(8 + width * ints.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(ints.len() as u32).to_le_bytes());
    for n in ints {
        out.extend_from_slice(&n.to_le_bytes()[..width]);
    }
    out
}

/// The integers of an intset blob.
pub fn intset_each(
    blob: &[u8],
    mut f: impl FnMut(i64) -> Result<(), String>,
) -> Result<(), String> {
    let mut c = Cur::new(blob);
    let width = c.u32_le()? as usize;
    let count = c.u32_le()? as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(format!("bad intset width {width}"));
    }
    if count.checked_mul(width).and_then(|n| n.checked_add(8)) != Some(blob.len()) {
        return Err(format!(
            "intset of {count} x {width} bytes is {} bytes",
            blob.len()
        ));
    }
    let mut prev = None;
    for _ in 0..count {
        let n = c.int_le(width)?;
        if prev.is_some_and(|p| p >= n) {
            return Err("intset not sorted or with duplicates".into());
        }
        prev = Some(n);
        f(n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elems(blob: &[u8]) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        listpack_each(blob, |e| {
            v.push(e.to_bytes().to_vec());
            Ok(())
        })
        .unwrap();
        v
    }

    #[test]
    fn listpack_round_trip() {
        let long = "x".repeat(5000);
        let mid = "y".repeat(300);
        let items: Vec<String> = [
            "0",
            "127",
            "128",
            "-1",
            "-4096",
            "4095",
            "4096",
            "-32768",
            "32767",
            "8388607",
            "-8388608",
            "2147483647",
            "-2147483648",
            "9223372036854775807",
            "-9223372036854775808",
            "01",
            "-0",
            "+1",
            "",
            "abc",
            &mid,
            &long,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut b = LpBuilder::new();
        for s in &items {
            b.push(s.as_bytes());
        }
        let size = b.size();
        let blob = b.finish();
        assert_eq!(blob.len(), size);
        let got = elems(&blob);
        let want: Vec<Vec<u8>> = items.iter().map(|s| s.as_bytes().to_vec()).collect();
        assert_eq!(got, want);
        let sum: usize = items
            .iter()
            .map(|s| LpBuilder::entry_size(s.as_bytes()))
            .sum();
        assert_eq!(sum + 7, blob.len());
    }

    #[test]
    fn redis_listpack_bytes() {
        // RPUSH l 1 2 abc in Redis 7.0 stores exactly this listpack.
        let blob = [
            0x10, 0, 0, 0, 3, 0, 1, 1, 2, 1, 0x83, b'a', b'b', b'c', 4, 0xFF,
        ];
        assert_eq!(
            elems(&blob),
            vec![b"1".to_vec(), b"2".to_vec(), b"abc".to_vec()]
        );
        let mut b = LpBuilder::new();
        for s in ["1", "2", "abc"] {
            b.push(s.as_bytes());
        }
        assert_eq!(b.finish(), blob);
    }

    #[test]
    fn intset_round_trip() {
        let ints = [-70000, -1, 0, 5, 40000];
        let blob = intset(&ints);
        assert_eq!(blob.len(), 8 + 4 * 5);
        let mut got = Vec::new();
        intset_each(&blob, |n| {
            got.push(n);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, ints);
        assert!(intset_each(&blob[..blob.len() - 1], |_| Ok(())).is_err());
    }
}
