//! The string family against real clients, across cores, and side by side
//! with redis-server 7.0 as the oracle.
mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use redis::{Commands, Connection};

fn get(c: &mut Connection, k: &str) -> Option<String> {
    c.get(k).unwrap()
}

fn cmd(c: &mut Connection, args: &[&str]) -> redis::Value {
    let mut q = redis::cmd(args[0]);
    for a in &args[1..] {
        q.arg(*a);
    }
    q.query(c).unwrap()
}

/// The same tricky commands against redwing and redis-server: every reply
/// must match byte for byte, in RESP2 and RESP3 (the shared comparison). `$A` and `$B` are keys on different cores of
/// redwing, so MGET/MSET/MSETNX/LCS over them coordinate two cores.
#[test]
fn differential_against_redis() {
    let (a, b) = keys_on_two_cores("diff:");
    let big = "x".repeat(12_000);
    let script: &[&[&str]] = &[
        // SET and its options.
        &["SET", "k", "v"],
        &["SET", "k", "v", "NX"],
        &["SET", "k", "v1", "XX"],
        &["SET", "nk", "v", "XX"],
        &["SET", "k", "v2", "XX", "GET"],
        &["SET", "k", "v3", "NX", "GET"],
        &["SET", "nk", "v", "NX", "GET"],
        &["SET", "nk2", "v", "XX", "GET"],
        &["GET", "nk2"],
        &["SET", "k", "v", "GET", "GET"],
        &["SET", "k", "v", "nx", "nx"],
        &["SET", "k", "v", "NX", "XX"],
        &["SET", "k", "v", "XX", "NX"],
        &["SET", "k", "v", "EX", "10", "EX", "20"],
        &["TTL", "k"],
        &["SET", "k", "v", "KEEPTTL"],
        &["TTL", "k"],
        &["SET", "k", "v", "KEEPTTL", "KEEPTTL"],
        &["SET", "k", "v"],
        &["TTL", "k"],
        &["SET", "k", "v", "EX", "10", "PX", "10"],
        &["SET", "k", "v", "PX", "10", "EX", "10"],
        &["SET", "k", "v", "EXAT", "10", "EX", "10"],
        &["SET", "k", "v", "KEEPTTL", "EX", "5"],
        &["SET", "k", "v", "EX", "5", "KEEPTTL"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "ex", "abc", "nx", "xx"],
        &["SET", "k", "v", "EX", "abc"],
        &["SET", "k", "v", "EX", "0"],
        &["SET", "k", "v", "PX", "-1"],
        &["SET", "k", "v", "EX", "9223372036854775"],
        &["SET", "k", "v", "PX", "9223372036854775807"],
        &["SET", "k", "v", "EXAT", "9223372036854775"],
        &["SET", "k", "v", "PXAT", "9223372036854775807"],
        &["SET", "k", "v", "FOO"],
        &["SET", "k", "v", "PX", "100000"],
        &["TTL", "k"],
        &["SET", "k", "v", "PXAT", "1"],
        &["GET", "k"],
        &["EXISTS", "k"],
        &["SET", "k"],
        &["GET"],
        // SETNX, SETEX, PSETEX, GETSET, GETDEL.
        &["SETNX", "k", "a"],
        &["SETNX", "k", "b"],
        &["GET", "k"],
        &["SETEX", "k", "0", "v"],
        &["SETEX", "k", "-1", "v"],
        &["SETEX", "k", "abc", "v"],
        &["SETEX", "k", "9223372036854775807", "v"],
        &["SETEX", "k", "100", "v"],
        &["TTL", "k"],
        &["PSETEX", "k", "0", "v"],
        &["PSETEX", "k", "100000", "pv"],
        &["TTL", "k"],
        &["GET", "k"],
        &["SETEX", "k", "10"],
        &["GETSET", "k", "new"],
        &["TTL", "k"],
        &["GETSET", "missing", "x"],
        &["GET", "missing"],
        &["GETDEL", "k"],
        &["GETDEL", "k"],
        // GETEX.
        &["GETEX", "nokey"],
        &["GETEX", "nokey", "EX", "abc"],
        &["SET", "k", "v"],
        &["GETEX", "k"],
        &["GETEX", "k", "EX", "abc"],
        &["GETEX", "k", "EX", "0"],
        &["GETEX", "k", "PX", "-5"],
        &["GETEX", "k", "EX", "9223372036854775"],
        &["GETEX", "k", "NX"],
        &["GETEX", "k", "GET"],
        &["GETEX", "k", "KEEPTTL"],
        &["GETEX", "k", "EX", "10", "PERSIST"],
        &["GETEX", "k", "PERSIST", "EX", "10"],
        &["GETEX", "k", "EX", "100", "EX", "200"],
        &["TTL", "k"],
        &["GETEX", "k", "PERSIST", "PERSIST"],
        &["TTL", "k"],
        &["GETEX", "k", "PX", "50000"],
        &["TTL", "k"],
        &["GETEX", "k", "EXAT", "1"],
        &["EXISTS", "k"],
        &["GETEX", "k", "EX"],
        // MGET, MSET, MSETNX (across cores on redwing).
        &["MGET", "$A", "$B", "nokey"],
        &["MSET", "$A", "1", "$B", "2"],
        &["MGET", "$A", "$B"],
        &["MSET", "$A", "1", "$B"],
        &["MSET", "$A"],
        &["MSETNX", "$A", "1", "$B"],
        &["MSETNX", "$A", "3", "fresh1", "4"],
        &["MGET", "$A", "fresh1"],
        &["MSETNX", "fresh1", "1", "fresh2", "2"],
        &["MSETNX", "$A", "x"],
        &["DEL", "$A", "$B"],
        &["MSETNX", "$A", "5", "$B", "6"],
        &["MGET", "$A", "$B", "$A"],
        &["DEL", "$A", "$B"],
        &["MSETNX", "$A", "1", "$B", "2", "$A", "3"],
        &["MGET", "$A", "$B"],
        &["MSET", "$B", "x", "$A", "y", "$B", "z"],
        &["MGET", "$A", "$B"],
        &["SET", "$A", "v", "EX", "100"],
        &["MSET", "$A", "w", "$B", "w"],
        &["TTL", "$A"],
        // Counters.
        &["SET", "n", "10"],
        &["INCR", "n"],
        &["DECR", "n"],
        &["INCRBY", "n", "5"],
        &["DECRBY", "n", "3"],
        &["INCRBY", "n", "abc"],
        &["INCRBY", "n", "1.5"],
        &["INCRBY", "n", " 1"],
        &["DECRBY", "n", "-9223372036854775808"],
        &["DECRBY", "n", "-9223372036854775807"],
        &["SET", "n", "9223372036854775807"],
        &["INCR", "n"],
        &["INCRBY", "n", "-1"],
        &["SET", "n", "-9223372036854775808"],
        &["DECR", "n"],
        &["SET", "n", "1"],
        &["EXPIRE", "n", "100"],
        &["INCR", "n"],
        &["TTL", "n"],
        &["SET", "n", " 1"],
        &["INCR", "n"],
        &["SET", "n", "01"],
        &["INCR", "n"],
        &["SET", "n", "-0"],
        &["INCR", "n"],
        &["SET", "n", "abc"],
        &["INCR", "n"],
        &["INCR", "fresh"],
        &["DECR", "fresh2x"],
        &["INCRBY", "fresh3", "-7"],
        &["INCR", "n", "x"],
        // INCRBYFLOAT: long double sums printed with %.17Lf.
        &["SET", "f", "10.5"],
        &["INCRBYFLOAT", "f", "0.1"],
        &["SET", "f", "5.0e3"],
        &["INCRBYFLOAT", "f", "0"],
        &["INCRBYFLOAT", "f2", "3.0e-2"],
        &["SET", "f", "1e308"],
        &["INCRBYFLOAT", "f", "1e308"],
        &["INCRBYFLOAT", "f", "9e308"],
        &["INCRBYFLOAT", "f3", "1e4932"],
        &["INCRBYFLOAT", "f3", "1e4932"],
        &["INCRBYFLOAT", "f3", "-1e4932"],
        &["INCRBYFLOAT", "f4", "inf"],
        &["INCRBYFLOAT", "f4", "-infinity"],
        &["INCRBYFLOAT", "f4", "nan"],
        &["INCRBYFLOAT", "f4", " 1"],
        &["INCRBYFLOAT", "f4", "1 "],
        &["INCRBYFLOAT", "f4", ""],
        &["INCRBYFLOAT", "f4", "1e"],
        &["INCRBYFLOAT", "f4", "1e-5000"],
        &["INCRBYFLOAT", "f4", "1e5000"],
        &["INCRBYFLOAT", "f4", "3.7e-4951"],
        &["INCRBYFLOAT", "f4", "0x1p-2"],
        &["INCRBYFLOAT", "f4", "-0.0"],
        &["INCRBYFLOAT", "f4", "-0.25"],
        &["GET", "f4"],
        &["INCRBYFLOAT", "f5", "0.1"],
        &["INCRBYFLOAT", "f5", "0.2"],
        &["INCRBYFLOAT", "f5", "-0.3"],
        &["INCRBYFLOAT", "f5", "1.0000000000000000001"],
        &["INCRBYFLOAT", "f6", "1.23e-7"],
        &["INCRBYFLOAT", "f6", "-1e-20"],
        &["INCRBYFLOAT", "f7", "123456789012345678901234567890"],
        &["INCRBYFLOAT", "f7", "1.5e-20"],
        &["INCRBYFLOAT", "f8", "-5"],
        &["INCRBYFLOAT", "f8", "4.9999999999999999999"],
        &["INCRBYFLOAT", "f9", "2.5"],
        &["INCRBYFLOAT", "f9", "0.0000000000000000051"],
        &["SET", "f10", "abc"],
        &["INCRBYFLOAT", "f10", "1"],
        &["SET", "f10", "1"],
        &["EXPIRE", "f10", "100"],
        &["INCRBYFLOAT", "f10", "0.5"],
        &["TTL", "f10"],
        &["INCRBYFLOAT", "f10", "abc"],
        // APPEND and STRLEN.
        &["APPEND", "ap", "hello"],
        &["APPEND", "ap", " world"],
        &["GET", "ap"],
        &["APPEND", "ap", ""],
        &["STRLEN", "ap"],
        &["STRLEN", "nokey"],
        &["SET", "n", "123"],
        &["APPEND", "n", "4"],
        &["INCR", "n"],
        &["STRLEN", "n"],
        &["APPEND", "emp", ""],
        &["EXISTS", "emp"],
        // GETRANGE and SUBSTR.
        &["SET", "r", "This is a string"],
        &["GETRANGE", "r", "0", "3"],
        &["GETRANGE", "r", "-3", "-1"],
        &["GETRANGE", "r", "0", "-1"],
        &["GETRANGE", "r", "10", "100"],
        &["GETRANGE", "r", "-1", "-5"],
        &["GETRANGE", "r", "5", "3"],
        &["GETRANGE", "r", "-100", "-50"],
        &["GETRANGE", "r", "-100", "2"],
        &["GETRANGE", "r", "1", "-100"],
        &["GETRANGE", "r", "16", "20"],
        &["GETRANGE", "r", "0", "9223372036854775807"],
        &["GETRANGE", "r", "-9223372036854775808", "-1"],
        &["GETRANGE", "r", "a", "1"],
        &["GETRANGE", "nokey", "0", "-1"],
        &["GETRANGE", "nokey", "x", "-1"],
        &["SUBSTR", "r", "0", "3"],
        &["SUBSTR", "r", "-6", "-1"],
        &["SET", "e", ""],
        &["GETRANGE", "e", "0", "-1"],
        &["GETRANGE", "e", "0", "0"],
        &["SET", "n", "12345"],
        &["GETRANGE", "n", "1", "2"],
        // SETRANGE.
        &["SETRANGE", "sr", "5", "hi"],
        &["GET", "sr"],
        &["SETRANGE", "sr", "0", "ab"],
        &["GET", "sr"],
        &["SETRANGE", "sr", "6", "long tail"],
        &["GET", "sr"],
        &["SETRANGE", "sr", "-1", "x"],
        &["SETRANGE", "sr", "abc", "x"],
        &["SETRANGE", "sr", "100", ""],
        &["SETRANGE", "none", "0", ""],
        &["SETRANGE", "none", "-1", ""],
        &["EXISTS", "none"],
        &["SETRANGE", "sr", "536870912", "x"],
        &["SETRANGE", "sr", "536870911", ""],
        &["SETRANGE", "none", "536870912", "x"],
        &["SETRANGE", "sr", "9223372036854775807", "x"],
        &["SET", "n", "42"],
        &["SETRANGE", "n", "1", "7"],
        &["INCR", "n"],
        // LCS, on one core and across two.
        &["SET", "l1", "ohmytext"],
        &["SET", "l2", "mynewtext"],
        &["LCS", "l1", "l2"],
        &["LCS", "l1", "l2", "LEN"],
        &["LCS", "l1", "l2", "IDX"],
        &["LCS", "l1", "l2", "IDX", "MINMATCHLEN", "4"],
        &["LCS", "l1", "l2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"],
        &["LCS", "l1", "l2", "IDX", "WITHMATCHLEN"],
        &["LCS", "l1", "l2", "IDX", "MINMATCHLEN", "-3"],
        &["LCS", "l1", "l2", "LEN", "IDX"],
        &["LCS", "l1", "l2", "MINMATCHLEN"],
        &["LCS", "l1", "l2", "MINMATCHLEN", "x"],
        &["LCS", "l1", "l2", "FOO"],
        &["LCS", "l1", "nokey"],
        &["LCS", "nokey", "nokey2", "IDX"],
        &["LCS", "l1", "l1", "IDX", "WITHMATCHLEN"],
        &["LCS", "l1"],
        &["SET", "$A", "ohmytext"],
        &["SET", "$B", "mynewtext"],
        &["LCS", "$A", "$B"],
        &["LCS", "$A", "$B", "LEN"],
        &["LCS", "$A", "$B", "IDX", "WITHMATCHLEN"],
        &["LCS", "$B", "$A", "IDX", "MINMATCHLEN", "2"],
        &["SET", "$A", "abcabcabcxyz"],
        &["SET", "$B", "xyzabcyzabc"],
        &["LCS", "$A", "$B", "IDX", "WITHMATCHLEN"],
        &["LCS", "$B", "$A"],
        &["SET", "big1", &big],
        &["SET", "big2", &big],
        &["LCS", "big1", "big2", "LEN"],
    ];
    let script = substitute(script, &[("$A", &a), ("$B", &b)]);
    compare_with_redis(&[], &slices(&script));
}

