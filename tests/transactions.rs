//! MULTI/EXEC/DISCARD/WATCH against real servers: Redis's documented
//! cases byte for byte, WATCH across cores, and a concurrency test where
//! transfers between accounts on both cores never show a changed total.

mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn same_replies(steps: &[&[&str]]) {
    compare_with_redis(&[], steps);
}

/// Sends `cmds` in one write to a 2-core server and to redis-server and
/// compares every reply byte for byte.
fn same_pipelined_replies(cmds: &[&[&str]]) {
    let ours = Server::start(&["--threads", "2"]);
    let redis = Server::redis(&[]);
    let mut replies = Vec::new();
    for s in [&ours, &redis] {
        let mut c = RawClient::new(s);
        c.send_many(cmds);
        replies.push((0..cmds.len()).map(|_| c.read()).collect::<Vec<_>>());
    }
    for (i, cmd) in cmds.iter().enumerate() {
        assert_eq!(replies[0][i], replies[1][i], "{cmd:?}");
    }
}

#[test]
fn documented_cases_match_redis() {
    let (k0, k1) = keys_on_two_cores("acct:");
    same_replies(&[
        &["EXEC"],
        &["DISCARD"],
        &["MULTI"],
        &["MULTI"],
        &["WATCH", "a"],
        &["SET", "a", "1"],
        &["SET", &k0, "1"],
        &["NOSUCHCOMMAND"],
        &["EXEC"],
        &["MGET", "a", &k0],
        // Runtime errors do not stop the rest.
        &["MULTI"],
        &["SET", "a", "5"],
        &["INCR", "a"],
        &["LPUSH", "a", "x"],
        &["SET", &k0, "10"],
        &["SET", &k1, "20"],
        &["MGET", "a", &k0, &k1],
        &["RENAME", &k0, "moved"],
        &["DBSIZE"],
        &["BLPOP", "nolist", "0"],
        &["PING"],
        &["EXEC"],
        // Arity errors at queue time abort EXEC.
        &["MULTI"],
        &["GET"],
        &["SET", "a", "6"],
        &["EXEC"],
        &["GET", "a"],
        // DISCARD drops the queue.
        &["MULTI"],
        &["SET", "a", "7"],
        &["DISCARD"],
        &["GET", "a"],
        &["MULTI"],
        &["EXEC"],
        // SELECT inside MULTI applies to the commands after it.
        &["MULTI"],
        &["SELECT", "3"],
        &["SET", "in3", "x"],
        &["SELECT", "0"],
        &["EXEC"],
        &["EXISTS", "in3"],
    ]);
}

#[test]
fn watch_cases_match_redis() {
    let ours = Server::start(&[]);
    let redis = Server::redis(&[]);
    let (k0, k1) = keys_on_two_cores("w:");
    // On redwing the watcher and the writer run on the same core and on
    // different cores, on purpose; redis-server is the oracle for both.
    let runs = [
        (&ours, Some(Placement::SameCore)),
        (&ours, Some(Placement::OtherCore)),
        (&redis, None),
    ];
    for (s, placement) in runs {
        let (mut a, mut other) = match placement {
            Some(p) => (s.raw_on_core(0), s.conn_on_core(p.core_for(0))),
            None => (RawClient::new(s), s.conn()),
        };
        let mut run = |setup: &dyn Fn(&mut redis::Connection)| -> String {
            assert_eq!(a.call(&["WATCH", &k0, &k1]), "+OK\r\n");
            setup(&mut other);
            a.call(&["MULTI"]);
            a.call(&["INCR", &k0]);
            a.call(&["INCR", &k1]);
            a.call(&["EXEC"])
        };
        let untouched = run(&|_| {});
        assert!(untouched.starts_with("*2"), "{untouched}");
        assert_eq!(run(&|c| drop(q(c, &["SET", &k1, "5"]))), "*-1\r\n");
        assert_eq!(run(&|c| drop(q(c, &["DEL", &k0]))), "*-1\r\n");
        // A change that leaves the value the same still counts.
        assert_eq!(run(&|c| drop(q(c, &["INCRBY", &k1, "0"]))), "*-1\r\n");
        // Setting a watched key (here with a TTL) between WATCH and EXEC
        // counts.
        let set = run(&|c| drop(q(c, &["SET", &k0, "1", "PX", "300"])));
        assert_eq!(set, "*-1\r\n");
        let mut b2 = s.conn();
        q(&mut b2, &["SET", &k0, "1", "PX", "300"]);
        drop(b2);
        let expired = run(&|_| std::thread::sleep(Duration::from_millis(400)));
        assert_eq!(expired, "*-1\r\n");
        // A key already expired when watched: its deletion (here by another
        // client's read) is no change, as Redis's touchWatchedKey; a new
        // value is.
        let reads_then_writes = [
            (vec!["GET", k0.as_str()], "*2"),
            (vec!["SET", k0.as_str(), "2"], "*-1"),
        ];
        for (cmd, want) in reads_then_writes {
            let mut b3 = s.conn();
            q(&mut b3, &["SET", &k0, "1", "PX", "1"]);
            std::thread::sleep(Duration::from_millis(20));
            let r = run(&|c| drop(q(c, &cmd)));
            assert!(r.starts_with(want), "{cmd:?}: {r}");
        }
        assert_eq!(run(&|c| drop(q(c, &["FLUSHALL"]))), "*-1\r\n");
        // Writes to other keys do not matter.
        assert!(run(&|c| drop(q(c, &["SET", "unrelated", "1"]))).starts_with("*2"));
        // UNWATCH forgets.
        a.call(&["WATCH", &k0]);
        q(&mut other, &["SET", &k0, "9"]);
        a.call(&["UNWATCH"]);
        a.call(&["MULTI"]);
        a.call(&["GET", &k0]);
        assert_eq!(a.call(&["EXEC"]), "*1\r\n$1\r\n9\r\n");
    }
}

