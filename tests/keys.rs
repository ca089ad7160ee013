//! The generic keyspace family with real clients: expiry (lazy and active),
//! cross-core RENAME/RENAMENX/COPY, MOVE, KEYS, SCAN completeness under
//! concurrent writes, RANDOMKEY, OBJECT, and a side-by-side comparison with
//! redis-server for the tricky replies.
mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use redis::Connection;

fn get(c: &mut Connection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query(c).unwrap()
}

fn set(c: &mut Connection, key: &str, val: &str) {
    let _: () = redis::cmd("SET").arg(key).arg(val).query(c).unwrap();
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every key a full SCAN returns (with `extra` options), and the number
/// of calls it took.
fn scan_all(c: &mut Connection, extra: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        let (next, keys): (String, Vec<String>) =
            redis::cmd("SCAN").arg(&cursor).arg(extra).query(c).unwrap();
        out.extend(keys);
        calls += 1;
        if next == "0" {
            return (out, calls);
        }
        cursor = next;
        assert!(calls < 100_000, "SCAN does not end");
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn del_unlink_exists_touch() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("d:");
    set(&mut c, &a, "1");
    set(&mut c, &b, "2");
    set(&mut c, "d:x", "3");
    assert_eq!(int(&mut c, &["EXISTS", &a, &b, "nope", &a]), 3);
    assert_eq!(int(&mut c, &["TOUCH", &a, &b, "nope"]), 2);
    assert_eq!(int(&mut c, &["DEL", &a, &b, "nope"]), 2);
    assert_eq!(int(&mut c, &["EXISTS", &a, &b]), 0);
    assert_eq!(int(&mut c, &["UNLINK", "d:x", "d:x"]), 1);
    assert_eq!(int(&mut c, &["UNLINK", "d:x"]), 0);
    assert_eq!(
        q(&mut c, &["DEL"]),
        "-ERR wrong number of arguments for 'del' command"
    );
}

#[test]
fn expire_ttl_persist() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    set(&mut c, "e", "v");
    assert_eq!(int(&mut c, &["TTL", "e"]), -1);
    assert_eq!(int(&mut c, &["PTTL", "e"]), -1);
    assert_eq!(int(&mut c, &["EXPIRETIME", "e"]), -1);
    assert_eq!(int(&mut c, &["TTL", "missing"]), -2);
    assert_eq!(int(&mut c, &["PEXPIRETIME", "missing"]), -2);
    assert_eq!(int(&mut c, &["EXPIRE", "missing", "10"]), 0);

    assert_eq!(int(&mut c, &["EXPIRE", "e", "100"]), 1);
    assert_eq!(int(&mut c, &["TTL", "e"]), 100);
    let pttl = int(&mut c, &["PTTL", "e"]);
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");

    let at = now_ms() + 500_000;
    assert_eq!(int(&mut c, &["PEXPIREAT", "e", &at.to_string()]), 1);
    assert_eq!(int(&mut c, &["PEXPIRETIME", "e"]), at);
    assert_eq!(int(&mut c, &["EXPIRETIME", "e"]), (at + 500) / 1000);
    assert_eq!(int(&mut c, &["EXPIREAT", "e", "4000000000"]), 1);
    assert_eq!(int(&mut c, &["EXPIRETIME", "e"]), 4_000_000_000);

    assert_eq!(int(&mut c, &["PERSIST", "e"]), 1);
    assert_eq!(int(&mut c, &["PERSIST", "e"]), 0);
    assert_eq!(int(&mut c, &["PERSIST", "missing"]), 0);
    assert_eq!(int(&mut c, &["TTL", "e"]), -1);

    // A time in the past deletes the key and still answers 1.
    assert_eq!(int(&mut c, &["EXPIRE", "e", "-1"]), 1);
    assert_eq!(get(&mut c, "e"), None);
    set(&mut c, "e", "v");
    assert_eq!(int(&mut c, &["PEXPIREAT", "e", "1"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "e"]), 0);

    set(&mut c, "e", "v");
    for (cmd, arg) in [
        ("EXPIRE", "9223372036854775"),
        ("PEXPIRE", "9223372036854775000"),
        ("EXPIREAT", "9223372036854776"),
    ] {
        assert_eq!(
            q(&mut c, &[cmd, "e", arg]),
            format!(
                "-ERR invalid expire time in '{}' command",
                cmd.to_lowercase()
            )
        );
    }
    assert_eq!(
        q(&mut c, &["EXPIRE", "e", "1x"]),
        "-ERR value is not an integer or out of range"
    );
    assert_eq!(int(&mut c, &["TTL", "e"]), -1);
    // SET without KEEPTTL clears a TTL; EXPIRE on another type is fine.
    assert_eq!(int(&mut c, &["EXPIRE", "e", "50"]), 1);
    set(&mut c, "e", "w");
    assert_eq!(int(&mut c, &["TTL", "e"]), -1);
}