/// SET over an existing string (written in place when neither has an
/// expiry) keeps what Redis keeps: the LFU counter, the encoding rules,
/// and a TTL only where asked.
#[test]
fn set_overwrite_keeps_lfu_counter_like_redis() {
    compare_with_redis(
        &["--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0"],
        &[
            &["SET", "k", "v"],
            &["GET", "k"],
            &["GET", "k"],
            &["GET", "k"],
            &["OBJECT", "FREQ", "k"],
            &["SET", "k", "w"],
            &["OBJECT", "FREQ", "k"],
            &["OBJECT", "ENCODING", "k"],
            &[
                "SET",
                "k",
                "a-value-longer-than-forty-four-bytes-so-it-is-raw-encoded",
            ],
            &["OBJECT", "ENCODING", "k"],
            &["OBJECT", "FREQ", "k"],
            &["SET", "k", "x", "EX", "100"],
            &["TTL", "k"],
            &["SET", "k", "y"],
            &["TTL", "k"],
            &["GET", "k"],
            &["LPUSH", "l", "a"],
            &["SET", "l", "s"],
            &["TYPE", "l"],
            &["GET", "l"],
        ],
    );
}

#[test]
fn get_set_and_variants() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut r = RawClient::new(&s);
    assert_eq!(get(&mut c, "k"), None);
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(get(&mut c, "k").as_deref(), Some("v"));
    // Binary-safe values.
    let bin: Vec<u8> = (0..=255).collect();
    let _: () = c.set("bin", &bin).unwrap();
    let back: Vec<u8> = c.get("bin").unwrap();
    assert_eq!(back, bin);

    assert_eq!(r.call(&["SET", "k", "w", "NX"]), "$-1\r\n");
    assert_eq!(r.call(&["SET", "k", "w", "XX", "GET"]), "$1\r\nv\r\n");
    assert_eq!(
        r.call(&["SET", "k", "v", "NX", "XX"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        r.call(&["SET", "k", "v", "EX", "0"]),
        "-ERR invalid expire time in 'set' command\r\n"
    );
    assert_eq!(r.call(&["SETNX", "k", "x"]), ":0\r\n");
    assert_eq!(r.call(&["SETNX", "k2", "x"]), ":1\r\n");
    assert_eq!(
        r.call(&["SETEX", "k", "-1", "x"]),
        "-ERR invalid expire time in 'setex' command\r\n"
    );
    assert_eq!(
        r.call(&["PSETEX", "k", "0", "x"]),
        "-ERR invalid expire time in 'psetex' command\r\n"
    );
    assert_eq!(
        r.call(&["GETEX", "k", "PX", "0"]),
        "-ERR invalid expire time in 'getex' command\r\n"
    );
    let old: Option<String> = c.getset("k", "new").unwrap();
    assert_eq!(old.as_deref(), Some("w"));
    let old: Option<String> = redis::cmd("GETDEL").arg("k").query(&mut c).unwrap();
    assert_eq!(old.as_deref(), Some("new"));
    assert_eq!(get(&mut c, "k"), None);
    assert_eq!(r.call(&["GETDEL", "k"]), "$-1\r\n");
}

#[test]
fn expiry_through_set_setex_and_getex() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut r = RawClient::new(&s);
    r.call(&["SET", "px", "v", "PX", "1000"]);
    r.call(&["SET", "ex", "v", "EX", "100"]);
    r.call(&["PSETEX", "ps", "1000", "v"]);
    // KEEPTTL keeps the short TTL; a plain SET clears it.
    r.call(&["SET", "keep", "v", "PX", "1000"]);
    r.call(&["SET", "keep", "v2", "KEEPTTL"]);
    r.call(&["SET", "clear", "v", "PX", "1000"]);
    r.call(&["SET", "clear", "v2"]);
    // INCR, APPEND and SETRANGE keep the TTL.
    r.call(&["SET", "ctr", "1", "PX", "1000"]);
    r.call(&["INCR", "ctr"]);
    r.call(&["SET", "app", "a", "PX", "1000"]);
    r.call(&["APPEND", "app", "b"]);
    // GETEX sets and removes TTLs.
    r.call(&["SET", "gx", "v"]);
    assert_eq!(r.call(&["GETEX", "gx", "PX", "1000"]), "$1\r\nv\r\n");
    r.call(&["SET", "gp", "v", "PX", "1000"]);
    assert_eq!(r.call(&["GETEX", "gp", "PERSIST"]), "$1\r\nv\r\n");
    assert_eq!(r.call(&["TTL", "gp"]), ":-1\r\n");
    r.call(&["SET", "gat", "v"]);
    assert_eq!(r.call(&["GETEX", "gat", "PXAT", "1"]), "$1\r\nv\r\n");
    assert_eq!(get(&mut c, "gat"), None);
    assert_eq!(r.call(&["TTL", "ex"]), ":100\r\n");
    assert_eq!(get(&mut c, "px").as_deref(), Some("v"));

    // The short TTLs are a second, well above a slow machine's delays
    // between setting a key and reading it back above; then each key must
    // go (bounded wait) and the others stay.
    for gone in ["px", "ps", "keep", "ctr", "app", "gx"] {
        wait_for(&format!("{gone} to expire"), TIMEOUT, || {
            get(&mut c, gone).is_none()
        });
    }
    for kept in ["ex", "clear", "gp"] {
        assert!(get(&mut c, kept).is_some(), "{kept} should still exist");
    }
    // An expired key is gone for writes too: NX succeeds, INCR starts at 0.
    assert_eq!(r.call(&["SET", "px", "again", "NX"]), "+OK\r\n");
    assert_eq!(r.call(&["INCR", "ctr"]), ":1\r\n");
}

