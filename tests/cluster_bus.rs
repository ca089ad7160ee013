//! The cluster bus (issue 16 part 2): Redwing nodes joined by
//! `redis-cli --cluster create` gossip until every node agrees and the
//! cluster is ok; `redis-cli --cluster check` passes and `redis-cli -c`
//! follows MOVED between nodes; Redwing and redis-server 7.0 nodes form
//! one cluster whose CLUSTER NODES agree on both sides; replicas take
//! over from a killed master (Redwing and Redis ones, both ways) and
//! CLUSTER FAILOVER swaps a master and its replica.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::cluster::*;
use common::*;

#[test]
fn three_redwing_masters_form_a_cluster() {
    let nodes: Vec<Server> = (0..3).map(|_| node(true, &[])).collect();
    let all: Vec<&Server> = nodes.iter().collect();
    create(&all);
    wait_agree(&all);

    let check = cluster_cli(&["check".into(), addr(&nodes[0])]);
    assert!(
        check.contains("[OK] All nodes agree about slots configuration."),
        "{check}"
    );
    assert!(check.contains("[OK] All 16384 slots covered."), "{check}");
    assert!(!check.contains("[ERR]"), "{check}");

    // CLUSTER INFO: three masters, epochs 1..3 as --cluster create sets them.
    let info = text(&nodes[0], &["CLUSTER", "INFO"]);
    for want in [
        "cluster_slots_assigned:16384",
        "cluster_slots_ok:16384",
        "cluster_known_nodes:3",
        "cluster_size:3",
        "cluster_current_epoch:3",
        "cluster_stats_messages_ping_sent:",
        "cluster_stats_messages_pong_received:",
    ] {
        assert!(info.contains(want), "{want} in\n{info}");
    }
    // Each node links to and from both others (the others' outbound links
    // may still be connecting when the slots already agree).
    let mut c1 = RawClient::new(&nodes[1]);
    let mut links = String::new();
    wait_for("two links each way", Duration::from_secs(5), || {
        links = c1.call(&["CLUSTER", "LINKS"]);
        links.matches("direction").count() == 4
    });
    assert_eq!(links.matches("\r\nto\r\n").count(), 2, "{links}");
    // nodes.conf holds the whole cluster.
    let conf = std::fs::read_to_string(nodes[2].dir.path().join("nodes.conf")).unwrap();
    assert_eq!(conf.lines().count(), 4, "{conf}");
    assert!(
        conf.ends_with("vars currentEpoch 3 lastVoteEpoch 0\n"),
        "{conf}"
    );

    // redis-cli -c follows MOVED: keys written through node 0 read back
    // through node 1, and they live on all three nodes.
    let cli = |s: &Server, args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-c", "-p", &s.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for i in 0..30 {
        assert_eq!(
            cli(&nodes[0], &["SET", &format!("k{i}"), &format!("v{i}")]),
            "OK"
        );
    }
    for i in 0..30 {
        assert_eq!(cli(&nodes[1], &["GET", &format!("k{i}")]), format!("v{i}"));
    }
    for s in &nodes {
        let n = int(&mut s.conn(), &["DBSIZE"]);
        assert!(n > 0 && n < 30, "keys on every node, {n} here");
    }
}

#[test]
fn a_killed_node_turns_pfail_and_the_cluster_fails() {
    let nodes: Vec<Server> = (0..3).map(|_| node(true, &[])).collect();
    let all: Vec<&Server> = nodes.iter().collect();
    create(&all);
    let mut nodes = nodes;
    let dead = nodes.pop().unwrap();
    let dead_id = text(&dead, &["CLUSTER", "MYID"]);
    drop(dead);
    for s in &nodes {
        wait_for("the killed node to be failing", TIMEOUT, || {
            text(s, &["CLUSTER", "NODES"]).lines().any(|l| {
                l.starts_with(&dead_id) && l.contains("fail") && l.contains("disconnected")
            })
        });
    }
    // FORGET removes it; the bus does not bring it back.
    for s in &nodes {
        assert_eq!(text(s, &["CLUSTER", "FORGET", &dead_id]), "OK");
    }
    std::thread::sleep(Duration::from_millis(1500));
    for s in &nodes {
        let view = text(s, &["CLUSTER", "NODES"]);
        assert!(!view.contains(&dead_id), "{view}");
        let info = text(s, &["CLUSTER", "INFO"]);
        assert!(info.contains("cluster_known_nodes:2"), "{info}");
        // Its slots are unassigned now: the cluster is down.
        assert!(info.contains("cluster_state:fail"), "{info}");
    }
}

