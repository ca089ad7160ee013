//! Bitmaps and bitfields on string values: SETBIT GETBIT BITCOUNT BITPOS
//! BITOP BITFIELD BITFIELD_RO, with Redis 7.0's replies, error texts and
//! limits. Bits are numbered from the most significant bit of byte 0.
//!
//! BITOP with keys on several cores reads the sources and writes the
//! destination inside one transaction over their cores (`runtime::Txn`),
//! so it is atomic as in Redis.

use crate::cluster::route::core as core_of;
use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};

use super::{arg_i64, flags::*, is, spec, with_ctx, ClientRef, Cross, Ctx, Handler, Spec};
use crate::config::{self, events, Opt};
use crate::protocol::errors::{self, err};
use crate::protocol::Reply;
use crate::runtime::Txn;
use crate::storage::evict::new_lru;
use crate::storage::Value;

const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Redis's getBitOffsetFromArgument: a bit offset, or `#n` (with `hash`)
/// meaning n fields of `bits`; below proto-max-bulk-len bytes.
fn bit_offset(arg: &[u8], hash: bool, bits: u32) -> Result<u64, Reply> {
    let use_hash = hash && arg.len() > 1 && arg[0] == b'#';
    let n = crate::protocol::parse_i64(&arg[use_hash as usize..]).ok_or(err(BIT_OFFSET))?;
    let n = if use_hash {
        n.wrapping_mul(bits as i64)
    } else {
        n
    };
    if n < 0 || (n >> 3) >= config::num(Opt::ProtoMaxBulkLen) {
        return Err(err(BIT_OFFSET));
    }
    Ok(n as u64)
}

/// The string at `key` for reading (None: missing), or WRONGTYPE.
pub(crate) fn read_string(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    super::strings::read_str(ctx, key)
}

/// Redis's lookupStringForBitCommand: the string at `key`, created or
/// zero-padded to hold byte `len - 1`, handed to `f` to change in place.
/// Returns f's result and whether the key was created or grown.
fn with_string_mut<R>(
    ctx: &mut Ctx,
    key: &[u8],
    len: usize,
    f: impl FnOnce(&mut [u8]) -> R,
) -> Result<(R, bool), Reply> {
    match ctx.lookup_write(key) {
        Some(e) => {
            let Value::Str(cur) = &mut e.value else {
                return Err(err(errors::WRONGTYPE));
            };
            let b = cur.take();
            let mut buf = b.try_into_mut().unwrap_or_else(|b| BytesMut::from(&b[..]));
            let grown = buf.len() < len;
            if grown {
                buf.resize(len, 0);
            }
            let r = f(&mut buf);
            *cur = buf.freeze().into();
            Ok((r, grown))
        }
        None => {
            let mut buf = BytesMut::zeroed(len);
            let r = f(&mut buf);
            ctx.insert(key, Value::Str(buf.freeze().into()), 0, new_lru());
            Ok((r, true))
        }
    }
}

fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = match bit_offset(&args[2], false, 0) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let on = match crate::protocol::parse_i64(&args[3]) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return err(BIT_VALUE),
    };
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let flip = |buf: &mut [u8]| {
        let was = buf[byte] & mask != 0;
        if on {
            buf[byte] |= mask;
        } else {
            buf[byte] &= !mask;
        }
        was
    };
    match with_string_mut(ctx, &args[1], byte + 1, flip) {
        Ok((was, grown)) => {
            if grown || was != on {
                ctx.dirty(1);
                ctx.notify(events::STRING, "setbit", &args[1]);
            }
            Reply::Int(was as i64)
        }
        Err(e) => e,
    }
}

fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = match bit_offset(&args[2], false, 0) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match read_string(ctx, &args[1]) {
        Ok(v) => {
            let v = v.unwrap_or_default();
            let byte = (offset >> 3) as usize;
            let set = byte < v.len() && v[byte] & (1 << (7 - (offset & 7))) != 0;
            Reply::Int(set as i64)
        }
        Err(e) => e,
    }
}

/// A BITCOUNT/BITPOS range resolved to inclusive bit positions
/// `[first, last]` of a string of `len` bytes (None: empty range).
fn bit_range(start: i64, end: i64, bit_unit: bool, len: usize) -> Option<(u64, u64)> {
    let total = if bit_unit { len as i64 * 8 } else { len as i64 };
    let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end {
        return None;
    }
    let (s, e) = (start as u64, end as u64);
    Some(if bit_unit { (s, e) } else { (s * 8, e * 8 + 7) })
}

/// The BYTE|BIT word of BITCOUNT/BITPOS: true for BIT.
fn unit(arg: Option<&Bytes>) -> Result<bool, Reply> {
    match arg {
        None => Ok(false),
        Some(a) if is(a, "bit") => Ok(true),
        Some(a) if is(a, "byte") => Ok(false),
        Some(_) => Err(err(errors::SYNTAX)),
    }
}