#[test]
fn counters() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut r = RawClient::new(&s);
    assert_eq!(c.incr::<_, _, i64>("n", 1).unwrap(), 1);
    assert_eq!(c.incr::<_, _, i64>("n", 41).unwrap(), 42);
    assert_eq!(c.decr::<_, _, i64>("n", 2).unwrap(), 40);
    assert_eq!(r.call(&["DECR", "n"]), ":39\r\n");
    assert_eq!(r.call(&["DECRBY", "n", "-1"]), ":40\r\n");
    assert_eq!(
        r.call(&["DECRBY", "n", "-9223372036854775808"]),
        "-ERR decrement would overflow\r\n"
    );
    r.call(&["SET", "n", "9223372036854775807"]);
    assert_eq!(
        r.call(&["INCR", "n"]),
        "-ERR increment or decrement would overflow\r\n"
    );
    r.call(&["SET", "s", "1.5"]);
    assert_eq!(
        r.call(&["INCR", "s"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(r.call(&["INCRBYFLOAT", "s", "1"]), "$3\r\n2.5\r\n");
    r.call(&["SET", "f", "10.5"]);
    assert_eq!(r.call(&["INCRBYFLOAT", "f", "0.1"]), "$4\r\n10.6\r\n");
    assert_eq!(get(&mut c, "f").as_deref(), Some("10.6"));
    assert_eq!(r.call(&["INCRBYFLOAT", "g", "5.0e3"]), "$4\r\n5000\r\n");
    assert_eq!(r.call(&["INCRBYFLOAT", "h", "3.0e-2"]), "$4\r\n0.03\r\n");
    assert_eq!(
        r.call(&["INCRBYFLOAT", "h", "abc"]),
        "-ERR value is not a valid float\r\n"
    );
    assert_eq!(
        r.call(&["INCRBYFLOAT", "h", "inf"]),
        "-ERR increment would produce NaN or Infinity\r\n"
    );
    r.call(&["SET", "big", "1e4932"]);
    assert_eq!(
        r.call(&["INCRBYFLOAT", "big", "1e4932"]),
        "-ERR increment would produce NaN or Infinity\r\n"
    );
}

#[test]
fn append_strlen_ranges() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut r = RawClient::new(&s);
    assert_eq!(c.append::<_, _, i64>("a", "hello").unwrap(), 5);
    assert_eq!(c.append::<_, _, i64>("a", " world").unwrap(), 11);
    assert_eq!(c.strlen::<_, i64>("a").unwrap(), 11);
    assert_eq!(c.strlen::<_, i64>("none").unwrap(), 0);
    assert_eq!(c.getrange::<_, String>("a", 0, 4).unwrap(), "hello");
    assert_eq!(c.getrange::<_, String>("a", -5, -1).unwrap(), "world");
    assert_eq!(r.call(&["SUBSTR", "a", "6", "100"]), "$5\r\nworld\r\n");
    assert_eq!(c.setrange::<_, _, i64>("a", 6, "WORLD").unwrap(), 11);
    assert_eq!(get(&mut c, "a").as_deref(), Some("hello WORLD"));
    // Zero padding when writing past the end.
    assert_eq!(c.setrange::<_, _, i64>("z", 3, "x").unwrap(), 4);
    let z: Vec<u8> = c.get("z").unwrap();
    assert_eq!(z, b"\0\0\0x");
    assert_eq!(
        r.call(&["SETRANGE", "z", "-1", "x"]),
        "-ERR offset is out of range\r\n"
    );

    // Many appends: the buffer grows in place, and stays correct.
    let chunk = "0123456789".repeat(10);
    let mut p = redis::pipe();
    for _ in 0..5000 {
        p.cmd("APPEND").arg("grow").arg(&chunk).ignore();
    }
    let _: () = p.query(&mut c).unwrap();
    assert_eq!(c.strlen::<_, i64>("grow").unwrap(), 500_000);
    assert_eq!(
        c.getrange::<_, String>("grow", 499_990, -1).unwrap(),
        "0123456789"
    );
}

/// Replies still hold the old value while later commands of the same
/// pipeline change it in place.
#[test]
fn in_place_changes_do_not_touch_earlier_replies() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let (got, range, _, _, after): (String, String, i64, i64, String) = redis::pipe()
        .cmd("SET")
        .arg("k")
        .arg("hello")
        .ignore()
        .cmd("GET")
        .arg("k")
        .cmd("GETRANGE")
        .arg("k")
        .arg(0)
        .arg(-1)
        .cmd("SETRANGE")
        .arg("k")
        .arg(0)
        .arg("J")
        .cmd("APPEND")
        .arg("k")
        .arg("!")
        .cmd("GET")
        .arg("k")
        .query(&mut c)
        .unwrap();
    assert_eq!((got.as_str(), range.as_str()), ("hello", "hello"));
    assert_eq!(after, "Jello!");
}