#[test]
fn expire_options() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    set(&mut c, "o", "v");
    assert_eq!(int(&mut c, &["EXPIRE", "o", "100", "XX"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "o", "100", "GT"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "o", "100", "LT"]), 1);
    assert_eq!(int(&mut c, &["EXPIRE", "o", "200", "NX"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "o", "200", "LT"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "o", "200", "gt"]), 1);
    assert_eq!(int(&mut c, &["TTL", "o"]), 200);
    assert_eq!(int(&mut c, &["EXPIRE", "o", "300", "XX", "GT"]), 1);
    assert_eq!(int(&mut c, &["EXPIRE", "o", "50", "XX", "LT"]), 1);
    assert_eq!(int(&mut c, &["TTL", "o"]), 50);
    assert_eq!(
        q(&mut c, &["EXPIRE", "o", "1", "NX", "XX"]),
        "-ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        q(&mut c, &["EXPIRE", "o", "1", "GT", "LT"]),
        "-ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        q(&mut c, &["PEXPIRE", "o", "1", "bogus"]),
        "-ERR Unsupported option bogus"
    );
    assert_eq!(int(&mut c, &["TTL", "o"]), 50);
}

#[test]
fn lazy_expiry_is_millisecond_precise() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("lazy:");
    for k in [&a, &b] {
        set(&mut c, k, "v");
        assert_eq!(int(&mut c, &["PEXPIRE", k, "50"]), 1);
        let pttl = int(&mut c, &["PTTL", k]);
        assert!((1..=50).contains(&pttl), "{pttl}");
    }
    assert_eq!(get(&mut c, &a).as_deref(), Some("v"));
    thread::sleep(Duration::from_millis(100));
    assert_eq!(get(&mut c, &a), None);
    assert_eq!(int(&mut c, &["TTL", &b]), -2);

    // Millisecond precision: a GET answered before the deadline (counted
    // from before PEXPIRE was sent) finds the key, one sent after it
    // (counted from PEXPIRE's reply) does not. Sample until both sides were
    // seen, so neither check can be skipped.
    let ttl = Duration::from_millis(300);
    for k in [&a, &b] {
        set(&mut c, k, "v");
        let sent = Instant::now();
        assert_eq!(int(&mut c, &["PEXPIRE", k, "300"]), 1);
        let acked = Instant::now();
        let (mut before, mut after) = (false, false);
        wait_for("GETs on both sides of the deadline", TIMEOUT, || {
            let asked = Instant::now();
            let got = get(&mut c, k);
            let answered = Instant::now();
            if answered < sent + ttl {
                assert_eq!(got.as_deref(), Some("v"), "{k} gone before its deadline");
                before = true;
            } else if asked > acked + ttl {
                assert_eq!(got, None, "{k} still there after its deadline");
                after = true;
            }
            before && after
        });
    }
}