/// Transfers between accounts on both cores with MULTI/EXEC while readers
/// read every balance in one MULTI/EXEC: the total never changes.
#[test]
fn transfers_keep_the_total_under_concurrency() {
    let s = Server::start(&["--threads", "2"]);
    let (accounts, total) = accounts(&s, 8);
    let mut c = s.conn();
    let stop = Arc::new(AtomicBool::new(false));
    let threads = transfer_threads(&s, &accounts, 4, &stop, |c, from, to| {
        let _: () = redis::pipe()
            .atomic()
            .cmd("DECRBY")
            .arg(from)
            .arg(5)
            .ignore()
            .cmd("INCRBY")
            .arg(to)
            .arg(5)
            .ignore()
            .query(c)
            .unwrap();
        true
    });
    let mut reads = 0;
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut r = s.conn();
    while Instant::now() < deadline {
        let mut p = redis::pipe();
        p.atomic();
        for a in &accounts {
            p.cmd("GET").arg(a);
        }
        let vals: Vec<i64> = p.query(&mut r).unwrap();
        assert_eq!(
            vals.iter().sum::<i64>(),
            total,
            "a read saw a partial transfer"
        );
        reads += 1;
    }
    let moved = stop_transfers(&stop, threads);
    assert_eq!(balance(&mut c, &accounts), total);
    // Correctness only: some transfers and reads overlapped. Throughput is
    // bench/'s business.
    assert!(moved > 0 && reads > 0, "moved {moved}, reads {reads}");
}

/// Several transactions in one pipelined write (EXECs that run together
/// in one visit per core), mixed with plain commands, a coordinated
/// command inside a queue, a WATCH and an aborted EXEC: the same bytes as
/// redis-server.
#[test]
fn pipelined_transactions_match_redis() {
    let (k0, k1) = keys_on_two_cores("p:");
    let (k0, k1) = (k0.as_str(), k1.as_str());
    let cmds: &[&[&str]] = &[
        &["SET", k0, "1"],
        &["MULTI"],
        &["INCR", k0],
        &["INCR", k1],
        &["EXEC"],
        &["GET", k0],
        &["MULTI"],
        &["INCR", k1],
        &["GET", k0],
        &["LPUSH", k0, "x"],
        &["EXEC"],
        &["MULTI"],
        &["INCRBY", k0, "10"],
        &["EXEC"],
        &["MULTI"],
        &["INCR", k1],
        &["EXEC"],
        &["MULTI"],
        &["INCR", k0],
        &["RENAME", k1, "renamed"],
        &["INCR", "renamed"],
        &["DBSIZE"],
        &["EXEC"],
        &["MULTI"],
        &["NOSUCHCOMMAND"],
        &["INCR", k0],
        &["EXEC"],
        &["WATCH", k1],
        &["MULTI"],
        &["INCR", k0],
        &["SET", k1, "7"],
        &["EXEC"],
        &["MULTI"],
        &["MGET", k0, k1, "renamed"],
        &["EXEC"],
        &["MGET", k0, k1, "renamed"],
    ];
    same_pipelined_replies(cmds);
}

