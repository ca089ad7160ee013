//! DEBUG subcommands that operators and test suites use, side by side with
//! redis-server 7.0: the dataset digest (equal for equal data), sample
//! replies of every RESP type, SLEEP stopping the whole server, active
//! expiry switched off and on, RELOAD, CHANGE-REPL-ID, ERROR.

mod common;

use std::time::{Duration, Instant};

use common::dataset::fill_redis;
use common::*;

const DEBUG_ON: &[&str] = &["--enable-debug-command", "yes"];

/// A reply as a string (status or bulk).
fn text(c: &mut redis::Connection, args: &[&str]) -> String {
    cmd(args).query(c).unwrap()
}

fn keys(c: &mut redis::Connection) -> Vec<String> {
    let mut k: Vec<String> = redis::cmd("KEYS").arg("*").query(c).unwrap();
    k.sort();
    k
}

#[test]
fn digest_equals_redis_for_the_same_data() {
    let (redwing, redis) = (Server::start(DEBUG_ON), Server::redis(DEBUG_ON));
    let (mut ours, mut theirs) = (redwing.conn(), redis.conn());
    // Empty: all zeros on both.
    let empty = text(&mut ours, &["DEBUG", "DIGEST"]);
    assert_eq!(empty, "0".repeat(40));
    assert_eq!(text(&mut theirs, &["DEBUG", "DIGEST"]), empty);
    for c in [&mut ours, &mut theirs] {
        fill_redis(c, false);
        // Types fill_redis leaves out, and a key in a database of its own.
        for args in [
            &["XADD", "stream", "1-1", "a", "1", "b", "2"][..],
            &["XADD", "stream", "5-0", "c", "3"],
            &["PFADD", "hll", "a", "b", "c"],
            &["SELECT", "5"],
            &["SET", "db5", "x"],
            &["SELECT", "0"],
        ] {
            q(c, args);
        }
    }
    let ks = keys(&mut ours);
    assert_eq!(ks, keys(&mut theirs));
    assert!(ks.len() > 15, "{ks:?}");
    let d = text(&mut ours, &["DEBUG", "DIGEST"]);
    assert_ne!(d, empty);
    assert_eq!(d, text(&mut theirs, &["DEBUG", "DIGEST"]), "dataset digest");
    // Per key, raw bytes (a missing key digests to zeros).
    let mut args = vec!["DEBUG", "DIGEST-VALUE", "no-such-key"];
    args.extend(ks.iter().map(String::as_str));
    same_as_redis_both(&redwing, &redis, &[&args]);
    // A change anywhere changes it; undoing the change restores it.
    for c in [&mut ours, &mut theirs] {
        q(c, &["LSET", "list:big", "7", "changed"]);
    }
    let changed = text(&mut ours, &["DEBUG", "DIGEST"]);
    assert_ne!(changed, d);
    assert_eq!(changed, text(&mut theirs, &["DEBUG", "DIGEST"]));
}

#[test]
fn protocol_samples_match_redis() {
    let (redwing, redis) = (Server::start(DEBUG_ON), Server::redis(DEBUG_ON));
    let types = [
        "string",
        "integer",
        "double",
        "bignum",
        "null",
        "array",
        "set",
        "map",
        "attrib",
        "true",
        "false",
        "verbatim",
        "nosuchtype",
    ];
    let cmds: Vec<[&str; 3]> = types.iter().map(|t| ["DEBUG", "PROTOCOL", t]).collect();
    let cmds: Vec<&[&str]> = cmds.iter().map(|c| &c[..]).collect();
    same_as_redis_both(&redwing, &redis, &cmds);
    same_as_redis_both(
        &redwing,
        &redis,
        &[
            &["DEBUG", "ERROR", "FOO bar baz"],
            &["DEBUG", "LOG", "hello"],
        ],
    );
    // PUSH: an error in RESP2; in RESP3 a push and then a normal reply.
    same_as_redis_resp(&redwing, &redis, 2, &[&["DEBUG", "PROTOCOL", "push"]]);
    let (mut ours, mut theirs) = (RawClient::new(&redwing), RawClient::new(&redis));
    let mut push = Vec::new();
    for c in [&mut ours, &mut theirs] {
        c.call_bytes(&["HELLO", "3"]);
        let first = c.call_bytes(&["DEBUG", "PROTOCOL", "push"]);
        push.push((first, c.next_reply().unwrap()));
    }
    assert_eq!(push[0], push[1]);
    assert!(redwing.log_text().contains("DEBUG LOG: hello"));
}

