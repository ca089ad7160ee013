//! Streams side by side with redis-server 7.0: XADD (explicit, partial and
//! automatic IDs, NOMKSTREAM, MAXLEN/MINID with = and ~, LIMIT), XRANGE,
//! XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XINFO STREAM and XREAD give
//! byte-identical replies and errors in RESP2 and RESP3 (explicit IDs keep
//! them deterministic); the listpack nodes split where Redis's do (XINFO's
//! radix-tree counts, `~` trims); RDB files with streams go both ways with
//! redis-server; blocked XREADs are woken across cores; and
//! redis-benchmark's XADD runs to the end. Consumer groups (XGROUP,
//! XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS /
//! CONSUMERS / STREAM FULL) answer as Redis does (clock values masked),
//! blocked XREADGROUPs wake across cores and get -NOGROUP / -UNBLOCKED as
//! in Redis, groups go both ways in RDB files with redis-server, what is
//! journaled rebuilds the same groups (restart, and redis-server loading
//! Redwing's AOF), and the keyspace events are Redis's.
mod common;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const BASICS: &[&[&str]] = &[
    &["XADD", "s", "1-1", "a", "1", "b", "2"],
    &["XADD", "s", "1-2", "a", "3", "b", "4"],
    &["XADD", "s", "1-*", "c", "5"],
    &["XADD", "s", "2-*", "a", "x", "b", "y"],
    &["XADD", "s", "3", "a", "12345678901", "b", "-7"],
    &["XADD", "s", "0-0", "a", "1"],
    &["XADD", "s", "1-1", "a", "1"],
    &["XADD", "s", "MAXLEN", "5", "LIMIT", "3", "*", "a", "1"],
    &["XADD", "s", "LIMIT", "5", "*", "a", "1"],
    &["XADD", "s", "foo", "a", "1"],
    &["XADD", "s", "1-2", "a"],
    &["XADD", "s", "*", "a"],
    &["XADD", "x", "NOMKSTREAM", "5-5", "a", "1"],
    &["EXISTS", "x"],
    &["XADD", "s", "MAXLEN", "-1", "*", "a", "1"],
    &["XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "a", "1"],
    &["XADD", "s", " 4-+4", "a", "1"],
    &["XADD", "s", "04-5", "a", "1"],
    &["XADD", "s", "4-18446744073709551616", "a", "1"],
    &["XTRIM", "s"],
    &["XTRIM", "s", "MAXLEN", "~", "1", "LIMIT", "-1"],
    &["XTRIM", "s", "MAXLEN", "1", "LIMIT", "5"],
    &["XTRIM", "s", "MAXLEN", "~", "1", "LIMIT", "abc"],
    &["XTRIM", "s", "MAXLEN", "abc"],
    &["XTRIM", "s", "MINID", "~", "abc"],
    &["XTRIM", "s", "foo", "1"],
    &["XTRIM", "nokey", "MAXLEN", "zz"],
    &["XTRIM", "nokey", "MAXLEN", "0"],
    &["XRANGE", "s", "-", "+"],
    &["XRANGE", "s", "(1-1", "+"],
    &["XRANGE", "s", "-", "(2-0"],
    &["XRANGE", "s", "1", "1"],
    &["XRANGE", "s", "-", "+", "COUNT", "2"],
    &["XRANGE", "s", "-", "+", "COUNT", "0"],
    &["XRANGE", "s", "-", "+", "COUNT", "-1"],
    &["XRANGE", "s", "-", "+", "COUNT"],
    &["XRANGE", "s", "-", "+", "foo"],
    &["XRANGE", "s", "(", "+"],
    &["XRANGE", "s", "(-", "+"],
    &[
        "XRANGE",
        "s",
        "(18446744073709551615-18446744073709551615",
        "+",
    ],
    &["XRANGE", "s", "-", "(0-0"],
    &["XRANGE", "s", "a", "b"],
    &["XRANGE", "s", "3", "1"],
    &["XRANGE", "nokey", "-", "+"],
    &["XREVRANGE", "s", "+", "-"],
    &["XREVRANGE", "s", "+", "-", "COUNT", "1"],
    &["XREVRANGE", "s", "(2-0", "-"],
    &["XREVRANGE", "s", "2", "1-2"],
    &["XREVRANGE", "nokey", "+", "-"],
    &["XLEN", "s"],
    &["XLEN", "nokey"],
    &["XINFO", "STREAM", "s"],
    &["XDEL", "s", "1-1", "1-5", "zz"],
    &["XDEL", "s", "1-1", "1-5"],
    &["XDEL", "s", "1-1"],
    &["XDEL", "nokey", "zz"],
    &["XINFO", "STREAM", "s"],
    &["XINFO", "STREAM", "s", "FULL"],
    &["XINFO", "STREAM", "s", "FULL", "COUNT", "1"],
    &["XINFO", "STREAM", "s", "FOO"],
    &["XSETID", "s", "0-1"],
    &["XSETID", "s", "9-9", "MAXDELETEDID", "10-0"],
    &["XSETID", "s", "9-9", "ENTRIESADDED", "-1"],
    &["XSETID", "s", "9-9", "ENTRIESADDED", "1"],
    &["XSETID", "s", "9-9", "FOO", "1"],
    &["XSETID", "s", "1-0", "MAXDELETEDID", "0-5"],
    &["XSETID", "nokey", "1-1"],
    &[
        "XSETID",
        "s",
        "9-9",
        "ENTRIESADDED",
        "50",
        "MAXDELETEDID",
        "8-0",
    ],
    &["XSETID", "s", "8-0"],
    &["XINFO", "STREAM", "s"],
    &["XADD", "s", "9-*", "z", "1"],
    &["XADD", "s", "10-*", "z", "1"],
    &[
        "XADD",
        "s",
        "18446744073709551615-18446744073709551615",
        "a",
        "1",
    ],
    &["XADD", "s", "*", "z", "1"],
    &["XADD", "s", "18446744073709551615-*", "a", "1"],
    &["XADD", "t", "5-18446744073709551615", "a", "1"],
    &["XADD", "t", "5-*", "a", "1"],
    &["SET", "str", "1"],
    &["XADD", "str", "*", "a", "1"],
    &["XRANGE", "str", "-", "+"],
    &["XLEN", "str"],
    &["XDEL", "str", "1-1"],
    &["XTRIM", "str", "MAXLEN", "1"],
    &["XSETID", "str", "1-1"],
    &["XINFO", "STREAM", "str"],
    &["XINFO", "STREAM", "nokey"],
    &["XINFO", "foo"],
    &["XINFO"],
    &["XINFO", "STREAM"],
    &["XINFO", "HELP"],
    &["TYPE", "t"],
    &["OBJECT", "ENCODING", "t"],
    &["XREAD", "STREAMS", "t"],
    &["XREAD", "STREAMS", "t", "0"],
    &["XREAD", "COUNT", "1", "STREAMS", "t", "s", "0", "0"],
    &["XREAD", "COUNT", "-1", "STREAMS", "t", "0-0"],
    &["XREAD", "STREAMS", "t", "$"],
    &["XREAD", "STREAMS", "t", ">"],
    &["XREAD", "STREAMS", "t", "t", "0"],
    &["XREAD", "BLOCK", "-1", "STREAMS", "t", "0"],
    &["XREAD", "BLOCK", "abc", "STREAMS", "t", "0"],
    &["XREAD", "FOO", "STREAMS", "t", "0"],
    &["XREAD", "GROUP", "g", "c", "STREAMS", "t", "0"],
    &["XREAD", "COUNT", "1"],
    &["XREAD", "STREAMS", "str", "0"],
    &["XREAD", "STREAMS", "nokey", "t", "0", "zz"],
    &["XREAD", "STREAMS", "nokey", "t", "0", "0"],
    &["XREAD", "BLOCK", "10", "STREAMS", "t", "$"],
    &["XTRIM", "t", "MAXLEN", "0"],
    &["XINFO", "STREAM", "t"],
    &["XLEN", "t"],
    &["EXISTS", "t"],
    &["XRANGE", "t", "-", "+"],
];

/// The stream as a key like any other: TYPE, OBJECT, COPY, RENAME, MOVE,
/// EXPIRE, SCAN TYPE, DEL, and WRONGTYPE from other families.
const AS_A_KEY: &[&[&str]] = &[
    &["XADD", "k", "1-1", "a", "1"],
    &["XADD", "k", "2-1", "a", "2"],
    &["TYPE", "k"],
    &["OBJECT", "ENCODING", "k"],
    &["COPY", "k", "k2"],
    &["XDEL", "k2", "1-1"],
    &["XRANGE", "k", "-", "+"],
    &["XINFO", "STREAM", "k2"],
    &["RENAME", "k2", "k3"],
    &["XINFO", "STREAM", "k3"],
    &["MOVE", "k3", "1"],
    &["SELECT", "1"],
    &["XRANGE", "k3", "-", "+"],
    &["SELECT", "0"],
    &["EXPIRE", "k", "100"],
    &["TTL", "k"],
    &["GET", "k"],
    &["LPUSH", "k", "x"],
    &["SADD", "k", "x"],
    &["DEL", "k"],
    &["EXISTS", "k"],
];

#[test]
fn stream_as_a_key_equals_redis() {
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis(&redwing, &redis, AS_A_KEY);
    // SCAN's cursors differ by design; the keys it finds by type do not.
    let mut c = RawClient::new(&redwing);
    c.call(&["XADD", "k", "1-1", "a", "1"]);
    c.call(&["SET", "str", "1"]);
    let mut found = String::new();
    let mut cursor = "0".to_string();
    loop {
        let r = c.call(&["SCAN", &cursor, "TYPE", "stream"]);
        found.push_str(&r);
        cursor = r.split("\r\n").nth(2).unwrap().to_string();
        if cursor == "0" {
            break;
        }
    }
    assert!(
        found.contains("$1\r\nk\r\n") && !found.contains("str"),
        "{found}"
    );
}

#[test]
fn commands_and_errors_equal_redis() {
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis(&redwing, &redis, BASICS);
}

/// Entries in many nodes: `n` entries with field sets that change every
/// `every` entries, values of `size` bytes.
fn fill(key: &str, n: usize, every: usize, size: usize) -> Vec<Vec<String>> {
    (1..=n)
        .map(|i| {
            let field = format!("f{}", i / every);
            let value = format!("{i}{}", "v".repeat(size));
            // IDs with ms values that share varying prefixes, as the
            // radix tree sees them.
            let id = format!("{}-{}", (i as u64) * 977 + (i as u64 % 7) * 100_000, i % 3);
            vec![
                "XADD".into(),
                key.into(),
                id,
                field,
                value,
                "n".into(),
                i.to_string(),
            ]
        })
        .collect()
}

#[test]
fn nodes_trimming_and_deletes_equal_redis() {
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    let mut script: Vec<Vec<String>> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    script.extend(fill("big", 1000, 40, 3));
    script.extend(fill("fat", 120, 1000, 200));
    for k in ["big", "fat"] {
        script.push(s(&["XINFO", "STREAM", k]));
        script.push(s(&["XLEN", k]));
    }
    script.push(s(&["XDEL", "big", "977-1", "1954-2", "2931-0", "100-0"]));
    script.push(s(&["XTRIM", "big", "MAXLEN", "~", "930"]));
    script.push(s(&["XTRIM", "big", "MAXLEN", "~", "500", "LIMIT", "150"]));
    script.push(s(&["XTRIM", "big", "MAXLEN", "=", "800"]));
    script.push(s(&["XINFO", "STREAM", "big"]));
    script.push(s(&["XTRIM", "big", "MINID", "~", "400000"]));
    script.push(s(&["XTRIM", "big", "MINID", "450000-0"]));
    script.push(s(&["XINFO", "STREAM", "big"]));
    script.push(s(&["XRANGE", "big", "-", "+", "COUNT", "30"]));
    script.push(s(&["XREVRANGE", "big", "+", "-", "COUNT", "30"]));
    script.push(s(&["XRANGE", "big", "500000", "600000"]));
    script.push(s(&[
        "XADD",
        "big",
        "MAXLEN",
        "~",
        "300",
        "999999998-*",
        "f",
        "1",
    ]));
    script.push(s(&[
        "XADD",
        "big",
        "MINID",
        "900000",
        "999999999-1",
        "f",
        "1",
    ]));
    script.push(s(&["XINFO", "STREAM", "big"]));
    script.push(s(&["XRANGE", "fat", "(5000", "20000"]));
    script.push(s(&["XTRIM", "fat", "MAXLEN", "~", "10"]));
    script.push(s(&["XINFO", "STREAM", "fat"]));
    script.push(s(&["CONFIG", "SET", "stream-node-max-entries", "7"]));
    script.extend(fill("small", 60, 5, 1));
    script.push(s(&["XINFO", "STREAM", "small"]));
    script.push(s(&["XTRIM", "small", "MAXLEN", "~", "20"]));
    script.push(s(&["XINFO", "STREAM", "small", "FULL", "COUNT", "3"]));
    script.push(s(&["CONFIG", "SET", "stream-node-max-entries", "100"]));
    let cmds: Vec<Vec<&str>> = script
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let cmds: Vec<&[&str]> = cmds.iter().map(|c| &c[..]).collect();
    same_as_redis(&redwing, &redis, &cmds);
}

fn call(s: &Server, args: &[&str]) -> Vec<u8> {
    RawClient::new(s).call_bytes(args)
}

/// A stream built the same way on both servers, with tombstones, a
/// partly trimmed node and XSETID metadata.
fn build(s: &Server) {
    let mut c = RawClient::new(s);
    for i in 1..=300 {
        let id = format!("{}-{}", 1000 + i * 3, i % 4);
        let f = if i % 50 == 0 { "other" } else { "field" };
        c.call(&[
            "XADD",
            "st",
            &id,
            f,
            &i.to_string(),
            "x",
            "a longer value that compresses well well well",
        ]);
    }
    c.call(&["XDEL", "st", "1003-1", "1300-0", "1600-0"]);
    c.call(&["XTRIM", "st", "MAXLEN", "250"]);
    c.call(&["XADD", "empty", "1-1", "a", "b"]);
    c.call(&["XDEL", "empty", "1-1"]);
    c.call(&["XADD", "meta", "5-5", "a", "b"]);
    c.call(&[
        "XSETID",
        "meta",
        "9-9",
        "ENTRIESADDED",
        "7",
        "MAXDELETEDID",
        "6-0",
    ]);
    c.call(&["PEXPIRE", "meta", "100000000"]);
}

const CHECKS: &[&[&str]] = &[
    &["XRANGE", "st", "-", "+"],
    &["XINFO", "STREAM", "st"],
    &["XINFO", "STREAM", "empty"],
    &["XINFO", "STREAM", "meta"],
    &["TYPE", "empty"],
    &["XLEN", "st"],
];

/// The data `build` makes, through RDB files both ways: Redwing saves
/// (redis-check-rdb passes) and redis-server loads the file; redis-server
/// saves and Redwing loads it. Returns [saver, loader] pairs:
/// (redwing, redis) and (redis, redwing).
fn rdb_both_ways(build: fn(&Server)) -> [(Server, Server); 2] {
    let redwing = Server::start(&[]);
    build(&redwing);
    assert_eq!(call(&redwing, &["SAVE"]), b"+OK\r\n");
    let path = redwing.dir.path().join("dump.rdb");
    let check = Command::new("redis-check-rdb").arg(&path).output().unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && out.contains("RDB looks OK"),
        "{out}"
    );
    let dir = redwing.dir.path().to_str().unwrap().to_string();
    let redis = Server::redis(&["--dir", &dir]);
    let redis2 = Server::redis(&[]);
    build(&redis2);
    assert_eq!(call(&redis2, &["SAVE"]), b"+OK\r\n");
    let dir2 = redis2.dir.path().to_str().unwrap().to_string();
    let ours = Server::start(&["--dir", &dir2]);
    [(redwing, redis), (redis2, ours)]
}

