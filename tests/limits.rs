//! Client-controlled sizes and counts (issue 12 "Hardening"): every count,
//! offset and TTL a client sends is range-checked with Redis 7.0's texts
//! (byte-compared with redis-server), no client number sizes an
//! allocation, and the protocol limits answer as Redis does.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{raw_roundtrip, same_as_redis, RawClient, Server};

/// Commands whose replies must match redis-server byte for byte. Each
/// probes a count, offset, TTL or increment at the edges of its range.
const EDGES: &[&[&str]] = &[
    &["HSET", "myhash", "a", "1"],
    // The reported OOM, and the other ends of the count ranges.
    &["HRANDFIELD", "myhash", "-9223372036854770000", "WITHVALUES"],
    &["HRANDFIELD", "myhash", "-9223372036854775808"],
    &["HRANDFIELD", "myhash", "9223372036854775807", "WITHVALUES"],
    &["HRANDFIELD", "myhash", "4611686018427387904", "WITHVALUES"],
    &["HRANDFIELD", "myhash", "4611686018427387903", "WITHVALUES"],
    &["HRANDFIELD", "myhash", "-3", "WITHVALUES"],
    &["HRANDFIELD", "myhash", "x", "WITHVALUES"],
    &["HRANDFIELD", "myhash", "1", "WITHVALUE"],
    &["HRANDFIELD", "nokey", "-9223372036854775808"],
    &["HRANDFIELD", "nokey", "-9223372036854770000", "WITHVALUES"],
    &["SADD", "s", "a"],
    &["SRANDMEMBER", "s", "-9223372036854775808"],
    &["SRANDMEMBER", "s", "9223372036854775807"],
    &["SRANDMEMBER", "s", "-3"],
    &["SRANDMEMBER", "nos", "-9223372036854775808"],
    &["SPOP", "s", "-1"],
    &["SPOP", "s", "x"],
    &["SPOP", "s", "9223372036854775807"],
    &["ZADD", "z", "1", "a"],
    &["ZRANDMEMBER", "z", "-9223372036854775808"],
    &["ZRANDMEMBER", "z", "-9223372036854770000", "WITHSCORES"],
    &["ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES"],
    &["ZRANDMEMBER", "z", "-3", "WITHSCORES"],
    &["ZRANDMEMBER", "noz", "-9223372036854770000", "WITHSCORES"],
    &["RPUSH", "l", "a", "b", "c", "a"],
    &["LPOS", "l", "a", "RANK", "-9223372036854775808"],
    &["LPOS", "l", "a", "RANK", "9223372036854775807"],
    &["LPOS", "l", "a", "RANK", "-9223372036854775807"],
    &["LPOS", "l", "a", "COUNT", "-1"],
    &["LPOS", "l", "a", "COUNT", "9223372036854775807"],
    &["LPOS", "l", "a", "MAXLEN", "-1"],
    &["LPOS", "l", "a", "MAXLEN", "9223372036854775807"],
    &["LPOS", "l", "a", "RANK", "0"],
    &["LRANGE", "l", "-9223372036854775808", "9223372036854775807"],
    &["LRANGE", "l", "9223372036854775807", "-9223372036854775808"],
    &[
        "ZRANGE",
        "z",
        "0",
        "-1",
        "BYSCORE",
        "LIMIT",
        "0",
        "-9223372036854775808",
    ],
    &[
        "ZRANGEBYSCORE",
        "z",
        "-inf",
        "+inf",
        "LIMIT",
        "9223372036854775807",
        "9223372036854775807",
    ],
    &["ZRANGE", "z", "-9223372036854775808", "9223372036854775807"],
    &["LMPOP", "1", "l", "LEFT", "COUNT", "0"],
    &["LMPOP", "1", "l", "LEFT", "COUNT", "-1"],
    &["LMPOP", "9223372036854775807", "l", "LEFT"],
    &["LMPOP", "0", "l", "LEFT"],
    &["ZMPOP", "1", "z", "MIN", "COUNT", "0"],
    &["ZMPOP", "2147483648", "z", "MIN"],
    &["SCAN", "0", "COUNT", "0"],
    &["SCAN", "0", "COUNT", "-1"],
    &["SCAN", "18446744073709551616"],
    &["SSCAN", "s", "0", "COUNT", "0"],
    &["HSCAN", "myhash", "0", "COUNT", "-5"],
    &["ZSCAN", "z", "0", "COUNT", "0"],
    &["SETRANGE", "str", "536870912", "x"],
    &["SETRANGE", "str", "-1", "x"],
    &["SETRANGE", "str", "9223372036854775807", "x"],
    &["SETRANGE", "str", "1000", "x"],
    &["GETRANGE", "str", "0", "9223372036854775807"],
    &[
        "GETRANGE",
        "str",
        "-9223372036854775808",
        "-9223372036854775808",
    ],
    &["SET", "k", "v", "EX", "9223372036854775807"],
    &["SET", "k", "v", "PX", "9223372036854775807"],
    &["SET", "k", "v", "EX", "0"],
    &["SET", "k", "v", "EXAT", "9223372036854775807"],
    &["SET", "k", "v", "EX", "9223372036854776"],
    &["SETEX", "k", "9223372036854775807", "v"],
    &["PSETEX", "k", "9223372036854775807", "v"],
    &["GETEX", "k", "EX", "9223372036854775807"],
    &["SET", "k", "v"],
    &["EXPIRE", "k", "9223372036854775807"],
    &["PEXPIRE", "k", "9223372036854775807"],
    &["EXPIREAT", "k", "9223372036854775807"],
    &["EXPIRE", "k", "9223372036854776"],
    &["EXPIRE", "k", "-9223372036854775808"],
    &["SET", "n", "9223372036854775807"],
    &["INCR", "n"],
    &["DECRBY", "n", "-9223372036854775808"],
    &["SET", "n", "-9223372036854775808"],
    &["DECR", "n"],
    &["INCRBY", "n", "-9223372036854775808"],
    &["INCRBYFLOAT", "n", "inf"],
    &["SET", "f", "1.7976931348623157e308"],
    &["INCRBYFLOAT", "f", "1.7976931348623157e308"],
    &["HINCRBY", "myhash", "a", "9223372036854775807"],
    &["HINCRBYFLOAT", "myhash", "a", "nan"],
    &["ZADD", "z", "nan", "a"],
    &["ZINCRBY", "z", "-inf", "a"],
    &["ZINCRBY", "z", "+inf", "a"],
    &["ZADD", "z", "INCR", "nan", "a"],
    &["RPUSH", "l", "a", "b"],
    &["LSET", "l", "9223372036854775807", "x"],
    &["LSET", "l", "-9223372036854775808", "x"],
    &["LINDEX", "l", "-9223372036854775808"],
    &["LREM", "l", "-9223372036854775808", "a"],
    &["LPOP", "l", "-1"],
    &["LPOP", "l", "9223372036854775807"],
    &["SINTERCARD", "1", "s", "LIMIT", "-1"],
    &["SINTERCARD", "9223372036854775807", "s"],
    &["ZUNION", "9223372036854775807", "z"],
    &["ZUNIONSTORE", "d", "2147483648", "z"],
    &["SELECT", "9223372036854775807"],
    &["SELECT", "-1"],
    &["MOVE", "k", "9223372036854775807"],
    &["SWAPDB", "0", "9223372036854775807"],
    &["SWAPDB", "x", "0"],
    &["COPY", "k", "k2", "DB", "9223372036854775807"],
    &["HELLO", "9223372036854775807"],
    &["CONFIG", "SET", "proto-max-bulk-len", "1"],
];