/// DEBUG SLEEP stops every core, so a client on the sleeping connection's
/// core and one on the other core both wait.
#[test]
fn sleep_stops_the_whole_server() {
    let s = Server::start(DEBUG_ON);
    for other_core in [false, true] {
        let mut sleeper = s.conn_on_core(0);
        let mut probe = if other_core {
            s.conn_other_core_than(&mut sleeper)
        } else {
            s.conn_same_core_as(&mut sleeper)
        };
        let t = std::thread::spawn(move || text(&mut sleeper, &["DEBUG", "SLEEP", "1.2"]));
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        assert_eq!(text(&mut probe, &["PING"]), "PONG");
        let waited = start.elapsed();
        assert_eq!(t.join().unwrap(), "OK");
        assert!(
            waited >= Duration::from_millis(700),
            "other core {other_core}: PING answered after {waited:?} during DEBUG SLEEP"
        );
    }
    // SLEEP 0 returns at once.
    let mut c = s.conn();
    let start = Instant::now();
    assert_eq!(text(&mut c, &["DEBUG", "SLEEP", "0"]), "OK");
    assert!(start.elapsed() < Duration::from_millis(500));
}

#[test]
fn set_active_expire_off_keeps_expired_keys_until_touched() {
    let s = Server::start(DEBUG_ON);
    let mut c = s.conn();
    let (a, b) = keys_on_two_cores("ax");
    assert_eq!(text(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "OK");
    for k in [&a, &b] {
        q(&mut c, &["SET", k, "v", "PX", "30"]);
    }
    std::thread::sleep(Duration::from_millis(400));
    // DBSIZE counts keys not yet deleted, as Redis's does.
    assert_eq!(int(&mut c, &["DBSIZE"]), 2, "active expiry ran while off");
    // An access still expires a key.
    assert_eq!(int(&mut c, &["EXISTS", &a]), 0);
    assert_eq!(int(&mut c, &["DBSIZE"]), 1);
    assert_eq!(text(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), "OK");
    wait_for("active expiry back on", Duration::from_secs(5), || {
        int(&mut c, &["DBSIZE"]) == 0
    });
}

#[test]
fn reload_saves_and_loads_back() {
    let (redwing, redis) = (Server::start(DEBUG_ON), Server::redis(DEBUG_ON));
    let mut c = redwing.conn();
    fill_redis(&mut c, false);
    let before = text(&mut c, &["DEBUG", "DIGEST"]);
    assert_eq!(text(&mut c, &["DEBUG", "RELOAD"]), "OK");
    assert_eq!(text(&mut c, &["DEBUG", "DIGEST"]), before);
    // NOSAVE loads the file as saved: a later change is gone.
    q(&mut c, &["SET", "later", "1"]);
    q(&mut c, &["DEL", "int"]);
    assert_eq!(text(&mut c, &["DEBUG", "RELOAD", "NOSAVE"]), "OK");
    assert_eq!(text(&mut c, &["DEBUG", "DIGEST"]), before);
    // NOFLUSH MERGE adds the file to what is there.
    q(&mut c, &["SET", "later", "1"]);
    assert_eq!(
        text(&mut c, &["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE"]),
        "OK"
    );
    assert_eq!(text(&mut c, &["GET", "later"]), "1");
    assert!(redwing.log_text().contains("DB reloaded by DEBUG RELOAD"));
    same_as_redis_both(&redwing, &redis, &[&["DEBUG", "RELOAD", "BADOPT"]]);
}

fn repl_field(c: &mut redis::Connection, field: &str) -> String {
    let info = text(c, &["INFO", "replication"]);
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")));
    line.unwrap_or_else(|| panic!("no {field} in INFO"))
        .to_string()
}

#[test]
fn change_repl_id_makes_a_new_id() {
    let s = Server::start(DEBUG_ON);
    let mut c = s.conn();
    let id = repl_field(&mut c, "master_replid");
    assert_eq!(text(&mut c, &["DEBUG", "CHANGE-REPL-ID"]), "OK");
    let new = repl_field(&mut c, "master_replid");
    assert_ne!(new, id);
    assert_eq!(new.len(), 40);
    assert_eq!(repl_field(&mut c, "master_replid2"), "0".repeat(40));
    assert_eq!(repl_field(&mut c, "second_repl_offset"), "-1");
}

/// MEMORY STATS lists Redis 7.0's fields in Redis's order; the other MEMORY
/// subcommands answer and fail as Redis's do.
#[test]
fn memory_reports_like_redis() {
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    let names = |s: &Server| -> Vec<String> {
        let mut c = s.conn();
        q(&mut c, &["SET", "k", "v"]);
        let v: Vec<redis::Value> = cmd(&["MEMORY", "STATS"]).query(&mut c).unwrap();
        v.iter()
            .step_by(2)
            .map(|n| redis::from_redis_value::<String>(n).unwrap())
            .collect()
    };
    assert_eq!(names(&redwing), names(&redis));
    same_as_redis_both(
        &redwing,
        &redis,
        &[
            &["MEMORY", "STATS", "x"],
            &["MEMORY", "DOCTOR", "x"],
            &["MEMORY", "PURGE"],
            &["MEMORY", "USAGE", "k", "SAMPLES", "x"],
            &["MEMORY", "USAGE", "k", "SAMPLES", "-1"],
            &["MEMORY", "USAGE", "nokey"],
            &["MEMORY", "NOSUCH"],
        ],
    );
    let mut c = redwing.conn();
    let doctor = text(&mut c, &["MEMORY", "DOCTOR"]);
    assert!(doctor.starts_with("Hi Sam"), "{doctor}");
    // Both run jemalloc: MALLOC-STATS is its report.
    for s in [&redwing, &redis] {
        let stats = text(&mut s.conn(), &["MEMORY", "MALLOC-STATS"]);
        assert!(
            stats.starts_with("___ Begin jemalloc statistics ___\nVersion: \"5."),
            "{}",
            &stats[..stats.len().min(200)]
        );
    }
}

/// MEMORY PURGE gives back what jemalloc keeps after a FLUSHALL, and INFO's
/// allocator figures say so, as Redis's do.
#[test]
fn memory_purge_returns_freed_pages() {
    let s = Server::start(&[]);
    let mut c = s.conn();
    let figure = |c: &mut redis::Connection, f: &str| -> i64 { info_field(c, f).parse().unwrap() };
    let value = "x".repeat(1000);
    for batch in 0..50 {
        let mut p = redis::pipe();
        for i in 0..1000 {
            p.cmd("SET")
                .arg(format!("k:{batch}:{i}"))
                .arg(&value)
                .ignore();
        }
        let _: () = p.query(&mut c).unwrap();
    }
    q(&mut c, &["FLUSHALL"]);
    let (rss, resident) = (
        figure(&mut c, "used_memory_rss"),
        figure(&mut c, "allocator_resident"),
    );
    assert!(
        resident > 40_000_000,
        "{resident} resident after 50 MB freed"
    );
    assert_eq!(text(&mut c, &["MEMORY", "PURGE"]), "OK");
    let (rss2, resident2) = (
        figure(&mut c, "used_memory_rss"),
        figure(&mut c, "allocator_resident"),
    );
    assert!(
        resident2 < resident / 2 && rss2 < rss - 30_000_000,
        "resident {resident} -> {resident2}, rss {rss} -> {rss2}"
    );
    let allocated = figure(&mut c, "allocator_allocated");
    let active = figure(&mut c, "allocator_active");
    assert!(0 < allocated && allocated <= active && active <= resident2 + 1_000_000);
}
