//! A replica's `repl-diskless-load` (disabled / on-empty-db / swapdb) as
//! Redis 7.0: where the master's snapshot goes (a temp file, or parsed
//! from the socket), what clients see while it loads (-LOADING, or the
//! old data with swapdb of the same history, INFO's async_loading), and
//! what stays when the transfer fails (the old data with swapdb).
//! Against a Redwing master and a redis-server master, both framings
//! (`$EOF:` and `$<len>`), reads on both of the replica's cores.

mod common;

use std::time::Duration;

use common::dataset::fill_redis;
use common::repl::*;
use common::*;

/// Where the replica put the snapshot, from its log.
fn loaded_to(replica: &Server) -> &'static str {
    let log = replica.log_text();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("MASTER <-> REPLICA sync: receiving"))
        .expect("a transfer was logged")
        .to_string();
    if line.ends_with("to parser") {
        "parser"
    } else {
        assert!(line.ends_with("to disk"), "{line}");
        "disk"
    }
}

fn sync_and_stream(master: &Server, mode: &str, expect: &str, redis_master: bool) {
    let mut m = master.conn();
    let replica = redwing_replica_of(master.port, &["--repl-diskless-load", mode]);
    let mut r = replica.conn();
    wait_equal(&mut m, &mut r, &format!("{mode}: after the full sync"));
    assert_eq!(loaded_to(&replica), expect, "{mode}");
    // The stream right after the snapshot is applied (on both cores).
    let tag = format!("live-{mode}");
    if redis_master {
        let (k0, k1) = keys_on_two_cores(&format!("{tag}:"));
        q(&mut m, &["MSET", &k0, "a", &k1, "b"]);
        q(&mut m, &["RPUSH", &format!("{tag}:l"), "x", "y"]);
    } else {
        live_writes(master, &tag);
    }
    wait_equal(&mut m, &mut r, &format!("{mode}: after live writes"));
    let ri = info(&mut r, "persistence");
    assert_eq!(field(&ri, "loading").as_deref(), Some("0"));
    assert_eq!(field(&ri, "async_loading").as_deref(), Some("0"));
}

#[test]
fn every_load_mode_syncs_from_a_redwing_master_eof_framing() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    live_writes(&master, "before");
    for (mode, to) in [
        ("disabled", "disk"),
        ("on-empty-db", "parser"),
        ("swapdb", "parser"),
    ] {
        sync_and_stream(&master, mode, to, false);
    }
}