#[test]
fn rdb_files_go_both_ways_with_redis() {
    let [(redwing, redis), (redis2, ours)] = rdb_both_ways(build);
    same_as_redis_both(&redwing, &redis, CHECKS);
    let ttl = call(&redis, &["PTTL", "meta"]);
    assert!(ttl.starts_with(b":") && ttl.len() > 5, "{}", shown(&ttl));
    same_as_redis_both(&ours, &redis2, CHECKS);
    // And the file Redwing writes for it is byte-identical to Redis's
    // stream encoding: saved again, redis-check-rdb still agrees.
    assert_eq!(call(&ours, &["SAVE"]), b"+OK\r\n");
}

/// The RESP2 reply of an XREAD that got one entry of one key.
fn one_entry(key: &str, id: &str, f: &str, v: &str) -> String {
    let b = |x: &str| format!("${}\r\n{x}\r\n", x.len());
    format!(
        "*1\r\n*2\r\n{}*1\r\n*2\r\n{}*2\r\n{}{}",
        b(key),
        b(id),
        b(f),
        b(v)
    )
}

/// Runs `f(key, blocked, writer)` in every placement: the key on either
/// core, the blocked client on either core and the writer on the other;
/// the key is deleted first. Returns the two keys.
fn each_placement(
    s: &Server,
    prefix: &str,
    mut f: impl FnMut(&str, &mut RawClient, &mut RawClient),
) -> (String, String) {
    let (a, b) = keys_on_two_cores(prefix);
    for key in [&a, &b] {
        for core in [0, 1] {
            let mut blocked = s.raw_on_core(core);
            let mut writer = s.raw_on_core(1 - core);
            writer.call(&["DEL", key]);
            f(key, &mut blocked, &mut writer);
        }
    }
    (a, b)
}

