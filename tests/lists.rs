//! The list family with real clients: every command side by side with
//! redis-server 7.0 (fixed cases and a random differential run), WRONGTYPE,
//! encodings, cross-core LMOVE, and blocking pops: woken by pushes from
//! other connections and cores, FIFO among blocked clients, timeouts,
//! several keys on different cores, BLMOVE across cores, and a client
//! killed while blocked.
mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use redis::{Connection, Value};

fn range(c: &mut Connection, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(c)
        .unwrap()
}

/// Runs every command on both servers (redis-server `r`, redwing `w`) and
/// compares the replies' bytes in RESP2 and RESP3 (the shared comparison),
/// on the data they hold now.
fn same(r: &Server, w: &Server, cmds: &[&[&str]]) {
    same_as_redis_both(w, r, cmds);
}

#[test]
fn every_command_matches_redis() {
    let rs = Server::redis(&[]);
    let ws = Server::start(&[]);
    same(
        &rs,
        &ws,
        &[
            &["RPUSH", "l", "a", "b", "c", "a", "d", "a"],
            &["LPUSH", "l", "x", "y"],
            &["LPUSHX", "nokey", "a"],
            &["RPUSHX", "nokey", "a"],
            &["LPUSHX", "l", "p1", "p2"],
            &["RPUSHX", "l", "q1"],
            &["LLEN", "l"],
            &["LLEN", "nokey"],
            &["LRANGE", "l", "0", "-1"],
            &["LRANGE", "l", "-3", "-2"],
            &["LRANGE", "l", "5", "2"],
            &["LRANGE", "l", "-100", "100"],
            &["LRANGE", "l", "100", "200"],
            &["LRANGE", "l", "a", "1"],
            &["LRANGE", "nokey", "0", "-1"],
            &["LINDEX", "l", "0"],
            &["LINDEX", "l", "-1"],
            &["LINDEX", "l", "100"],
            &["LINDEX", "l", "x"],
            &["LINDEX", "nokey", "x"],
            &["LSET", "l", "1", "set1"],
            &["LSET", "l", "-1", "setlast"],
            &["LSET", "l", "100", "x"],
            &["LSET", "l", "x", "x"],
            &["LSET", "nokey", "0", "x"],
            &["LINSERT", "l", "BEFORE", "a", "ins1"],
            &["LINSERT", "l", "after", "a", "ins2"],
            &["LINSERT", "l", "after", "zzz", "ins2"],
            &["LINSERT", "l", "middle", "a", "ins2"],
            &["LINSERT", "nokey", "before", "a", "b"],
            &["LRANGE", "l", "0", "-1"],
            &["LPOS", "l", "a"],
            &["LPOS", "l", "a", "RANK", "2"],
            &["LPOS", "l", "a", "RANK", "-1"],
            &["LPOS", "l", "a", "RANK", "-2", "COUNT", "0"],
            &["LPOS", "l", "a", "COUNT", "0"],
            &["LPOS", "l", "a", "COUNT", "2"],
            &["LPOS", "l", "a", "COUNT", "0", "MAXLEN", "5"],
            &["LPOS", "l", "a", "MAXLEN", "1"],
            &["LPOS", "l", "nothere"],
            &["LPOS", "l", "nothere", "COUNT", "1"],
            &["LPOS", "l", "a", "RANK", "0"],
            &["LPOS", "l", "a", "RANK", "-9223372036854775808"],
            &["LPOS", "l", "a", "COUNT", "-1"],
            &["LPOS", "l", "a", "COUNT", "x"],
            &["LPOS", "l", "a", "MAXLEN", "-1"],
            &["LPOS", "l", "a", "RANK"],
            &["LPOS", "l", "a", "FOO", "1"],
            &["LPOS", "nokey", "a"],
            &["LPOS", "nokey", "a", "COUNT", "3"],
            &["LREM", "l", "1", "a"],
            &["LREM", "l", "-1", "a"],
            &["LREM", "l", "0", "a"],
            &["LREM", "l", "0", "nothere"],
            &["LREM", "l", "x", "a"],
            &["LREM", "nokey", "0", "a"],
            &["LRANGE", "l", "0", "-1"],
            &["LTRIM", "l", "1", "-2"],
            &["LRANGE", "l", "0", "-1"],
            &["LTRIM", "l", "x", "1"],
            &["LTRIM", "nokey", "0", "1"],
            &["LPOP", "l"],
            &["RPOP", "l"],
            &["LPOP", "l", "2"],
            &["RPOP", "l", "0"],
            &["LPOP", "l", "-1"],
            &["LPOP", "l", "x"],
            &["LPOP", "l", "1", "2"],
            &["LPOP", "nokey"],
            &["LPOP", "nokey", "2"],
            &["LPOP", "nokey", "0"],
            &["RPOP", "l", "100"],
            &["EXISTS", "l"],
            &["LTRIM", "l", "0", "1"],
            &["RPUSH", "t", "1", "2", "3"],
            &["LTRIM", "t", "2", "1"],
            &["EXISTS", "t"],
            &["RPUSH", "m", "1", "2", "3"],
            &["LMOVE", "m", "n", "LEFT", "RIGHT"],
            &["LMOVE", "m", "n", "right", "left"],
            &["LMOVE", "m", "m", "left", "right"],
            &["LMOVE", "m", "n", "up", "left"],
            &["LMOVE", "nokey", "n", "left", "left"],
            &["RPOPLPUSH", "m", "n"],
            &["RPOPLPUSH", "m", "n"],
            &["LRANGE", "n", "0", "-1"],
            &["EXISTS", "m"],
            &["RPUSH", "r", "x"],
            &["RPOPLPUSH", "r", "r"],
            &["LRANGE", "r", "0", "-1"],
            &["LMPOP", "2", "nokey", "n", "LEFT"],
            &["LMPOP", "2", "nokey", "n", "RIGHT", "COUNT", "10"],
            &["LMPOP", "1", "nokey", "LEFT"],
            &["LMPOP", "0", "n", "LEFT"],
            &["LMPOP", "x", "n", "LEFT"],
            &["LMPOP", "-1", "n", "LEFT"],
            &["LMPOP", "2", "n", "LEFT"],
            &["LMPOP", "3", "a", "b", "LEFT"],
            &["LMPOP", "1", "n", "MIDDLE"],
            &["LMPOP", "1", "n", "LEFT", "COUNT", "0"],
            &["LMPOP", "1", "n", "LEFT", "COUNT", "x"],
            &["LMPOP", "1", "n", "LEFT", "COUNT", "1", "COUNT", "1"],
            &["LMPOP", "1", "n", "LEFT", "FOO"],
            &["LMPOP", "1", "n"],
            &["LPUSH", "l"],
            &["LLEN"],
            &["BLPOP", "k"],
            &["BLPOP", "k", "x"],
            &["BLPOP", "k", "-1"],
            &["BLPOP", "k", "nan"],
            &["BLPOP", "k", "inf"],
            &["BLPOP", "k", "1e400"],
            &["BLPOP", "k", "9223372036854776"],
            &["BLPOP", "k", " 1"],
            &["BLPOP", "k", "0.01"],
            &["BRPOP", "k", "0.0001"],
            &["BLMOVE", "k", "k2", "LEFT", "RIGHT", "0.01"],
            &["BLMOVE", "k", "k2", "UP", "RIGHT", "x"],
            &["BLMOVE", "k", "k2", "LEFT", "RIGHT", "x"],
            &["BRPOPLPUSH", "k", "k2", "0.01"],
            &["BRPOPLPUSH", "k", "k2", "-2"],
            &["BLMPOP", "0.01", "2", "k", "k2", "LEFT"],
            &["BLMPOP", "x", "2", "k", "k2", "LEFT"],
            &["BLMPOP", "0", "0", "k", "LEFT"],
            &["BLMPOP", "0.01", "1", "k", "LEFT", "COUNT", "0"],
            &["RPUSH", "k", "1", "2", "3"],
            &["BLPOP", "nokey", "k", "0"],
            &["BRPOP", "k", "0"],
            &["BLMPOP", "0", "2", "nokey", "k", "RIGHT", "COUNT", "5"],
            &["RPUSH", "k", "1", "2"],
            &["BLMOVE", "k", "k2", "LEFT", "LEFT", "0"],
            &["BRPOPLPUSH", "k", "k2", "0"],
            &["LRANGE", "k2", "0", "-1"],
        ],
    );
}

