//! MULTI/EXEC/DISCARD/WATCH against real servers: Redis's documented
//! cases byte for byte, WATCH across cores, and a concurrency test where
//! transfers between accounts on both cores never show a changed total.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

fn same_replies(steps: &[&[&str]]) {
    let ours = Server::start(&[]);
    let redis = Server::redis(&[]);
    let mut a = RawClient::new(&ours);
    let mut b = RawClient::new(&redis);
    for step in steps {
        assert_eq!(a.call(step), b.call(step), "{step:?}");
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
    for s in [&ours, &redis] {
        let mut a = RawClient::new(s);
        let mut other = s.conn();
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
        // Expiring between WATCH and EXEC counts.
        let expired = run(&|c| {
            q(c, &["SET", &k0, "1", "PX", "300"]);
            // The watch below must see the key before it expires.
        });
        assert!(expired.starts_with("*-1") || expired.starts_with("*2"));
        let mut b2 = s.conn();
        q(&mut b2, &["SET", &k0, "1", "PX", "300"]);
        drop(b2);
        let expired = run(&|_| std::thread::sleep(Duration::from_millis(400)));
        assert_eq!(expired, "*-1\r\n");
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
    let cores: std::collections::HashSet<bool> = accounts
        .iter()
        .map(|a| redwing::storage::key_slot(a.as_bytes()) < 8192)
        .collect();
    assert_eq!(cores.len(), 2, "accounts on both cores");
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
    stop.store(true, Ordering::Relaxed);
    let moved: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let vals: Vec<i64> = accounts.iter().map(|a| int(&mut c, &["GET", a])).collect();
    assert_eq!(vals.iter().sum::<i64>(), total);
    assert!(moved > 100 && reads > 20, "moved {moved}, reads {reads}");
}