#[test]
fn xread_blocks_and_wakes_across_cores() {
    let redwing = Server::start(&[]);
    let (a, b) = each_placement(&redwing, "xr:", |key, blocked, writer| {
        writer.call(&["XADD", key, "1-1", "old", "1"]);
        blocked.send(&["XREAD", "BLOCK", "5000", "STREAMS", "nokey", key, "0", "$"]);
        wait_blocked(&mut redwing.conn(), "xread", 1);
        assert_eq!(
            writer.call(&["XADD", key, "2-1", "new", "2"]),
            "$3\r\n2-1\r\n"
        );
        assert_eq!(blocked.read(), one_entry(key, "2-1", "new", "2"));
    });
    // A timeout answers a null array; BLOCK 0 waits until served.
    let mut c = redwing.raw_on_core(0);
    let t = Instant::now();
    assert_eq!(
        c.call_bytes(&["XREAD", "BLOCK", "100", "STREAMS", &a, "$"]),
        b"*-1\r\n"
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
    c.send(&["XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", &b, "2-1"]);
    let mut admin = redwing.conn();
    wait_blocked(&mut admin, "xread", 1);
    let mut w = redwing.raw_on_core(1);
    w.call(&["XADD", &b, "3-1", "x", "1"]);
    w.call(&["XADD", &b, "4-1", "y", "1"]);
    assert_eq!(c.read(), one_entry(&b, "3-1", "x", "1"));
}

#[test]
fn resp3_and_blocked_xread_equal_redis() {
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    for s in [&redwing, &redis] {
        let mut w = RawClient::new(s);
        w.call(&["XADD", "k", "1-1", "a", "1"]);
        let mut r = RawClient::new(s);
        r.call(&["HELLO", "3"]);
        r.send(&["XREAD", "BLOCK", "5000", "STREAMS", "k", "$"]);
        wait_for("blocked", Duration::from_secs(5), || {
            blocked_in(&mut s.conn(), "xread") == 1
        });
        w.call(&["XADD", "k", "2-1", "b", "2"]);
    }
    let mut ours = RawClient::new(&redwing);
    let mut theirs = RawClient::new(&redis);
    same_as_redis_on(
        &mut ours,
        &mut theirs,
        3,
        &[&["XREAD", "STREAMS", "k", "0"]],
    );
}

/// redis-benchmark 7.0.15 has no built-in XADD test (7.2's has), so its
/// XADD runs as a custom command, as 7.2's does it, plain and pipelined
/// with `~` trimming.
#[test]
fn redis_benchmark_xadd_runs_to_the_end() {
    let redwing = Server::start(&[]);
    let port = redwing.port.to_string();
    for extra in [&["-P", "1"][..], &["-P", "16"]] {
        let mut args = vec!["60", "redis-benchmark", "-p", &port, "-n", "10000", "-q"];
        args.extend(extra);
        args.extend(["XADD", "mystream", "*", "myfield", "myvalue"]);
        let out = Command::new("timeout").args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("XADD"), "{text}");
    }
    let mut c = redwing.conn();
    assert_eq!(int(&mut c, &["XLEN", "mystream"]), 20000);
}