#[test]
fn active_expiry_removes_untouched_keys() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut p = redis::pipe();
    for i in 0..200 {
        let k = format!("act:{i}");
        p.cmd("SET").arg(&k).arg("v").ignore();
        p.cmd("PEXPIRE").arg(&k).arg(1500).ignore();
    }
    p.cmd("SET").arg("act:keep").arg("v").ignore();
    // Stored before any expired: counted in the same pipelined write,
    // 1.5 s before the first deadline.
    p.cmd("DBSIZE");
    let (n,): (i64,) = p.query(&mut c).unwrap();
    assert_eq!(n, 201);
    // Without touching a key, the stored count must fall to the one
    // persistent key: DBSIZE counts keys that expired but are still stored.
    // Bounded: 1.5 s to the deadlines plus a few active cycles.
    wait_for("the expired keys removed", Duration::from_secs(6), || {
        let n = q(&mut c, &["DBSIZE"]);
        assert!(!n.starts_with('-'), "DBSIZE: {n}");
        n == "int(1)"
    });
    let keys: Vec<String> = redis::cmd("KEYS").arg("act:*").query(&mut c).unwrap();
    assert_eq!(keys, ["act:keep"]);
    assert_eq!(scan_all(&mut c, &[]).0, ["act:keep"]);
}

#[test]
fn type_and_object() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    set(&mut c, "int", "12345");
    set(&mut c, "emb", "hello");
    set(&mut c, "raw", &"x".repeat(45));
    set(&mut c, "big", "123456");
    assert_eq!(q(&mut c, &["TYPE", "int"]), "simple-string(\"string\")");
    assert_eq!(q(&mut c, &["TYPE", "nope"]), "simple-string(\"none\")");
    let enc = |c: &mut Connection, k: &str| -> Option<String> {
        redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(k)
            .query(c)
            .unwrap()
    };
    assert_eq!(enc(&mut c, "int").as_deref(), Some("int"));
    assert_eq!(enc(&mut c, "emb").as_deref(), Some("embstr"));
    assert_eq!(enc(&mut c, "raw").as_deref(), Some("raw"));
    assert_eq!(enc(&mut c, "nope"), None);
    set(&mut c, "small", "42");
    assert_eq!(int(&mut c, &["OBJECT", "REFCOUNT", "small"]), 2147483647);
    assert_eq!(int(&mut c, &["OBJECT", "REFCOUNT", "big"]), 1);
    assert_eq!(int(&mut c, &["OBJECT", "REFCOUNT", "emb"]), 1);
    assert!(q(&mut c, &["OBJECT", "FREQ", "emb"])
        .starts_with("-ERR An LFU maxmemory policy is not selected"));
    assert_eq!(q(&mut c, &["OBJECT", "FREQ", "nope"]), "nil");
    assert_eq!(int(&mut c, &["OBJECT", "IDLETIME", "emb"]), 0);
    let help: Vec<String> = redis::cmd("OBJECT").arg("HELP").query(&mut c).unwrap();
    assert_eq!(help.len(), 15);
    assert!(help[0].starts_with("OBJECT <subcommand>"));

    // Idle time grows without access; TTL, TYPE and OBJECT do not reset it,
    // TOUCH and GET do.
    thread::sleep(Duration::from_millis(2100));
    let _ = q(&mut c, &["TTL", "emb"]);
    let _ = q(&mut c, &["TYPE", "emb"]);
    let _ = q(&mut c, &["EXISTS", "emb"]);
    assert!(int(&mut c, &["OBJECT", "IDLETIME", "emb"]) >= 1);
    assert_eq!(int(&mut c, &["TOUCH", "emb"]), 1);
    assert_eq!(int(&mut c, &["OBJECT", "IDLETIME", "emb"]), 0);
    assert!(int(&mut c, &["OBJECT", "IDLETIME", "int"]) >= 1);
    let _ = get(&mut c, "int");
    assert_eq!(int(&mut c, &["OBJECT", "IDLETIME", "int"]), 0);
}

