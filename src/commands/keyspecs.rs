//! Redis 7.0's key specifications: where each command's keys are and what
//! it does with them (RO/RW/OW/RM, access/update/insert/delete). COMMAND
//! GETKEYS and GETKEYSANDFLAGS read them, in Redis's order: the specs
//! first; where they cannot say (SORT's STORE, MIGRATE's KEYS) or the
//! flags depend on the arguments (SET ... GET, BITFIELD), the command's own
//! rule, as Redis's getkeys procedures.
//!
//! The rows restate redis-server 7.0's `COMMAND INFO` key specifications
//! for the commands Redwing has.

use bytes::Bytes;

/// One key specification: flags, where the search begins, how keys are found.
pub struct KeySpec(u16, Begin, Find);

pub enum Begin {
    /// The first key's argument index.
    Index(i32),
    /// After this keyword, searched from this index (negative: from the end, backwards).
    Keyword(&'static str, i32),
    Unknown,
}

pub enum Find {
    /// Last key (relative to the first; negative: from the end), step, limit.
    Range(i32, i32, i32),
    /// Index of numkeys (relative to the begin), first key after it, step.
    KeyNum(i32, i32, i32),
    Unknown,
}

pub const RO: u16 = 1;
pub const RW: u16 = 1 << 1;
pub const OW: u16 = 1 << 2;
pub const RM: u16 = 1 << 3;
pub const ACCESS: u16 = 1 << 4;
pub const UPDATE: u16 = 1 << 5;
pub const INSERT: u16 = 1 << 6;
pub const DELETE: u16 = 1 << 7;
pub const NOT_KEY: u16 = 1 << 8;
pub const INCOMPLETE: u16 = 1 << 9;
pub const VARIABLE_FLAGS: u16 = 1 << 10;

/// The flag names in the order Redis replies with them.
const NAMES: [&str; 11] = [
    "RO",
    "RW",
    "OW",
    "RM",
    "access",
    "update",
    "insert",
    "delete",
    "not_key",
    "incomplete",
    "variable_flags",
];

pub fn flag_names(flags: u16) -> impl Iterator<Item = &'static str> {
    (0..NAMES.len())
        .filter(move |i| flags & 1 << i != 0)
        .map(|i| NAMES[i])
}

/// A command's specs (`config|get` for subcommands); None: it has no keys.
pub fn of(name: &str) -> Option<&'static [KeySpec]> {
    TABLE
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| TABLE[i].1)
}

/// Redis's doesCommandHaveKeys: a spec that is not `not_key` (SPUBLISH's
/// channel is one).
pub fn has_keys(name: &str) -> bool {
    of(name).is_some_and(|specs| specs.iter().any(|s| s.0 & NOT_KEY == 0))
}