#[test]
fn wrongtype_on_a_string_key() {
    let rs = Server::redis(&[]);
    let ws = Server::start(&[]);
    let mut w = ws.conn();
    let cmds: &[&[&str]] = &[
        &["SET", "s", "v"],
        &["RPUSH", "l", "a"],
        &["LPUSH", "s", "a"],
        &["RPUSH", "s", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "2"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "a"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "s", "LEFT", "LEFT"],
        &["LMOVE", "nokey", "s", "LEFT", "LEFT"],
        &["RPOPLPUSH", "s", "l"],
        &["RPOPLPUSH", "l", "s"],
        &["LMPOP", "2", "nokey", "s", "LEFT"],
        &["LMPOP", "2", "l", "s", "LEFT"],
        &["BLPOP", "s", "0"],
        &["BLPOP", "nokey", "s", "0"],
        &["BRPOP", "s", "0"],
        &["BLMOVE", "s", "l", "LEFT", "LEFT", "0"],
        &["RPUSH", "l", "a"],
        &["BLMOVE", "l", "s", "LEFT", "LEFT", "0"],
        &["BRPOPLPUSH", "l", "s", "0"],
        &["BLMPOP", "0", "1", "s", "LEFT"],
        &["LRANGE", "l", "0", "-1"],
        &["GET", "s"],
    ];
    same(&rs, &ws, cmds);
    // The same with the two keys on different cores of redwing.
    let (a, b) = keys_on_two_cores("wt:");
    let _: () = redis::cmd("SET").arg(&a).arg("v").query(&mut w).unwrap();
    let _: () = redis::cmd("RPUSH").arg(&b).arg("x").query(&mut w).unwrap();
    let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(q(&mut w, &["LMOVE", &b, &a, "LEFT", "LEFT"]), wrong);
    assert_eq!(q(&mut w, &["RPOPLPUSH", &a, &b]), wrong);
    assert_eq!(q(&mut w, &["LMPOP", "2", &a, &b, "LEFT"]), wrong);
    assert!(q(&mut w, &["BLPOP", &b, &a, "0"]).starts_with("array"));
    assert_eq!(q(&mut w, &["BLPOP", &b, &a, "0"]), wrong);
}