#[test]
fn bus_subcommand_errors_match_redis() {
    let rw = node(true, &[]);
    let rd = node(false, &[]);
    for args in [
        &["CLUSTER", "MEET", "nohost", "7000"][..],
        &["CLUSTER", "MEET", "127.0.0.1", "x"],
        &["CLUSTER", "MEET", "127.0.0.1", "7000", "y"],
        &["CLUSTER", "MEET", "127.0.0.1", "70000"],
        &["CLUSTER", "MEET", "127.0.0.1", "7000", "1", "2"],
        &["CLUSTER", "MEET", "127.0.0.1"],
        &[
            "CLUSTER",
            "FORGET",
            "0123456789012345678901234567890123456789",
        ],
        &["CLUSTER", "FORGET"],
        &[
            "CLUSTER",
            "REPLICATE",
            "0123456789012345678901234567890123456789",
        ],
        &["CLUSTER", "FAILOVER"],
        &["CLUSTER", "FAILOVER", "bla"],
        &["CLUSTER", "FAILOVER", "force", "x"],
    ] {
        let a = RawClient::new(&rw).call(args);
        let b = RawClient::new(&rd).call(args);
        assert_eq!(a, b, "{args:?}");
    }
    let me = text(&rw, &["CLUSTER", "MYID"]);
    let redis_me = text(&rd, &["CLUSTER", "MYID"]);
    for sub in ["FORGET", "REPLICATE"] {
        assert_eq!(
            RawClient::new(&rw).call(&["CLUSTER", sub, &me]),
            RawClient::new(&rd).call(&["CLUSTER", sub, &redis_me])
        );
    }
}