#[test]
fn rename_across_cores_keeps_value_and_ttl() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("ren:");
    set(&mut c, &a, "va");
    assert_eq!(int(&mut c, &["PEXPIRE", &a, "100000"]), 1);
    assert_eq!(q(&mut c, &["RENAME", &a, &b]), "ok");
    assert_eq!(get(&mut c, &a), None);
    assert_eq!(get(&mut c, &b).as_deref(), Some("va"));
    let pttl = int(&mut c, &["PTTL", &b]);
    assert!((90_000..=100_000).contains(&pttl), "{pttl}");

    // Overwrites the destination and its TTL.
    set(&mut c, &a, "new");
    assert_eq!(q(&mut c, &["RENAME", &b, &a]), "ok");
    assert_eq!(get(&mut c, &a).as_deref(), Some("va"));
    assert!(int(&mut c, &["PTTL", &a]) > 0);
    assert_eq!(q(&mut c, &["RENAME", &b, &a]), "-ERR no such key");
    assert_eq!(q(&mut c, &["RENAMENX", &b, &a]), "-ERR no such key");

    // RENAMENX: refused while the destination exists, even cross-core.
    set(&mut c, &b, "vb");
    assert_eq!(int(&mut c, &["RENAMENX", &a, &b]), 0);
    assert_eq!(get(&mut c, &a).as_deref(), Some("va"));
    assert_eq!(int(&mut c, &["DEL", &b]), 1);
    assert_eq!(int(&mut c, &["RENAMENX", &a, &b]), 1);
    assert_eq!(get(&mut c, &b).as_deref(), Some("va"));
    assert_eq!(int(&mut c, &["EXISTS", &a]), 0);
    assert!(int(&mut c, &["TTL", &b]) > 0);

    // Same-core forms.
    set(&mut c, "{t}x", "1");
    assert_eq!(q(&mut c, &["RENAME", "{t}x", "{t}y"]), "ok");
    assert_eq!(q(&mut c, &["RENAME", "{t}y", "{t}y"]), "ok");
    assert_eq!(int(&mut c, &["RENAMENX", "{t}y", "{t}y"]), 0);
    assert_eq!(get(&mut c, "{t}y").as_deref(), Some("1"));
}

#[test]
fn renames_racing_across_cores_never_lose_the_key() {
    // The two renaming clients on one core and on different cores.
    for placement in PLACEMENTS {
        renames_race(placement);
    }
}

fn renames_race(placement: Placement) {
    let s = Server::start(&[]);
    let (a, b) = keys_on_two_cores("race:");
    let mut c = s.conn();
    set(&mut c, &a, "payload");
    let workers: Vec<_> = [(a.clone(), b.clone(), 0), (b.clone(), a.clone(), 1)]
        .into_iter()
        .map(|(from, to, i)| {
            let core = if i == 0 { 0 } else { placement.core_for(0) };
            let mut c = s.conn_on_core(core);
            thread::spawn(move || {
                let mut moved = 0;
                for _ in 0..300 {
                    match q(&mut c, &["RENAME", &from, &to]).as_str() {
                        "ok" => moved += 1,
                        "-ERR no such key" => {}
                        other => panic!("{other}"),
                    }
                }
                moved
            })
        })
        .collect();
    let moved: i32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(moved > 0, "{placement:?}");
    assert_eq!(int(&mut c, &["EXISTS", &a, &b]), 1);
    let v: Vec<Option<String>> = redis::cmd("MGET").arg(&a).arg(&b).query(&mut c).unwrap();
    assert_eq!(v.into_iter().flatten().collect::<Vec<_>>(), ["payload"]);
}

#[test]
fn copy_same_and_across_cores_and_dbs() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("cp:");
    set(&mut c, &a, "va");
    assert_eq!(int(&mut c, &["EXPIRE", &a, "1000"]), 1);
    assert_eq!(int(&mut c, &["COPY", &a, &b]), 1);
    assert_eq!(get(&mut c, &b).as_deref(), Some("va"));
    assert_eq!(get(&mut c, &a).as_deref(), Some("va"));
    assert!(int(&mut c, &["TTL", &b]) > 990);
    assert_eq!(int(&mut c, &["COPY", &a, &b]), 0);
    set(&mut c, &a, "va2");
    assert_eq!(int(&mut c, &["COPY", &a, &b, "REPLACE"]), 1);
    assert_eq!(get(&mut c, &b).as_deref(), Some("va2"));
    assert_eq!(int(&mut c, &["TTL", &b]), -1);
    assert_eq!(int(&mut c, &["COPY", "cp:missing", &b]), 0);

    // To another database, same key and across cores.
    assert_eq!(int(&mut c, &["COPY", &a, &a, "DB", "1"]), 1);
    assert_eq!(int(&mut c, &["COPY", &a, &b, "DB", "1"]), 1);
    assert_eq!(int(&mut c, &["COPY", &a, &b, "DB", "1"]), 0);
    assert_eq!(
        q(&mut c, &["COPY", &a, &a]),
        "-ERR source and destination objects are the same"
    );
    assert_eq!(
        q(&mut c, &["COPY", &a, &b, "DB", "16"]),
        "-ERR DB index is out of range"
    );
    assert_eq!(q(&mut c, &["COPY", &a, &b, "DB"]), "-ERR syntax error");
    assert_eq!(q(&mut c, &["SELECT", "1"]), "ok");
    assert_eq!(get(&mut c, &a).as_deref(), Some("va2"));
    assert_eq!(get(&mut c, &b).as_deref(), Some("va2"));
}

