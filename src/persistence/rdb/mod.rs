//! Redis's RDB snapshot format.
//!
//! A file is `REDIS` + four version digits, then opcodes until EOF, then
//! (version 5 on) the CRC-64/Jones of everything before, little-endian, or
//! 0 when `rdbchecksum no`. [`RdbWriter`] writes what Redis 7.0 writes
//! (version 10) for the same data; [`RdbReader`] reads versions 1 to 11
//! (Redis up to 7.2), every encoding but modules.
//!
//! Collections travel in Redis's own packed layouts (`storage::listpack`:
//! listpack and intset, read and written; `legacy.rs`: ziplist and zipmap,
//! read only), whatever our in-memory encoding is.

use std::fmt;

use crc::{Crc, Table, CRC_64_REDIS};

use crate::storage::Value;

mod legacy;
pub mod payload;
mod read;
mod write;

pub use read::RdbReader;
pub use write::{Aux, KeyMeta, RdbWriter, ReplInfo, WriteOptions};

/// The version this writer produces (Redis 7.0's).
pub const RDB_VERSION: u32 = 10;
/// The newest version the reader accepts (Redis 7.2's).
pub const MAX_READ_VERSION: u32 = 11;

/// Redis's crc64: CRC-64/Jones, reflected, init 0 (`crc::CRC_64_REDIS`).
pub static CRC64: Crc<u64, Table<16>> = Crc::<u64, Table<16>>::new(&CRC_64_REDIS);

/// Opcodes (rdb.h `RDB_OPCODE_*`).
pub(crate) mod op {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Value types (rdb.h `RDB_TYPE_*`).
pub(crate) mod ty {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// Special string encodings (`RDB_ENC_*`), after a length byte `11xxxxxx`.
pub(crate) mod enc {
    pub const INT8: u8 = 0;
    pub const INT16: u8 = 1;
    pub const INT32: u8 = 2;
    pub const LZF: u8 = 3;
}

/// Quicklist node containers in type 18.
pub(crate) const QUICKLIST_NODE_PLAIN: u64 = 1;
pub(crate) const QUICKLIST_NODE_PACKED: u64 = 2;

/// One key as stored in a snapshot.
#[derive(Debug, Clone)]
pub struct Entry {
    pub db: u64,
    pub key: Vec<u8>,
    pub value: Value,
    /// Absolute unix time in ms. The reader returns keys already past it:
    /// a master drops them on load, a replica keeps them (as Redis does).
    pub expire_ms: Option<i64>,
    /// LRU idle seconds (written when maxmemory-policy is an LRU one).
    pub idle: Option<u64>,
    /// LFU counter (written when maxmemory-policy is an LFU one).
    pub freq: Option<u8>,
}

/// One thing read from a snapshot.
#[derive(Debug, Clone)]
pub enum Item {
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    SelectDb(u64),
    ResizeDb {
        size: u64,
        expires: u64,
    },
    Entry(Entry),
    /// A function library's code (FUNCTION LOAD's argument).
    Function(Vec<u8>),
    /// Module data outside the keyspace, skipped: Redis itself refuses to
    /// start on it without the module, the caller decides.
    ModuleAux {
        module: String,
    },
    /// The end; `checksum` as stored (None before version 5, Some(0) when
    /// the writer had `rdbchecksum no`). A nonzero one has been verified.
    Eof {
        checksum: Option<u64>,
    },
}

/// What was wrong.
#[derive(Debug)]
pub enum ErrorKind {
    Io(std::io::Error),
    Truncated,
    BadMagic,
    UnsupportedVersion(u32),
    BadChecksum { stored: u64, computed: u64 },
    BadEncoding(String),
    Unsupported(String),
}

/// A snapshot that cannot be read, and the byte offset where that showed.
#[derive(Debug)]
pub struct RdbError {
    pub offset: u64,
    pub kind: ErrorKind,
}

impl RdbError {
    pub(crate) fn new(offset: u64, kind: ErrorKind) -> RdbError {
        RdbError { offset, kind }
    }

    pub(crate) fn bad(offset: u64, what: impl Into<String>) -> RdbError {
        RdbError::new(offset, ErrorKind::BadEncoding(what.into()))
    }
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Io(e) => write!(f, "read error: {e}")?,
            ErrorKind::Truncated => write!(f, "unexpected end of file")?,
            ErrorKind::BadMagic => write!(f, "wrong signature, not an RDB file")?,
            ErrorKind::UnsupportedVersion(v) => write!(f, "can't handle RDB format version {v}")?,
            ErrorKind::BadChecksum { stored, computed } => write!(
                f,
                "wrong RDB checksum: stored {stored:016x}, computed {computed:016x}"
            )?,
            ErrorKind::BadEncoding(what) => write!(f, "{what}")?,
            ErrorKind::Unsupported(what) => write!(f, "unsupported {what}")?,
        }
        write!(f, " at offset {}", self.offset)
    }
}

impl std::error::Error for RdbError {}

/// The module name packed in a module id's top 54 bits (Redis's
/// `moduleTypeNameByID`).
pub(crate) fn module_name(id: u64) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = id >> 10;
    let mut name = [0u8; 9];
    for c in name.iter_mut().rev() {
        *c = CHARS[(id & 63) as usize];
        id >>= 6;
    }
    String::from_utf8_lossy(&name).into_owned()
}