#[test]
fn size_limit_from_proto_max_bulk_len() {
    let s = Server::start(&["--proto-max-bulk-len", "1mb"]);
    let mut c = s.conn();
    let mut r = RawClient::new(&s);
    let too_big = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
    assert_eq!(r.call(&["SETRANGE", "k", "1048576", "x"]), too_big);
    assert_eq!(r.call(&["SETRANGE", "k", "1048575", "x"]), ":1048576\r\n");
    assert_eq!(r.call(&["APPEND", "k", "y"]), too_big);
    assert_eq!(c.strlen::<_, i64>("k").unwrap(), 1_048_576);
    // LCS's table (4 bytes a cell) is held to the same limit.
    let v = "a".repeat(600);
    let _: () = c.set("l1", &v).unwrap();
    let _: () = c.set("l2", &v).unwrap();
    assert_eq!(
        r.call(&["LCS", "l1", "l2", "LEN"]),
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n"
    );
}

#[test]
fn multi_key_commands_across_cores() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("x:");
    let _: () = c.mset(&[(&a, "1"), (&b, "2")]).unwrap();
    let v: Vec<Option<String>> = c.mget(&[&a, "missing", &b]).unwrap();
    assert_eq!(v, [Some("1".into()), None, Some("2".into())]);

    // MSETNX sets nothing when any key exists, on either core.
    let (a2, b2) = keys_on_two_cores("y:");
    let n: i64 = redis::cmd("MSETNX")
        .arg(&a2)
        .arg("x")
        .arg(&b)
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(get(&mut c, &a2), None);
    assert_eq!(get(&mut c, &b), Some("2".into()));
    let n: i64 = redis::cmd("MSETNX")
        .arg(&a2)
        .arg("p")
        .arg(&b2)
        .arg("q")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    let v: Vec<String> = c.mget(&[&a2, &b2]).unwrap();
    assert_eq!(v, ["p", "q"]);

    // Wrong arity is caught before anything runs on either core.
    let mut r = RawClient::new(&s);
    for name in ["MSET", "MSETNX"] {
        assert_eq!(
            r.call(&[name, &a, "1", &b]),
            format!(
                "-ERR wrong number of arguments for '{}' command\r\n",
                name.to_lowercase()
            )
        );
    }

    // LCS with its keys on two cores.
    let _: () = c.mset(&[(&a, "ohmytext"), (&b, "mynewtext")]).unwrap();
    assert_eq!(
        cmd(&mut c, &["LCS", &a, &b]),
        redis::Value::BulkString(b"mytext".to_vec())
    );
    assert_eq!(cmd(&mut c, &["LCS", &a, &b, "LEN"]), redis::Value::Int(6));
    let idx = cmd(&mut c, &["LCS", &a, &b, "IDX", "MINMATCHLEN", "4"]);
    let want = redis::Value::Array(vec![
        redis::Value::BulkString(b"matches".to_vec()),
        redis::Value::Array(vec![redis::Value::Array(vec![
            redis::Value::Array(vec![redis::Value::Int(4), redis::Value::Int(7)]),
            redis::Value::Array(vec![redis::Value::Int(5), redis::Value::Int(8)]),
        ])]),
        redis::Value::BulkString(b"len".to_vec()),
        redis::Value::Int(6),
    ]);
    assert_eq!(idx, want);
}