#[test]
fn move_between_databases() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    set(&mut c, "m", "v");
    assert_eq!(int(&mut c, &["PEXPIRE", "m", "100000"]), 1);
    assert_eq!(int(&mut c, &["MOVE", "m", "3"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "m"]), 0);
    assert_eq!(int(&mut c, &["MOVE", "m", "3"]), 0);
    set(&mut c, "m", "here");
    assert_eq!(int(&mut c, &["MOVE", "m", "3"]), 0);
    assert_eq!(
        q(&mut c, &["MOVE", "m", "0"]),
        "-ERR source and destination objects are the same"
    );
    assert_eq!(
        q(&mut c, &["MOVE", "m", "16"]),
        "-ERR DB index is out of range"
    );
    assert_eq!(
        q(&mut c, &["MOVE", "m", "x"]),
        "-ERR value is not an integer or out of range"
    );
    assert_eq!(q(&mut c, &["SELECT", "3"]), "ok");
    assert_eq!(get(&mut c, "m").as_deref(), Some("v"));
    assert!(int(&mut c, &["PTTL", "m"]) > 90_000);
}

#[test]
fn keys_matches_on_every_core() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut all = Vec::new();
    for i in 0..50 {
        let k = format!("user:{i}");
        set(&mut c, &k, "v");
        all.push(k);
    }
    set(&mut c, "other", "v");
    let got: Vec<String> = redis::cmd("KEYS").arg("user:*").query(&mut c).unwrap();
    assert_eq!(sorted(got), sorted(all.clone()));
    let got: Vec<String> = redis::cmd("KEYS").arg("user:?").query(&mut c).unwrap();
    assert_eq!(got.len(), 10);
    let got: Vec<String> = redis::cmd("KEYS").arg("user:[1-2]?").query(&mut c).unwrap();
    assert_eq!(got.len(), 20);
    let got: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(got.len(), 51);
    let got: Vec<String> = redis::cmd("KEYS").arg("nothing*").query(&mut c).unwrap();
    assert!(got.is_empty());
    // Another database is another keyspace.
    assert_eq!(q(&mut c, &["SELECT", "2"]), "ok");
    let got: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert!(got.is_empty());
}

#[test]
fn scan_walks_every_core_with_options() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut all = Vec::new();
    for i in 0..1000 {
        let k = format!("s:{i}");
        set(&mut c, &k, "v");
        all.push(k);
    }
    let (got, calls) = scan_all(&mut c, &[]);
    assert_eq!(got.len(), 1000, "a quiet keyspace is listed exactly once");
    assert_eq!(sorted(got), sorted(all.clone()));
    assert!(calls > 10, "COUNT 10 pages: {calls}");

    let (got, big) = scan_all(&mut c, &["COUNT", "100000"]);
    assert_eq!(got.len(), 1000);
    assert!(big <= 2, "one call per core: {big}");

    let (got, _) = scan_all(&mut c, &["MATCH", "s:1?", "COUNT", "7"]);
    assert_eq!(
        sorted(got),
        sorted((10..20).map(|i| format!("s:{i}")).collect())
    );
    let (got, _) = scan_all(&mut c, &["TYPE", "STRING", "COUNT", "500"]);
    assert_eq!(got.len(), 1000);
    let (got, _) = scan_all(&mut c, &["TYPE", "hash"]);
    assert!(got.is_empty());

    assert_eq!(q(&mut c, &["SCAN", "x"]), "-ERR invalid cursor");
    assert_eq!(q(&mut c, &["SCAN", " 1"]), "-ERR invalid cursor");
    assert_eq!(q(&mut c, &["SCAN", "0", "COUNT", "0"]), "-ERR syntax error");
    assert_eq!(
        q(&mut c, &["SCAN", "0", "COUNT", "x"]),
        "-ERR value is not an integer or out of range"
    );
    assert_eq!(q(&mut c, &["SCAN", "0", "MATCH"]), "-ERR syntax error");
    assert_eq!(q(&mut c, &["SCAN", "0", "FOO", "bar"]), "-ERR syntax error");
    // A cursor past the end is a finished scan.
    assert_eq!(
        q(&mut c, &["SCAN", "99999999"]),
        q(&mut c, &["SCAN", "18446744073709551615"])
    );
    let (next, keys): (String, Vec<String>) =
        redis::cmd("SCAN").arg("99999").query(&mut c).unwrap();
    assert_eq!((next.as_str(), keys.len()), ("0", 0));
}

