//! The DUMP payload (Redis's createDumpPayload / verifyDumpPayload): one
//! value's type byte and RDB encoding, the RDB version as a u16
//! little-endian, then the CRC64 of everything before it, little-endian.
//! DUMP, RESTORE and MIGRATE carry values this way.

use super::{read, write, WriteOptions, CRC64, RDB_VERSION};
use crate::storage::Value;

/// Why RESTORE refuses a payload.
#[derive(Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Shorter than its footer, from a newer RDB version, or a CRC that
    /// does not match: "DUMP payload version or checksum are wrong".
    VersionOrChecksum,
    /// The value does not decode (or is an empty collection): "Bad data
    /// format".
    BadData,
}

/// The footer: RDB version (2 bytes) and CRC64 (8 bytes).
const FOOTER: usize = 10;

/// DUMP's payload for `value`.
pub fn dump(value: &Value, opts: WriteOptions) -> Vec<u8> {
    let mut p = write::typed_value(value, opts);
    p.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = CRC64.checksum(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// The value in a payload, once its version and CRC are checked.
pub fn load(payload: &[u8]) -> Result<Value, PayloadError> {
    let Some(body_len) = payload.len().checked_sub(FOOTER) else {
        return Err(PayloadError::VersionOrChecksum);
    };
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]) as u32;
    if version > RDB_VERSION {
        return Err(PayloadError::VersionOrChecksum);
    }
    let stored = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if CRC64.checksum(&payload[..body_len + 2]) != stored {
        return Err(PayloadError::VersionOrChecksum);
    }
    match read::typed_value(body, version) {
        Ok(Some(v)) => Ok(v),
        _ => Err(PayloadError::BadData),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_redis_crc64() {
        // crc64.c's test vector.
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn string_payloads_are_redis_bytes() {
        // What redis-server 7.0 answers to DUMP of "hello" and of 10.
        let hello = dump(&Value::string(b"hello"), WriteOptions::default());
        assert_eq!(&hello[..9], b"\x00\x05hello\x0a\x00");
        let back = load(&hello).unwrap();
        assert_eq!(back.str_bytes(), Some(&b"hello"[..]));
        let ten = dump(&Value::string(b"10"), WriteOptions::default());
        assert_eq!(&ten[..4], b"\x00\xc0\x0a\x0a");
    }

    #[test]
    fn footer_is_checked() {
        let mut p = dump(&Value::string(b"x"), WriteOptions::default());
        assert_eq!(load(&p[..9]).err(), Some(PayloadError::VersionOrChecksum));
        let last = p.len() - 1;
        p[last] ^= 1;
        assert_eq!(load(&p).err(), Some(PayloadError::VersionOrChecksum));
        p[last] ^= 1;
        // A newer RDB version (Redis 7.2's 11) is refused even with a good CRC.
        let n = p.len();
        p[n - 10] = 11;
        let crc = CRC64.checksum(&p[..n - 8]);
        p[n - 8..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(load(&p).err(), Some(PayloadError::VersionOrChecksum));
    }

    #[test]
    fn undecodable_value_is_bad_data() {
        let mut p = vec![0x00, 0x05, b'h'];
        p.extend_from_slice(&10u16.to_le_bytes());
        let crc = CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(load(&p).err(), Some(PayloadError::BadData));
    }
}