/// Consumer groups, from creation to destruction, errors included.
const GROUPS: &[&[&str]] = &[
    &["XADD", "s", "1-1", "a", "1"],
    &["XADD", "s", "2-1", "b", "2"],
    &["XADD", "s", "3-1", "c", "3"],
    &["XADD", "s", "4-1", "d", "4"],
    &["XGROUP"],
    &["XGROUP", "foo"],
    &["XGROUP", "HELP"],
    &["XGROUP", "HELP", "x"],
    &["XGROUP", "CREATE", "s", "g"],
    &["XGROUP", "CREATE", "s", "g", "0", "foo"],
    &["XGROUP", "CREATE", "s", "g", "0", "ENTRIESREAD", "-3"],
    &["XGROUP", "CREATE", "s", "g", "0", "ENTRIESREAD", "x"],
    &["XGROUP", "CREATE", "nokey", "g", "0"],
    &["XGROUP", "CREATE", "s", "g", "zz"],
    &["XGROUP", "CREATE", "s", "g", "0", "a", "b", "c", "d"],
    &["XGROUP", "SETID", "s", "nog", "0"],
    &["XGROUP", "SETID", "nokey", "nog", "0"],
    &["XGROUP", "DESTROY", "s"],
    &["XGROUP", "DESTROY", "nokey", "g"],
    &["XGROUP", "CREATECONSUMER", "s", "nog", "c"],
    &["XGROUP", "DELCONSUMER", "s", "nog", "c"],
    &["XGROUP", "CREATE", "s", "g", "0"],
    &["XGROUP", "CREATE", "s", "g", "0"],
    &["XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD", "2"],
    &["XGROUP", "SETID", "s", "g", "0", "MKSTREAM"],
    &["XGROUP", "SETID", "s", "g", "0", "1"],
    &["XGROUP", "SETID", "s", "g", "zz"],
    &["XINFO", "GROUPS", "s"],
    &["XINFO", "GROUPS"],
    &["XINFO", "GROUPS", "nokey"],
    &["XINFO", "GROUPS", "s", "x"],
    &["XINFO", "CONSUMERS", "s"],
    &["XINFO", "CONSUMERS", "s", "nog"],
    &["XINFO", "CONSUMERS", "nokey", "g"],
    &["XREADGROUP", "STREAMS", "s", ">"],
    &["XREADGROUP", "COUNT", "1", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "nokey", ">"],
    &["XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "zz"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "STREAMS",
        "s",
        "0",
        "nokey",
    ],
    &["XREADGROUP", "GROUP", "g", "c", "FOO", "STREAMS", "s", ">"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "-1",
        "STREAMS",
        "s",
        ">",
    ],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "STREAMS",
        "s",
        "nokey",
        ">",
        ">",
    ],
    &["XREAD", "NOACK", "STREAMS", "s", "0"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "2",
        "STREAMS",
        "s",
        ">",
    ],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "NOACK",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        ">",
    ],
    &["XINFO", "GROUPS", "s"],
    &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        "1-1",
    ],
    &["XREADGROUP", "GROUP", "g", "newc", "STREAMS", "s", "0"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "STREAMS",
        "s",
        "s",
        ">",
        "0",
    ],
    &["XPENDING", "s"],
    &["XPENDING", "s", "g"],
    &["XPENDING", "s", "g", "-", "+"],
    &["XPENDING", "s", "g", "-", "+", "10"],
    &["XPENDING", "s", "g", "-", "+", "10", "alice"],
    &["XPENDING", "s", "g", "-", "+", "10", "nobody"],
    &["XPENDING", "s", "g", "-", "+", "1"],
    &["XPENDING", "s", "g", "(1-1", "+", "10"],
    &["XPENDING", "s", "g", "-", "(4-1", "-5"],
    &["XPENDING", "s", "g", "IDLE", "1000000", "-", "+", "10"],
    &["XPENDING", "s", "g", "IDLE", "0", "-", "+", "10", "alice"],
    &["XPENDING", "s", "g", "IDLE", "10", "-", "+"],
    &["XPENDING", "s", "g", "IDLE", "x", "-", "+", "10"],
    &["XPENDING", "s", "g", "-", "+", "x"],
    &["XPENDING", "s", "g", "-", "+", "10", "c", "extra"],
    &["XPENDING", "s", "nog"],
    &["XPENDING", "nokey", "g"],
    &["XPENDING", "s", "g", "(", "+", "10"],
    &[
        "XPENDING",
        "s",
        "g",
        "(18446744073709551615-18446744073709551615",
        "+",
        "10",
    ],
    &["XACK", "s", "g"],
    &["XACK", "s", "g", "zz"],
    &["XACK", "nokey", "g", "zz"],
    &["XACK", "s", "nog", "1-1"],
    &["XACK", "s", "g", "1-1", "9-9", "1-1"],
    &["XPENDING", "s", "g"],
    &["XCLAIM", "s", "g", "c"],
    &["XCLAIM", "s", "g", "c", "x", "1-1"],
    &["XCLAIM", "s", "nog", "c", "0", "1-1"],
    &["XCLAIM", "nokey", "g", "c", "0", "1-1"],
    &["XCLAIM", "s", "g", "c", "0", "1-1", "foo"],
    &["XCLAIM", "s", "g", "c", "0", "1-1", "IDLE", "x"],
    &["XCLAIM", "s", "g", "c", "0", "1-1", "TIME", "x"],
    &["XCLAIM", "s", "g", "c", "0", "1-1", "RETRYCOUNT", "x"],
    &["XCLAIM", "s", "g", "c", "0", "1-1", "LASTID", "x"],
    &[
        "XCLAIM",
        "s",
        "g",
        "bob",
        "0",
        "2-1",
        "TIME",
        "1000",
        "RETRYCOUNT",
        "7",
    ],
    &["XPENDING", "s", "g", "-", "+", "10"],
    &["XCLAIM", "s", "g", "carol", "0", "2-1", "3-1", "JUSTID"],
    &["XCLAIM", "s", "g", "dave", "0", "4-1", "FORCE", "JUSTID"],
    &["XCLAIM", "s", "g", "dave", "0", "4-1", "FORCE"],
    &["XCLAIM", "s", "g", "dave", "0", "9-9", "FORCE"],
    &["XCLAIM", "s", "g", "dave", "100000000", "2-1"],
    &[
        "XCLAIM", "s", "g", "erin", "0", "4-1", "LASTID", "10-0", "IDLE", "5",
    ],
    &[
        "XCLAIM",
        "s",
        "g",
        "erin",
        "-5",
        "4-1",
        "LASTID",
        "11-0",
        "TIME",
        "99999999999999",
    ],
    &["XINFO", "GROUPS", "s"],
    &["XPENDING", "s", "g"],
    &["XDEL", "s", "2-1"],
    &["XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", "0"],
    &["XINFO", "CONSUMERS", "s", "g"],
    &["XAUTOCLAIM", "s", "g", "c", "0"],
    &["XAUTOCLAIM", "s", "g", "c", "x", "0"],
    &["XAUTOCLAIM", "s", "g", "c", "0", "x"],
    &["XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "0"],
    &["XAUTOCLAIM", "s", "g", "c", "0", "0", "FOO"],
    &["XAUTOCLAIM", "s", "nog", "c", "0", "0"],
    &[
        "XAUTOCLAIM",
        "s",
        "g",
        "c",
        "0",
        "(18446744073709551615-18446744073709551615",
    ],
    &["XAUTOCLAIM", "s", "g", "frank", "100000000", "0"],
    &["XAUTOCLAIM", "s", "g", "frank", "0", "0", "COUNT", "1"],
    &[
        "XAUTOCLAIM",
        "s",
        "g",
        "frank",
        "0",
        "0",
        "COUNT",
        "1",
        "JUSTID",
    ],
    &["XAUTOCLAIM", "s", "g", "frank", "0", "0"],
    &["XAUTOCLAIM", "s", "g", "frank", "0", "(4-1"],
    &["XINFO", "STREAM", "s", "FULL"],
    &["XINFO", "STREAM", "s", "FULL", "COUNT", "1"],
    &["XINFO", "GROUPS", "s"],
    &["XGROUP", "SETID", "s", "g", "1-1"],
    &["XINFO", "GROUPS", "s"],
    &["XGROUP", "SETID", "s", "g", "$", "ENTRIESREAD", "3"],
    &["XINFO", "GROUPS", "s"],
    &["XGROUP", "CREATECONSUMER", "s", "g", "zed"],
    &["XGROUP", "CREATECONSUMER", "s", "g", "zed"],
    &["XGROUP", "DELCONSUMER", "s", "g", "frank"],
    &["XGROUP", "DELCONSUMER", "s", "g", "frank"],
    &["XINFO", "STREAM", "s"],
    &["XGROUP", "DESTROY", "s", "g2"],
    &["XGROUP", "DESTROY", "s", "g2"],
    &["XINFO", "GROUPS", "s"],
    &["XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"],
    &["XINFO", "GROUPS", "e"],
    &["XINFO", "STREAM", "e", "FULL"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "e", ">"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "e", "0"],
    &["XGROUP", "SETID", "s", "g", "0-0"],
    &["XADD", "s", "5-1", "e", "5"],
    &["XINFO", "GROUPS", "s"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "2",
        "STREAMS",
        "s",
        ">",
    ],
    &["XINFO", "GROUPS", "s"],
    &["XTRIM", "s", "MAXLEN", "0"],
    &["XINFO", "GROUPS", "s"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"],
    &["SET", "str", "x"],
    &["XGROUP", "CREATE", "str", "g", "0"],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "str", ">"],
    &["XACK", "str", "g", "1-1"],
    &["XPENDING", "str", "g"],
    &["XCLAIM", "str", "g", "c", "0", "1-1"],
    &["XAUTOCLAIM", "str", "g", "c", "0", "0"],
    &["XINFO", "GROUPS", "str"],
    &["XINFO", "CONSUMERS", "str", "g"],
    &["COPY", "s", "s2"],
    &["XINFO", "GROUPS", "s2"],
];