#[test]
fn encoding_and_memory_follow_redis() {
    let rs = Server::redis(&[]);
    let ws = Server::start(&[]);
    let (mut r, mut w) = (rs.conn(), ws.conn());
    for n in [1usize, 10, 128, 129, 1000, 20000] {
        let key = format!("enc{n}");
        for c in [&mut r, &mut w] {
            let vals: Vec<String> = (0..n).map(|i| format!("value-{i}")).collect();
            for chunk in vals.chunks(1000) {
                let _: i64 = redis::cmd("RPUSH").arg(&key).arg(chunk).query(c).unwrap();
            }
        }
        same(
            &rs,
            &ws,
            &[
                &["OBJECT", "ENCODING", &key],
                &["LLEN", &key],
                &["LRANGE", &key, "0", "-1"],
            ],
        );
        // Bytes per element: no more than Redis (plus a little slack for
        // tiny lists, whose fixed costs differ).
        let mr = int(&mut r, &["MEMORY", "USAGE", &key, "SAMPLES", "0"]);
        let mw = int(&mut w, &["MEMORY", "USAGE", &key, "SAMPLES", "0"]);
        assert!(
            mw <= mr + 64,
            "{n} elements: redwing {mw} bytes, redis {mr} bytes"
        );
    }
    // Large elements and a small list-max-listpack-size make many nodes.
    let ws = Server::start(&["--list-max-listpack-size", "4"]);
    let mut w = ws.conn();
    for i in 0..100 {
        let _: i64 = redis::cmd("RPUSH")
            .arg("big")
            .arg(format!("{i}"))
            .query(&mut w)
            .unwrap();
    }
    assert_eq!(
        q(&mut w, &["OBJECT", "ENCODING", "big"]),
        "bulk-string('\"quicklist\"')"
    );
    assert_eq!(int(&mut w, &["LINSERT", "big", "AFTER", "50", "x"]), 101);
    assert_eq!(q(&mut w, &["LINDEX", "big", "51"]), "bulk-string('\"x\"')");
    assert_eq!(q(&mut w, &["LPOS", "big", "99"]), "int(100)");
}

