//! A writable replica (`replica-read-only no`) as Redis 7.0: its own
//! writes stay on it: they reach neither its master nor its replicas
//! (Redwing's or redis-server's), and its offsets stay the master's.

mod common;

use common::repl::*;
use common::*;

fn offset(c: &mut redis::Connection) -> Option<String> {
    field(&info(c, "replication"), "master_repl_offset")
}

#[test]
fn writes_on_a_writable_replica_stay_on_it() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let middle = redwing_replica_of(
        master.port,
        &[
            "--replica-read-only",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    let sub = redwing_replica_of(middle.port, &[]);
    let rsub = redis_replica_of(&middle);
    let (k0, k1) = keys_on_two_cores("local:");
    // Writes on both of the middle replica's cores, one across them.
    for core in 0..2 {
        let mut c = middle.conn_on_core(core);
        assert_eq!(q(&mut c, &["SET", &format!("{{{k0}}}:{core}"), "x"]), "ok");
        assert_eq!(q(&mut c, &["INCR", &format!("{{{k1}}}:{core}")]), "int(1)");
        assert_eq!(q(&mut c, &["MSET", &k0, "a", &k1, "b"]), "ok");
    }
    let mut m = master.conn();
    q(&mut m, &["SET", "from-master", "1"]);
    let (mut mid, mut s, mut rs) = (middle.conn(), sub.conn(), rsub.conn());
    for c in [&mut s, &mut rs] {
        wait_for("the master's write down the chain", SYNC_LIMIT, || {
            q(c, &["EXISTS", "from-master"]) == "int(1)"
        });
    }
    // The chain holds the master's data only; the middle has its own too.
    wait_equal(&mut m, &mut s, "Redwing sub-replica");
    wait_equal(&mut m, &mut rs, "redis-server sub-replica");
    assert_eq!(int(&mut mid, &["DBSIZE"]), 7);
    assert_eq!(int(&mut m, &["DBSIZE"]), 1);
    // Offsets stay the master's all along the chain.
    wait_for("equal offsets", SYNC_LIMIT, || {
        let o = offset(&mut m);
        o == offset(&mut mid) && o == offset(&mut s) && o == offset(&mut rs)
    });
}

/// A replica's AOF after BGREWRITEAOF: the new incr file starts in the
/// database the master's stream is in (the master sends no SELECT until
/// it changes database), so the AOF alone rebuilds the master's data.
#[test]
fn a_replicas_aof_after_a_rewrite_keeps_the_streams_database() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let aof = ["--appendonly", "yes", "--dir", &d];
    let port = master.port.to_string();
    let mut args = vec!["--replicaof", "127.0.0.1", &port];
    args.extend_from_slice(&aof);
    {
        let replica = Server::start(&args);
        wait_link_up(&replica);
        let mut r = replica.conn();
        q(&mut m, &["SELECT", "3"]);
        q(&mut m, &["SET", "a", "1"]);
        wait_equal(&mut m, &mut r, "before the rewrite");
        assert!(q(&mut r, &["BGREWRITEAOF"]).contains("rewriting"));
        wait_for("the rewrite", SYNC_LIMIT, || {
            let p = info(&mut r, "persistence");
            field(&p, "aof_rewrite_in_progress").as_deref() == Some("0")
                && field(&p, "aof_rewrite_scheduled").as_deref() == Some("0")
                && field(&p, "aof_rewrites").as_deref() == Some("1")
        });
        // Still in database 3 on the master: no SELECT in the stream.
        let (k0, k1) = keys_on_two_cores("after:");
        q(&mut m, &["MSET", &k0, "x", &k1, "y"]);
        q(&mut m, &["INCR", "c"]);
        wait_equal(&mut m, &mut r, "after the rewrite");
        let _ = cmd(&["SHUTDOWN", "NOSAVE"]).query::<redis::Value>(&mut r);
    }
    let restarted = Server::start(&aof);
    let mut r = restarted.conn();
    wait_equal(&mut m, &mut r, "loaded from the replica's AOF");
}