/// Two clients race MSET or MSETNX over the same two keys (one per core),
/// naming them in opposite orders: the keys always end up from one writer.
#[test]
fn cross_core_msetnx_is_atomic() {
    // MSET is split per core (as across cluster nodes, see README); MSETNX
    // must stay all-or-nothing across cores.
    let s = Server::start(&[]);
    let (a, b) = keys_on_two_cores("atomic:");
    let mut c = s.conn();
    // The racers on one core and on different cores, alternately.
    for round in 0..150 {
        let placement = PLACEMENTS[round % 2];
        let _: () = redis::cmd("DEL").arg(&a).arg(&b).query(&mut c).unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = [("one", &a, &b, 0), ("two", &b, &a, placement.core_for(0))]
            .into_iter()
            .map(|(val, k1, k2, core)| {
                let (mut conn, barrier) = (s.conn_on_core(core), barrier.clone());
                let (k1, k2) = (k1.clone(), k2.clone());
                thread::spawn(move || {
                    let name = "MSETNX";
                    barrier.wait();
                    let v: redis::Value = redis::cmd(name)
                        .arg(&k1)
                        .arg(val)
                        .arg(&k2)
                        .arg(val)
                        .query(&mut conn)
                        .unwrap();
                    v
                })
            })
            .collect();
        let results: Vec<redis::Value> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let v: Vec<String> = c.mget(&[&a, &b]).unwrap();
        assert_eq!(
            v[0], v[1],
            "round {round} ({placement:?}): a partial write is visible"
        );
        let won = results
            .iter()
            .filter(|r| **r == redis::Value::Int(1))
            .count();
        assert_eq!(
            won, 1,
            "round {round} ({placement:?}): exactly one MSETNX wins"
        );
    }
}

