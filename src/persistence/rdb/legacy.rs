//! Layouts only older Redis versions write, read for loading their files:
//! ziplist (RDB types 10, 12, 13 and quicklist 14 nodes; ziplist.c) and
//! zipmap (type 9; zipmap.c). Every bound is checked.
//!
//! Ziplist: `bytes u32 | tail offset u32 | count u16 | entries | 0xFF`.
//! Entry: previous entry's length (1 byte, or 0xFE + u32), encoding, data.
//!
//! Zipmap: `count u8 | (len key len free value padding)* | 0xFF`, lengths
//! one byte below 254, else 0xFE + u32.

use crate::storage::listpack::Cur;
use crate::storage::set::Elem;

const ZIP_END: u8 = 0xFF;
const BIG: u8 = 0xFE;

/// Calls `f` for each element of a ziplist.
pub(crate) fn ziplist_each(
    blob: &[u8],
    mut f: impl FnMut(Elem) -> Result<(), String>,
) -> Result<(), String> {
    let mut c = Cur::new(blob);
    let total = c.u32_le()? as usize;
    if total != blob.len() {
        return Err(format!("ziplist says {total} bytes, has {}", blob.len()));
    }
    c.take(6)?;
    let mut prev = 0usize;
    loop {
        let start = c.at;
        let first = c.byte()?;
        if first == ZIP_END {
            break;
        }
        let prevlen = if first == BIG {
            c.u32_le()? as usize
        } else {
            first as usize
        };
        if prevlen != prev {
            return Err(format!("bad ziplist previous length at byte {start}"));
        }
        let e = c.byte()?;
        let elem = match e >> 6 {
            0 => Elem::Str(c.take((e & 0x3F) as usize)?),
            1 => {
                let n = ((e as usize & 0x3F) << 8) | c.byte()? as usize;
                Elem::Str(c.take(n)?)
            }
            2 if e == 0x80 => {
                let n = u32::from_be_bytes(c.take(4)?.try_into().expect("4 bytes"));
                Elem::Str(c.take(n as usize)?)
            }
            _ => match e {
                0xC0 => Elem::Int(c.int_le(2)?),
                0xD0 => Elem::Int(c.int_le(4)?),
                0xE0 => Elem::Int(c.int_le(8)?),
                0xF0 => Elem::Int(c.int_le(3)?),
                0xFE => Elem::Int(c.int_le(1)?),
                0xF1..=0xFD => Elem::Int((e & 0x0F) as i64 - 1),
                _ => {
                    return Err(format!(
                        "bad ziplist entry encoding {e:#04x} at byte {start}"
                    ))
                }
            },
        };
        f(elem)?;
        prev = c.at - start;
    }
    if c.at != blob.len() {
        return Err("ziplist terminator before its end".into());
    }
    Ok(())
}

/// Calls `f` for each (key, value) of a zipmap.
pub(crate) fn zipmap_each(
    blob: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut c = Cur::new(blob);
    c.byte()?;
    let len = |c: &mut Cur| -> Result<Option<usize>, String> {
        match c.byte()? {
            ZIP_END => Ok(None),
            BIG => Ok(Some(c.u32_le()? as usize)),
            n => Ok(Some(n as usize)),
        }
    };
    while let Some(klen) = len(&mut c)? {
        let key = c.take(klen)?;
        let vlen = len(&mut c)?.ok_or("zipmap ends inside an entry")?;
        let free = c.byte()? as usize;
        let value = c.take(vlen)?;
        c.take(free)?;
        f(key, value)?;
    }
    if c.at != blob.len() {
        return Err("zipmap terminator before its end".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ziplist_entries() {
        // Redis 6's ziplist for RPUSH l a 5 -300 70000.
        let mut entries = Vec::new();
        entries.extend_from_slice(&[0x00, 0x01, b'a']);
        entries.extend_from_slice(&[0x03, 0xF6]);
        entries.extend_from_slice(&[0x02, 0xC0, 0xD4, 0xFE]);
        entries.extend_from_slice(&[0x04, 0xF0, 0x70, 0x11, 0x01]);
        let mut blob = Vec::new();
        let total = 10 + entries.len() + 1;
        blob.extend_from_slice(&(total as u32).to_le_bytes());
        blob.extend_from_slice(&(10 + 9u32).to_le_bytes());
        blob.extend_from_slice(&4u16.to_le_bytes());
        blob.extend_from_slice(&entries);
        blob.push(0xFF);
        let mut got = Vec::new();
        ziplist_each(&blob, |e| {
            got.push(e.to_bytes());
            Ok(())
        })
        .unwrap();
        assert_eq!(got, ["a", "5", "-300", "70000"].map(bytes::Bytes::from));
        assert!(ziplist_each(&blob[..blob.len() - 1], |_| Ok(())).is_err());
    }

    #[test]
    fn zipmap_entries() {
        let blob = [2, 1, b'f', 2, 1, b'v', b'1', 0, 1, b'g', 0, 0, 0xFF];
        let mut got = Vec::new();
        zipmap_each(&blob, |k, v| {
            got.push((k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            vec![(b"f".to_vec(), b"v1".to_vec()), (b"g".to_vec(), vec![])]
        );
    }
}