/// `reply` with the clock's values masked: idle times and seen times
/// always, and with `all` every unix-ms time (delivery times).
fn masked(args: &[&str], reply: &[u8], all: bool) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let mut toks: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    let xpending_ext = args[0].eq_ignore_ascii_case("XPENDING") && args.len() > 3;
    for i in 0..toks.len() {
        let t = &toks[i];
        let int = t.starts_with(':') && t.len() > 1;
        let after = |w: &str| i > 0 && toks[i - 1] == w;
        if int && (after("idle") || after("seen-time") || (all && t.len() >= 13)) {
            toks[i] = ":T".into();
        }
        if xpending_ext && toks[i] == "*4" && i + 5 < toks.len() {
            toks[i + 5] = ":T".into();
        }
    }
    toks.join("\r\n")
}

/// Runs `cmds` on both servers in RESP `resp` and compares the replies
/// with the clock's values masked (`all`: delivery times too). Returns
/// Redwing's replies.
fn same_masked(
    redwing: &Server,
    redis: &Server,
    resp: u8,
    cmds: &[&[&str]],
    all: bool,
) -> Vec<Vec<u8>> {
    let (mut ours, mut theirs) = (RawClient::new(redwing), RawClient::new(redis));
    if resp == 3 {
        ours.call(&["HELLO", "3"]);
        theirs.call(&["HELLO", "3"]);
    }
    let mut replies = Vec::new();
    for args in cmds {
        let (a, b) = (ours.call_bytes(args), theirs.call_bytes(args));
        assert_eq!(
            masked(args, &a, all),
            masked(args, &b, all),
            "RESP{resp} {args:?}\n redwing: {}\n   redis: {}",
            shown(&a),
            shown(&b)
        );
        replies.push(a);
    }
    replies
}