#[test]
fn every_load_mode_syncs_from_a_redis_master_length_framing() {
    let master = Server::redis(&["--repl-diskless-sync", "no"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    for (mode, to) in [
        ("disabled", "disk"),
        ("on-empty-db", "parser"),
        ("swapdb", "parser"),
    ] {
        sync_and_stream(&master, mode, to, true);
    }
}

#[test]
fn on_empty_db_loads_through_disk_when_the_replica_has_keys() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    fill_redis(&mut m, false);
    let replica = Server::start(&["--repl-diskless-load", "on-empty-db"]);
    let mut r = replica.conn();
    q(&mut r, &["SET", "local", "1"]);
    q(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
    );
    wait_link_up(&replica);
    wait_equal(&mut m, &mut r, "after the full sync");
    assert_eq!(loaded_to(&replica), "disk");
}

#[test]
fn config_set_repl_diskless_load_as_redis() {
    let (redwing, redis) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis_both(
        &redwing,
        &redis,
        &[
            &["CONFIG", "GET", "repl-diskless-load"],
            &["CONFIG", "SET", "repl-diskless-load", "swapdb"],
            &["CONFIG", "GET", "repl-diskless-load"],
            &["CONFIG", "SET", "repl-diskless-load", "ON-EMPTY-DB"],
            &["CONFIG", "GET", "repl-diskless-load"],
            &["CONFIG", "SET", "repl-diskless-load", "bogus"],
            &["CONFIG", "SET", "repl-diskless-load", "disabled"],
        ],
    );
}

/// The value of `old:<i>`: 1000 bytes, so the master's snapshot leaves
/// it in many small writes rather than one at its end.
fn old_value(i: u64) -> String {
    format!("{i:0>1000}")
}

/// A redis-server master whose snapshot takes seconds to send
/// (`rdb-key-save-delay`), holding `n` keys `old:<i>`.
fn slow_master(n: u64) -> Server {
    let master = Server::redis(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    let mut p = redis::pipe();
    for i in 0..n {
        p.cmd("SET")
            .arg(format!("old:{i}"))
            .arg(old_value(i))
            .ignore();
    }
    p.query::<()>(&mut m).unwrap();
    master
}

fn slow_down(master: &Server) {
    let mut m = master.conn();
    // 1000 keys at 3 ms each: a transfer of about 3 s.
    q(&mut m, &["CONFIG", "SET", "rdb-key-save-delay", "3000"]);
}

fn persistence_names(c: &mut redis::Connection) -> Vec<String> {
    info(c, "persistence")
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
        .collect()
}

/// swapdb of the same history (the master's replid is the replica's, the
/// backlog no longer holds its offset): the old data serves reads while
/// the new snapshot loads, INFO shows async_loading:1 (with the
/// loading progress fields), and when the
/// transfer fails the old data stays.
#[test]
fn swapdb_serves_the_old_data_while_loading_and_keeps_it_when_the_transfer_fails() {
    let master = slow_master(1000);
    let mut m = master.conn();
    let replica = redwing_replica_of(master.port, &["--repl-diskless-load", "swapdb"]);
    let mut r = replica.conn();
    wait_equal(&mut m, &mut r, "after the first sync");
    slow_down(&master);
    q(&mut m, &["CONFIG", "SET", "repl-backlog-size", "16384"]);
    // The link cut; a write past the backlog makes the resync full.
    assert_eq!(int(&mut r, &["CLIENT", "KILL", "TYPE", "master"]), 1);
    q(&mut m, &["SET", "new:big", &"x".repeat(100_000)]);
    wait_for("the load in the background", SYNC_LIMIT, || {
        field(&info(&mut r, "persistence"), "async_loading").as_deref() == Some("1")
    });
    // The loading progress fields are there, as while loading.
    let names = persistence_names(&mut r);
    assert!(
        names.iter().any(|n| n == "loading_loaded_bytes"),
        "{names:?}"
    );
    for core in 0..2 {
        let mut c = replica.conn_on_core(core);
        let p = info(&mut c, "persistence");
        assert_eq!(field(&p, "loading").as_deref(), Some("0"));
        let rep = info(&mut c, "replication");
        assert_eq!(field(&rep, "master_sync_in_progress").as_deref(), Some("1"));
        assert_eq!(int(&mut c, &["DBSIZE"]), 1000);
        assert_eq!(q(&mut c, &["EXISTS", "new:big"]), "int(0)");
    }
    for core in 0..2 {
        let mut c = replica.conn_on_core(core);
        for i in [0, 1, 500, 999] {
            let key = format!("old:{i}");
            let v: String = cmd(&["GET", &key]).query(&mut c).unwrap();
            assert_eq!(v, old_value(i));
        }
    }
    // The master goes away mid-transfer: the old data stays.
    drop(master);
    wait_for("the load to end", SYNC_LIMIT, || {
        field(&info(&mut r, "persistence"), "async_loading").as_deref() == Some("0")
    });
    for core in 0..2 {
        let mut c = replica.conn_on_core(core);
        assert_eq!(int(&mut c, &["DBSIZE"]), 1000);
        let v: String = cmd(&["GET", "old:7"]).query(&mut c).unwrap();
        assert_eq!(v, old_value(7));
    }
    assert!(replica
        .log_text()
        .contains("Failed trying to load the MASTER synchronization DB from socket"));
}

/// Without the same history swapdb loads blocking (-LOADING on both
/// cores, loading:1) but still keeps the old data if the transfer fails;
/// on-empty-db flushes first and stays empty after a failure.
#[test]
fn a_blocking_diskless_load_answers_loading_and_what_a_failure_leaves() {
    for (mode, left) in [("swapdb", 3), ("on-empty-db", 0)] {
        let master = slow_master(1000);
        slow_down(&master);
        let replica = Server::start(&["--repl-diskless-load", mode]);
        let mut r = replica.conn();
        if mode == "swapdb" {
            let (k0, k1) = keys_on_two_cores("mine:");
            q(&mut r, &["MSET", &k0, "1", &k1, "2", "mine:3", "3"]);
        }
        q(
            &mut r,
            &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
        );
        wait_for("the blocking load", SYNC_LIMIT, || {
            field(&info(&mut r, "persistence"), "loading").as_deref() == Some("1")
        });
        for core in 0..2 {
            let mut c = replica.conn_on_core(core);
            let reply = q(&mut c, &["GET", "mine:3"]);
            assert!(reply.starts_with("-LOADING"), "{mode} core {core}: {reply}");
            let p = info(&mut c, "persistence");
            assert_eq!(field(&p, "async_loading").as_deref(), Some("0"));
            assert!(field(&p, "loading_loaded_bytes").is_some());
        }
        drop(master);
        wait_for("the load to end", SYNC_LIMIT, || {
            field(&info(&mut r, "persistence"), "loading").as_deref() == Some("0")
        });
        assert_eq!(int(&mut r, &["DBSIZE"]), left, "{mode}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