#[test]
fn command_table_rows() {
    let s = Server::start(&[]);
    let redis = Server::redis(&[]);
    let names = [
        "get",
        "set",
        "setnx",
        "setex",
        "psetex",
        "getset",
        "getdel",
        "getex",
        "mget",
        "mset",
        "msetnx",
        "incr",
        "decr",
        "incrby",
        "decrby",
        "incrbyfloat",
        "append",
        "strlen",
        "getrange",
        "setrange",
        "substr",
        "lcs",
    ];
    // Name, arity, flags and key positions as Redis shows them.
    command_rows_match(&s, &redis, &names, 6);
    // Summary, since and group as COMMAND DOCS shows them.
    let (mut cw, mut cd) = (s.conn(), redis.conn());
    for n in names {
        let docs = |c: &mut Connection| -> Vec<(String, String)> {
            let v = cmd(c, &["COMMAND", "DOCS", n]);
            let redis::Value::Array(top) = v else {
                panic!("COMMAND DOCS {n}: {v:?}")
            };
            let Some(redis::Value::Array(fields)) = top.get(1) else {
                panic!("COMMAND DOCS {n}: {top:?}")
            };
            let text = |v: &redis::Value| match v {
                redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => format!("{other:?}"),
            };
            fields
                .chunks(2)
                .map(|kv| (text(&kv[0]), text(&kv[1])))
                .filter(|(k, _)| ["summary", "since", "group"].contains(&k.as_str()))
                .collect()
        };
        let (got, want) = (docs(&mut cw), docs(&mut cd));
        assert_eq!(want.len(), 3, "COMMAND DOCS {n}: {want:?}");
        assert_eq!(got, want, "COMMAND DOCS {n}");
    }
}