#[test]
fn consumer_groups_equal_redis() {
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    same_masked(&redwing, &redis, 2, GROUPS, true);
    for s in [&redwing, &redis] {
        call(s, &["FLUSHALL"]);
    }
    same_masked(&redwing, &redis, 3, GROUPS, true);
}

/// Keyspace events of the group commands, in Redis's order.
#[test]
fn group_keyspace_events_equal_redis() {
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    let mut events = Vec::new();
    for s in [&redwing, &redis] {
        let mut c = RawClient::new(s);
        c.call(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let mut sub = RawClient::new(s);
        sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
        for args in [
            &["XGROUP", "CREATE", "k", "g", "$", "MKSTREAM"][..],
            &["XADD", "k", "1-1", "a", "1"],
            &["XGROUP", "CREATECONSUMER", "k", "g", "c0"],
            &["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "k", ">"],
            &["XREADGROUP", "GROUP", "g", "c2", "STREAMS", "k", ">"],
            &["XCLAIM", "k", "g", "c3", "0", "1-1"],
            &["XAUTOCLAIM", "k", "g", "c4", "0", "0"],
            &["XGROUP", "SETID", "k", "g", "0"],
            &["XGROUP", "DELCONSUMER", "k", "g", "c1"],
            &["XGROUP", "DESTROY", "k", "g"],
            &["XGROUP", "DESTROY", "k", "g"],
            &["DEL", "k"],
        ] {
            c.call(args);
        }
        let mut got = String::new();
        while let Some(r) = sub.read_within(Duration::from_millis(300)) {
            got.push_str(&r);
        }
        events.push(got);
    }
    assert!(events[1].contains("xgroup-createconsumer"), "{}", events[1]);
    assert_eq!(events[0], events[1]);
}

/// Sends a blocking XREADGROUP of group g, consumer c on `c` and waits
/// until it blocks.
fn block_reader(s: &Server, c: &mut RawClient, key: &str) {
    c.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "5000",
        "STREAMS",
        key,
        ">",
    ]);
    wait_blocked(&mut s.conn(), "xreadgroup", 1);
}

#[test]
fn xreadgroup_blocks_and_wakes_across_cores() {
    let redwing = Server::start(&[]);
    let (a, _) = each_placement(&redwing, "xg:", |key, blocked, writer| {
        writer.call(&["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]);
        block_reader(&redwing, blocked, key);
        writer.call(&["XADD", key, "2-1", "new", "2"]);
        assert_eq!(blocked.read(), one_entry(key, "2-1", "new", "2"));
        // Delivered: pending for c, and the group moved on.
        let p = writer.call(&["XPENDING", key, "g"]);
        assert!(p.starts_with("*4\r\n:1\r\n$3\r\n2-1\r\n"), "{p}");
        // The group destroyed under a blocked reader: -NOGROUP.
        block_reader(&redwing, blocked, key);
        assert_eq!(writer.call(&["XGROUP", "DESTROY", key, "g"]), ":1\r\n");
        assert_eq!(
            blocked.read(),
            "-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
        );
        // The key deleted under a blocked reader: -UNBLOCKED.
        writer.call(&["XGROUP", "CREATE", key, "g", "$"]);
        block_reader(&redwing, blocked, key);
        assert_eq!(writer.call(&["DEL", key]), ":1\r\n");
        assert_eq!(
            blocked.read(),
            "-UNBLOCKED the stream key no longer exists\r\n"
        );
    });
    // Two readers of one group share the new entries, first blocked first.
    let mut w = redwing.raw_on_core(0);
    w.call(&["XGROUP", "CREATE", &a, "g", "$", "MKSTREAM"]);
    let mut r1 = redwing.raw_on_core(1);
    r1.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c1",
        "BLOCK",
        "5000",
        "STREAMS",
        &a,
        ">",
    ]);
    let mut admin = redwing.conn();
    wait_blocked(&mut admin, "xreadgroup", 1);
    let mut r2 = redwing.raw_on_core(0);
    r2.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c2",
        "BLOCK",
        "5000",
        "STREAMS",
        &a,
        ">",
    ]);
    wait_blocked(&mut admin, "xreadgroup", 2);
    w.call(&["XADD", &a, "3-1", "x", "1"]);
    assert_eq!(r1.read(), one_entry(&a, "3-1", "x", "1"));
    w.call(&["XADD", &a, "4-1", "y", "1"]);
    assert_eq!(r2.read(), one_entry(&a, "4-1", "y", "1"));
    // A timeout answers a null array.
    let t = Instant::now();
    assert_eq!(
        r1.call_bytes(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "BLOCK",
            "100",
            "STREAMS",
            &a,
            ">"
        ]),
        b"*-1\r\n"
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
    // The stream expiring under a blocked reader: -UNBLOCKED, as in Redis.
    block_reader(&redwing, &mut r1, &a);
    w.call(&["PEXPIRE", &a, "1"]);
    assert_eq!(r1.read(), "-UNBLOCKED the stream key no longer exists\r\n");
}

/// Groups with pending entries, consumers, a NOACK reader, a destroyed
/// entry still pending, built the same way on a server.
fn build_groups(s: &Server) {
    let mut c = RawClient::new(s);
    for i in 1..=20 {
        c.call(&["XADD", "gs", &format!("{i}-1"), "f", &i.to_string()]);
    }
    c.call(&["XGROUP", "CREATE", "gs", "g1", "0"]);
    c.call(&["XGROUP", "CREATE", "gs", "g2", "5-1", "ENTRIESREAD", "5"]);
    c.call(&["XGROUP", "CREATE", "gs", "empty", "$"]);
    c.call(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "5",
        "STREAMS",
        "gs",
        ">",
    ]);
    c.call(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "3",
        "STREAMS",
        "gs",
        ">",
    ]);
    c.call(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "nack",
        "NOACK",
        "COUNT",
        "2",
        "STREAMS",
        "gs",
        ">",
    ]);
    c.call(&["XREADGROUP", "GROUP", "g2", "carol", "STREAMS", "gs", ">"]);
    c.call(&["XACK", "gs", "g1", "2-1", "4-1"]);
    c.call(&[
        "XCLAIM",
        "gs",
        "g1",
        "bob",
        "0",
        "1-1",
        "TIME",
        "1700000000000",
        "RETRYCOUNT",
        "5",
    ]);
    c.call(&["XGROUP", "CREATECONSUMER", "gs", "g1", "idle"]);
    c.call(&["XDEL", "gs", "3-1", "17-1"]);
    c.call(&["XAUTOCLAIM", "gs", "g2", "dave", "0", "15-1", "COUNT", "2"]);
}