#[test]
fn scan_returns_every_old_key_despite_concurrent_writes() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let mut old = HashSet::new();
    for i in 0..3000 {
        let k = format!("old:{i}");
        set(&mut c, &k, "v");
        old.insert(k);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut w = s.conn();
        thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                set(&mut w, &format!("new:{i}"), "v");
                // Churn: delete some of what was just written.
                if i.is_multiple_of(3) {
                    let _: i64 = redis::cmd("DEL")
                        .arg(format!("new:{}", i / 2))
                        .query(&mut w)
                        .unwrap();
                }
                i += 1;
            }
            i
        })
    };
    // Several full scans while the writer runs.
    for _ in 0..3 {
        let (got, _) = scan_all(&mut c, &["COUNT", "25"]);
        let got: HashSet<String> = got.into_iter().collect();
        let missing: Vec<_> = old.difference(&got).take(5).collect();
        assert!(missing.is_empty(), "missed {missing:?}");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
}

#[test]
fn randomkey_weighted_across_cores() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["RANDOMKEY"]), "nil");
    let (a, b) = keys_on_two_cores("rk:");
    set(&mut c, &a, "v");
    set(&mut c, &b, "v");
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let k: String = redis::cmd("RANDOMKEY").query(&mut c).unwrap();
        seen.insert(k);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, HashSet::from([a.clone(), b.clone()]));

    // Expired keys are never returned, and only they: nil when all expired.
    assert_eq!(int(&mut c, &["DEL", &a, &b]), 2);
    for i in 0..100 {
        let k = format!("rk:x{i}");
        set(&mut c, &k, "v");
        assert_eq!(int(&mut c, &["PEXPIRE", &k, "30"]), 1);
    }
    set(&mut c, "rk:live", "v");
    thread::sleep(Duration::from_millis(60));
    for _ in 0..20 {
        assert_eq!(q(&mut c, &["RANDOMKEY"]), q(&mut c, &["ECHO", "rk:live"]));
    }
    assert_eq!(int(&mut c, &["DEL", "rk:live"]), 1);
    assert_eq!(q(&mut c, &["RANDOMKEY"]), "nil");
}

