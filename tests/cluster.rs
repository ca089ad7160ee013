//! Cluster mode on one node (issue 16, the single-node part): a Redwing
//! cluster node and a redis-server 7.0 cluster node side by side, compared
//! reply by reply (node ids and ports normalized), plus what only Redwing
//! shows: nodes.conf across a restart and keys spread over the cores.

mod common;

use std::time::Duration;

use common::cluster::per_core;
use common::*;

const NODE_TIMEOUT: &str = "500";

/// A Redwing and a redis-server cluster node, fresh, with no slots.
fn pair() -> (Server, Server) {
    let args = [
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        NODE_TIMEOUT,
    ];
    (Server::start(&args), Server::redis(&args))
}

fn myid(s: &Server) -> String {
    RawClient::new(s)
        .call(&["CLUSTER", "MYID"])
        .lines()
        .nth(1)
        .unwrap()
        .to_string()
}

/// A reply with the node's id and ports replaced by placeholders, and
/// bulk lengths dropped (ports differ in length).
fn normalized(reply: &[u8], s: &Server, id: &str) -> String {
    let text = String::from_utf8_lossy(reply)
        .replace(id, "<ID>")
        .replace(&(s.port as u32 + 10000).to_string(), "<CPORT>")
        .replace(&s.port.to_string(), "<PORT>");
    text.split("\r\n")
        .map(|l| match l.as_bytes().first() {
            Some(b'$' | b'=') if l[1..].parse::<i64>().is_ok() => "$?",
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Runs `cmds` on both nodes (with `<ID>` in an argument standing for
/// each node's own id) and asserts the normalized replies are equal.
fn same_on_both(rw: &Server, rd: &Server, resp: u8, cmds: &[&[&str]]) {
    let (id_rw, id_rd) = (myid(rw), myid(rd));
    let (mut a, mut b) = (RawClient::new(rw), RawClient::new(rd));
    if resp == 3 {
        a.call(&["HELLO", "3"]);
        b.call(&["HELLO", "3"]);
    }
    for cmd in cmds {
        let with =
            |id: &str| -> Vec<String> { cmd.iter().map(|x| x.replace("<ID>", id)).collect() };
        let (ca, cb) = (with(&id_rw), with(&id_rd));
        let ra = a.call_bytes(&ca.iter().map(String::as_str).collect::<Vec<_>>());
        let rb = b.call_bytes(&cb.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            normalized(&ra, rw, &id_rw),
            normalized(&rb, rd, &id_rd),
            "RESP{resp} {cmd:?}"
        );
    }
}

fn cluster_state(s: &Server) -> String {
    let info = RawClient::new(s).call(&["CLUSTER", "INFO"]);
    info.lines()
        .find_map(|l| l.strip_prefix("cluster_state:"))
        .unwrap_or("")
        .to_string()
}

fn wait_state(s: &Server, want: &str) {
    wait_for(
        &format!("cluster_state:{want}"),
        Duration::from_secs(10),
        || cluster_state(s) == want,
    );
}

#[test]
fn cluster_subcommands_match_redis() {
    let (rw, rd) = pair();
    // Both past Redis's 2 s start delay, so CLUSTER INFO settles.
    std::thread::sleep(Duration::from_millis(2300));
    for resp in [2, 3] {
        same_on_both(
            &rw,
            &rd,
            resp,
            &[
                &["CLUSTER", "INFO"],
                &["CLUSTER", "NODES"],
                &["CLUSTER", "SLOTS"],
                &["CLUSTER", "SHARDS"],
                &["CLUSTER", "LINKS"],
                &["CLUSTER", "HELP"],
                &["CLUSTER", "KEYSLOT", "foo"],
                &["CLUSTER", "KEYSLOT", "{user1000}.following"],
                &["CLUSTER", "KEYSLOT", "foo{}{bar}"],
                &["CLUSTER", "KEYSLOT", "foo{{bar}}zap"],
                &["CLUSTER", "KEYSLOT"],
                &["CLUSTER", "COUNTKEYSINSLOT", "16384"],
                &["CLUSTER", "COUNTKEYSINSLOT", "x"],
                &["CLUSTER", "GETKEYSINSLOT", "1", "-1"],
                &["CLUSTER", "GETKEYSINSLOT", "1", "10"],
                &["CLUSTER", "COUNT-FAILURE-REPORTS", "abc"],
                &["CLUSTER", "COUNT-FAILURE-REPORTS", "<ID>"],
                &["CLUSTER", "REPLICAS", "abc"],
                &["CLUSTER", "SLAVES", "abc"],
                &["CLUSTER", "REPLICAS", "<ID>"],
                &["CLUSTER", "FOO"],
                &["ASKING"],
                &["READONLY"],
                &["READWRITE"],
                &["SELECT", "1"],
                &["SELECT", "0"],
            ],
        );
    }
    // The bus's subcommands (MEET, FORGET, REPLICATE, FAILOVER) are
    // compared in tests/cluster_bus.rs.
    same_on_both(
        &rw,
        &rd,
        2,
        &[
            &["CLUSTER", "ADDSLOTS", "1", "2", "3"],
            &["CLUSTER", "ADDSLOTS", "3"],
            &["CLUSTER", "ADDSLOTS", "16384"],
            &["CLUSTER", "ADDSLOTS", "x"],
            &["CLUSTER", "ADDSLOTS", "5", "5"],
            &["CLUSTER", "ADDSLOTSRANGE", "10", "20", "30", "40"],
            &["CLUSTER", "ADDSLOTSRANGE", "50", "45"],
            &["CLUSTER", "ADDSLOTSRANGE", "50"],
            &["CLUSTER", "DELSLOTS", "100"],
            &["CLUSTER", "DELSLOTS", "2"],
            &["CLUSTER", "DELSLOTSRANGE", "10", "12"],
            &["CLUSTER", "NODES"],
            &["CLUSTER", "SLOTS"],
            &["CLUSTER", "SHARDS"],
            &["CLUSTER", "INFO"],
            &["SET", "foo", "1"],
            &["GET", "foo"],
            &["MGET", "a", "b"],
            &["CLUSTER", "SETSLOT", "1", "MIGRATING", "abc"],
            &["CLUSTER", "SETSLOT", "100", "MIGRATING", "<ID>"],
            &["CLUSTER", "SETSLOT", "1", "MIGRATING", "<ID>"],
            &["CLUSTER", "SETSLOT", "1", "IMPORTING", "<ID>"],
            &["CLUSTER", "SETSLOT", "200", "IMPORTING", "<ID>"],
            &["CLUSTER", "NODES"],
            &["CLUSTER", "SETSLOT", "200", "STABLE"],
            &["CLUSTER", "SETSLOT", "1", "STABLE"],
            &["CLUSTER", "SETSLOT", "1", "NODE", "abc"],
            &["CLUSTER", "SETSLOT", "300", "NODE", "<ID>"],
            &["CLUSTER", "SETSLOT", "1", "FOO"],
            &["CLUSTER", "SETSLOT", "99999", "STABLE"],
            &["CLUSTER", "NODES"],
            &["CLUSTER", "SET-CONFIG-EPOCH", "-1"],
            &["CLUSTER", "SET-CONFIG-EPOCH", "5"],
            &["CLUSTER", "SET-CONFIG-EPOCH", "6"],
            &["CLUSTER", "BUMPEPOCH"],
            &["CLUSTER", "INFO"],
            &["CLUSTER", "SAVECONFIG"],
            &["CLUSTER", "FLUSHSLOTS"],
            &["CLUSTER", "NODES"],
            &["CLUSTER", "RESET", "FOO"],
            &["CLUSTER", "RESET"],
            &["CLUSTER", "NODES"],
            &["CLUSTER", "INFO"],
        ],
    );
}

#[test]
fn redirections_match_redis() {
    let (rw, rd) = pair();
    for s in [&rw, &rd] {
        RawClient::new(s).call(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    }
    wait_state(&rw, "ok");
    wait_state(&rd, "ok");
    let foo = "12182"; // CLUSTER KEYSLOT foo
    same_on_both(
        &rw,
        &rd,
        2,
        &[
            &["CLUSTER", "INFO"],
            &["SET", "foo", "1"],
            &["SET", "{foo}x", "2"],
            &["MGET", "foo", "{foo}x"],
            &["DEL", "{foo}x"],
            &["MGET", "foo", "bar"],
            &["MSET", "foo", "1", "bar", "2"],
            &["DEL", "foo", "bar"],
            &["CLUSTER", "COUNTKEYSINSLOT", foo],
            &["CLUSTER", "GETKEYSINSLOT", foo, "10"],
            // The whole slot range has an owner: a cross-slot MULTI.
            &["MULTI"],
            &["SET", "foo", "1"],
            &["MGET", "foo", "bar"],
            &["EXEC"],
            // A script: declared keys in two slots, then an undeclared one.
            &["EVAL", "return 1", "2", "foo", "bar"],
            &["EVAL", "return redis.call('get', KEYS[1])", "1", "foo"],
            &["EVAL", "return redis.call('get', 'bar')", "1", "foo"],
            &["EVAL", "return redis.call('get', 'bar')", "0"],
            // Migrating to myself: a missing key is asked of the target.
            &["CLUSTER", "SETSLOT", foo, "MIGRATING", "<ID>"],
            &["GET", "foo"],
            &["GET", "{foo}missing"],
            &["MGET", "foo", "{foo}missing"],
            &["CLUSTER", "SETSLOT", foo, "STABLE"],
            // Unassigned slot: not served; full coverage lost: down.
            &["CLUSTER", "DELSLOTS", foo],
            &["GET", "foo"],
            &["GET", "bar"],
            &["MULTI"],
            &["GET", "foo"],
            &["EXEC"],
        ],
    );
    wait_state(&rw, "fail");
    wait_state(&rd, "fail");
    same_on_both(
        &rw,
        &rd,
        2,
        &[
            &["CLUSTER", "INFO"],
            &["GET", "bar"],
            &["PING"],
            &["CONFIG", "SET", "cluster-allow-reads-when-down", "yes"],
            &["GET", "bar"],
            &["SET", "bar", "1"],
        ],
    );
}

#[test]
fn nodes_conf_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nodes.conf");
    let conf = conf.to_str().unwrap();
    let args = ["--cluster-enabled", "yes", "--cluster-config-file", conf];
    let (id, nodes) = {
        let s = Server::start(&args);
        let mut c = RawClient::new(&s);
        assert_eq!(
            c.call(&["CLUSTER", "ADDSLOTSRANGE", "0", "5460"]),
            "+OK\r\n"
        );
        assert_eq!(c.call(&["CLUSTER", "BUMPEPOCH"]), "+BUMPED 1\r\n");
        (myid(&s), c.call(&["CLUSTER", "NODES"]))
    };
    assert_eq!(id.len(), 40);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    let text = std::fs::read_to_string(conf).unwrap();
    assert!(text.starts_with(&id), "{text}");
    assert!(
        text.contains(" myself,master - 0 0 1 connected 0-5460\n"),
        "{text}"
    );
    assert!(
        text.ends_with("vars currentEpoch 1 lastVoteEpoch 0\n"),
        "{text}"
    );
    let s = Server::start(&args);
    assert_eq!(myid(&s), id);
    // The line after the address (ports differ between the two runs).
    let port_free = |t: &str| t[t.find(" myself").unwrap()..].to_string();
    assert_eq!(
        port_free(&RawClient::new(&s).call(&["CLUSTER", "NODES"])),
        port_free(&nodes)
    );
}

/// `core:<i> slots:<n> keys:<n>` per core (DEBUG CORES).
#[test]
fn a_nodes_slots_and_keys_are_spread_over_its_cores() {
    // One node with a third of the slots: serving needs partial coverage.
    let s = Server::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        NODE_TIMEOUT,
        "--cluster-require-full-coverage",
        "no",
    ]);
    let mut c = RawClient::new(&s);
    assert_eq!(
        c.call(&["CLUSTER", "ADDSLOTSRANGE", "0", "5460"]),
        "+OK\r\n"
    );
    wait_for("slots", Duration::from_secs(1), || per_core(&s).len() == 2);
    // As Redis, a master turns ok only 2 s after it started.
    wait_for("cluster_state:ok", Duration::from_secs(5), || {
        c.call(&["CLUSTER", "INFO"]).contains("cluster_state:ok")
    });
    let cores = per_core(&s);
    assert_eq!(cores[0].0 + cores[1].0, 5461);
    assert!(cores[0].0.abs_diff(cores[1].0) <= 1, "{cores:?}");
    // Keys of this node's slots, written from both cores.
    let mut conns = [s.conn_on_core(0), s.conn_on_core(1)];
    let mut written = 0;
    let mut first = None;
    for i in 0..100_000 {
        let k = format!("key:{i}");
        if redwing::storage::key_slot(k.as_bytes()) <= 5460 {
            first.get_or_insert((k.clone(), i.to_string()));
            let _: () = redis::cmd("SET")
                .arg(&k)
                .arg(i)
                .query(&mut conns[i % 2])
                .unwrap();
            written += 1;
        }
        if written == 6000 {
            break;
        }
    }
    let cores = per_core(&s);
    assert_eq!(cores[0].1 + cores[1].1, written);
    let half = written as f64 / 2.0;
    for (_, keys) in &cores {
        assert!((*keys as f64 - half).abs() / half < 0.05, "{cores:?}");
    }
    // A slot that arrives later goes to the core with fewest slots, and
    // the keys already placed stay readable from both cores.
    assert_eq!(c.call(&["CLUSTER", "ADDSLOTS", "10000"]), "+OK\r\n");
    let after = per_core(&s);
    assert_eq!(after[0].0 + after[1].0, 5462);
    assert!(after[0].0.abs_diff(after[1].0) <= 1, "{after:?}");
    let (k, v) = first.unwrap();
    for conn in &mut conns {
        assert_eq!(int(conn, &["DBSIZE"]), written as i64);
        let got: String = redis::cmd("GET").arg(&k).query(conn).unwrap();
        assert_eq!(got, v);
    }
}

#[test]
fn standalone_answers_cluster_commands_as_redis() {
    let (rw, rd) = (Server::start(&[]), Server::redis(&[]));
    same_as_redis_both(
        &rw,
        &rd,
        &[
            &["CLUSTER", "INFO"],
            &["CLUSTER", "KEYSLOT", "foo"],
            &["ASKING"],
            &["READONLY"],
            &["READWRITE"],
        ],
    );
    assert!(RawClient::new(&rw)
        .call(&["INFO", "cluster"])
        .contains("cluster_enabled:0"));
    let c = Server::start(&["--cluster-enabled", "yes"]);
    assert!(RawClient::new(&c)
        .call(&["INFO", "cluster"])
        .contains("cluster_enabled:1"));
}

/// Two nodes of one cluster: `a` serves every slot, `b` imports foo's
/// slot from it (CLUSTER SETSLOT IMPORTING), both in state ok.
fn importing_pair(redwing: bool) -> (Server, Server) {
    let (a, b) = (
        common::cluster::node(redwing, &[]),
        common::cluster::node(redwing, &[]),
    );
    let bus = |s: &Server| {
        let reply = RawClient::new(s).call(&["CONFIG", "GET", "cluster-port"]);
        reply.lines().nth(4).unwrap().to_string()
    };
    let mut ca = RawClient::new(&a);
    ca.call(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    let port = b.port.to_string();
    ca.call(&["CLUSTER", "MEET", "127.0.0.1", &port, &bus(&b)]);
    let id = myid(&a);
    // (b skips an importing slot in a's claims: it must know them first.)
    wait_for("b knows a's slots", Duration::from_secs(10), || {
        RawClient::new(&b)
            .call(&["CLUSTER", "INFO"])
            .contains("cluster_slots_assigned:16384")
    });
    let foo_slot = "12182"; // CLUSTER KEYSLOT foo
    let mut cb = RawClient::new(&b);
    assert_eq!(
        cb.call(&["CLUSTER", "SETSLOT", foo_slot, "IMPORTING", &id]),
        "+OK\r\n"
    );
    wait_state(&a, "ok");
    wait_state(&b, "ok");
    (a, b)
}

/// ASKING lasts through the transaction it opens, as Redis's
/// resetClient keeps it inside MULTI: `ASKING MULTI SET EXEC` on the
/// importing node runs, `ASKING SET MULTI SET EXEC` is redirected. The
/// queue runs on the slot's core whichever core the client is on (inline,
/// or as one visit to the other core): both placements, against Redis.
#[test]
fn asking_lasts_through_a_transaction_on_either_core() {
    let script: &[&[&str]] = &[
        &["ASKING"],
        &["MULTI"],
        &["SET", "foo", "1"],
        &["INCR", "foo"],
        &["EXEC"],
        &["ASKING"],
        &["SET", "{foo}y", "3"],
        &["MULTI"],
        &["SET", "foo", "4"],
        &["EXEC"],
        // Two keys of an importing slot: all must exist.
        &["ASKING"],
        &["MULTI"],
        &["SET", "foo", "5"],
        &["SET", "{foo}z", "6"],
        &["EXEC"],
        &["ASKING"],
        &["MULTI"],
        &["SET", "foo", "5"],
        &["SET", "{foo}y", "6"],
        &["EXEC"],
        &["ASKING"],
        &["MGET", "foo", "{foo}y"],
        &["GET", "foo"],
    ];
    let replies = |c: &mut RawClient, owner: &Server| -> Vec<String> {
        script
            .iter()
            .map(|cmd| c.call(cmd).replace(&owner.port.to_string(), "<OWNER>"))
            .collect()
    };
    let (ra, rb) = importing_pair(false);
    let want = replies(&mut RawClient::new(&rb), &ra);
    assert_eq!(want[4], "*2\r\n+OK\r\n:2\r\n", "{want:?}");
    for core in [0, 1] {
        let (a, b) = importing_pair(true);
        let got = replies(&mut b.raw_on_core(core), &a);
        assert_eq!(got, want, "client on core {core}");
    }
}

/// A blocked client is released as Redis's clients cron releases it
/// (clusterRedirectBlockedClientIfNeeded): with -MOVED once another node
/// serves its key's slot, with -CLUSTERDOWN once the cluster is down; it
/// does not wait forever for a push that can no longer come here. Against
/// redis-server, with the blocked clients on each core.
#[test]
fn blocked_clients_are_released_when_their_slot_moves_or_the_cluster_fails() {
    let run = |redwing: bool, core: Option<usize>| -> Vec<String> {
        let (a, b) = importing_pair(redwing);
        let conn = |s: &Server| match core {
            Some(c) => s.raw_on_core(c),
            None => RawClient::new(s),
        };
        let mut on_foo = conn(&a);
        on_foo.send(&["BLPOP", "foo", "0"]);
        let mut on_bar = conn(&a);
        on_bar.send(&["BZPOPMIN", "bar", "0"]);
        wait_blocked(&mut a.conn(), "blpop", 1);
        wait_blocked(&mut a.conn(), "bzpopmin", 1);
        let mut admin = RawClient::new(&a);
        let moved = admin.call(&["CLUSTER", "SETSLOT", "12182", "NODE", &myid(&b)]);
        let foo = on_foo.read_within(Duration::from_secs(5));
        // bar's slot (5061) is still a's: its client waits on.
        let still = on_bar.read_within(Duration::from_millis(300));
        let lost = admin.call(&["CLUSTER", "DELSLOTS", "0"]);
        let bar = on_bar.read_within(Duration::from_secs(5));
        let shown = |r: Option<String>| {
            r.unwrap_or_else(|| "(still blocked)".into())
                .replace(&b.port.to_string(), "<B>")
        };
        vec![moved, shown(foo), shown(still), lost, shown(bar)]
    };
    let want = run(false, None);
    assert_eq!(want[1], "-MOVED 12182 127.0.0.1:<B>\r\n", "{want:?}");
    assert_eq!(want[2], "(still blocked)", "{want:?}");
    assert_eq!(want[4], "-CLUSTERDOWN The cluster is down\r\n", "{want:?}");
    for core in [0, 1] {
        assert_eq!(run(true, Some(core)), want, "clients on core {core}");
    }
}