const GROUP_CHECKS: &[&[&str]] = &[
    &["XINFO", "STREAM", "gs", "FULL"],
    &["XINFO", "GROUPS", "gs"],
    &["XINFO", "CONSUMERS", "gs", "g1"],
    &["XINFO", "CONSUMERS", "gs", "g2"],
    &["XPENDING", "gs", "g1"],
    &["XPENDING", "gs", "g1", "-", "+", "100"],
    &["XPENDING", "gs", "g2", "-", "+", "100", "dave"],
];

/// Runs GROUP_CHECKS on both in RESP2 and RESP3, clock values that
/// depend on "now" masked (`all`: delivery times too).
fn same_groups(a: &Server, b: &Server, all: bool) {
    for resp in [2, 3] {
        same_masked(a, b, resp, GROUP_CHECKS, all);
    }
}

#[test]
fn rdb_with_groups_goes_both_ways_with_redis() {
    let [(redwing, redis), (redis2, ours)] = rdb_both_ways(build_groups);
    // The same file: delivery and seen times equal too.
    same_groups(&redwing, &redis, false);
    same_groups(&ours, &redis2, false);
    // And what the two built independently agrees, times aside.
    same_groups(&ours, &redwing, true);
}

/// GROUP_CHECKS' replies on `s` in RESP2, clock values of "now" masked.
fn group_replies(s: &Server, checks: &[&[&str]]) -> Vec<String> {
    let mut c = RawClient::new(s);
    checks
        .iter()
        .map(|args| masked(args, &c.call_bytes(args), false))
        .collect()
}

/// What Redwing journals for groups rebuilds them: after a restart from
/// its AOF, and in redis-server loading that AOF.
#[test]
fn group_journal_rebuilds_the_groups() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let args = [
        "--dir",
        &d,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    let redwing = Server::start(&args);
    build_groups(&redwing);
    // A blocked XREADGROUP served across cores is journaled too.
    let (a, b) = keys_on_two_cores("xgj:");
    let mut w = redwing.raw_on_core(0);
    for k in [&a, &b] {
        w.call(&["XGROUP", "CREATE", k, "g", "$", "MKSTREAM"]);
    }
    let mut r = redwing.raw_on_core(0);
    r.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "5000",
        "STREAMS",
        &a,
        &b,
        ">",
        ">",
    ]);
    wait_blocked(&mut redwing.conn(), "xreadgroup", 1);
    w.call(&["XADD", &b, "1-1", "x", "1"]);
    assert_eq!(r.read(), one_entry(&b, "1-1", "x", "1"));
    let pending: Vec<&[&str]> = vec![
        &["XPENDING", "gs", "g1", "-", "+", "100"],
        &["XPENDING", "gs", "g2", "-", "+", "100"],
        &["XINFO", "CONSUMERS", "gs", "g1"],
    ];
    let key_b: &[&str] = &["XPENDING", &b, "g", "-", "+", "10"];
    let mut checks = pending.clone();
    checks.push(key_b);
    let before = group_replies(&redwing, &checks);
    assert!(before[3].contains("1-1"), "{}", before[3]);
    drop(redwing);
    // The pending entries come back exactly: owner, delivery time, count.
    let again = Server::start(&args);
    assert_eq!(before, group_replies(&again, &checks));
    let mut full: Vec<&[&str]> = GROUP_CHECKS.to_vec();
    full.extend(checks.iter().copied());
    let ours = group_replies(&again, &full);
    drop(again);
    // redis-server replaying Redwing's AOF builds the same groups.
    let redis = Server::redis(&args);
    assert_eq!(ours, group_replies(&redis, &full));
}

/// A redis-server replica of Redwing gets the groups: in the full sync's
/// RDB, then through the stream of deliveries, claims and acks.
#[test]
fn redis_replica_gets_the_groups() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    build_groups(&master);
    let replica = common::repl::redis_replica_of(&master);
    let mut c = RawClient::new(&master);
    c.call(&["XADD", "gs", "21-1", "f", "21"]);
    c.call(&["XREADGROUP", "GROUP", "g1", "erin", "STREAMS", "gs", ">"]);
    c.call(&[
        "XREADGROUP",
        "GROUP",
        "g2",
        "nack",
        "NOACK",
        "STREAMS",
        "gs",
        ">",
    ]);
    c.call(&["XCLAIM", "gs", "g1", "frank", "0", "5-1", "RETRYCOUNT", "9"]);
    c.call(&["XAUTOCLAIM", "gs", "g2", "gina", "0", "0", "COUNT", "3"]);
    c.call(&["XACK", "gs", "g1", "1-1"]);
    c.call(&["XGROUP", "DELCONSUMER", "gs", "g1", "idle"]);
    let checks: &[&[&str]] = &[
        &["XPENDING", "gs", "g1", "-", "+", "100"],
        &["XPENDING", "gs", "g2", "-", "+", "100"],
        &["XINFO", "CONSUMERS", "gs", "g1"],
        &["XINFO", "CONSUMERS", "gs", "g2"],
    ];
    // Not XINFO GROUPS: Redis propagates a delivery as XCLAIM, which does
    // not carry entries-read, so a Redis replica's counter differs from
    // its master's too.
    let want = group_replies(&master, checks);
    wait_for("the replica's groups", Duration::from_secs(10), || {
        group_replies(&replica, checks) == want
    });
}

