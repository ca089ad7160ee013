//! HyperLogLog: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST on string values
//! laid out exactly as Redis 7.0 lays them out, so the bytes (GET, DUMP,
//! RDB) interchange with redis-server and PFCOUNT gives the same numbers.
//!
//! Layout: a 16-byte header (`HYLL`, encoding 0 dense / 1 sparse, three
//! unused bytes, the cached cardinality little-endian with bit 63 meaning
//! "stale"), then 16384 registers: dense, 6 bits each, least significant
//! bits first; or sparse, a run-length code of ZERO (00xxxxxx: 1..64 zero
//! registers), XZERO (01xxxxxx yyyyyyyy: 1..16384 zeros) and VAL (1vvvvvxx:
//! 1..4 registers of value 1..32). A sparse HLL becomes dense when a value
//! passes 32 or it would grow past `hll-sparse-max-bytes`.
//!
//! PFCOUNT and PFMERGE over keys on several cores read them (and write the
//! destination) inside one transaction over their cores.

use crate::cluster::route::core as core_of;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::bitmaps::read_strings;
use super::{flags::*, spec, with_ctx, ClientRef, Cross, Ctx, Handler, Spec};
use crate::config::{self, events, Opt};
use crate::protocol::Reply;
use crate::runtime::Txn;
use crate::storage::evict::new_lru;
use crate::storage::Value;

const P: u32 = 14;
const Q: u32 = 64 - P;
const REGISTERS: usize = 1 << P;
const HDR: usize = 16;
const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPTED: &str = "INVALIDOBJ Corrupted HLL object detected";

/// A corrupted sparse representation.
#[derive(Debug)]
struct Corrupt;