#[test]
fn count_and_size_edges_match_redis() {
    let (rw, rd) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis(&rw, &rd, EDGES);
}

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// The reported crash: the server answers, survives and stays small.
/// Negative counts Redis accepts (it would then grow its output buffer
/// until the OOM killer) are refused once their reply would exceed
/// proto-max-bulk-len.
#[test]
fn hrandfield_repro_survives_with_bounded_rss() {
    let s = Server::start(&[]);
    let mut c = RawClient::new(&s);
    assert_eq!(c.call(&["HMSET", "myhash", "a", "1"]), "+OK\r\n");
    let before = rss_kb(s.pid());
    assert_eq!(
        c.call(&["HRANDFIELD", "myhash", "-9223372036854770000", "WITHVALUES"]),
        "-ERR value is out of range\r\n"
    );
    for (cmd, count) in [
        ("HRANDFIELD", "-9223372036854775807"),
        ("HRANDFIELD", "-4611686018427387903"),
        ("SRANDMEMBER", "-9223372036854775807"),
        ("ZRANDMEMBER", "-9223372036854775807"),
    ] {
        let key = match cmd {
            "HRANDFIELD" => "myhash",
            "SRANDMEMBER" => "s",
            _ => "z",
        };
        c.call(&["SADD", "s", "a"]);
        c.call(&["ZADD", "z", "1", "a"]);
        assert_eq!(
            c.call(&[cmd, key, count]),
            "-ERR value is out of range\r\n",
            "{cmd} {count}"
        );
    }
    // Below the ceiling a negative count is still served in full.
    let r = c.call(&["HRANDFIELD", "myhash", "-1000"]);
    assert!(r.starts_with("*1000\r\n"), "{r}");
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    let after = rss_kb(s.pid());
    assert!(
        after < before + 200 * 1024,
        "RSS grew {before} -> {after} kB"
    );
}