/// Random group work (seeded), side by side with redis-server: adds,
/// deletes and trims under groups, reads new and old entries, acks,
/// claims and autoclaims, group and consumer changes; every reply equal
/// with the clock's values masked.
#[test]
fn random_group_work_equals_redis() {
    use rand::{Rng, SeedableRng};
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let mut next_ms = 1u64;
    let mut script: Vec<Vec<String>> = Vec::new();
    for _ in 0..1500 {
        let g = ["g1", "g2", "g3"][rng.gen_range(0..3)];
        let c = ["a", "b", "c", "d"][rng.gen_range(0..4)];
        // Mostly recent IDs: old ones are soon trimmed away.
        let ms = rng.gen_range(next_ms.saturating_sub(25)..next_ms + 2);
        let id = format!("{ms}-{}", rng.gen_range(0..3));
        let n = rng.gen_range(0..5).to_string();
        let cmd: Vec<String> = match rng.gen_range(0..20) {
            0..=3 => {
                next_ms += 1;
                format!("XADD s {next_ms}-{} f {next_ms}", rng.gen_range(0..2))
                    .split(' ')
                    .map(String::from)
                    .collect()
            }
            4 => vec!["XDEL".into(), "s".into(), id],
            5 => vec![
                "XTRIM".into(),
                "s".into(),
                "MAXLEN".into(),
                rng.gen_range(3..30).to_string(),
            ],
            6 => vec!["XGROUP".into(), "CREATE".into(), "s".into(), g.into(), id],
            7 => vec!["XGROUP".into(), "SETID".into(), "s".into(), g.into(), id],
            8 => vec![
                "XGROUP".into(),
                "DELCONSUMER".into(),
                "s".into(),
                g.into(),
                c.into(),
            ],
            9..=11 => {
                let mut v: Vec<String> =
                    vec!["XREADGROUP".into(), "GROUP".into(), g.into(), c.into()];
                if rng.gen_bool(0.5) {
                    v.extend(["COUNT".into(), n.clone()]);
                }
                if rng.gen_bool(0.2) {
                    v.push("NOACK".into());
                }
                let from = if rng.gen_bool(0.7) {
                    ">".to_string()
                } else {
                    id
                };
                v.extend(["STREAMS".into(), "s".into(), from]);
                v
            }
            12 => vec!["XACK".into(), "s".into(), g.into(), id],
            13 => {
                let mut v: Vec<String> = format!("XCLAIM s {g} {c} 0 {id} TIME {}", 1000 + next_ms)
                    .split(' ')
                    .map(String::from)
                    .collect();
                for opt in ["FORCE", "JUSTID"] {
                    if rng.gen_bool(0.3) {
                        v.push(opt.into());
                    }
                }
                if rng.gen_bool(0.3) {
                    v.extend([
                        "LASTID".into(),
                        format!("{}-0", rng.gen_range(0..next_ms + 2)),
                    ]);
                }
                v
            }
            14 => {
                let mut v: Vec<String> =
                    format!("XAUTOCLAIM s {g} {c} 0 {id} COUNT {}", rng.gen_range(1..4))
                        .split(' ')
                        .map(String::from)
                        .collect();
                if rng.gen_bool(0.3) {
                    v.push("JUSTID".into());
                }
                v
            }
            15 => vec!["XINFO".into(), "GROUPS".into(), "s".into()],
            16 => vec!["XINFO".into(), "CONSUMERS".into(), "s".into(), g.into()],
            17 => vec!["XPENDING".into(), "s".into(), g.into()],
            18 => vec![
                "XPENDING".into(),
                "s".into(),
                g.into(),
                "-".into(),
                "+".into(),
                "10".into(),
            ],
            _ => vec!["XINFO".into(), "STREAM".into(), "s".into(), "FULL".into()],
        };
        script.push(cmd);
    }
    let cmds: Vec<Vec<&str>> = script
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let cmds: Vec<&[&str]> = cmds.iter().map(|c| &c[..]).collect();
    let replies = same_masked(&redwing, &redis, 2, &cmds, true);
    // The work did happen: entries delivered, claimed, groups listed.
    let count = |cmd: &str, ok: &dyn Fn(&[u8]) -> bool| {
        cmds.iter()
            .zip(&replies)
            .filter(|(c, r)| c[0] == cmd && ok(r))
            .count()
    };
    let delivered = count("XREADGROUP", &|r| {
        r.starts_with(b"*1\r\n*2\r\n$1\r\ns\r\n*") && !r.ends_with(b"*0\r\n")
    });
    let claimed = count("XCLAIM", &|r| r.len() > 4 && !r.starts_with(b"-"));
    let autoclaimed = count("XAUTOCLAIM", &|r| {
        let t = String::from_utf8_lossy(r);
        t.split("\r\n")
            .nth(3)
            .is_some_and(|n| n.starts_with('*') && n != "*0")
    });
    assert!(
        delivered > 50 && claimed >= 3 && autoclaimed > 5,
        "{delivered} {claimed} {autoclaimed}"
    );
}

/// What a blocked XREADGROUP (BLOCK 5000) answers when `op` runs on its
/// stream `key`, or None if it is still blocked 300 ms later.
fn blocked_reader_after(
    s: &Server,
    blocked: &mut RawClient,
    writer: &mut RawClient,
    key: &str,
    op: &[&str],
) -> Option<String> {
    writer.call(&["FLUSHALL"]);
    writer.call(&["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]);
    block_reader(s, blocked, key);
    writer.call(op);
    let got = blocked.read_within(Duration::from_millis(300));
    if got.is_none() {
        // Release it for the next round.
        writer.call(&["XADD", key, "*", "f", "v"]);
        let _ = blocked.read_within(Duration::from_secs(5));
    }
    got
}

/// A blocked XREADGROUP whose stream goes away — deleted, renamed away
/// (to a key on either core), replaced by a string, moved, flushed or
/// swapped out — gets Redis 7.0's -UNBLOCKED at once, from either core.
#[test]
fn xreadgroup_unblocked_when_stream_goes_as_redis() {
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    let (a, b) = keys_on_two_cores("xu:");
    let ops = |key: &str, other: &str| -> Vec<Vec<String>> {
        [
            vec!["DEL", key],
            vec!["UNLINK", key],
            vec!["RENAME", key, other],
            vec!["RENAME", key, &format!("{key}:x")],
            vec!["SET", key, "x"],
            vec!["MOVE", key, "1"],
            vec!["FLUSHALL"],
            vec!["FLUSHDB"],
            vec!["SWAPDB", "0", "1"],
            // Not the stream: still blocked.
            vec!["DEL", other],
            vec!["FLUSHDB", "ASYNC"],
        ]
        .iter()
        .map(|v| v.iter().map(|s| s.to_string()).collect())
        .collect()
    };
    let mut theirs = Vec::new();
    for op in ops(&a, &b) {
        let op: Vec<&str> = op.iter().map(|s| s.as_str()).collect();
        let (mut blocked, mut writer) = (RawClient::new(&redis), RawClient::new(&redis));
        theirs.push(blocked_reader_after(
            &redis,
            &mut blocked,
            &mut writer,
            &a,
            &op,
        ));
    }
    assert_eq!(
        theirs[0],
        Some("-UNBLOCKED the stream key no longer exists\r\n".to_string())
    );
    assert_eq!(theirs[9], None);
    for (key, other) in [(&a, &b), (&b, &a)] {
        for core in [0, 1] {
            let mut blocked = redwing.raw_on_core(core);
            let mut writer = redwing.raw_on_core(1 - core);
            for (i, op) in ops(key, other).iter().enumerate() {
                let op: Vec<&str> = op.iter().map(|s| s.as_str()).collect();
                let got = blocked_reader_after(&redwing, &mut blocked, &mut writer, key, &op);
                assert_eq!(got, theirs[i], "{op:?} key {key}, reader on core {core}");
            }
        }
    }
}