/// Random list commands against both servers; every reply must match.
#[test]
fn random_commands_match_redis() {
    let rs = Server::redis(&["--list-max-listpack-size", "5"]);
    let ws = Server::start(&["--list-max-listpack-size", "5"]);
    let (mut r, mut w) = (RawClient::new(&rs), RawClient::new(&ws));
    // LISTS_SEED=<n> replays a failing run.
    let seed: u64 = std::env::var("LISTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("LISTS_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (a, b) = keys_on_two_cores("rnd:");
    let keys = [a.as_str(), b.as_str(), "rnd:c", "rnd:str"];
    for c in [&mut r, &mut w] {
        assert_eq!(c.call(&["SET", "rnd:str", "x"]), "+OK\r\n");
    }
    let vals = ["a", "b", "c", "1", "22", "", "longer-value-to-fill-nodes"];
    let ends = ["LEFT", "RIGHT"];
    for _ in 0..4000 {
        let k = *keys.choose(&mut rng).unwrap();
        let k2 = *keys.choose(&mut rng).unwrap();
        let v = *vals.choose(&mut rng).unwrap();
        let n = rng.gen_range(-8i64..8).to_string();
        let m = rng.gen_range(-8i64..8).to_string();
        let e1 = *ends.choose(&mut rng).unwrap();
        let e2 = *ends.choose(&mut rng).unwrap();
        let p = rng.gen_range(0i64..5).to_string();
        let cmd: Vec<&str> = match rng.gen_range(0..20) {
            0 | 1 => vec!["RPUSH", k, v, v],
            2 | 3 => vec!["LPUSH", k, v],
            4 => vec!["LPUSHX", k, v],
            5 => vec!["RPUSHX", k, v],
            6 => vec!["LPOP", k],
            7 => vec!["RPOP", k, &p],
            8 => vec!["LRANGE", k, &n, &m],
            9 => vec!["LINDEX", k, &n],
            10 => vec!["LSET", k, &n, v],
            11 => vec![
                "LINSERT",
                k,
                if p == "0" { "AFTER" } else { "BEFORE" },
                v,
                "ins",
            ],
            12 => vec!["LREM", k, &n, v],
            13 => vec!["LTRIM", k, &n, &m],
            14 => vec![
                "LPOS",
                k,
                v,
                "RANK",
                if n == "0" { "1" } else { &n },
                "COUNT",
                &p,
            ],
            15 => vec!["LMOVE", k, k2, e1, e2],
            16 => vec!["RPOPLPUSH", k, k2],
            17 => vec![
                "LMPOP",
                "2",
                k,
                k2,
                e1,
                "COUNT",
                if p == "0" { "1" } else { &p },
            ],
            18 => vec!["LLEN", k],
            _ => vec!["BLMOVE", k, k2, e1, e2, "0.01"],
        };
        assert_same_reply(2, &cmd, &w.call_bytes(&cmd), &r.call_bytes(&cmd));
    }
    for k in keys {
        let args = ["LRANGE", k, "0", "-1"];
        assert_same_reply(2, &args, &w.call_bytes(&args), &r.call_bytes(&args));
    }
}

#[test]
fn lmove_across_cores() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("mv:");
    let _: i64 = redis::cmd("RPUSH")
        .arg(&a)
        .arg(&["1", "2", "3"])
        .query(&mut c)
        .unwrap();
    assert_eq!(
        q(&mut c, &["LMOVE", &a, &b, "LEFT", "RIGHT"]),
        "bulk-string('\"1\"')"
    );
    assert_eq!(q(&mut c, &["RPOPLPUSH", &a, &b]), "bulk-string('\"3\"')");
    assert_eq!(
        q(&mut c, &["LMOVE", &a, &b, "LEFT", "LEFT"]),
        "bulk-string('\"2\"')"
    );
    assert_eq!(q(&mut c, &["LMOVE", &a, &b, "LEFT", "LEFT"]), "nil");
    assert_eq!(int(&mut c, &["EXISTS", &a]), 0);
    assert_eq!(range(&mut c, &b), ["2", "3", "1"]);
    // Many clients moving elements back and forth: nothing lost or doubled.
    let n = 200;
    let vals: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let _: i64 = redis::cmd("RPUSH")
        .arg(&a)
        .arg(&vals)
        .query(&mut c)
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (mut c, a, b) = (s.conn(), a.clone(), b.clone());
            thread::spawn(move || {
                for i in 0..300 {
                    let (x, y) = if (i + t) % 2 == 0 { (&a, &b) } else { (&b, &a) };
                    let _: Value = redis::cmd("LMOVE")
                        .arg(x)
                        .arg(y)
                        .arg("LEFT")
                        .arg("RIGHT")
                        .query(&mut c)
                        .unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let mut all = range(&mut c, &a);
    all.extend(range(&mut c, &b));
    all.sort_by_key(|x| x.parse::<i64>().unwrap());
    let mut want: Vec<String> = vals.clone();
    want.extend(["1", "2", "3"].map(String::from));
    want.sort_by_key(|x| x.parse::<i64>().unwrap());
    assert_eq!(all, want);
}

/// Runs a blocking test once per placement of its blocked clients (on
/// `core`) relative to the writer (on core 0): the same core, the other.
fn each_placement(body: impl Fn(&Server, usize)) {
    let s = Server::start(&[]);
    for p in PLACEMENTS {
        q(&mut s.conn(), &["FLUSHALL"]);
        body(&s, p.core_for(0));
    }
}

#[test]
fn blpop_served_by_a_push_from_another_connection() {
    each_placement(|s, core| {
        let mut c = s.conn_on_core(0);
        let (a, b) = keys_on_two_cores("bp:");
        for key in [a, b] {
            let mut blocked = s.conn_on_core(core);
            let k = key.clone();
            let t = thread::spawn(move || q(&mut blocked, &["BLPOP", &k, "5"]));
            wait_blocked(&mut c, "blpop", 1);
            assert_eq!(int(&mut c, &["RPUSH", &key, "v1", "v2"]), 2);
            assert_eq!(
                t.join().unwrap(),
                format!("array([bulk-string('\"{key}\"'), bulk-string('\"v1\"')])")
            );
            assert_eq!(range(&mut c, &key), ["v2"]);
        }
    });
}

#[test]
fn blocked_clients_are_served_first_come_first_served() {
    each_placement(|s, core| {
        let mut c = s.conn_on_core(0);
        let mut threads = Vec::new();
        for i in 0..3 {
            let mut b = s.conn_on_core(core);
            threads.push(thread::spawn(move || q(&mut b, &["BRPOP", "fifo", "5"])));
            wait_blocked(&mut c, "brpop", i + 1);
        }
        // One push at a time: each goes to the longest-waiting client.
        for (i, t) in threads.into_iter().enumerate() {
            let v = format!("v{i}");
            assert_eq!(int(&mut c, &["LPUSH", "fifo", &v]), 1);
            assert_eq!(
                t.join().unwrap(),
                format!("array([bulk-string('\"fifo\"'), bulk-string('\"{v}\"')])")
            );
        }
        assert_eq!(int(&mut c, &["EXISTS", "fifo"]), 0);
        // One push of three elements serves all three, in order.
        let mut threads = Vec::new();
        for i in 0..3 {
            let mut b = s.conn_on_core(core);
            threads.push(thread::spawn(move || q(&mut b, &["BLPOP", "fifo2", "5"])));
            wait_blocked(&mut c, "blpop", i + 1);
        }
        assert_eq!(int(&mut c, &["RPUSH", "fifo2", "x0", "x1", "x2", "x3"]), 4);
        for (i, t) in threads.into_iter().enumerate() {
            assert_eq!(
                t.join().unwrap(),
                format!("array([bulk-string('\"fifo2\"'), bulk-string('\"x{i}\"')])")
            );
        }
        assert_eq!(range(&mut c, "fifo2"), ["x3"]);
    });
}

#[test]
fn timeouts_return_nil() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let t = Instant::now();
    assert_eq!(q(&mut c, &["BLPOP", "none", "0.2"]), "nil");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(
        q(&mut c, &["BLMOVE", "none", "x", "LEFT", "LEFT", "0.1"]),
        "nil"
    );
    assert_eq!(q(&mut c, &["BRPOPLPUSH", "none", "x", "0.1"]), "nil");
    assert_eq!(q(&mut c, &["BLMPOP", "0.1", "1", "none", "LEFT"]), "nil");
    // A timed-out client takes nothing from a later push.
    assert_eq!(int(&mut c, &["RPUSH", "none", "v"]), 1);
    assert_eq!(range(&mut c, "none"), ["v"]);
}

#[test]
fn blocked_on_keys_of_two_cores() {
    each_placement(|s, core| {
        let mut c = s.conn_on_core(0);
        let (a, b) = keys_on_two_cores("two:");
        for push in [&a, &b] {
            let mut blocked = s.conn_on_core(core);
            let (ka, kb) = (a.clone(), b.clone());
            let t = thread::spawn(move || q(&mut blocked, &["BLPOP", &ka, &kb, "5"]));
            wait_blocked(&mut c, "blpop", 1);
            assert_eq!(int(&mut c, &["RPUSH", push, "v"]), 1);
            assert_eq!(
                t.join().unwrap(),
                format!("array([bulk-string('\"{push}\"'), bulk-string('\"v\"')])")
            );
            assert_eq!(int(&mut c, &["EXISTS", &a, &b]), 0);
            // The waiter left the other core's queue: a push there stays put.
            let other = if push == &a { &b } else { &a };
            assert_eq!(int(&mut c, &["RPUSH", other, "w"]), 1);
            assert_eq!(range(&mut c, other), ["w"]);
            let _: i64 = redis::cmd("DEL").arg(other).query(&mut c).unwrap();
        }
        // Pushes to both cores at once serve the client exactly once.
        for _ in 0..20 {
            let mut blocked = s.conn_on_core(core);
            let (ka, kb) = (a.clone(), b.clone());
            let t = thread::spawn(move || {
                q(
                    &mut blocked,
                    &["BLMPOP", "5", "2", &ka, &kb, "LEFT", "COUNT", "10"],
                )
            });
            wait_blocked(&mut c, "blmpop", 1);
            let (mut p1, mut p2) = (s.conn_on_core(0), s.conn_on_core(1));
            let (ka, kb) = (a.clone(), b.clone());
            let t1 = thread::spawn(move || int(&mut p1, &["RPUSH", &ka, "x"]));
            let t2 = thread::spawn(move || int(&mut p2, &["RPUSH", &kb, "y"]));
            t1.join().unwrap();
            t2.join().unwrap();
            let got = t.join().unwrap();
            let left = range(&mut c, &a).len() + range(&mut c, &b).len();
            assert_eq!(left, 1, "{got}");
            let _: i64 = redis::cmd("DEL").arg(&a).arg(&b).query(&mut c).unwrap();
        }
    });
}

#[test]
fn blmove_across_cores() {
    each_placement(|s, core| {
        let mut c = s.conn_on_core(0);
        let (a, b) = keys_on_two_cores("bm:");
        for (src, dst) in [(&a, &b), (&b, &a)] {
            let mut blocked = s.conn_on_core(core);
            let (s2, d2) = (src.clone(), dst.clone());
            let t =
                thread::spawn(move || q(&mut blocked, &["BLMOVE", &s2, &d2, "RIGHT", "LEFT", "5"]));
            wait_blocked(&mut c, "blmove", 1);
            assert_eq!(int(&mut c, &["RPUSH", src, "e1", "e2"]), 2);
            assert_eq!(t.join().unwrap(), "bulk-string('\"e2\"')");
            assert_eq!(range(&mut c, src), ["e1"]);
            assert_eq!(range(&mut c, dst), ["e2"]);
            let _: i64 = redis::cmd("DEL").arg(src).arg(dst).query(&mut c).unwrap();
        }
        // Two clients blocked on one source: each gets one element.
        let mut threads = Vec::new();
        for i in 0..2 {
            let mut blocked = s.conn_on_core(core);
            let (s2, d2) = (a.clone(), b.clone());
            threads.push(thread::spawn(move || {
                q(&mut blocked, &["BRPOPLPUSH", &s2, &d2, "5"])
            }));
            wait_blocked(&mut c, "brpoplpush", i + 1);
        }
        assert_eq!(int(&mut c, &["LPUSH", &a, "x", "y"]), 2);
        let got: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(got, ["bulk-string('\"x\"')", "bulk-string('\"y\"')"]);
        assert_eq!(range(&mut c, &b), ["y", "x"]);
        assert_eq!(int(&mut c, &["EXISTS", &a]), 0);
    });
}

#[test]
fn killed_or_gone_while_blocked_loses_nothing() {
    each_placement(|s, core| {
        let mut c = s.conn_on_core(0);
        // Killed by CLIENT KILL.
        let mut victim = s.conn_on_core(core);
        let id = int(&mut victim, &["CLIENT", "ID"]);
        let t = thread::spawn(move || q(&mut victim, &["BLPOP", "kill", "0"]));
        wait_blocked(&mut c, "blpop", 1);
        assert_eq!(int(&mut c, &["CLIENT", "KILL", "ID", &id.to_string()]), 1);
        assert!(
            t.join().unwrap().starts_with('-'),
            "the killed client got an error"
        );
        gone(&mut c, 0);
        assert_eq!(int(&mut c, &["RPUSH", "kill", "v"]), 1);
        assert_eq!(range(&mut c, "kill"), ["v"]);
        // Hung up by the client itself.
        let mut raw = s.raw_on_core(core);
        raw.send(&["BLPOP", "gone", "0"]);
        wait_blocked(&mut c, "blpop", 1);
        drop(raw);
        gone(&mut c, 0);
        assert_eq!(int(&mut c, &["RPUSH", "gone", "v"]), 1);
        assert_eq!(range(&mut c, "gone"), ["v"]);
        // A live client blocked behind a dead one still gets served.
        let mut raw = s.raw_on_core(core);
        raw.send(&["BLPOP", "q", "0"]);
        wait_blocked(&mut c, "blpop", 1);
        let mut live = s.conn_on_core(core);
        let t = thread::spawn(move || q(&mut live, &["BLPOP", "q", "5"]));
        wait_blocked(&mut c, "blpop", 2);
        drop(raw);
        gone(&mut c, 1);
        assert_eq!(int(&mut c, &["RPUSH", "q", "v"]), 1);
        assert_eq!(
            t.join().unwrap(),
            "array([bulk-string('\"q\"'), bulk-string('\"v\"')])"
        );
    });
}

/// Waits until `left` clients are blocked in BLPOP (the server has seen
/// the others go).
fn gone(c: &mut Connection, left: usize) {
    wait_for("the client gone", TIMEOUT, || {
        blocked_in(c, "blpop") == left
    });
}