/// Redis's MurmurHash64A.
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4a7935bd1e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the length of its run of zeros
/// plus one (hllPatLen).
fn pattern(elem: &[u8]) -> (usize, u8) {
    let hash = murmur64a(elem, 0xadc83b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let (byte, fb) = (i * 6 / 8, (i * 6) & 7);
    let b0 = regs[byte] as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let (byte, fb) = (i * 6 / 8, (i * 6) & 7);
    let v = v as u16;
    regs[byte] &= !((63u16 << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !(63u16 >> (8 - fb)) as u8;
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// One sparse opcode: (registers covered, value, bytes).
fn opcode(p: &[u8], at: usize) -> Result<(usize, u8, usize), Corrupt> {
    let b = p[at];
    Ok(match b & 0xc0 {
        0x00 => ((b & 0x3f) as usize + 1, 0, 1),
        0x40 => {
            let lo = *p.get(at + 1).ok_or(Corrupt)? as usize;
            ((((b & 0x3f) as usize) << 8 | lo) + 1, 0, 2)
        }
        _ => ((b & 0x3) as usize + 1, ((b >> 2) & 0x1f) + 1, 1),
    })
}

fn push_zeros(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        out.push((((len - 1) >> 8) as u8) | 0x40);
        out.push(((len - 1) & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

fn val_op(value: u8, len: usize) -> u8 {
    ((value - 1) << 2) | (len as u8 - 1) | 0x80
}

/// An empty HLL, sparse (one XZERO over every register).
fn new_hll() -> Vec<u8> {
    let mut v = b"HYLL".to_vec();
    v.extend_from_slice(&[SPARSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    push_zeros(&mut v, XZERO_MAX_LEN);
    v
}

/// Redis's isHLLObjectOrReply test on a string.
fn is_hll(v: &[u8]) -> bool {
    v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE)
}

fn invalidate(v: &mut [u8]) {
    v[15] |= 0x80;
}

/// Every register of a sparse or dense HLL, as one byte each.
fn registers(v: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut max = vec![0u8; REGISTERS];
    merge_into(&mut max, v)?;
    Ok(max)
}

/// max[i] = MAX(max[i], register i of `v`) (hllMerge).
fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), Corrupt> {
    let regs = &v[HDR..];
    if v[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let (mut at, mut i) = (0, 0);
    while at < regs.len() {
        let (run, value, size) = opcode(regs, at)?;
        if value > 0 {
            let slots = max.get_mut(i..i + run).ok_or(Corrupt)?;
            slots.iter_mut().for_each(|m| *m = (*m).max(value));
        }
        i += run;
        at += size;
    }
    if i != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// The dense form of a sparse HLL, header (and cached count) kept.
fn to_dense(v: &[u8]) -> Result<Vec<u8>, Corrupt> {
    if v[4] == DENSE {
        return Ok(v.to_vec());
    }
    let regs = registers(v)?;
    let mut d = vec![0u8; DENSE_SIZE];
    d[..HDR].copy_from_slice(&v[..HDR]);
    d[4] = DENSE;
    for (i, &r) in regs.iter().enumerate().filter(|(_, r)| **r > 0) {
        dense_set(&mut d[HDR..], i, r);
    }
    Ok(d)
}

/// Sets register `index` to `count` if that raises it (hllSparseSet /
/// hllDenseSet), turning a sparse HLL dense when needed. True if changed.
fn set_register(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    if v[4] == DENSE {
        let regs = &mut v[HDR..];
        if dense_get(regs, index) >= count {
            return Ok(false);
        }
        dense_set(regs, index, count);
        return Ok(true);
    }
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Find the opcode that covers `index`.
    let (mut at, mut first, mut prev) = (HDR, 0usize, None);
    let (run, value, size) = loop {
        if at >= v.len() {
            return Err(Corrupt);
        }
        let op = opcode(v, at)?;
        if index < first + op.0 {
            break op;
        }
        prev = Some(at);
        first += op.0;
        at += op.2;
    };
    if value > 0 && value >= count {
        return Ok(false);
    }
    if run == 1 {
        // A VAL or ZERO of one register: rewrite it in place.
        v[at] = val_op(count, 1);
    } else {
        // Split the run into up to three opcodes.
        let last = first + run - 1;
        let mut seq = Vec::with_capacity(5);
        let side = |seq: &mut Vec<u8>, len: usize| match value {
            0 => push_zeros(seq, len),
            _ => seq.push(val_op(value, len)),
        };
        if index != first {
            side(&mut seq, index - first);
        }
        seq.push(val_op(count, 1));
        if index != last {
            side(&mut seq, last - index);
        }
        let grow = seq.len() as i64 - size as i64;
        if grow > 0 && v.len() as i64 + grow > config::num(Opt::HllSparseMaxBytes) {
            return promote(v, index, count);
        }
        v.splice(at..at + size, seq);
    }
    merge_adjacent(v, prev.unwrap_or(HDR));
    Ok(true)
}

/// Joins neighbouring VAL opcodes of one value (up to 5 opcodes from
/// `at`), as Redis does after an update.
fn merge_adjacent(v: &mut Vec<u8>, mut at: usize) {
    let mut scan = 5;
    while at < v.len() && scan > 0 {
        scan -= 1;
        let b = v[at];
        match b & 0xc0 {
            0x40 => {
                at += 2;
                continue;
            }
            0x00 => {
                at += 1;
                continue;
            }
            _ => {}
        }
        if let Some(&n) = v.get(at + 1).filter(|n| **n & 0x80 != 0) {
            let (v1, v2) = (((b >> 2) & 0x1f) + 1, ((n >> 2) & 0x1f) + 1);
            let len = (b & 3) as usize + (n & 3) as usize + 2;
            if v1 == v2 && len <= VAL_MAX_LEN {
                v[at + 1] = val_op(v1, len);
                v.remove(at);
                continue;
            }
        }
        at += 1;
    }
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    *v = to_dense(v)?;
    dense_set(&mut v[HDR..], index, count);
    Ok(true)
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

/// The cardinality estimate of registers (Ertl's improved estimator, as
/// Redis's hllCount).
fn estimate(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[r as usize] += 1;
    }
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    // Redis's HLL_ALPHA_INF (0.5 / ln 2), the same double.
    (0.721_347_520_444_481_7 * m * m / z).round() as u64
}

/// The HLL string at `key` for change: its bytes, or None if missing;
/// WRONGTYPE for anything else.
fn load(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
    match super::bitmaps::read_string(ctx, key)? {
        Some(v) if is_hll(&v) => Ok(Some(v.to_vec())),
        Some(_) => Err(Reply::error(NOT_HLL)),
        None => Ok(None),
    }
}

/// Writes `v` back at `key` (an existing key keeps its TTL).
fn save(ctx: &mut Ctx, key: &[u8], v: Vec<u8>) {
    match ctx.lookup_write(key) {
        Some(e) => e.value = Value::Str(Bytes::from(v).into()),
        None => {
            ctx.insert(key, Value::Str(Bytes::from(v).into()), 0, new_lru());
        }
    }
}

fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let (mut v, mut updated) = match load(ctx, key) {
        Ok(Some(v)) => (v, 0),
        Ok(None) => (new_hll(), 1),
        Err(e) => return e,
    };
    for elem in &args[2..] {
        let (index, count) = pattern(elem);
        match set_register(&mut v, index, count) {
            Ok(changed) => updated += changed as u64,
            Err(Corrupt) => return Reply::error(CORRUPTED),
        }
    }
    if updated > 0 {
        invalidate(&mut v);
        save(ctx, key, v);
        ctx.notify(events::STRING, "pfadd", key);
        ctx.dirty(updated);
    }
    Reply::Int((updated > 0) as i64)
}

/// The union estimate of the HLLs given (None: missing key).
fn union_count(hlls: &[Option<Bytes>]) -> Reply {
    let mut max = vec![0u8; REGISTERS];
    for v in hlls.iter().flatten() {
        if !is_hll(v) {
            return Reply::error(NOT_HLL);
        }
        if merge_into(&mut max, v).is_err() {
            return Reply::error(CORRUPTED);
        }
    }
    Reply::Int(estimate(&max) as i64)
}

fn pfcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 2 {
        let mut hlls = Vec::new();
        for k in &args[1..] {
            match super::bitmaps::read_string(ctx, k) {
                Ok(Some(v)) if !is_hll(&v) => return Reply::error(NOT_HLL),
                Ok(v) => hlls.push(v),
                Err(e) => return e,
            }
        }
        return union_count(&hlls);
    }
    let key = &args[1];
    let mut v = match load(ctx, key) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let card = u64::from_le_bytes(v[8..16].try_into().expect("8 bytes"));
    if v[15] & 0x80 == 0 {
        return Reply::Int(card as i64);
    }
    // A stale cache: count and store the count, as Redis does.
    let Ok(regs) = registers(&v) else {
        return Reply::error(CORRUPTED);
    };
    let card = estimate(&regs);
    v[8..16].copy_from_slice(&card.to_le_bytes());
    save(ctx, key, v);
    ctx.dirty(1);
    // A read-only command that changed the string: journaled itself, as
    // Redis propagates it, so replicas and the AOF hold the same bytes.
    crate::storage::journal::record(ctx.db, args);
    Reply::Int(card as i64)
}

/// PFMERGE's result: the max of the sources' registers, and whether one
/// of them was dense (then the destination turns dense).
fn merge_sources(hlls: &[Option<Bytes>]) -> Result<(Vec<u8>, bool), Reply> {
    let mut max = vec![0u8; REGISTERS];
    let mut dense = false;
    for v in hlls.iter().flatten() {
        if !is_hll(v) {
            return Err(Reply::error(NOT_HLL));
        }
        dense |= v[4] == DENSE;
        merge_into(&mut max, v).map_err(|_| Reply::error(CORRUPTED))?;
    }
    Ok((max, dense))
}

/// Writes the merged registers into the destination (created if missing).
fn merge_store(ctx: &mut Ctx, dst: &[u8], max: Vec<u8>, dense: bool) -> Reply {
    let mut v = match load(ctx, dst) {
        Ok(v) => v.unwrap_or_else(new_hll),
        Err(e) => return e,
    };
    if dense {
        match to_dense(&v) {
            Ok(d) => v = d,
            Err(Corrupt) => return Reply::error(CORRUPTED),
        }
    }
    for (i, &r) in max.iter().enumerate().filter(|(_, r)| **r > 0) {
        if set_register(&mut v, i, r).is_err() {
            return Reply::error(CORRUPTED);
        }
    }
    invalidate(&mut v);
    save(ctx, dst, v);
    ctx.notify(events::STRING, "pfadd", dst);
    ctx.dirty(1);
    Reply::Ok
}

fn pfmerge(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut hlls = Vec::new();
    for k in &args[1..] {
        match super::bitmaps::read_string(ctx, k) {
            Ok(v) => hlls.push(v),
            Err(e) => return e,
        }
    }
    match merge_sources(&hlls) {
        Ok((max, dense)) => merge_store(ctx, &args[1], max, dense),
        Err(e) => e,
    }
}

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

/// PFCOUNT over keys on several cores: a consistent read of all of them.
fn pfcount_across(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let db = c.borrow().db;
        let txn = Txn::begin(args[1..].iter().map(|k| core_of(k))).await;
        let got = read_strings(&txn, db, &args[1..]).await;
        txn.end().await;
        match got {
            Ok(hlls) => union_count(&hlls),
            Err(e) => e,
        }
    })
}

/// PFMERGE over keys on several cores: read and write in one transaction.
fn pfmerge_across(c: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let db = c.borrow().db;
        let txn = Txn::begin(args[1..].iter().map(|k| core_of(k))).await;
        let reply = match read_strings(&txn, db, &args[1..]).await {
            Ok(hlls) => match merge_sources(&hlls) {
                Ok((max, dense)) => {
                    let dst = args[1].clone();
                    txn.call(core_of(&dst), move || {
                        with_ctx(db, |ctx| merge_store(ctx, &dst, max, dense))
                    })
                    .await
                    .unwrap_or_else(|e| e)
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        txn.end().await;
        reply
    })
}

/// The sparse opcodes as PFDEBUG DECODE prints them.
fn decode(v: &[u8]) -> Result<String, Corrupt> {
    let regs = &v[HDR..];
    let mut out = Vec::new();
    let mut at = 0;
    while at < regs.len() {
        let (run, value, size) = opcode(regs, at)?;
        out.push(match (value, size) {
            (0, 1) => format!("z:{run}"),
            (0, _) => format!("Z:{run}"),
            _ => format!("v:{value},{run}"),
        });
        at += size;
    }
    Ok(out.join(" "))
}

fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).into_owned();
    let key = &args[2];
    let mut v = match load(ctx, key) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::error("ERR The specified key does not exist"),
        Err(e) => return e,
    };
    let lower = sub.to_ascii_lowercase();
    let corrupted = || Reply::error(CORRUPTED);
    match lower.as_str() {
        "getreg" | "todense" => {
            let was_sparse = v[4] == SPARSE;
            if was_sparse {
                let Ok(d) = to_dense(&v) else {
                    return corrupted();
                };
                v = d;
                save(ctx, key, v.clone());
                ctx.dirty(1);
            }
            if lower == "todense" {
                return Reply::Int(was_sparse as i64);
            }
            let regs = &v[HDR..];
            Reply::Array(
                (0..REGISTERS)
                    .map(|i| Reply::Int(dense_get(regs, i) as i64))
                    .collect(),
            )
        }
        "decode" if v[4] != SPARSE => Reply::error("ERR HLL encoding is not sparse"),
        "decode" => match decode(&v) {
            Ok(s) => Reply::bulk(s),
            Err(Corrupt) => corrupted(),
        },
        "encoding" => Reply::Status(if v[4] == DENSE { "dense" } else { "sparse" }.into()),
        _ => Reply::error(format!("ERR Unknown PFDEBUG subcommand '{sub}'")),
    }
}

/// PFSELFTEST: the dense register codec over every register, then the
/// sparse and dense forms fed the same elements must keep equal registers
/// and estimate within Redis's error bound.
fn pfselftest(_client: &mut super::ClientState, _args: &[Bytes]) -> Reply {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let want: Vec<u8> = (0..REGISTERS).map(|_| rng.gen_range(0..64)).collect();
    for (i, &r) in want.iter().enumerate() {
        dense_set(&mut regs, i, r);
    }
    for (i, &r) in want.iter().enumerate() {
        if dense_get(&regs, i) != r {
            return Reply::error(format!(
                "TESTFAILED Register error at {i}: expected {r}, got {}",
                dense_get(&regs, i)
            ));
        }
    }
    let mut sparse = new_hll();
    let mut dense = to_dense(&new_hll()).expect("empty HLL");
    let limit = |n: u64| {
        let relerr = 1.04 / (REGISTERS as f64).sqrt();
        n as f64 * relerr * if n < 1000 { 4.0 } else { 5.0 }
    };
    let seed: u64 = rng.gen();
    let mut checkpoint = 1u64;
    for n in 1..=100_000u64 {
        let elem = (seed ^ n).to_le_bytes();
        let (i, c) = pattern(&elem);
        // The sparse form may grow past the limit and turn dense itself.
        if set_register(&mut sparse, i, c).is_err() || set_register(&mut dense, i, c).is_err() {
            return Reply::error("TESTFAILED corrupted HLL during the test");
        }
        if n == checkpoint {
            checkpoint *= 10;
            let (a, b) = (registers(&sparse), registers(&dense));
            let (Ok(a), Ok(b)) = (a, b) else {
                return Reply::error("TESTFAILED corrupted HLL during the test");
            };
            if a != b {
                return Reply::error(format!(
                    "TESTFAILED sparse and dense registers differ at {n} elements"
                ));
            }
            let est = estimate(&a);
            if (est as f64 - n as f64).abs() > limit(n) {
                return Reply::error(format!(
                    "TESTFAILED Too big error. card:{n} abserr:{}",
                    (est as f64 - n as f64).abs()
                ));
            }
        }
    }
    Reply::Ok
}

pub fn register(t: &mut Vec<Spec>) {
    use Handler::Key;
    let g = "hyperloglog";
    t.extend([
        spec(
            "pfadd",
            -2,
            WRITE | DENYOOM | FAST,
            (1, 1, 1),
            Key(pfadd),
            Cross::Never,
            g,
            "Adds the specified elements to the specified HyperLogLog.",
            "2.8.9",
        ),
        spec(
            "pfcount",
            -2,
            READONLY,
            (1, -1, 1),
            Key(pfcount),
            Cross::Coord(pfcount_across),
            g,
            "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
            "2.8.9",
        ),
        spec(
            "pfmerge",
            -2,
            WRITE | DENYOOM,
            (1, -1, 1),
            Key(pfmerge),
            Cross::Coord(pfmerge_across),
            g,
            "Merge N different HyperLogLogs into a single one.",
            "2.8.9",
        ),
        spec(
            "pfdebug",
            3,
            WRITE | DENYOOM | ADMIN,
            (2, 2, 1),
            Key(pfdebug),
            Cross::Never,
            g,
            "Internal commands for debugging HyperLogLog values",
            "2.8.9",
        ),
        spec(
            "pfselftest",
            1,
            ADMIN,
            (0, 0, 0),
            Handler::Conn(pfselftest),
            Cross::Never,
            g,
            "An internal command for testing HyperLogLog values",
            "2.8.9",
        ),
    ]);
}