/// The same commands against redwing and redis-server: the replies' bytes
/// must match, in RESP2 and RESP3 (the shared comparison). Covers the
/// fixed cases of the tests above (DEL/EXISTS/TOUCH, EXPIRE and options,
/// RENAME/COPY/MOVE, OBJECT, SCAN errors), also across cores.
#[test]
fn differential_against_redis() {
    let (k1, k2) = keys_on_two_cores("diff:");
    let script: Vec<String> = [
        // DEL, UNLINK, EXISTS, TOUCH over keys on both cores.
        &format!("SET {k1} 1"),
        &format!("SET {k2} 2"),
        "SET d:x 3",
        &format!("EXISTS {k1} {k2} nope {k1}"),
        &format!("TOUCH {k1} {k2} nope"),
        &format!("DEL {k1} {k2} nope"),
        &format!("EXISTS {k1} {k2}"),
        "UNLINK d:x d:x",
        "UNLINK d:x",
        "DEL",
        // TTL replies, past times, limits, SET clearing a TTL.
        "SET e v",
        "TTL e",
        "PTTL e",
        "EXPIRETIME e",
        "TTL missing",
        "PEXPIRETIME missing",
        "EXPIRE missing 10",
        "EXPIRE e 100",
        "TTL e",
        "EXPIREAT e 4000000000",
        "EXPIRETIME e",
        "PEXPIRETIME e",
        "PERSIST e",
        "PERSIST e",
        "TTL e",
        "EXPIRE e -1",
        "GET e",
        "SET e v",
        "PEXPIREAT e 1",
        "EXISTS e",
        "SET e v",
        "EXPIRE e 9223372036854775",
        "PEXPIRE e 9223372036854775000",
        "EXPIREAT e 9223372036854776",
        "EXPIRE e 1x",
        "TTL e",
        "EXPIRE e 50",
        "SET e w",
        "TTL e",
        // EXPIRE options on a key without a TTL.
        "SET o v",
        "EXPIRE o 100 XX",
        "EXPIRE o 100 GT",
        "EXPIRE o 100 LT",
        "EXPIRE o 200 NX",
        "EXPIRE o 200 LT",
        "EXPIRE o 200 gt",
        "TTL o",
        "EXPIRE o 300 XX GT",
        "EXPIRE o 50 XX LT",
        "TTL o",
        "PEXPIRE o 1 bogus",
        "TTL o",
        // EXPIRE option combinations on a key without and with a TTL.
        "SET e v",
        "EXPIRE e 100 XX",
        "EXPIRE e 100 GT",
        "EXPIRE e 100 NX",
        "EXPIRE e 100 NX",
        "EXPIRE e 50 GT",
        "EXPIRE e 200 GT",
        "EXPIRE e 300 LT",
        "EXPIRE e 150 LT",
        "EXPIRE e 150 XX LT",
        "EXPIRE e 160 xx gt",
        "TTL e",
        "EXPIRE e 1 NX XX",
        "EXPIRE e 1 NX GT",
        "EXPIRE e 1 NX LT",
        "EXPIRE e 1 GT LT",
        "EXPIRE e 1 XX XX",
        "EXPIRE e 1 foo",
        "EXPIRE e abc NX",
        "EXPIRE e abc bar",
        "EXPIRE e 9223372036854775807",
        "EXPIRE e -9223372036854775807",
        "PEXPIRE e 9223372036854775807",
        "PEXPIREAT e 9223372036854775807",
        "TTL e",
        "PEXPIRETIME e",
        "EXPIRETIME e",
        "EXPIREAT e 4102444800",
        "EXPIRETIME e",
        "PEXPIRETIME e",
        "PERSIST e",
        "EXPIRE e 100 LT",
        "PERSIST e",
        "EXPIRE e -5 GT",
        "EXPIRE e -5 LT",
        "EXISTS e",
        "EXPIRE nokey 10",
        "TTL nokey",
        "PTTL nokey",
        "EXPIRETIME nokey",
        "PERSIST nokey",
        "EXPIRE",
        // RENAME and friends, including missing keys.
        "RENAME nokey other",
        "RENAMENX nokey other",
        "RENAME nokey nokey",
        "SET r 1",
        "RENAME r r",
        "RENAMENX r r",
        "SET s 2",
        "RENAMENX r s",
        "RENAME r s",
        "GET s",
        "EXISTS r",
        // Cross-core in redwing, plain in redis.
        &format!("SET {k1} one"),
        &format!("RENAME {k1} {k2}"),
        &format!("GET {k2}"),
        &format!("RENAMENX {k2} {k1}"),
        &format!("COPY {k1} {k2}"),
        &format!("COPY {k1} {k2} REPLACE"),
        &format!("COPY {k1} {k2} DB 1 REPLACE"),
        &format!("COPY {k1} {k1}"),
        &format!("COPY {k1} {k1} DB 0"),
        &format!("COPY {k1} {k2} DB"),
        &format!("COPY {k1} {k2} DB x"),
        &format!("COPY {k1} {k2} DB 99"),
        &format!("COPY {k1} {k2} BOGUS"),
        "MOVE s 0",
        "MOVE s 1",
        "MOVE s 1",
        "MOVE s 99",
        "MOVE nokey 1",
        // OBJECT and TYPE.
        "SET i 12345",
        "SET ineg -12",
        "SET ibig 12345678901234567890",
        "SET short hello",
        "SET len44 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "SET len45 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "SET zero 0",
        "SET lead 012",
        "OBJECT ENCODING i",
        "OBJECT ENCODING ineg",
        "OBJECT ENCODING ibig",
        "OBJECT ENCODING short",
        "OBJECT ENCODING len44",
        "OBJECT ENCODING len45",
        "OBJECT ENCODING zero",
        "OBJECT ENCODING lead",
        "OBJECT ENCODING nokey",
        "OBJECT REFCOUNT zero",
        "OBJECT REFCOUNT i",
        "OBJECT REFCOUNT ineg",
        "OBJECT REFCOUNT short",
        "OBJECT FREQ short",
        "OBJECT FREQ nokey",
        "OBJECT IDLETIME nokey",
        "OBJECT ENCODING",
        "OBJECT ENCODING a b",
        "OBJECT HELP",
        "OBJECT HELP x",
        "OBJECT nosuch",
        "OBJECT",
        "TYPE i",
        "TYPE nokey",
        // Whole-keyspace commands with arguments that fail.
        "SCAN abc",
        "SCAN 0 COUNT 0",
        "SCAN 0 COUNT -1",
        "SCAN 0 MATCH",
        "SCAN 0 TYPE",
        "SCAN 0 BOGUS 1",
        "KEYS",
        "KEYS nomatch*",
        "RANDOMKEY extra",
        "DEL nokey",
        "UNLINK nokey i",
        "TOUCH i i nokey",
        "EXISTS i i nokey",
        // OBJECT REFCOUNT of shared integers and FREQ without LFU.
        "SET small 42",
        "OBJECT REFCOUNT small",
        "SET big 123456",
        "OBJECT REFCOUNT big",
        "OBJECT FREQ short",
        "TYPE short",
    ]
    .iter()
    .map(|l| l.to_string())
    .collect();
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    compare_with_redis(&[], &slices(&split_lines(&lines)));
}

