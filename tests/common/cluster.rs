//! Cluster test helpers: nodes with a short node timeout and their own
//! bus port, `redis-cli --cluster`, and what the tests read of a node.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use super::{cmd, free_port, wait_for, RawClient, Server, TIMEOUT};

/// A cluster node with a 1 s node timeout and an explicit bus port
/// (port + 10000 can pass 65535 for the ports tests get).
pub fn node(redwing: bool, extra: &[&str]) -> Server {
    let bus = free_port().to_string();
    let mut args = vec![
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        "1000",
        "--cluster-port",
        &bus,
    ];
    args.extend_from_slice(extra);
    if redwing {
        Server::start(&args)
    } else {
        Server::redis(&args)
    }
}

/// A command's reply as a string (CLUSTER NODES, INFO, MYID, OK).
pub fn text(s: &Server, args: &[&str]) -> String {
    cmd(args)
        .query::<String>(&mut s.conn())
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

pub fn addr(s: &Server) -> String {
    format!("127.0.0.1:{}", s.port)
}

/// `redis-cli --cluster <args>`, bounded; its output with colours removed.
pub fn cluster_cli(args: &[String]) -> String {
    let out = Command::new("timeout")
        .arg("60")
        .arg("redis-cli")
        .arg("--cluster")
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.replace("\x1b[0m", "")
        .replace("\x1b[29;1m", "")
        .replace("\x1b[31;1m", "")
        .replace("\x1b[32;1m", "")
        .replace("\x1b[33;1m", "")
}

/// `--cluster create` over `nodes`, then waits for cluster_state:ok on all.
pub fn create(nodes: &[&Server]) {
    create_with(nodes, 0);
}

/// `--cluster create` with `--cluster-replicas <replicas>`; waits for
/// cluster_state:ok on all and for every replica's link to be up.
pub fn create_with(nodes: &[&Server], replicas: usize) {
    let mut args = vec!["create".to_string()];
    args.extend(nodes.iter().map(|s| addr(s)));
    if replicas > 0 {
        args.extend(["--cluster-replicas".into(), replicas.to_string()]);
    }
    args.push("--cluster-yes".into());
    let out = cluster_cli(&args);
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    for s in nodes {
        wait_for("cluster_state:ok", TIMEOUT, || {
            text(s, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
        });
    }
    for s in nodes.iter().filter(|s| role(s) == "slave") {
        wait_for("replication link up", TIMEOUT, || {
            text(s, &["INFO", "replication"]).contains("master_link_status:up")
        });
    }
}

/// (slots, keys) per core, from DEBUG CORES.
pub fn per_core(s: &Server) -> Vec<(usize, usize)> {
    RawClient::new(s)
        .call(&["DEBUG", "CORES"])
        .lines()
        .filter(|l| l.contains("core:"))
        .map(|l| {
            let num = |k: &str| {
                l.split(' ')
                    .find_map(|f| f.strip_prefix(k))
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            };
            (num("slots:"), num("keys:"))
        })
        .collect()
}

/// A node's CLUSTER NODES as comparable rows: id, address, flags
/// without `myself`, master, epoch, link state and slots (the ping and
/// pong times differ from node to node).
pub fn view(s: &Server) -> BTreeSet<String> {
    let nodes = text(s, &["CLUSTER", "NODES"]);
    nodes
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let flags = f[2].replace("myself,", "");
            let mut row = vec![f[0], f[1], &flags, f[3], f[6], f[7]];
            row.extend(&f[8..]);
            row.join(" ")
        })
        .collect()
}

/// Waits until every node shows the same ids, addresses, flags, masters,
/// epochs and slots, all links up.
pub fn wait_agree(nodes: &[&Server]) {
    let until = std::time::Instant::now() + TIMEOUT;
    loop {
        let views: Vec<BTreeSet<String>> = nodes.iter().map(|s| view(s)).collect();
        let agree = views.windows(2).all(|w| w[0] == w[1])
            && views[0].len() == nodes.len()
            && views[0].iter().all(|r| r.contains(" connected"));
        if agree {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "the nodes disagree: {views:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The id of the node a CLUSTER NODES line names for `s` (myself).
pub fn myid(s: &Server) -> String {
    text(s, &["CLUSTER", "MYID"])
}

pub fn role(s: &Server) -> String {
    let v: Vec<redis::Value> = cmd(&["ROLE"]).query(&mut s.conn()).unwrap();
    match &v[0] {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

pub fn cli_c(s: &Server, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["10", "redis-cli", "-c", "-p", &s.port.to_string()])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `redis-cli --cluster add-node` of `new` as a replica of `master`.
pub fn add_replica(new: &Server, master: &Server) {
    let out = cluster_cli(&[
        "add-node".into(),
        addr(new),
        addr(master),
        "--cluster-slave".into(),
        "--cluster-master-id".into(),
        myid(master),
    ]);
    assert!(out.contains("[OK] New node added correctly."), "{out}");
    wait_for("the replica's link up", TIMEOUT, || {
        text(new, &["INFO", "replication"]).contains("master_link_status:up")
    });
}