/// Set bits in bit positions `[first, last]` of `v`.
fn count_bits(v: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    let mut n: u64 = v[fb..=lb].iter().map(|b| b.count_ones() as u64).sum();
    // Drop the bits of the edge bytes that lie outside the range.
    n -= (v[fb] & !(0xFFu8 >> (first % 8))).count_ones() as u64;
    n -= (v[lb] & (0xFFu16 >> (last % 8 + 1)) as u8).count_ones() as u64;
    n
}

fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let v = match read_string(ctx, &args[1]) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let range = match args.len() {
        2 => bit_range(0, -1, false, v.len()),
        4 | 5 => {
            let (start, end) = match (arg_i64(&args[2]), arg_i64(&args[3])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            // Both from the end and crossed: 0, before the unit is read
            // (BITCOUNT only, as Redis 7.0).
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            match unit(args.get(4)) {
                Ok(bits) => bit_range(start, end, bits, v.len()),
                Err(e) => return e,
            }
        }
        _ => return err(errors::SYNTAX),
    };
    Reply::Int(range.map_or(0, |(f, l)| count_bits(&v, f, l)) as i64)
}

/// The first bit equal to `bit` in bit positions `[first, last]` of `v`.
fn find_bit(v: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    let skip = if bit { 0x00 } else { 0xFF };
    let mut pos = first;
    while pos <= last {
        let byte = v[(pos / 8) as usize];
        // Whole bytes with nothing to find are skipped at once.
        if pos.is_multiple_of(8) && pos + 7 <= last && byte == skip {
            pos += 8;
            continue;
        }
        if (byte >> (7 - pos % 8)) & 1 == bit as u8 {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let bit = match arg_i64(&args[2]) {
        Ok(b @ (0 | 1)) => b == 1,
        Ok(_) => return Reply::error("ERR The bit argument must be 1 or 0."),
        Err(e) => return e,
    };
    let v = match read_string(ctx, &args[1]) {
        // A missing key is an endless run of zeros.
        Ok(None) => return Reply::Int(if bit { -1 } else { 0 }),
        Ok(Some(v)) => v,
        Err(e) => return e,
    };
    if args.len() > 6 {
        return err(errors::SYNTAX);
    }
    let mut end_given = false;
    let range = if args.len() == 3 {
        bit_range(0, -1, false, v.len())
    } else {
        let start = match arg_i64(&args[3]) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let bits = match unit(args.get(5)) {
            Ok(b) => b,
            Err(e) => return e,
        };
        let end = match args.get(4).map(|a| arg_i64(a)) {
            Some(Ok(e)) => {
                end_given = true;
                e
            }
            Some(Err(e)) => return e,
            None => -1,
        };
        bit_range(start, end, bits, v.len())
    };
    let Some((first, last)) = range else {
        return Reply::Int(-1);
    };
    match find_bit(&v, bit, first, last) {
        Some(p) => Reply::Int(p as i64),
        // No clear bit: past the end of the string counts as zeros,
        // unless the caller fixed the end of the range.
        None if !bit && !end_given => Reply::Int((last + 1) as i64),
        None => Reply::Int(-1),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP's operation, checked before any key is read.
fn parse_bitop(args: &[Bytes]) -> Result<BitOp, Reply> {
    let op = match &args[1] {
        a if is(a, "and") => BitOp::And,
        a if is(a, "or") => BitOp::Or,
        a if is(a, "xor") => BitOp::Xor,
        a if is(a, "not") => BitOp::Not,
        _ => return Err(err(errors::SYNTAX)),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(Reply::error(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    Ok(op)
}

/// The result of `op` over the sources (missing keys are empty strings;
/// shorter strings are padded with zero bytes).
fn combine(op: BitOp, srcs: &[Option<Bytes>]) -> Vec<u8> {
    let max = srcs.iter().flatten().map(Bytes::len).max().unwrap_or(0);
    let byte =
        |s: &Option<Bytes>, i: usize| s.as_ref().and_then(|s| s.get(i)).copied().unwrap_or(0);
    (0..max)
        .map(|i| {
            let mut it = srcs.iter().map(|s| byte(s, i));
            let first = it.next().unwrap_or(0);
            match op {
                BitOp::Not => !first,
                BitOp::And => it.fold(first, |a, b| a & b),
                BitOp::Or => it.fold(first, |a, b| a | b),
                BitOp::Xor => it.fold(first, |a, b| a ^ b),
            }
        })
        .collect()
}

/// Stores BITOP's result at `dst` (an empty result deletes it); the
/// reply is the result's length.
fn store_result(ctx: &mut Ctx, dst: &[u8], result: Vec<u8>) -> Reply {
    let len = result.len();
    if len > 0 {
        ctx.lookup_write(dst);
        ctx.insert(dst, Value::Str(Bytes::from(result).into()), 0, new_lru());
        ctx.notify(events::STRING, "set", dst);
        ctx.dirty(1);
    } else if ctx.delete(dst) {
        ctx.dirty(1);
    }
    Reply::Int(len as i64)
}

fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let op = match parse_bitop(args) {
        Ok(op) => op,
        Err(e) => return e,
    };
    let mut srcs = Vec::with_capacity(args.len() - 3);
    for k in &args[3..] {
        match read_string(ctx, k) {
            Ok(v) => srcs.push(v),
            Err(e) => return e,
        }
    }
    store_result(ctx, &args[2], combine(op, &srcs))
}

/// Reads the strings at `keys` (on any cores) inside `txn`, in key order;
/// WRONGTYPE if one holds another type.
pub(crate) async fn read_strings(
    txn: &Txn,
    db: usize,
    keys: &[Bytes],
) -> Result<Vec<Option<Bytes>>, Reply> {
    let reads = keys.iter().map(|k| {
        let k = k.clone();
        txn.call(core_of(&k), move || {
            with_ctx(db, |ctx| read_string(ctx, &k))
        })
    });
    futures_util::future::join_all(reads)
        .await
        .into_iter()
        .map(|r| r?)
        .collect()
}

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

/// BITOP with keys on several cores: one transaction over all of them.
fn bitop_across(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let op = match parse_bitop(&args) {
            Ok(op) => op,
            Err(e) => return e,
        };
        let db = c.borrow().db;
        let txn = Txn::begin(args[2..].iter().map(|k| core_of(k))).await;
        let reply = match read_strings(&txn, db, &args[3..]).await {
            Ok(srcs) => {
                let result = combine(op, &srcs);
                let dst = args[2].clone();
                txn.call(core_of(&dst), move || {
                    with_ctx(db, |ctx| store_result(ctx, &dst, result))
                })
                .await
                .unwrap_or_else(|e| e)
            }
            Err(e) => e,
        };
        txn.end().await;
        reply
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set,
    Incrby,
}

struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// `i8` / `u16` ...: signed, and the width (i1..i64, u1..u63).
fn field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err(BITFIELD_TYPE)),
    };
    match crate::protocol::parse_i64(&arg[1..]) {
        Some(b) if b >= 1 && b <= if signed { 64 } else { 63 } => Ok((signed, b as u32)),
        _ => Err(err(BITFIELD_TYPE)),
    }
}

fn parse_fields(args: &[Bytes]) -> Result<Vec<Field>, Reply> {
    let mut out = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let rem = args.len() - j - 1;
        let a = &args[j];
        let op = if is(a, "get") && rem >= 2 {
            FieldOp::Get
        } else if is(a, "set") && rem >= 3 {
            FieldOp::Set
        } else if is(a, "incrby") && rem >= 3 {
            FieldOp::Incrby
        } else if is(a, "overflow") && rem >= 1 {
            overflow = match &args[j + 1] {
                w if is(w, "wrap") => Overflow::Wrap,
                w if is(w, "sat") => Overflow::Sat,
                w if is(w, "fail") => Overflow::Fail,
                _ => return Err(Reply::error("ERR Invalid OVERFLOW type specified")),
            };
            j += 2;
            continue;
        } else {
            return Err(err(errors::SYNTAX));
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], true, bits)?;
        let value = if op == FieldOp::Get {
            0
        } else {
            arg_i64(&args[j + 3])?
        };
        out.push(Field {
            op,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(out)
}

/// `bits` bits at bit `offset` as an unsigned number (past the end: 0).
fn get_field(v: &[u8], offset: u64, bits: u32) -> u64 {
    (offset..offset + bits as u64).fold(0, |acc, pos| {
        let byte = v.get((pos / 8) as usize).copied().unwrap_or(0);
        (acc << 1) | ((byte >> (7 - pos % 8)) & 1) as u64
    })
}

fn set_field(v: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        let pos = offset + j;
        let mask = 1u8 << (7 - pos % 8);
        let byte = &mut v[(pos / 8) as usize];
        if (value >> (bits as u64 - 1 - j)) & 1 == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Redis's checkUnsignedBitfieldOverflow: Some(value to store) when
/// `value + incr` leaves u`bits` (its wrap or saturation), else None.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > max_incr) {
        Some(if ow == Overflow::Sat { max } else { wrap() })
    } else if incr < 0 && incr < min_incr {
        Some(if ow == Overflow::Sat { 0 } else { wrap() })
    } else {
        None
    }
}

/// Redis's checkSignedBitfieldOverflow, as `unsigned_overflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        sign_extend(if bits < 64 { c & ((1 << bits) - 1) } else { c }, bits)
    };
    let limit = |sat: i64| if ow == Overflow::Sat { sat } else { wrap() };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        Some(limit(max))
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(limit(min))
    } else {
        None
    }
}