#[test]
fn redwing_and_redis_nodes_form_one_cluster() {
    let a = node(true, &["--cluster-announce-hostname", "redwing-a"]);
    let b = node(false, &["--cluster-announce-hostname", "redis-b"]);
    let c = node(true, &[]);
    let d = node(false, &[]);
    let all = [&a, &b, &c, &d];
    create(&all);
    wait_agree(&all);
    let rows = view(&b);
    assert!(rows.iter().any(|r| r.contains(",redwing-a ")), "{rows:?}");
    assert!(view(&a).iter().any(|r| r.contains(",redis-b ")), "{rows:?}");
    let epochs: BTreeSet<String> = rows
        .iter()
        .map(|r| r.split(' ').nth(4).unwrap().to_string())
        .collect();
    assert_eq!(epochs.len(), 4, "distinct epochs {rows:?}");
    let check = cluster_cli(&["check".into(), addr(&b)]);
    assert!(
        check.contains("[OK] All nodes agree about slots configuration."),
        "{check}"
    );
    assert!(!check.contains("[ERR]"), "{check}");
    // Keys through the Redis node land on Redwing nodes too.
    let out = Command::new("redis-cli")
        .args(["-c", "-p", &b.port.to_string(), "SET", "foo", "bar"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let out = Command::new("redis-cli")
        .args(["-c", "-p", &a.port.to_string(), "GET", "foo"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "bar");
}

#[test]
fn six_nodes_with_replicas_survive_a_killed_master() {
    let mut nodes: Vec<Option<Server>> = (0..6)
        .map(|_| Some(node(true, &["--repl-diskless-sync-delay", "0"])))
        .collect();
    let all: Vec<&Server> = nodes.iter().flatten().collect();
    create_with(&all, 1);
    // Three masters, three replicas, each replica's link up.
    let roles: Vec<String> = all.iter().map(|s| role(s)).collect();
    assert_eq!(
        roles.iter().filter(|r| *r == "master").count(),
        3,
        "{roles:?}"
    );
    for s in all.iter().filter(|s| role(s) == "slave") {
        wait_for("replication link up", TIMEOUT, || {
            text(s, &["INFO", "replication"]).contains("master_link_status:up")
        });
    }
    let check = cluster_cli(&["check".into(), addr(all[0])]);
    assert!(
        check.contains("[OK] All nodes agree about slots configuration."),
        "{check}"
    );
    assert!(!check.contains("[ERR]"), "{check}");

    for i in 0..20 {
        assert_eq!(
            cli_c(all[0], &["SET", &format!("k{i}"), &format!("v{i}")]),
            "OK"
        );
    }
    // The victim: the first master; its replica from CLUSTER NODES.
    let victim = all.iter().position(|s| role(s) == "master").unwrap();
    let victim_id = myid(all[victim]);
    let replica = all
        .iter()
        .position(|s| {
            text(s, &["CLUSTER", "NODES"])
                .lines()
                .any(|l| l.contains("myself,slave") && l.contains(&victim_id))
        })
        .expect("a replica of the victim");
    // Its writes reached the replica.
    let acked = int(&mut all[victim].conn(), &["WAIT", "1", "2000"]);
    assert_eq!(acked, 1);
    drop(all);
    drop(nodes[victim].take()); // SIGKILL
    let alive: Vec<&Server> = nodes.iter().flatten().collect();
    let new_master = nodes[replica].as_ref().unwrap();
    let started = std::time::Instant::now();
    wait_for("the replica to take over", Duration::from_secs(15), || {
        role(new_master) == "master"
    });
    for s in &alive {
        wait_for("cluster_state:ok again", Duration::from_secs(15), || {
            text(s, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
        });
    }
    eprintln!("failover to cluster_state:ok in {:?}", started.elapsed());
    let view = text(new_master, &["CLUSTER", "NODES"]);
    assert!(
        view.lines()
            .any(|l| l.starts_with(&victim_id) && l.contains("master,fail")),
        "{view}"
    );
    for i in 0..20 {
        assert_eq!(cli_c(alive[0], &["GET", &format!("k{i}")]), format!("v{i}"));
    }

    // CLUSTER FAILOVER on another replica: it and its master swap.
    let other = alive
        .iter()
        .find(|s| role(s) == "slave")
        .expect("another replica");
    let before: Vec<String> = alive.iter().map(|s| role(s)).collect();
    assert_eq!(text(other, &["CLUSTER", "FAILOVER"]), "OK");
    wait_for("the manual failover", TIMEOUT, || role(other) == "master");
    for s in &alive {
        wait_for(
            "cluster_state:ok after the manual failover",
            TIMEOUT,
            || text(s, &["CLUSTER", "INFO"]).contains("cluster_state:ok"),
        );
    }
    // Its old master follows it: as many masters as before.
    let masters = |v: &[String]| v.iter().filter(|r| *r == "master").count();
    wait_for("the old master to turn replica", TIMEOUT, || {
        let after: Vec<String> = alive.iter().map(|s| role(s)).collect();
        masters(&after) == masters(&before)
    });
    for i in 0..20 {
        assert_eq!(cli_c(alive[1], &["GET", &format!("k{i}")]), format!("v{i}"));
    }

    // FORCE and TAKEOVER: the same swap without the master's agreement,
    // and without votes (a new epoch of its own).
    for how in ["FORCE", "TAKEOVER"] {
        let r = alive
            .iter()
            .find(|s| role(s) == "slave")
            .expect("a replica");
        assert_eq!(text(r, &["CLUSTER", "FAILOVER", how]), "OK");
        wait_for("the forced failover", TIMEOUT, || role(r) == "master");
        wait_for("the old master to turn replica", TIMEOUT, || {
            let after: Vec<String> = alive.iter().map(|s| role(s)).collect();
            masters(&after) == masters(&before)
        });
        for s in &alive {
            wait_for("cluster_state:ok", TIMEOUT, || {
                text(s, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
            });
        }
    }
    for i in 0..20 {
        assert_eq!(cli_c(alive[2], &["GET", &format!("k{i}")]), format!("v{i}"));
    }
}

#[test]
fn mixed_cluster_fails_over_both_ways() {
    let extra = ["--repl-diskless-sync-delay", "0"];
    let a = node(false, &extra);
    let b = node(true, &extra);
    let c = node(false, &extra);
    create(&[&a, &b, &c]);
    // A Redwing replica of a Redis master, a Redis replica of a Redwing one.
    let d = node(true, &extra);
    let e = node(false, &extra);
    add_replica(&d, &a);
    add_replica(&e, &b);
    wait_agree(&[&a, &b, &c, &d, &e]);
    for i in 0..20 {
        assert_eq!(
            cli_c(&c, &["SET", &format!("k{i}"), &format!("v{i}")]),
            "OK"
        );
    }
    for m in [&a, &b] {
        assert_eq!(int(&mut m.conn(), &["WAIT", "1", "2000"]), 1);
    }
    let mut servers = [Some(a), Some(b), Some(c), Some(d), Some(e)];
    for (dead, heir) in [(0, 3), (1, 4)] {
        drop(servers[dead].take()); // SIGKILL
        let heir_server = servers[heir].as_ref().unwrap();
        wait_for("the replica to take over", Duration::from_secs(15), || {
            role(heir_server) == "master"
        });
        for s in servers.iter().flatten() {
            wait_for("cluster_state:ok again", Duration::from_secs(15), || {
                text(s, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
            });
        }
        let alive: Vec<&Server> = servers.iter().flatten().collect();
        for i in 0..20 {
            assert_eq!(cli_c(alive[0], &["GET", &format!("k{i}")]), format!("v{i}"));
        }
    }
}

#[test]
fn a_restarted_node_rejoins_from_nodes_conf() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nodes.conf");
    let conf = conf.to_str().unwrap().to_string();
    let kept = ["--cluster-config-file", conf.as_str()];
    let mut nodes = vec![node(true, &[]), node(true, &[]), node(true, &kept)];
    create(&nodes.iter().collect::<Vec<_>>());
    let id = myid(&nodes[2]);
    let slots = text(&nodes[2], &["CLUSTER", "NODES"])
        .lines()
        .find(|l| l.contains("myself"))
        .map(|l| l.split(' ').nth(8).unwrap().to_string())
        .unwrap();
    drop(nodes.pop()); // SIGKILL
                       // Back on other ports: the others learn its new address from its PINGs.
    nodes.push(node(true, &kept));
    assert_eq!(myid(&nodes[2]), id);
    let all: Vec<&Server> = nodes.iter().collect();
    wait_agree(&all);
    for s in &all {
        wait_for("cluster_state:ok", TIMEOUT, || {
            text(s, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
        });
    }
    let line = text(&nodes[0], &["CLUSTER", "NODES"])
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap()
        .to_string();
    assert!(
        line.contains(&format!("127.0.0.1:{}@", nodes[2].port)),
        "{line}"
    );
    assert!(line.ends_with(&format!(" connected {slots}")), "{line}");
}