/// WATCH with keys on both cores, EXEC whose commands each run on one
/// core: a change on either core (local or remote to the client) fails it
/// and nothing runs; after any EXEC the watches are gone.
#[test]
fn watch_on_either_core_fails_the_whole_exec() {
    let s = Server::start(&["--threads", "2"]);
    let (k0, k1) = keys_on_two_cores("ww:");
    let mut a = RawClient::new(&s);
    let mut other = s.conn();
    q(&mut other, &["SET", &k0, "100"]);
    q(&mut other, &["SET", &k1, "100"]);
    let transfer = |a: &mut RawClient| {
        a.call(&["MULTI"]);
        a.call(&["DECRBY", &k0, "1"]);
        a.call(&["INCRBY", &k1, "1"]);
        a.call(&["EXEC"])
    };
    for changed in [&k0, &k1] {
        assert_eq!(a.call(&["WATCH", &k0, &k1]), "+OK\r\n");
        q(&mut other, &["INCRBY", changed, "0"]);
        assert_eq!(transfer(&mut a), "*-1\r\n", "change of {changed}");
        assert_eq!(int(&mut other, &["GET", &k0]), 100);
        assert_eq!(int(&mut other, &["GET", &k1]), 100);
        // The failed EXEC dropped every watch.
        q(&mut other, &["INCRBY", &k0, "0"]);
        assert_eq!(transfer(&mut a), "*2\r\n:99\r\n:101\r\n");
        q(&mut other, &["SET", &k0, "100"]);
        q(&mut other, &["SET", &k1, "100"]);
    }
    // A successful watched EXEC drops its watches too.
    a.call(&["WATCH", &k0, &k1]);
    assert_eq!(transfer(&mut a), "*2\r\n:99\r\n:101\r\n");
    q(&mut other, &["SET", &k1, "5"]);
    assert_eq!(transfer(&mut a), "*2\r\n:98\r\n:6\r\n");
}

/// Transfers sent several transactions per pipelined write (EXECs that
/// run together), some with a multi-core command queued (the general
/// path), while readers read every balance, also several EXECs per write
/// and both ways: every read sees the same total.
#[test]
fn pipelined_transfers_keep_the_total() {
    let s = Server::start(&["--threads", "2"]);
    let (accounts, total) = accounts(&s, 8);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = transfer_threads(&s, &accounts, 3, &stop, |c, from, to| {
        let mut p = redis::pipe();
        for i in 0..4 {
            p.cmd("MULTI").ignore();
            p.cmd("DECRBY").arg(from).arg(3).ignore();
            if i == 2 {
                // Split across cores when they differ: the general path.
                p.cmd("EXISTS").arg(from).arg(to).ignore();
            }
            p.cmd("INCRBY").arg(to).arg(3).ignore();
            p.cmd("EXEC").ignore();
        }
        let _: () = p.query(c).unwrap();
        true
    });
    let mut reads = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut r = s.conn();
    while Instant::now() < deadline {
        let mut p = redis::pipe();
        for _ in 0..3 {
            p.cmd("MULTI").ignore();
            for a in &accounts {
                p.cmd("GET").arg(a).ignore();
            }
            p.cmd("EXEC");
        }
        // MGET across cores inside MULTI: the general path.
        p.cmd("MULTI").ignore();
        p.cmd("MGET").arg(&accounts).ignore();
        p.cmd("EXEC");
        let mut replies: Vec<redis::Value> = p.query(&mut r).unwrap();
        let (mget,): (Vec<i64>,) = redis::from_redis_value(&replies.pop().unwrap()).unwrap();
        let mut sums: Vec<Vec<i64>> =
            redis::from_redis_value(&redis::Value::Array(replies)).unwrap();
        sums.push(mget);
        for vals in sums {
            assert_eq!(
                vals.iter().sum::<i64>(),
                total,
                "a read saw a partial transfer"
            );
        }
        reads += 1;
    }
    let moved = stop_transfers(&stop, threads);
    assert_eq!(balance(&mut s.conn(), &accounts), total);
    // Correctness only (throughput is bench/'s business).
    assert!(moved > 0 && reads > 0, "moved {moved}, reads {reads}");
}

/// A script with keys on both cores queued in MULTI (EXEC's general path
/// parks the other core inside the transaction), pipelined with EXECs
/// that run together: the same bytes as redis-server.
#[test]
fn cross_core_script_inside_exec_matches_redis() {
    let (k0, k1) = keys_on_two_cores("s:");
    let (k0, k1) = (k0.as_str(), k1.as_str());
    let script = "redis.call('incr', KEYS[1]); return redis.call('incrby', KEYS[2], 5)";
    let cmds: &[&[&str]] = &[
        &["MULTI"],
        &["INCR", k0],
        &["EXEC"],
        &["MULTI"],
        &["EVAL", script, "2", k0, k1],
        &["INCR", k1],
        &["EXEC"],
        &["MULTI"],
        &["INCR", k1],
        &["EXEC"],
        &["EVAL", script, "2", k1, k0],
        &["MGET", k0, k1],
    ];
    same_pipelined_replies(cmds);
}