/// SET or INCRBY of one field in `v`: the reply, and whether it wrote.
fn write_field(v: &mut [u8], f: &Field) -> Reply {
    let (off, bits) = (f.offset, f.bits);
    let old = get_field(v, off, bits);
    let (reply, new, overflowed) = if f.signed {
        let old = sign_extend(old, bits);
        let (base, incr) = match f.op {
            FieldOp::Incrby => (old, f.value),
            _ => (f.value, 0),
        };
        let ov = signed_overflow(base, incr, bits, f.overflow);
        let new = ov.unwrap_or(base.wrapping_add(incr));
        let reply = if f.op == FieldOp::Incrby { new } else { old };
        (reply, new as u64, ov.is_some())
    } else {
        let (base, incr) = match f.op {
            FieldOp::Incrby => (old, f.value),
            _ => (f.value as u64, 0),
        };
        let ov = unsigned_overflow(base, incr, bits, f.overflow);
        let new = ov.unwrap_or(base.wrapping_add(incr as u64));
        let reply = if f.op == FieldOp::Incrby { new } else { old };
        (reply as i64, new, ov.is_some())
    };
    if overflowed && f.overflow == Overflow::Fail {
        return Reply::Nil;
    }
    set_field(v, off, bits, new);
    Reply::Int(reply)
}