/// RENAME, COPY and MOVE into a key that a client is blocked on serve it,
/// as Redis does (the write makes the key ready), also across cores; the
/// blocked client on the writer's core and on the other one.
#[test]
fn writes_into_a_key_wake_blocked_clients() {
    let s = Server::start(&[]);
    let (a, b) = keys_on_two_cores("wake:");
    for placement in PLACEMENTS {
        for (verb, extra) in [("RENAME", vec![]), ("COPY", vec![]), ("MOVE", vec!["0"])] {
            let mut c = s.conn_on_core(0);
            let mut w = s.conn_on_core(placement.core_for(0));
            let dst = if verb == "MOVE" { a.clone() } else { b.clone() };
            let dst2 = dst.clone();
            let waiter = std::thread::spawn(move || {
                let got: Option<(String, String)> =
                    redis::cmd("BLPOP").arg(&dst2).arg(5).query(&mut w).unwrap();
                got
            });
            wait_blocked(&mut c, "blpop", 1);
            if verb == "MOVE" {
                // Fill the key in db 1, then move it into db 0 where the client waits.
                let _: () = redis::cmd("SELECT").arg(1).query(&mut c).unwrap();
                let _: i64 = redis::cmd("RPUSH")
                    .arg(&dst)
                    .arg("x")
                    .query(&mut c)
                    .unwrap();
                let moved: i64 = redis::cmd("MOVE")
                    .arg(&dst)
                    .arg(&extra)
                    .query(&mut c)
                    .unwrap();
                assert_eq!(moved, 1);
            } else {
                let _: i64 = redis::cmd("RPUSH").arg(&a).arg("x").query(&mut c).unwrap();
                let _: redis::Value = redis::cmd(verb).arg(&a).arg(&dst).query(&mut c).unwrap();
            }
            assert_eq!(
                waiter.join().unwrap(),
                Some((dst.clone(), "x".to_string())),
                "{verb} {placement:?}"
            );
            let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
        }
    }
}
