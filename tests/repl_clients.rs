//! Replication links as clients (CLIENT LIST / CLIENT KILL show a
//! replica's master link with `flags=M` and a master's replica links with
//! `flags=S`, as Redis 7.0 does), and FAILOVER's write pause holding
//! EXEC and scripts that may write, as CLIENT PAUSE WRITE does in Redis.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::repl::*;
use common::*;

/// A CLIENT LIST line's fields.
fn fields(line: &str) -> BTreeMap<String, String> {
    line.split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn list(c: &mut redis::Connection, args: &[&str]) -> Vec<BTreeMap<String, String>> {
    let mut all = vec!["CLIENT", "LIST"];
    all.extend_from_slice(args);
    let text: String = cmd(&all).query(c).unwrap();
    text.lines().map(fields).collect()
}

/// What must agree between Redwing's and redis-server's line for a link.
fn shape(l: &BTreeMap<String, String>) -> Vec<(String, String)> {
    ["flags", "db", "cmd", "user", "name", "multi", "sub"]
        .iter()
        .map(|k| (k.to_string(), l.get(*k).cloned().unwrap_or_default()))
        .collect()
}

#[test]
fn client_list_shows_replication_links_as_redis_and_client_kill_reaches_them() {
    // A Redwing master with a Redwing replica, and a redis-server master
    // with a redis-server replica (the oracle), each written to in db 3.
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let replica = redwing_replica_of(master.port, &[]);
    let rmaster = Server::redis(&["--repl-diskless-sync-delay", "0"]);
    let rreplica = redis_replica_of(&rmaster);
    for m in [&master, &rmaster] {
        let mut c = m.conn();
        q(&mut c, &["SELECT", "3"]);
        q(&mut c, &["SET", "k", "v"]);
    }
    let (mut r, mut rr) = (replica.conn(), rreplica.conn());
    q(&mut r, &["SELECT", "3"]);
    q(&mut rr, &["SELECT", "3"]);
    wait_for("the writes to arrive", SYNC_LIMIT, || {
        q(&mut r, &["EXISTS", "k"]) == "int(1)" && q(&mut rr, &["EXISTS", "k"]) == "int(1)"
    });
    // Each replica's ACK has arrived (cmd=replconf on the master side).
    std::thread::sleep(Duration::from_millis(1200));

    // The replica's link to its master, from both cores.
    let theirs = list(&mut rreplica.conn(), &["TYPE", "master"]);
    assert_eq!(theirs.len(), 1);
    for core in 0..2 {
        let mut c = replica.conn_on_core(core);
        let ours = list(&mut c, &["TYPE", "master"]);
        assert_eq!(ours.len(), 1, "core {core}");
        assert_eq!(shape(&ours[0]), shape(&theirs[0]), "core {core}");
        assert_eq!(ours[0]["addr"], format!("127.0.0.1:{}", master.port));
        // The same fields as any client of this server.
        let me: String = cmd(&["CLIENT", "INFO"]).query(&mut c).unwrap();
        let me = fields(me.trim_end());
        let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(names(&ours[0]), names(&me));
        // It is in the full list too, with its own id.
        let all = list(&mut c, &[]);
        assert!(all
            .iter()
            .any(|l| l["id"] == ours[0]["id"] && l["flags"] == "M"));
        let by_id = list(&mut c, &["ID", &ours[0]["id"]]);
        assert_eq!(by_id.len(), 1);
    }

    // The master's replica link, from both cores.
    let theirs = list(&mut rmaster.conn(), &["TYPE", "replica"]);
    assert_eq!(theirs.len(), 1);
    let link_id = {
        let mut c = master.conn_on_core(0);
        let ours = list(&mut c, &["TYPE", "replica"]);
        assert_eq!(ours.len(), 1);
        assert_eq!(shape(&ours[0]), shape(&theirs[0]));
        let laddr = &ours[0]["laddr"];
        assert_eq!(laddr, &format!("127.0.0.1:{}", master.port));
        ours[0]["id"].clone()
    };
    let mut c1 = master.conn_on_core(1);
    assert_eq!(list(&mut c1, &["TYPE", "slave"]).len(), 1);

    // CLIENT KILL reaches both: by ID on the master, by TYPE on the replica.
    let mut m = master.conn_on_core(1);
    assert_eq!(int(&mut m, &["CLIENT", "KILL", "ID", &link_id]), 1);
    wait_link_up(&replica);
    let stats = info(&mut m, "stats");
    assert_eq!(field(&stats, "sync_partial_ok").as_deref(), Some("1"));
    let new_id = list(&mut m, &["TYPE", "replica"])[0]["id"].clone();
    assert_ne!(new_id, link_id);
    assert_eq!(int(&mut r, &["CLIENT", "KILL", "TYPE", "master"]), 1);
    wait_link_up(&replica);
    wait_for("the second partial resync", SYNC_LIMIT, || {
        field(&info(&mut m, "stats"), "sync_partial_ok").as_deref() == Some("2")
    });
    // Normal clients are not links.
    assert_eq!(
        list(&mut r, &["TYPE", "normal"])
            .iter()
            .filter(|l| l["flags"] == "M")
            .count(),
        0
    );
}

fn signal(s: &Server, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &s.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn failover_holds_exec_and_scripts_that_may_write_as_client_pause_write() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let replica = redwing_replica_of(master.port, &[]);
    let (k0, k1) = keys_on_two_cores("fo:");
    for core in 0..2 {
        // MULTI before the pause, EXEC during it; a script; a read-only script.
        let mut tx = master.conn_on_core(core);
        q(&mut tx, &["MULTI"]);
        q(&mut tx, &["INCR", &k0]);
        q(&mut tx, &["INCR", &k1]);
        let mut ro = master.conn_on_core(core);
        q(&mut ro, &["MULTI"]);
        q(&mut ro, &["GET", &k0]);
        // The replica stops (no ACK) and the master's offset moves on:
        // FAILOVER waits for it until its timeout.
        signal(&replica, "-STOP");
        let mut admin = master.conn_on_core(1 - core);
        assert_eq!(q(&mut admin, &["SET", "before", "1"]), "ok");
        let mut f = master.raw_on_core(core);
        f.send(&["FAILOVER", "TIMEOUT", "1500"]);
        wait_for("the failover to start", SYNC_LIMIT, || {
            field(&info(&mut admin, "replication"), "master_failover_state").as_deref()
                == Some("waiting-for-sync")
        });
        let started = std::time::Instant::now();
        let held = |args: Vec<String>, c: usize| {
            let mut conn = master.conn_on_core(c);
            std::thread::spawn(move || {
                let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
                let t = std::time::Instant::now();
                let reply = q(&mut conn, &a);
                (reply, t.elapsed())
            })
        };
        let exec = std::thread::spawn(move || {
            let t = std::time::Instant::now();
            (q(&mut tx, &["EXEC"]), t.elapsed())
        });
        let script = held(
            vec![
                "EVAL".into(),
                "return redis.call('INCR', KEYS[1])".into(),
                "1".into(),
                k0.clone(),
            ],
            1 - core,
        );
        let no_writes = held(
            vec![
                "EVAL".into(),
                "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])".into(),
                "1".into(),
                k1.clone(),
            ],
            core,
        );
        // Reads, read-only EXEC and no-writes scripts are not held.
        let (reply, took) = no_writes.join().unwrap();
        assert!(took < Duration::from_millis(1000), "{reply} after {took:?}");
        let reply = q(&mut ro, &["EXEC"]);
        assert!(reply.starts_with("array"), "{reply}");
        let (_, took) = exec.join().unwrap();
        assert!(
            took >= Duration::from_millis(1000),
            "EXEC ran after {took:?}"
        );
        let (_, took) = script.join().unwrap();
        assert!(
            took >= Duration::from_millis(1000),
            "EVAL ran after {took:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(1400));
        // The failover timed out: the held writes ran on this master.
        assert!(f.read().contains("OK"));
        assert_eq!(
            field(&info(&mut admin, "replication"), "master_failover_state").as_deref(),
            Some("no-failover")
        );
        signal(&replica, "-CONT");
        let mut m = master.conn();
        assert_eq!(int(&mut m, &["GET", &k1]), core as i64 + 1);
        assert_eq!(int(&mut m, &["GET", &k0]), 2 * (core as i64 + 1));
        wait_equal(&mut m, &mut replica.conn(), "after the aborted failover");
    }
}