fn read_field(v: &[u8], f: &Field) -> Reply {
    let raw = get_field(v, f.offset, f.bits);
    Reply::Int(if f.signed {
        sign_extend(raw, f.bits)
    } else {
        raw as i64
    })
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], read_only: bool) -> Reply {
    let fields = match parse_fields(args) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let key = &args[1];
    let highest = fields
        .iter()
        .filter(|f| f.op != FieldOp::Get)
        .map(|f| f.offset + f.bits as u64 - 1)
        .max();
    let Some(highest) = highest else {
        return match read_string(ctx, key) {
            Ok(v) => {
                let v = v.unwrap_or_default();
                Reply::Array(fields.iter().map(|f| read_field(&v, f)).collect())
            }
            Err(e) => e,
        };
    };
    if read_only {
        return Reply::error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let len = (highest >> 3) as usize + 1;
    let run = |v: &mut [u8]| {
        fields
            .iter()
            .map(|f| match f.op {
                FieldOp::Get => read_field(v, f),
                _ => write_field(v, f),
            })
            .collect::<Vec<_>>()
    };
    match with_string_mut(ctx, key, len, run) {
        Ok((replies, _)) => {
            let changes = fields.iter().filter(|f| f.op != FieldOp::Get).count();
            ctx.notify(events::STRING, "setbit", key);
            ctx.dirty(changes as u64);
            Reply::Array(replies)
        }
        Err(e) => e,
    }
}

fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bitfield_generic(ctx, args, true)
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::Key;
    let g = "bitmap";
    t.extend([
        spec(
            "setbit",
            4,
            WRITE | DENYOOM,
            (1, 1, 1),
            Key(setbit),
            Cross::Never,
            g,
            "Sets or clears the bit at offset in the string value stored at key",
            "2.2.0",
        ),
        spec(
            "getbit",
            3,
            READONLY | FAST,
            (1, 1, 1),
            Key(getbit),
            Cross::Never,
            g,
            "Returns the bit value at offset in the string value stored at key",
            "2.2.0",
        ),
        spec(
            "bitcount",
            -2,
            READONLY,
            (1, 1, 1),
            Key(bitcount),
            Cross::Never,
            g,
            "Count set bits in a string",
            "2.6.0",
        ),
        spec(
            "bitpos",
            -3,
            READONLY,
            (1, 1, 1),
            Key(bitpos),
            Cross::Never,
            g,
            "Find first bit set or clear in a string",
            "2.8.7",
        ),
        spec(
            "bitop",
            -4,
            WRITE | DENYOOM,
            (2, -1, 1),
            Key(bitop),
            Cross::Coord(bitop_across),
            g,
            "Perform bitwise operations between strings",
            "2.6.0",
        ),
        spec(
            "bitfield",
            -2,
            WRITE | DENYOOM,
            (1, 1, 1),
            Key(bitfield),
            Cross::Never,
            g,
            "Perform arbitrary bitfield integer operations on strings",
            "3.2.0",
        ),
        spec(
            "bitfield_ro",
            -2,
            READONLY | FAST,
            (1, 1, 1),
            Key(bitfield_ro),
            Cross::Never,
            g,
            "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
            "6.0.0",
        ),
    ]);
}