/// Protocol limits: texts, then the connection is closed; others go on.
#[test]
fn protocol_limits_match_redis() {
    let (rw, rd) = (Server::start(&[]), Server::redis(&[]));
    let big_inline = vec![b'a'; 64 * 1024 + 10];
    let cases: Vec<Vec<u8>> = vec![
        b"*1\r\n$536870913\r\n".to_vec(),
        b"*1\r\n$-2\r\n".to_vec(),
        b"*3000000000\r\n".to_vec(),
        b"*-5\r\nPING\r\n".to_vec(),
        b"*1\r\n+PING\r\n".to_vec(),
        big_inline,
        b"SET \"a\r\n".to_vec(),
    ];
    for case in cases {
        let mut got = Vec::new();
        for s in [&rw, &rd] {
            let mut t = s.raw();
            got.push(String::from_utf8_lossy(&raw_roundtrip(&mut t, &case, b"")).into_owned());
        }
        assert_eq!(
            got[0],
            got[1],
            "{:?}",
            String::from_utf8_lossy(&case[..case.len().min(40)])
        );
    }
    // proto-max-bulk-len applies from CONFIG SET on, as in Redis.
    for s in [&rw, &rd] {
        let mut c = RawClient::new(s);
        c.call(&["CONFIG", "SET", "proto-max-bulk-len", "2mb"]);
        let mut t = s.raw();
        let got = raw_roundtrip(&mut t, b"*2\r\n$3\r\nGET\r\n$2097153\r\n", b"");
        assert_eq!(got, b"-ERR Protocol error: invalid bulk length\r\n");
        let r = c.call(&["SETRANGE", "k", "2097152", "x"]);
        assert_eq!(
            r,
            "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
        );
        assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    }
}

/// A query buffer past client-query-buffer-limit closes the client.
#[test]
fn query_buffer_limit_closes_client() {
    for s in [Server::start(&[]), Server::redis(&[])] {
        let mut c = RawClient::new(&s);
        c.call(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]);
        let mut t = s.raw();
        // One 3 MB argument is announced and sent; the query buffer passes 1 MB.
        t.write_all(b"*2\r\n$3\r\nGET\r\n$3000000\r\n").unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut closed = false;
        for _ in 0..60 {
            if t.write_all(&chunk).is_err() {
                closed = true;
                break;
            }
        }
        if !closed {
            t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut b = [0u8; 64];
            closed = matches!(t.read(&mut b), Ok(0) | Err(_));
        }
        assert!(closed, "client over the query buffer limit was not closed");
        assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    }
}