fn is(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// The keys of `args` (args[0] is the command name) with their flags, as
/// Redis's getKeysFromCommandWithSpecs finds them.
pub fn keys(name: &str, args: &[Bytes]) -> Vec<(usize, u16)> {
    let specs = of(name).unwrap_or(&[]);
    let variable = specs.iter().any(|s| s.0 & VARIABLE_FLAGS != 0);
    if !variable {
        if let Some(keys) = from_specs(specs, args) {
            return keys;
        }
    }
    by_rule(name, args)
}

/// getKeysUsingKeySpecs: None when a spec cannot be followed (unknown,
/// out of range, incomplete).
fn from_specs(specs: &[KeySpec], args: &[Bytes]) -> Option<Vec<(usize, u16)>> {
    let argc = args.len() as i64;
    let mut out = Vec::new();
    for KeySpec(flags, begin, find) in specs {
        if flags & NOT_KEY != 0 {
            continue;
        }
        let mut first = match begin {
            Begin::Index(i) => *i as i64,
            Begin::Keyword(word, from) => {
                let from = *from as i64;
                let (start, end) = if from > 0 {
                    (from, argc - 1)
                } else {
                    (argc + from, 1)
                };
                let mut i = start;
                let mut found = 0;
                loop {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if is(&args[i as usize], word) {
                        found = i + 1;
                        break;
                    }
                    if i == end {
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return None,
        };
        let (last, step) = match find {
            Find::Range(last, step, limit) => {
                let (last, limit) = (*last as i64, *limit as i64);
                let l = if last >= 0 {
                    first + last
                } else if limit == 0 {
                    argc + last
                } else {
                    first + ((argc - first) / limit + last)
                };
                (l, *step as i64)
            }
            Find::KeyNum(idx, key, step) => {
                let at = first + *idx as i64;
                let n: i64 = args
                    .get(at as usize)
                    .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
                    .filter(|n| *n >= 0)?;
                first += *key as i64;
                (first + n - 1, *step as i64)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            out.push((i as usize, *flags));
            i += step.max(1);
        }
        if flags & INCOMPLETE != 0 {
            return None;
        }
    }
    Some(out)
}

/// The commands whose keys or flags the specs cannot give (Redis's
/// getkeys procedures); other commands whose specs did not fit the
/// arguments have no keys.
fn by_rule(name: &str, args: &[Bytes]) -> Vec<(usize, u16)> {
    let argc = args.len();
    match name {
        // SET ... GET reads the old value.
        "set" => {
            let get = args.iter().skip(3).any(|a| is(a, "get"));
            vec![(
                1,
                if get {
                    RW | ACCESS | UPDATE
                } else {
                    OW | UPDATE
                },
            )]
        }
        // Only GET (and OVERFLOW) subcommands: a read.
        "bitfield" => {
            let mut read_only = true;
            let mut i = 2;
            while i < argc {
                let rest = argc - i - 1;
                let a = &args[i];
                if is(a, "get") && rest >= 2 {
                    i += 2;
                } else if (is(a, "set") || is(a, "incrby")) && rest >= 3 {
                    read_only = false;
                    break;
                } else if is(a, "overflow") && rest >= 1 {
                    i += 1;
                } else {
                    read_only = false;
                    break;
                }
                i += 1;
            }
            let flags = if read_only {
                RO | ACCESS
            } else {
                RW | ACCESS | UPDATE
            };
            vec![(1, flags)]
        }
        // The sorted key, and the last STORE's destination.
        "sort" | "sort_ro" => {
            let mut out = vec![(1, RO | ACCESS)];
            let mut store = None;
            let mut i = 2;
            while name == "sort" && i < argc {
                let a = &args[i];
                if is(a, "limit") {
                    i += 2;
                } else if is(a, "get") || is(a, "by") {
                    i += 1;
                } else if is(a, "store") && i + 1 < argc {
                    store = Some(i + 1);
                }
                i += 1;
            }
            out.extend(store.map(|s| (s, OW | UPDATE)));
            out
        }
        // The key argument, or (when it is empty) every key after KEYS.
        "migrate" => {
            let mut first = 3;
            let mut n = 1;
            let mut i = 6;
            while argc > 6 && i < argc {
                let a = &args[i];
                if is(a, "keys") {
                    if !args[3].is_empty() {
                        return Vec::new();
                    }
                    first = i + 1;
                    n = argc - first;
                    break;
                } else if is(a, "auth") {
                    i += 1;
                } else if is(a, "auth2") {
                    i += 2;
                }
                i += 1;
            }
            (first..first + n)
                .filter(|&i| i < argc)
                .map(|i| (i, RW | ACCESS | DELETE))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Every command with keys, by name (sorted for the binary search).
#[rustfmt::skip]
const TABLE: &[(&str, &[KeySpec])] = &[
    ("append", &[KeySpec(RW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("bitcount", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("bitfield", &[KeySpec(RW | ACCESS | UPDATE | VARIABLE_FLAGS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("bitfield_ro", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("bitop", &[KeySpec(OW | UPDATE, Begin::Index(2), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(3), Find::Range(-1, 1, 0))]),
    ("bitpos", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("blmove", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RW | INSERT, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("blmpop", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("blpop", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(-2, 1, 0))]),
    ("brpop", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(-2, 1, 0))]),
    ("brpoplpush", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RW | INSERT, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("bzmpop", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("bzpopmax", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(-2, 1, 0))]),
    ("bzpopmin", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(-2, 1, 0))]),
    ("copy", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(OW | UPDATE, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("decr", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("decrby", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("del", &[KeySpec(RM | DELETE, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("dump", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("eval", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("eval_ro", &[KeySpec(RO | ACCESS, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("evalsha", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("evalsha_ro", &[KeySpec(RO | ACCESS, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("exists", &[KeySpec(RO, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("expire", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("expireat", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("expiretime", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("fcall", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("fcall_ro", &[KeySpec(RO | ACCESS, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("geoadd", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("geodist", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("geohash", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("geopos", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("georadius", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(OW | UPDATE, Begin::Keyword("STORE", 6), Find::Range(0, 1, 0)), KeySpec(OW | UPDATE, Begin::Keyword("STOREDIST", 6), Find::Range(0, 1, 0))]),
    ("georadius_ro", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("georadiusbymember", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(OW | UPDATE, Begin::Keyword("STORE", 5), Find::Range(0, 1, 0)), KeySpec(OW | UPDATE, Begin::Keyword("STOREDIST", 5), Find::Range(0, 1, 0))]),
    ("georadiusbymember_ro", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("geosearch", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("geosearchstore", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("get", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getbit", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getdel", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getex", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getrange", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getset", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hdel", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hexists", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hget", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hgetall", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hincrby", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hincrbyfloat", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hkeys", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hlen", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hmget", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hmset", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hrandfield", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hscan", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hset", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hsetnx", &[KeySpec(RW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hstrlen", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hvals", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("incr", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("incrby", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("incrbyfloat", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lcs", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(1, 1, 0))]),
    ("lindex", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("linsert", &[KeySpec(RW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("llen", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lmove", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RW | INSERT, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("lmpop", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::KeyNum(0, 1, 1))]),
    ("lpop", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lpos", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lpush", &[KeySpec(RW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lpushx", &[KeySpec(RW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lrange", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lrem", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lset", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("ltrim", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("memory|usage", &[KeySpec(RO, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("mget", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("migrate", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(3), Find::Range(0, 1, 0)), KeySpec(RW | ACCESS | DELETE | INCOMPLETE, Begin::Keyword("KEYS", -2), Find::Range(-1, 1, 0))]),
    ("move", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("mset", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(-1, 2, 0))]),
    ("msetnx", &[KeySpec(OW | INSERT, Begin::Index(1), Find::Range(-1, 2, 0))]),
    ("object|encoding", &[KeySpec(RO, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("object|freq", &[KeySpec(RO, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("object|idletime", &[KeySpec(RO, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("object|refcount", &[KeySpec(RO, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("persist", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pexpire", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pexpireat", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pexpiretime", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pfadd", &[KeySpec(RW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pfcount", &[KeySpec(RW | ACCESS, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("pfdebug", &[KeySpec(RW | ACCESS, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("pfmerge", &[KeySpec(RW | ACCESS | INSERT, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(2), Find::Range(-1, 1, 0))]),
    ("psetex", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pttl", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("rename", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(OW | UPDATE, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("renamenx", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(OW | INSERT, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("restore", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("restore-asking", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("rpop", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("rpoplpush", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RW | INSERT, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("rpush", &[KeySpec(RW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("rpushx", &[KeySpec(RW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sadd", &[KeySpec(RW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("scard", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sdiff", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("sdiffstore", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(2), Find::Range(-1, 1, 0))]),
    ("set", &[KeySpec(RW | ACCESS | UPDATE | VARIABLE_FLAGS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("setbit", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("setex", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("setnx", &[KeySpec(OW | INSERT, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("setrange", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sinter", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("sintercard", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::KeyNum(0, 1, 1))]),
    ("sinterstore", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(2), Find::Range(-1, 1, 0))]),
    ("sismember", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("smembers", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("smismember", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("smove", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RW | INSERT, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("sort", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Unknown, Find::Unknown), KeySpec(OW | UPDATE, Begin::Unknown, Find::Unknown)]),
    ("sort_ro", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Unknown, Find::Unknown)]),
    ("spop", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("spublish", &[KeySpec(NOT_KEY, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("srandmember", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("srem", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sscan", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("ssubscribe", &[KeySpec(NOT_KEY, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("strlen", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("substr", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sunion", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("sunionstore", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(2), Find::Range(-1, 1, 0))]),
    ("sunsubscribe", &[KeySpec(NOT_KEY, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("touch", &[KeySpec(RO, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("ttl", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("type", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("unlink", &[KeySpec(RM | DELETE, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("watch", &[KeySpec(RO, Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("xack", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xadd", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xautoclaim", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xclaim", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xdel", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xgroup|create", &[KeySpec(RW | INSERT, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xgroup|createconsumer", &[KeySpec(RW | INSERT, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xgroup|delconsumer", &[KeySpec(RW | DELETE, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xgroup|destroy", &[KeySpec(RW | DELETE, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xgroup|setid", &[KeySpec(RW | UPDATE, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xinfo|consumers", &[KeySpec(RO | ACCESS, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xinfo|groups", &[KeySpec(RO | ACCESS, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xinfo|stream", &[KeySpec(RO | ACCESS, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xlen", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xpending", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xrange", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xread", &[KeySpec(RO | ACCESS, Begin::Keyword("STREAMS", 1), Find::Range(-1, 1, 2))]),
    ("xreadgroup", &[KeySpec(RO | ACCESS, Begin::Keyword("STREAMS", 4), Find::Range(-1, 1, 2))]),
    ("xrevrange", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xsetid", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xtrim", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zadd", &[KeySpec(RW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zcard", &[KeySpec(RO, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zcount", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zdiff", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::KeyNum(0, 1, 1))]),
    ("zdiffstore", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("zincrby", &[KeySpec(RW | ACCESS | UPDATE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zinter", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::KeyNum(0, 1, 1))]),
    ("zintercard", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::KeyNum(0, 1, 1))]),
    ("zinterstore", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
    ("zlexcount", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zmpop", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::KeyNum(0, 1, 1))]),
    ("zmscore", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zpopmax", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zpopmin", &[KeySpec(RW | ACCESS | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrandmember", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrange", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrangebylex", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrangebyscore", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrangestore", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(2), Find::Range(0, 1, 0))]),
    ("zrank", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrem", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zremrangebylex", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zremrangebyrank", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zremrangebyscore", &[KeySpec(RW | DELETE, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrevrange", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrevrangebylex", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrevrangebyscore", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrevrank", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zscan", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zscore", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zunion", &[KeySpec(RO | ACCESS, Begin::Index(1), Find::KeyNum(0, 1, 1))]),
    ("zunionstore", &[KeySpec(OW | UPDATE, Begin::Index(1), Find::Range(0, 1, 0)), KeySpec(RO | ACCESS, Begin::Index(2), Find::KeyNum(0, 1, 1))]),
];

/// COMMAND INFO's key-specs field: each spec as a map of its flags, its
/// begin_search and its find_keys, as Redis's addReplyCommandKeySpecs
/// (without the free-text notes a few of Redis's specs carry).
pub fn info(name: &str) -> Vec<crate::protocol::Reply> {
    use crate::protocol::Reply;
    let kv = |k: &str, v: Reply| (Reply::bulk(k), v);
    let typed = |t: &str, spec: Vec<(Reply, Reply)>| {
        Reply::Map(vec![
            kv("type", Reply::bulk(t)),
            kv("spec", Reply::Map(spec)),
        ])
    };
    of(name)
        .unwrap_or(&[])
        .iter()
        .map(|KeySpec(flags, begin, find)| {
            let flags = flag_names(*flags).map(Reply::status).collect();
            let begin = match begin {
                Begin::Index(i) => typed("index", vec![kv("index", Reply::Int(*i as i64))]),
                Begin::Keyword(k, from) => typed(
                    "keyword",
                    vec![
                        kv("keyword", Reply::bulk(*k)),
                        kv("startfrom", Reply::Int(*from as i64)),
                    ],
                ),
                Begin::Unknown => typed("unknown", vec![]),
            };
            let find = match find {
                Find::Range(last, step, limit) => typed(
                    "range",
                    vec![
                        kv("lastkey", Reply::Int(*last as i64)),
                        kv("keystep", Reply::Int(*step as i64)),
                        kv("limit", Reply::Int(*limit as i64)),
                    ],
                ),
                Find::KeyNum(idx, first, step) => typed(
                    "keynum",
                    vec![
                        kv("keynumidx", Reply::Int(*idx as i64)),
                        kv("firstkey", Reply::Int(*first as i64)),
                        kv("keystep", Reply::Int(*step as i64)),
                    ],
                ),
                Find::Unknown => typed("unknown", vec![]),
            };
            Reply::Map(vec![
                kv("flags", Reply::Set(flags)),
                kv("begin_search", begin),
                kv("find_keys", find),
            ])
        })
        .collect()
}
