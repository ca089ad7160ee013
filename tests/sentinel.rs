//! Sentinel mode: Redwing sentinels (and Debian's `redis-sentinel` 7.0
//! beside them) watching Redwing masters and replicas on loopback ports,
//! with lean timeouts (down-after 1000 ms, failover-timeout 3000 ms).
//! A master killed with SIGKILL is failed over: a replica is promoted, the
//! other follows it, `+switch-master` is published, every sentinel names
//! the new master, and the client-reconfig-script ran with Redis's seven
//! arguments. Without quorum nothing happens. The replies clients read
//! have Redis Sentinel's shape. A priority-0 replica is never promoted.
//! Mixed sets (two Redwing + one Redis sentinel, and the reverse) elect one
//! leader and name one new master.
//! redis-py's Sentinel client keeps writing through a failover; with
//! min-replicas-to-write 1 and WAIT 1 no acknowledged write is lost.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::repl::*;
use common::*;

const FAILOVER_LIMIT: Duration = Duration::from_secs(25);

/// A sentinel process and the directory holding its config file.
struct Sentinel {
    s: Server,
    _conf: tempfile::TempDir,
    conf: PathBuf,
}

/// Starts a sentinel (`redis-sentinel` when `redis`, else redwing-server
/// `--sentinel`) monitoring `mym` at `master` with `quorum`.
fn sentinel(master: u16, quorum: u32, extra: &str, redis: bool) -> Sentinel {
    sentinel_as(
        if redis {
            "redis-sentinel"
        } else {
            redwing_bin()
        },
        master,
        quorum,
        extra,
    )
}

/// A sentinel started as `bin` (`--sentinel` added for redwing-server).
fn sentinel_as(bin: &str, master: u16, quorum: u32, extra: &str) -> Sentinel {
    sentinel_on(bin, ("127.0.0.1", master), quorum, extra, &[])
}

/// A sentinel started as `bin` monitoring `mym` at `master`, with `args`
/// after the usual options.
fn sentinel_on(
    bin: &str,
    master: (&str, u16),
    quorum: u32,
    extra: &str,
    args: &[&str],
) -> Sentinel {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("sentinel.conf");
    let (host, port) = master;
    let body = format!(
        "sentinel monitor mym {host} {port} {quorum}\n\
         sentinel down-after-milliseconds mym 1000\n\
         sentinel failover-timeout mym 3000\n{extra}"
    );
    std::fs::write(&conf, body).unwrap();
    let mut all: Vec<&str> = if bin == redwing_bin() {
        vec!["--sentinel"]
    } else {
        vec![]
    };
    all.extend_from_slice(args);
    let s = Server::with_config(bin, &conf, &all);
    Sentinel {
        s,
        _conf: dir,
        conf,
    }
}

/// SENTINEL MASTER mym as field → value.
fn master_fields(s: &Server) -> std::collections::HashMap<String, String> {
    let v: Vec<String> = cmd(&["SENTINEL", "MASTER", "mym"])
        .query(&mut s.conn())
        .unwrap();
    v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
}

fn master_addr(s: &Server) -> (String, u16) {
    let v: Vec<String> = cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mym"])
        .query(&mut s.conn())
        .unwrap();
    (v[0].clone(), v[1].parse().unwrap())
}

/// Waits until every sentinel knows `replicas` replicas and the other
/// sentinels.
fn wait_discovery(sentinels: &[&Server], replicas: usize) {
    let others = (sentinels.len() - 1).to_string();
    let replicas = replicas.to_string();
    wait_for(
        "sentinels to discover each other and the replicas",
        Duration::from_secs(20),
        || {
            sentinels.iter().all(|s| {
                let f = master_fields(s);
                f["num-slaves"] == replicas && f["num-other-sentinels"] == others
            })
        },
    );
}

fn role(s: &Server) -> Vec<redis::Value> {
    cmd(&["ROLE"]).query(&mut s.conn()).unwrap()
}

fn is_master(s: &Server) -> bool {
    matches!(&role(s)[0], redis::Value::BulkString(b) if b == b"master")
}

/// INFO `section` of `s`, or "" when connecting or the command fails: a
/// sentinel's SLAVEOF transaction ends with CLIENT KILL TYPE normal, which
/// may close a polling connection mid-query (a test under load saw it).
fn info_now(s: &Server, section: &str) -> String {
    redis::Client::open(s.url())
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut c| cmd(&["INFO", section]).query(&mut c))
        .unwrap_or_default()
}

/// A replica's master port and link state from INFO replication.
fn replica_of(s: &Server) -> (Option<String>, Option<String>) {
    let i = info_now(s, "replication");
    (field(&i, "master_port"), field(&i, "master_link_status"))
}

fn wait_offsets_equal(master: &Server, replicas: &[&Server]) {
    let mut m = master.conn();
    wait_for("replicas to catch up", SYNC_LIMIT, || {
        let mo = field(&info(&mut m, "replication"), "master_repl_offset");
        replicas.iter().all(|r| {
            let ro = field(&info(&mut r.conn(), "replication"), "slave_repl_offset");
            ro.is_some() && ro == mo
        })
    });
}

/// A master and two replicas of it (one on one core, one on two).
fn master_and_two_replicas() -> (Server, Server, Server) {
    master_and_two_replicas_with(&[], &[])
}

/// As `master_and_two_replicas`, with `all` on every node's command line
/// and `first` on the first replica's.
fn master_and_two_replicas_with(all: &[&str], first: &[&str]) -> (Server, Server, Server) {
    let master = Server::start(&[all, &["--repl-diskless-sync-delay", "0"]].concat());
    let mp = master.port.to_string();
    let r1 = Server::start(&[all, first, &["--replicaof", "127.0.0.1", &mp]].concat());
    let r2 = Server::start(&[all, &["--threads", "1", "--replicaof", "127.0.0.1", &mp]].concat());
    (master, r1, r2)
}

/// Kills `master` with SIGKILL; returns the `+switch-master` message
/// `sentinel` publishes ("mym <old ip> <old port> <new ip> <new port>")
/// and the new master's port.
fn kill_until_switch(master: &mut Server, sentinel: &Server) -> (String, u16) {
    let mut sub = RawClient::new(sentinel);
    sub.call(&["SUBSCRIBE", "+switch-master"]);
    let _ = master.child.kill();
    let _ = master.child.wait();
    let msg = sub
        .read_within(FAILOVER_LIMIT)
        .expect("+switch-master within the failover limit");
    let new_port: u16 = msg
        .split_whitespace()
        .last()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    (msg, new_port)
}

fn wait_all_name_master(sentinels: &[&Server], port: u16) {
    wait_for(
        "every sentinel to name the new master",
        Duration::from_secs(10),
        || {
            sentinels
                .iter()
                .all(|s| master_addr(s) == ("127.0.0.1".into(), port))
        },
    );
}

#[test]
fn killed_master_is_failed_over_by_redwing_sentinels() {
    let (mut master, r1, r2) = master_and_two_replicas();
    let (_scripts, calls, extra) = reconf_script();
    let sentinels: Vec<Sentinel> = (0..3)
        .map(|_| sentinel(master.port, 2, &extra, false))
        .collect();
    let all: Vec<&Server> = sentinels.iter().map(|s| &s.s).collect();
    wait_discovery(&all, 2);
    // Writes reach both replicas before the master dies.
    let mut c = master.conn();
    for i in 0..100 {
        q(&mut c, &["SET", &format!("k{i}"), &i.to_string()]);
    }
    wait_offsets_equal(&master, &[&r1, &r2]);
    // The state is in each sentinel's rewritten config.
    let conf = std::fs::read_to_string(&sentinels[0].conf).unwrap();
    assert!(conf.contains("sentinel myid "), "{conf}");
    assert!(
        conf.contains(&format!("sentinel known-replica mym 127.0.0.1 {}", r1.port)),
        "{conf}"
    );
    assert_eq!(
        conf.matches("sentinel known-sentinel mym").count(),
        2,
        "{conf}"
    );

    let killed = Instant::now();
    let (msg, new_port) = kill_until_switch(&mut master, &sentinels[1].s);
    let took = killed.elapsed();
    assert!(new_port == r1.port || new_port == r2.port, "{msg}");
    assert!(
        msg.contains(&format!(
            "mym 127.0.0.1 {} 127.0.0.1 {new_port}",
            master.port
        )),
        "{msg}"
    );
    eprintln!("kill -9 to +switch-master: {took:?}");
    let (promoted, other) = if new_port == r1.port {
        (&r1, &r2)
    } else {
        (&r2, &r1)
    };
    assert!(is_master(promoted));
    wait_all_name_master(&all, new_port);
    wait_for(
        "the other replica to follow the new master",
        SYNC_LIMIT,
        || replica_of(other) == (Some(new_port.to_string()), Some("up".into())),
    );
    // The data written before the failure is on the new master.
    let v: String = cmd(&["GET", "k99"]).query(&mut promoted.conn()).unwrap();
    assert_eq!(v, "99");
    // One client-reconfig-script run per sentinel: the leader and two
    // observers, each with Redis's seven arguments.
    wait_for(
        "three reconfig script runs",
        Duration::from_secs(10),
        || std::fs::read_to_string(&calls).is_ok_and(|t| t.lines().count() >= 3),
    );
    let text = std::fs::read_to_string(&calls).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for l in &lines {
        let a: Vec<&str> = l.split(' ').collect();
        assert_eq!(a.len(), 7, "{l}");
        assert_eq!(a[0], "mym");
        assert!(a[1] == "leader" || a[1] == "observer", "{l}");
        assert_eq!(a[2], "start");
        assert_eq!(a[3..5], ["127.0.0.1", &master.port.to_string()[..]]);
        assert_eq!(a[5..7], ["127.0.0.1", &new_port.to_string()[..]]);
    }
    assert_eq!(
        lines.iter().filter(|l| l.contains(" leader ")).count(),
        1,
        "{text}"
    );
    // The new address is in the config files.
    for s in &sentinels {
        let conf = std::fs::read_to_string(&s.conf).unwrap();
        assert!(
            conf.contains(&format!("sentinel monitor mym 127.0.0.1 {new_port} 2")),
            "{conf}"
        );
    }
    // The old master comes back (empty, on its old port): the sentinels
    // make it a replica of the new master (+convert-to-slave, 8 s after it
    // reports itself a master, as Redis).
    let dir = tempfile::tempdir().unwrap();
    let old = Proc(
        std::process::Command::new(redwing_bin())
            .args([
                "--port",
                &master.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("redis://127.0.0.1:{}/", master.port);
    wait_for(
        "the old master to become a replica of the new one",
        Duration::from_secs(30),
        || {
            let Ok(mut c) = redis::Client::open(url.as_str()).unwrap().get_connection() else {
                return false;
            };
            let i: String = cmd(&["INFO", "replication"])
                .query(&mut c)
                .unwrap_or_default();
            field(&i, "master_port") == Some(new_port.to_string())
        },
    );
    drop(old);
}

#[test]
fn no_failover_without_quorum() {
    let mut master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mp = master.port.to_string();
    let r = Server::start(&["--replicaof", "127.0.0.1", &mp]);
    // Two sentinels cannot reach a quorum of three.
    let sentinels: Vec<Sentinel> = (0..2)
        .map(|_| sentinel(master.port, 3, "", false))
        .collect();
    let all: Vec<&Server> = sentinels.iter().map(|s| &s.s).collect();
    wait_discovery(&all, 1);
    let mut c = all[0].conn();
    assert_eq!(
        q(&mut c, &["SENTINEL", "CKQUORUM", "mym"]),
        "-NOQUORUM 2 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master"
    );
    let mut sdown = RawClient::new(all[0]);
    sdown.call(&["SUBSCRIBE", "+sdown"]);
    let mut acting = RawClient::new(all[0]);
    acting.call(&["SUBSCRIBE", "+odown", "+try-failover"]);
    acting.read();
    let _ = master.child.kill();
    let _ = master.child.wait();
    wait_for("+sdown of the master", Duration::from_secs(5), || {
        sdown
            .read_within(Duration::from_secs(5))
            .is_some_and(|m| m.contains("master mym"))
    });
    // Several seconds later: no ODOWN, no failover, same address.
    assert_eq!(acting.read_within(Duration::from_secs(4)), None);
    for s in &all {
        assert_eq!(master_addr(s), ("127.0.0.1".into(), master.port));
        let f = master_fields(s);
        assert_eq!(f["flags"], "s_down,master,disconnected", "{f:?}");
    }
    assert_eq!(replica_of(&r).0, Some(mp));
}

/// Every event `subs` (PSUBSCRIBEd to `*`) receive, read in turns, until
/// one of them got a message containing `what`; what each one got.
fn events_on_any(subs: &mut [RawClient], what: &str, limit: Duration) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut seen = vec![String::new(); subs.len()];
    while !seen.iter().any(|t| t.contains(what)) {
        assert!(
            Instant::now() < end,
            "no {what:?} within {limit:?}: {seen:#?}"
        );
        for (sub, text) in subs.iter_mut().zip(seen.iter_mut()) {
            while let Some(m) = sub.read_within(Duration::from_millis(50)) {
                text.push_str(&m);
            }
        }
    }
    seen
}

/// Every event `subs` receive during `d`, all together.
fn events_during(subs: &mut [RawClient], d: Duration) -> String {
    let end = Instant::now() + d;
    let mut seen = String::new();
    while Instant::now() < end {
        for sub in subs.iter_mut() {
            while let Some(m) = sub.read_within(Duration::from_millis(50)) {
                seen.push_str(&m);
            }
        }
    }
    seen
}

/// A Pub/Sub event as it reads on the wire: channel, then message.
fn event_text(channel: &str, msg: &str) -> String {
    format!(
        "${}\r\n{channel}\r\n${}\r\n{msg}\r\n",
        channel.len(),
        msg.len()
    )
}

/// A master, a `replica-priority 0` replica and a default one, watched by
/// three sentinels (redis-sentinel when `redis`, quorum 2). The master is
/// killed: the default replica is promoted although the sort puts priority
/// 0 first, and the priority-0 one follows it. That one is killed too:
/// only the priority-0 replica is left, so the leader gives up with
/// -failover-abort-no-good-slave (the same event text from both
/// sentinels) and nothing changes, on the next tries either.
fn priority_zero_replica_is_never_promoted(redis: bool) {
    let (mut master, r0, mut r) = master_and_two_replicas_with(&[], &["--replica-priority", "0"]);
    let sentinels: Vec<Sentinel> = (0..3)
        .map(|_| sentinel(master.port, 2, "", redis))
        .collect();
    let all: Vec<&Server> = sentinels.iter().map(|s| &s.s).collect();
    wait_discovery(&all, 2);
    // Each sentinel reads the priority in the replica's own INFO.
    let priority = |s: &Server, port: u16| {
        let v: Vec<Vec<String>> = cmd(&["SENTINEL", "REPLICAS", "mym"])
            .query(&mut s.conn())
            .unwrap();
        let f = v.iter().find(|f| f[5] == port.to_string()).unwrap();
        let at = f.iter().position(|x| x == "slave-priority").unwrap();
        f[at + 1].clone()
    };
    wait_for(
        "every sentinel to know the priorities",
        Duration::from_secs(10),
        || {
            all.iter()
                .all(|s| (priority(s, r0.port), priority(s, r.port)) == ("0".into(), "100".into()))
        },
    );
    let mut c = master.conn();
    q(&mut c, &["SET", "before", "the failover"]);
    wait_offsets_equal(&master, &[&r0, &r]);
    let mut subs: Vec<RawClient> = all.iter().map(|s| RawClient::new(s)).collect();
    for sub in &mut subs {
        sub.call(&["PSUBSCRIBE", "*"]);
    }

    let _ = master.child.kill();
    let _ = master.child.wait();
    let seen = events_on_any(&mut subs, "+switch-master", FAILOVER_LIMIT).concat();
    let switch = format!("mym 127.0.0.1 {} 127.0.0.1 {}", master.port, r.port);
    assert!(
        seen.contains(&event_text("+switch-master", &switch)),
        "{seen}"
    );
    assert!(is_master(&r));
    assert!(!is_master(&r0));
    wait_all_name_master(&all, r.port);
    wait_for(
        "the priority-0 replica to follow the new master",
        SYNC_LIMIT,
        || replica_of(&r0) == (Some(r.port.to_string()), Some("up".into())),
    );
    // Every sentinel knows it as a connected replica of the new master.
    wait_for(
        "the sentinels to see it there",
        Duration::from_secs(15),
        || {
            all.iter().all(|s| {
                let v: Vec<Vec<String>> = cmd(&["SENTINEL", "REPLICAS", "mym"])
                    .query(&mut s.conn())
                    .unwrap();
                v.iter()
                    .any(|f| f[5] == r0.port.to_string() && f[9] == "slave")
            })
        },
    );
    events_during(&mut subs, Duration::from_millis(200));

    // Only the priority-0 replica is left.
    let _ = r.child.kill();
    let _ = r.child.wait();
    let r = r.port;
    let seen = events_on_any(&mut subs, "-failover-abort-no-good-slave", FAILOVER_LIMIT).concat();
    let aborted = format!("master mym 127.0.0.1 {r}");
    assert!(
        seen.contains(&event_text("-failover-abort-no-good-slave", &aborted)),
        "{seen}"
    );
    assert!(seen.contains("+elected-leader"), "{seen}");
    // The next try comes 2 × failover-timeout after this one: wait for it.
    let later = events_during(&mut subs, Duration::from_secs(7));
    for text in [&seen, &later] {
        assert!(!text.contains("+selected-slave"), "{text}");
        assert!(!text.contains("+switch-master"), "{text}");
        assert!(!text.contains("+promoted-slave"), "{text}");
    }
    for s in &all {
        assert_eq!(master_addr(s), ("127.0.0.1".into(), r));
    }
    assert!(!is_master(&r0));
    assert_eq!(replica_of(&r0).0, Some(r.to_string()));
}

#[test]
fn priority_zero_replica_is_never_promoted_by_redwing_sentinels() {
    priority_zero_replica_is_never_promoted(false);
}

#[test]
fn priority_zero_replica_is_never_promoted_by_redis_sentinels() {
    priority_zero_replica_is_never_promoted(true);
}

/// Sentinels (`redis` tells which are redis-sentinel) watching `master`
/// and its replica `r` with quorum 2: after `master` is killed exactly one
/// of them is elected leader, every one publishes the same
/// `+switch-master` and names `r`, which is a master, and all have one
/// config epoch.
fn all_agree_after_kill(master: &mut Server, r: &Server, redis: &[bool]) -> Vec<Sentinel> {
    let sentinels: Vec<Sentinel> = redis
        .iter()
        .map(|&theirs| sentinel(master.port, 2, "", theirs))
        .collect();
    let all: Vec<&Server> = sentinels.iter().map(|s| &s.s).collect();
    wait_discovery(&all, 1);
    wait_offsets_equal(master, &[r]);
    let mut subs: Vec<RawClient> = all.iter().map(|s| RawClient::new(s)).collect();
    for sub in &mut subs {
        sub.call(&["PSUBSCRIBE", "*"]);
    }
    let _ = master.child.kill();
    let _ = master.child.wait();
    let switch = event_text(
        "+switch-master",
        &format!("mym 127.0.0.1 {} 127.0.0.1 {}", master.port, r.port),
    );
    let seen: Vec<String> = subs
        .iter_mut()
        .map(|sub| events_until(sub, &switch, FAILOVER_LIMIT))
        .collect();
    let leaders: Vec<usize> = (0..seen.len())
        .filter(|&i| seen[i].contains("+elected-leader"))
        .collect();
    assert_eq!(leaders.len(), 1, "{seen:#?}");
    eprintln!(
        "leader: {}",
        if redis[leaders[0]] {
            "redis-sentinel"
        } else {
            "redwing"
        }
    );
    wait_for("every sentinel to name the replica", FAILOVER_LIMIT, || {
        all.iter()
            .all(|s| master_addr(s) == ("127.0.0.1".into(), r.port))
    });
    assert!(is_master(r));
    let epochs: Vec<String> = all
        .iter()
        .map(|s| master_fields(s)["config-epoch"].clone())
        .collect();
    assert!(
        epochs.iter().all(|e| e == &epochs[0] && e != "0"),
        "{epochs:?}"
    );
    sentinels
}

/// A Redwing master and replica failed over by a mixed set of sentinels
/// (`redis` as in `all_agree_after_kill`).
fn mixed_set_agrees(redis: &[bool]) {
    let mut master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mp = master.port.to_string();
    let r = Server::start(&["--replicaof", "127.0.0.1", &mp]);
    all_agree_after_kill(&mut master, &r, redis);
}

#[test]
fn redis_sentinel_and_redwing_sentinels_agree() {
    mixed_set_agrees(&[false, true, false]);
}

/// The reverse mix: two redis-sentinels and one Redwing sentinel.
#[test]
fn redis_sentinels_and_a_redwing_sentinel_agree() {
    mixed_set_agrees(&[true, false, true]);
}

#[test]
fn replies_have_redis_sentinels_shape() {
    let master = Server::start(&[]);
    let ours = sentinel(master.port, 1, "", false);
    let theirs = sentinel(master.port, 1, "", true);
    let (a, b) = (&ours.s, &theirs.s);
    let mut ca = a.conn();
    let mut cb = b.conn();
    for args in [
        &["GET", "x"][..],
        &["PUBLISH", "foo", "bar"],
        &["SENTINEL", "FOO"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mym"],
        &["SENTINEL", "MASTER", "nope"],
        &["SENTINEL", "CKQUORUM", "mym"],
        &["SENTINEL", "SENTINELS", "mym"],
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "127.0.0.1",
            &master.port.to_string(),
            "0",
            "*",
        ],
        &["SENTINEL", "SET", "mym", "quorum", "0"],
        &["SENTINEL", "SET", "mym", "nosuch", "1"],
        &["SENTINEL", "MONITOR", "mym", "127.0.0.1", "1", "1"],
        &["SENTINEL", "MONITOR", "x", "127.0.0.1", "1", "0"],
        &["ROLE"],
        &["PING"],
        &["SENTINEL", "CONFIG", "GET", "*"],
        &["SENTINEL", "CONFIG", "GET", "announce*"],
        &["SENTINEL", "CONFIG", "GET", "nosuch"],
        &["SENTINEL", "CONFIG", "GET"],
        &["SENTINEL", "CONFIG", "GET", "a", "b"],
        &["SENTINEL", "CONFIG", "FOO", "x"],
        &["SENTINEL", "CONFIG"],
        &["SENTINEL", "CONFIG", "SET", "announce-hostnames", "maybe"],
        &["SENTINEL", "CONFIG", "SET", "announce-port", "70000"],
        &["SENTINEL", "CONFIG", "SET", "nosuch", "1"],
        &["SENTINEL", "CONFIG", "SET", "announce-hostnames", "yes"],
        &["SENTINEL", "CONFIG", "GET", "announce-hostnames"],
        &["SENTINEL", "CONFIG", "SET", "announce-hostnames", "no"],
        &["SENTINEL", "INFO-CACHE", "nope"],
        &["SENTINEL", "INFO-CACHE"],
    ] {
        assert_eq!(q(&mut ca, args), q(&mut cb, args), "{args:?}");
    }
    // The same fields, in the same order, for a master.
    wait_for(
        "both sentinels to have INFO from the master",
        Duration::from_secs(5),
        || master_fields(a)["info-refresh"] != "0" && master_fields(b)["info-refresh"] != "0",
    );
    let keys = |s: &Server| -> Vec<String> {
        let v: Vec<String> = cmd(&["SENTINEL", "MASTER", "mym"])
            .query(&mut s.conn())
            .unwrap();
        v.chunks(2).map(|p| p[0].clone()).collect()
    };
    assert_eq!(keys(a), keys(b));
    // INFO-CACHE: the master's last INFO and how old it is (ms).
    let cache: Vec<redis::Value> = cmd(&["SENTINEL", "INFO-CACHE", "mym"])
        .query(&mut ca)
        .unwrap();
    let text = format!("{cache:?}");
    assert!(cache.len() == 2 && text.contains("run_id:"), "{text}");
    let fa = master_fields(a);
    assert_eq!(fa["flags"], "master");
    assert_eq!(fa["num-slaves"], "0");
    // INFO sentinel has the same lines.
    let names = |s: &Server| -> Vec<String> {
        info(&mut s.conn(), "sentinel")
            .lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(a), names(b));
    let i = info(&mut ca, "sentinel");
    assert!(
        i.contains(&format!(
            "master0:name=mym,status=ok,address=127.0.0.1:{},slaves=0,sentinels=1",
            master.port
        )),
        "{i}"
    );
    assert!(info(&mut ca, "server").contains("redis_mode:sentinel"));
    // SENTINEL SET is remembered in the file.
    let ok: String = cmd(&["SENTINEL", "SET", "mym", "parallel-syncs", "2"])
        .query(&mut ca)
        .unwrap();
    assert_eq!(ok, "OK");
    let conf = std::fs::read_to_string(&ours.conf).unwrap();
    assert!(conf.contains("sentinel parallel-syncs mym 2"), "{conf}");
    assert_eq!(master_fields(a)["parallel-syncs"], "2");
}

#[test]
fn redwing_sentinels_fail_over_redis_servers() {
    let mut master = Server::redis(&[]);
    let mp = master.port.to_string();
    let r = Server::redis(&["--replicaof", "127.0.0.1", &mp]);
    all_agree_after_kill(&mut master, &r, &[false, false]);
}

#[test]
fn started_as_redwing_sentinel_it_is_one() {
    let master = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("redwing-sentinel");
    std::os::unix::fs::symlink(redwing_bin(), &link).unwrap();
    let s = sentinel_as(link.to_str().unwrap(), master.port, 1, "");
    let mut c = s.s.conn();
    assert!(info(&mut c, "server").contains("redis_mode:sentinel"));
    assert_eq!(
        q(&mut c, &["SET", "k", "v"]),
        "-ERR unknown command 'SET', with args beginning with: 'k' 'v' "
    );
    assert_eq!(master_addr(&s.s), ("127.0.0.1".into(), master.port));
}

#[test]
fn restarted_sentinel_keeps_its_state_from_the_config_file() {
    let master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mp = master.port.to_string();
    let r = Server::start(&["--replicaof", "127.0.0.1", &mp]);
    let mut s = sentinel(master.port, 1, "", false);
    wait_discovery(&[&s.s], 1);
    let id: String = cmd(&["SENTINEL", "MYID"]).query(&mut s.s.conn()).unwrap();
    assert_eq!(id.len(), 40);
    // Stop it and start it again from the file it rewrote.
    drop(std::mem::replace(
        &mut s.s,
        Server::with_config(redwing_bin(), &s.conf, &["--sentinel"]),
    ));
    let mut c = s.s.conn();
    let again: String = cmd(&["SENTINEL", "MYID"]).query(&mut c).unwrap();
    assert_eq!(again, id);
    // The replica is known at once, before any INFO.
    let replicas: Vec<Vec<String>> = cmd(&["SENTINEL", "REPLICAS", "mym"]).query(&mut c).unwrap();
    assert_eq!(replicas.len(), 1);
    assert_eq!(replicas[0][5], r.port.to_string(), "{replicas:?}");
}

/// A redis-py client of the sentinels (argv: master name, seconds to run,
/// WAIT timeout in ms or 0 for no WAIT, sentinel ports). Prints
/// `discover_master`/`discover_slaves` before and after, one `ack <i> <unix
/// time> <INCR reply>` line per write pair acknowledged (with WAIT: only
/// when `WAIT 1` counted a replica; else `unacked <i> <INCR reply>`), and `errors
/// <count> <longest window s> <first> <last> <kinds>` (a window runs from
/// the last success before an error to the next one).
const SENTINEL_CLIENT: &str = r#"
import sys, time
from redis.exceptions import ConnectionError, ResponseError, TimeoutError
from redis.sentinel import Sentinel
name, seconds, wait, ports = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
s = Sentinel([("127.0.0.1", int(p)) for p in ports], socket_timeout=0.5)
def addrs(tag):
    print(tag, "master", "%s:%s" % s.discover_master(name))
    print(tag, "slaves", *sorted("%s:%s" % a for a in s.discover_slaves(name)))
addrs("before")
m = s.master_for(name, socket_timeout=0.5 + wait / 1000)
errors, longest, first, last, kinds = 0, 0.0, 0.0, 0.0, set()
ok_at = time.time()
end = ok_at + seconds
i = 0
while time.time() < end:
    try:
        n = m.incr("counter")
        m.set("k%d" % i, i)
        if wait and m.execute_command("WAIT", 1, wait) < 1:
            print("unacked", i, n)
        else:
            print("ack", i, repr(time.time()), n)
        ok_at = time.time()
        i += 1
        time.sleep(0.002)
    except (ConnectionError, TimeoutError, ResponseError) as e:
        now = time.time()
        errors += 1
        first = first or now
        last = now
        longest = max(longest, now - ok_at)
        kinds.add(str(e).split(" ")[0] if isinstance(e, ResponseError) else type(e).__name__)
        time.sleep(0.05)
addrs("after")
print("errors", errors, longest, first, last, ",".join(sorted(kinds)) or "-")
"#;

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn redis_py_sentinel_client_writes_through_a_failover() {
    sentinel_client_writes_through_a_failover(false);
}

/// With `min-replicas-to-write 1` on every data node and `WAIT 1` after
/// each write, no write WAIT acknowledged is lost in the failover.
#[test]
fn redis_py_sentinel_client_loses_no_write_wait_acknowledged() {
    sentinel_client_writes_through_a_failover(true);
}

/// redis-py's Sentinel client writes through a kill -9 of the master (with
/// `min-replicas-to-write 1` and `WAIT 1` when `wait`): errors only from
/// the kill to shortly after every sentinel names the new master, writes
/// acknowledged again after it, and every acknowledged write on the new
/// master (with WAIT, every one; without, those after the failover).
fn sentinel_client_writes_through_a_failover(wait: bool) {
    let nodes: &[&str] = if wait {
        &["--min-replicas-to-write", "1"]
    } else {
        &[]
    };
    let (mut master, r1, r2) = master_and_two_replicas_with(nodes, &[]);
    let sentinels: Vec<Sentinel> = (0..3)
        .map(|_| sentinel(master.port, 2, "", false))
        .collect();
    let all: Vec<&Server> = sentinels.iter().map(|s| &s.s).collect();
    wait_discovery(&all, 2);

    let out_dir = tempfile::tempdir().unwrap();
    let out_path = out_dir.path().join("client.out");
    let wait_ms = if wait { "500" } else { "0" };
    let mut args = vec!["-c", SENTINEL_CLIENT, "mym", "8", wait_ms];
    let ports: Vec<String> = all.iter().map(|s| s.port.to_string()).collect();
    args.extend(ports.iter().map(|p| p.as_str()));
    let mut client = Proc(
        std::process::Command::new("python3")
            .args(&args)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .spawn()
            .unwrap(),
    );
    // Kill the master about a second into the client's writes.
    let mut c = master.conn();
    wait_for("the client to write", Duration::from_secs(10), || {
        int(&mut c, &["EXISTS", "counter"]) == 1
    });
    std::thread::sleep(Duration::from_secs(1));
    let killed = unix_now();
    let (_, new_port) = kill_until_switch(&mut master, &sentinels[0].s);
    wait_all_name_master(&all, new_port);
    let failed_over = unix_now();
    let (promoted, other) = if new_port == r1.port {
        (&r1, &r2)
    } else {
        (&r2, &r1)
    };
    wait_for("the client to finish", Duration::from_secs(30), || {
        client.0.try_wait().unwrap().is_some()
    });
    assert!(client.0.wait().unwrap().success());
    let out = std::fs::read_to_string(&out_path).unwrap();
    let line = |prefix: &str| -> Vec<&str> {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in the client's output"))
            .split_whitespace()
            .collect()
    };
    let addr = |s: &Server| format!("127.0.0.1:{}", s.port);
    let mut replicas = vec![addr(&r1), addr(&r2)];
    replicas.sort();
    assert_eq!(line("before master "), [addr(&master)]);
    assert_eq!(line("before slaves "), replicas);
    assert_eq!(line("after master "), [addr(promoted)]);
    assert_eq!(line("after slaves "), [addr(other)]);

    // Errors only between the kill and shortly after the failover, and
    // writes are acknowledged again after it.
    let e = line("errors ");
    let (errors, longest): (u32, f64) = (e[0].parse().unwrap(), e[1].parse().unwrap());
    let (first, last): (f64, f64) = (e[2].parse().unwrap(), e[3].parse().unwrap());
    let unacked = out.lines().filter(|l| l.starts_with("unacked ")).count();
    eprintln!(
        "{errors} errors ({}), longest window {longest:.2}s, failover {:.2}s after the kill, {unacked} writes not acknowledged",
        e[4],
        failed_over - killed
    );
    if errors > 0 {
        assert!(first >= killed - 0.1, "error before the kill");
        assert!(last <= failed_over + 1.0, "errors 1 s after the failover");
    }
    assert!(longest < 5.0, "errors for {longest:.2}s");
    let acks: Vec<(String, f64, i64)> = out
        .lines()
        .filter_map(|l| l.strip_prefix("ack "))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    let after: Vec<&(String, f64, i64)> = acks.iter().filter(|a| a.1 > failed_over).collect();
    assert!(
        after.len() >= 50,
        "{} writes after the failover",
        after.len()
    );
    assert!(after.last().unwrap().1 > failed_over + 1.0);
    let before = acks.len() - after.len();
    assert!(before >= 50, "{before} writes before the kill");
    // Every write that must survive is on the new master, and the counter
    // there is the last value the client read.
    let kept: Vec<&(String, f64, i64)> = if wait { acks.iter().collect() } else { after };
    let mut c = promoted.conn();
    for (i, _, _) in &kept {
        let v: Option<String> = cmd(&["GET", &format!("k{i}")]).query(&mut c).unwrap();
        assert_eq!(v.as_deref(), Some(i.as_str()), "k{i}");
    }
    let last_incr = out
        .lines()
        .rev()
        .find(|l| l.starts_with("ack ") || l.starts_with("unacked "))
        .and_then(|l| l.split(' ').nth(if l.starts_with("ack ") { 3 } else { 2 }))
        .unwrap();
    let counter: String = cmd(&["GET", "counter"]).query(&mut c).unwrap();
    assert_eq!(counter, last_incr);
    eprintln!(
        "{} write pairs acknowledged, {} after the failover, {} checked",
        acks.len(),
        acks.len() - before,
        kept.len()
    );
}

/// Pub/Sub messages `sub` receives (raw RESP text, concatenated) until one
/// contains `last`.
fn events_until(sub: &mut RawClient, last: &str, limit: Duration) -> String {
    let end = Instant::now() + limit;
    let mut seen = String::new();
    while !seen.contains(last) {
        let left = end.saturating_duration_since(Instant::now());
        match sub.read_within(left) {
            Some(m) => seen.push_str(&m),
            None => panic!("no {last:?} within {limit:?}; saw:\n{seen}"),
        }
    }
    seen
}

/// Asks redis-py's Sentinel client (argv: master name, sentinel
/// `ip:port`s) where the master is, writes through it and reads back.
const FIND_AND_WRITE: &str = r#"
import sys
from redis.sentinel import Sentinel
s = Sentinel([(a.split(":")[0], int(a.split(":")[1])) for a in sys.argv[2:]],
             socket_timeout=0.5)
print("%s:%s" % s.discover_master(sys.argv[1]))
m = s.master_for(sys.argv[1], socket_timeout=0.5)
m.set("written", "after the partition")
print(m.get("written").decode())
"#;

/// A partition between two network namespaces: the master and sentinel 3
/// on side B, sentinels 1 and 2 (the first one redis-sentinel when
/// `redis_first`) and both replicas on side A; quorum 2.
/// The majority fails over and redis-py's Sentinel client finds the new
/// master there; the minority sentinel, even with quorum 1 and the old
/// master stopped, is never elected (1 vote of 3); once healed, the old
/// master is made a replica of the new one and every sentinel names the
/// new master with the same config epoch.
fn partition(redis_first: bool) {
    let Some(net) = common::netns::NetPair::new() else {
        return;
    };
    use common::netns::{Side, A_IP, B_IP};
    let _in_a = net.enter(Side::A);
    let (bind_a, bind_b) = (format!("127.0.0.1 {A_IP}"), format!("127.0.0.1 {B_IP}"));
    let open = ["--protected-mode", "no"];
    let at = |mut s: Server, ip: &str| {
        s.host = ip.to_string();
        s
    };
    let master = net.within(Side::B, || {
        let args = [
            &open[..],
            &["--bind", &bind_b, "--repl-diskless-sync-delay", "0"],
        ];
        at(Server::start(&args.concat()), B_IP)
    });
    let mp = master.port.to_string();
    let replica = || {
        let args = [&open[..], &["--bind", &bind_a, "--replicaof", B_IP, &mp]];
        at(Server::start(&args.concat()), A_IP)
    };
    let (r1, r2) = (replica(), replica());
    let conf = "protected-mode no\n";
    let sentinel_in = |bin: &str, bind: &str, ip: &str| {
        let mut s = sentinel_on(bin, (B_IP, master.port), 2, conf, &["--bind", bind]);
        s.s.host = ip.to_string();
        s
    };
    let first = if redis_first {
        "redis-sentinel"
    } else {
        redwing_bin()
    };
    let s1 = sentinel_in(first, &bind_a, A_IP);
    let s2 = sentinel_in(redwing_bin(), &bind_a, A_IP);
    let s3 = net.within(Side::B, || sentinel_in(redwing_bin(), &bind_b, B_IP));
    wait_discovery(&[&s1.s, &s2.s, &s3.s], 2);
    let mut c = master.conn();
    q(&mut c, &["SET", "before", "the partition"]);
    wait_offsets_equal(&master, &[&r1, &r2]);
    let mut switch = RawClient::new(&s1.s);
    switch.call(&["SUBSCRIBE", "+switch-master"]);
    // Side B's own view, through a connection inside side B.
    let mut minority = net.within(Side::B, || RawClient::new(&s3.s));
    minority.call(&["PSUBSCRIBE", "*"]);

    net.cut();
    let msg = switch
        .read_within(FAILOVER_LIMIT)
        .expect("+switch-master on the majority side");
    let new_port: u16 = msg.split_whitespace().last().unwrap().parse().unwrap();
    assert!(
        msg.contains(&format!("mym {B_IP} {mp} {A_IP} {new_port}")),
        "{msg}"
    );
    let (promoted, other) = if new_port == r1.port {
        (&r1, &r2)
    } else {
        (&r2, &r1)
    };
    assert!(is_master(promoted));
    wait_for("both majority sentinels to name it", FAILOVER_LIMIT, || {
        [&s1.s, &s2.s]
            .iter()
            .all(|s| master_addr(s) == (A_IP.into(), new_port))
    });
    wait_for("the other replica to follow it", SYNC_LIMIT, || {
        replica_of(other) == (Some(new_port.to_string()), Some("up".into()))
    });
    // redis-py's Sentinel client, on side A, given all three sentinels
    // (the unreachable one first), finds the new master and writes.
    let sentinels: Vec<String> = [(B_IP, &s3), (A_IP, &s1), (A_IP, &s2)]
        .iter()
        .map(|(ip, s)| format!("{ip}:{}", s.s.port))
        .collect();
    let out = std::process::Command::new("timeout")
        .args(["20", "python3", "-c", FIND_AND_WRITE, "mym"])
        .args(&sentinels)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{A_IP}:{new_port}\nafter the partition\n"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The minority: the old master stops answering there too, and its
    // sentinel may decide alone that it is down (quorum 1), but it gets 1
    // vote of the 3 it needs 2 of, so it is never elected.
    let pid = master.pid() as i32;
    // SAFETY: signals to a child process this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let mut in_b = net.within(Side::B, || s3.s.conn());
    let set_quorum = |c: &mut redis::Connection, n: &str| {
        let ok: String = cmd(&["SENTINEL", "SET", "mym", "quorum", n])
            .query(c)
            .unwrap();
        assert_eq!(ok, "OK");
    };
    set_quorum(&mut in_b, "1");
    let seen = events_until(
        &mut minority,
        "-failover-abort-not-elected",
        Duration::from_secs(20),
    );
    assert!(
        seen.contains(&format!("master mym {B_IP} {mp} #quorum 1/1")),
        "{seen}"
    );
    assert!(seen.contains("+try-failover"), "{seen}");
    assert!(!seen.contains("+elected-leader"), "{seen}");
    assert!(!seen.contains("+switch-master"), "{seen}");
    assert_eq!(
        q(&mut in_b, &["SENTINEL", "CKQUORUM", "mym"]),
        "-NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the majority and authorize a failover"
    );
    assert_eq!(
        net.within(Side::B, || master_addr(&s3.s)),
        (B_IP.into(), master.port)
    );
    set_quorum(&mut in_b, "2");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };

    net.heal();
    wait_for(
        "the old master to become a replica of the new one",
        Duration::from_secs(40),
        || {
            let i = info_now(&master, "replication");
            field(&i, "master_host").as_deref() == Some(A_IP)
                && field(&i, "master_port") == Some(new_port.to_string())
        },
    );
    let all = [&s1.s, &s2.s, &s3.s];
    wait_for(
        "every sentinel to name the new master with one config epoch",
        Duration::from_secs(30),
        || {
            let epochs: Vec<String> = all
                .iter()
                .map(|s| master_fields(s)["config-epoch"].clone())
                .collect();
            all.iter()
                .all(|s| master_addr(s) == (A_IP.into(), new_port))
                && epochs.iter().all(|e| e == &epochs[0] && e != "0")
        },
    );
    let v: String = cmd(&["GET", "before"]).query(&mut promoted.conn()).unwrap();
    assert_eq!(v, "the partition");
}

#[test]
fn partition_majority_fails_over_and_minority_cannot() {
    partition(false);
}

#[test]
fn partition_with_a_redis_sentinel_in_the_majority() {
    partition(true);
}

/// SENTINEL DEBUG, PENDING-SCRIPTS, SIMULATE-FAILURE and HELP answer
/// byte for byte as redis-sentinel's, in RESP2 and RESP3.
#[test]
fn debug_pending_scripts_and_simulate_failure_reply_as_redis() {
    let master = Server::start(&[]);
    let ours = sentinel(master.port, 1, "", false);
    let theirs = sentinel(master.port, 1, "", true);
    let (mut a, mut b) = (RawClient::new(&ours.s), RawClient::new(&theirs.s));
    let cmds: &[&[&str]] = &[
        &["SENTINEL", "HELP"],
        &["SENTINEL", "DEBUG"],
        &["SENTINEL", "DEBUG", "info-period", "0"],
        &["SENTINEL", "DEBUG", "info-period", "abc"],
        &["SENTINEL", "DEBUG", "info-period"],
        &["SENTINEL", "DEBUG", "foo", "1"],
        // Applied in order: INFO-PERIOD stays set despite the error.
        &["SENTINEL", "DEBUG", "INFO-PERIOD", "9000", "nosuch", "1"],
        &[
            "SENTINEL",
            "DEBUG",
            "ping-period",
            "900",
            "election-timeout",
            "5000",
        ],
        &["SENTINEL", "DEBUG"],
        &["SENTINEL", "PENDING-SCRIPTS"],
        &["SENTINEL", "PENDING-SCRIPTS", "x"],
        &["SENTINEL", "SIMULATE-FAILURE"],
        &["SENTINEL", "SIMULATE-FAILURE", "HELP"],
        &["SENTINEL", "SIMULATE-FAILURE", "foo"],
        &[
            "SENTINEL",
            "SIMULATE-FAILURE",
            "crash-after-election",
            "CRASH-AFTER-PROMOTION",
        ],
        &["HELLO", "3"],
        &["SENTINEL", "DEBUG"],
        &["SENTINEL", "PENDING-SCRIPTS"],
        &["SENTINEL", "SIMULATE-FAILURE", "help"],
    ];
    for args in cmds {
        let (ra, rb) = (a.call_bytes(args), b.call_bytes(args));
        if args[0] == "HELLO" {
            continue;
        }
        assert_eq!(shown(&ra), shown(&rb), "{args:?}");
    }
    // Every SIMULATE-FAILURE starts from no flags, HELP included.
    let flags = |s: &Server| {
        field(
            &info(&mut s.conn(), "sentinel"),
            "sentinel_simulate_failure_flags",
        )
    };
    assert_eq!(flags(&ours.s), Some("0".into()));
    assert_eq!(flags(&theirs.s), Some("0".into()));
    for s in [&ours.s, &theirs.s] {
        let mut c = s.conn();
        let _: String = cmd(&[
            "SENTINEL",
            "SIMULATE-FAILURE",
            "crash-after-election",
            "crash-after-promotion",
        ])
        .query(&mut c)
        .unwrap();
    }
    assert_eq!(flags(&ours.s), Some("3".into()));
    assert_eq!(flags(&theirs.s), Some("3".into()));
}

/// SENTINEL SIMULATE-FAILURE: the sentinel exits (code 99, as Redis's)
/// right after it wins the election, before touching any replica; or
/// right after the replica reports its promotion.
#[test]
fn simulated_failures_crash_the_sentinel_where_asked() {
    let mut master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mp = master.port.to_string();
    let r = Server::start(&["--replicaof", "127.0.0.1", &mp]);
    wait_offsets_equal(&master, &[&r]);
    // The replica is in the file: the second sentinel knows it at once.
    let known = format!("sentinel known-replica mym 127.0.0.1 {}\n", r.port);
    let mut exits = |flag: &str| {
        let mut s = sentinel(master.port, 1, &known, false);
        let ok: String = cmd(&["SENTINEL", "SIMULATE-FAILURE", flag])
            .query(&mut s.s.conn())
            .unwrap();
        assert_eq!(ok, "OK");
        let _ = master.child.kill();
        let _ = master.child.wait();
        wait_for("the sentinel to crash", FAILOVER_LIMIT, || {
            s.s.child.try_wait().unwrap().is_some()
        });
        let code = s.s.child.wait().unwrap().code();
        assert_eq!(code, Some(99), "{}", s.s.log_text());
        assert!(s
            .s
            .log_text()
            .contains("Sentinel CRASH because of SENTINEL simulate-failure"));
    };
    exits("crash-after-election");
    assert_eq!(replica_of(&r).0, Some(mp.clone()), "not promoted");
    exits("crash-after-promotion");
    assert!(is_master(&r));
}

/// `sentinel rename-command`: toward a master whose servers renamed CONFIG
/// and SLAVEOF, the sentinel sends the new names, so the promotion's
/// transaction is not refused and the failover completes.
#[test]
fn renamed_commands_are_used_toward_the_master() {
    let renames = [
        "--rename-command",
        "CONFIG",
        "GUESSME",
        "--rename-command",
        "SLAVEOF",
        "NOTSLAVEOF",
    ];
    let mut master = Server::redis(&renames);
    let mp = master.port.to_string();
    let r = Server::redis(&[&renames[..], &["--replicaof", "127.0.0.1", &mp]].concat());
    let extra = "sentinel rename-command mym CONFIG GUESSME\n\
                 sentinel rename-command mym slaveof NOTSLAVEOF\n";
    let s = sentinel(master.port, 1, extra, false);
    wait_discovery(&[&s.s], 1);
    wait_offsets_equal(&master, &[&r]);
    let conf = std::fs::read_to_string(&s.conf).unwrap();
    assert!(
        conf.contains("sentinel rename-command mym CONFIG GUESSME")
            && conf.contains("sentinel rename-command mym slaveof NOTSLAVEOF"),
        "{conf}"
    );
    kill_until_switch(&mut master, &s.s);
    wait_for("the replica to be promoted", FAILOVER_LIMIT, || {
        is_master(&r)
    });
}

/// The script queue as sentinel.c's, side by side with redis-sentinel:
/// exit code 1 is retried after SCRIPT-RETRY-DELAY, 2 is a final
/// `-script-error`, at most 16 scripts run at once (the rest wait in the
/// queue), and a run longer than SCRIPT-MAX-RUNTIME is killed
/// (`-script-timeout`).
#[test]
fn script_queue_retries_limits_and_kills_as_redis() {
    let master = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("notify.sh");
    // $2 is the event's text: "master mym <ip> <port> quorum <n>" for +set.
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         calls=\"$(dirname \"$0\")/calls.$PPID\"\n\
         echo \"$1 $2\" >> \"$calls\"\n\
         case \"$2\" in\n\
         *'quorum 3') grep -q 'quorum 3' \"$calls.retried\" 2>/dev/null && exit 0\n\
                      echo 'quorum 3' > \"$calls.retried\"; exit 1;;\n\
         *'quorum 4') exit 2;;\n\
         *'quorum 6') exec sleep 30;;\n\
         esac\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = script.display().to_string();
    let extra = format!("sentinel notification-script mym {path}\n");
    let run = |redis: bool| -> Vec<String> {
        let s = sentinel(master.port, 1, &extra, redis);
        let calls = dir.path().join(format!("calls.{}", s.s.pid()));
        let mut c = s.s.conn();
        let mut seen = Vec::new();
        let mut events = RawClient::new(&s.s);
        events.call(&["PSUBSCRIBE", "-script-*"]);
        let set = |c: &mut redis::Connection, args: &[&str]| {
            let ok: String = cmd(args).query(c).unwrap();
            assert_eq!(ok, "OK", "{args:?}");
        };
        let quorum = |c: &mut redis::Connection, n: &str| {
            set(c, &["SENTINEL", "SET", "mym", "quorum", n]);
        };
        set(&mut c, &["SENTINEL", "DEBUG", "script-retry-delay", "200"]);
        quorum(&mut c, "3");
        wait_for("the retried script's second run", TIMEOUT, || {
            std::fs::read_to_string(&calls).is_ok_and(|t| t.matches("quorum 3").count() == 2)
        });
        quorum(&mut c, "4");
        let e = events.read();
        assert!(e.contains(&format!("{path} 0 2")), "{e}");
        seen.push(format!("exit 2: {}", e.replace(&path, "PATH")));
        set(
            &mut c,
            &["SENTINEL", "DEBUG", "script-retry-delay", "60000"],
        );
        for _ in 0..20 {
            quorum(&mut c, "6");
        }
        let counts = |c: &mut redis::Connection| {
            let i = info(c, "sentinel");
            (
                field(&i, "sentinel_running_scripts"),
                field(&i, "sentinel_scripts_queue_length"),
            )
        };
        wait_for("16 running, 20 queued", TIMEOUT, || {
            counts(&mut c) == (Some("16".into()), Some("20".into()))
        });
        let pending: Vec<redis::Value> =
            cmd(&["SENTINEL", "PENDING-SCRIPTS"]).query(&mut c).unwrap();
        let text = format!("{pending:?}");
        seen.push(format!(
            "pending: {} running, {} scheduled",
            text.matches("running").count(),
            text.matches("scheduled").count()
        ));
        set(&mut c, &["SENTINEL", "DEBUG", "script-max-runtime", "300"]);
        let e = events.read();
        assert!(e.contains("-script-timeout") && e.contains(&path), "{e}");
        wait_for("the killed scripts to wait for a retry", TIMEOUT, || {
            counts(&mut c).0 == Some("0".into())
        });
        seen.push(format!("after the kills: {:?}", counts(&mut c)));
        seen
    };
    let ours = run(false);
    let theirs = run(true);
    assert_eq!(ours, theirs);
}

/// A client-reconfig-script that appends its arguments to a file: the
/// script's directory (kept alive by the caller), the file, and the
/// sentinel.conf line naming the script.
fn reconf_script() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let script = dir.path().join("reconf.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let line = format!("sentinel client-reconfig-script mym {}\n", script.display());
    (dir, calls, line)
}

/// `field` of every entry of SENTINEL REPLICAS / SENTINELS mym.
fn entries_field(s: &Server, sub: &str, field: &str) -> Vec<String> {
    let v: Vec<Vec<String>> = cmd(&["SENTINEL", sub, "mym"]).query(&mut s.conn()).unwrap();
    v.iter()
        .map(|e| {
            e.chunks(2)
                .find(|p| p[0] == field)
                .map(|p| p[1].clone())
                .unwrap_or_default()
        })
        .collect()
}

fn master0_line(s: &Server) -> String {
    info(&mut s.conn(), "sentinel")
        .lines()
        .find(|l| l.starts_with("master0:"))
        .unwrap_or_default()
        .to_string()
}

/// resolve-hostnames and announce-hostnames as Redis 7.0 Sentinel: the
/// master is monitored as `localhost`, the replica announces `localhost`
/// (replica-announce-ip), the sentinels too (announce-ip). Two Redwing
/// sentinels and a redis-sentinel see the same names; hellos, replies,
/// `+switch-master`, the reconfig script and the config file carry the
/// hostname, not the IP.
#[test]
fn hostnames_are_resolved_and_announced_as_redis_sentinel_does() {
    let mut master = Server::start(&["--repl-diskless-sync-delay", "0"]);
    let mp = master.port.to_string();
    let r = Server::start(&[
        "--replica-announce-ip",
        "localhost",
        "--replicaof",
        "localhost",
        &mp,
    ]);
    let rp = r.port.to_string();
    let (_scripts, calls, script_line) = reconf_script();
    // The flags come after the monitor line: they hold for the whole file.
    let extra = format!(
        "sentinel resolve-hostnames yes\nsentinel announce-hostnames yes\n\
         sentinel announce-ip localhost\n{script_line}"
    );
    let sentinels: Vec<Sentinel> = [false, false, true]
        .iter()
        .map(|&redis| {
            let bin = if redis {
                "redis-sentinel"
            } else {
                redwing_bin()
            };
            sentinel_on(bin, ("localhost", master.port), 2, &extra, &[])
        })
        .collect();
    let all: Vec<&Server> = sentinels.iter().map(|s| &s.s).collect();
    let (ours, theirs) = (all[0], all[2]);
    wait_discovery(&all, 1);
    for s in &all {
        assert_eq!(master_addr(s), ("localhost".into(), master.port));
        assert_eq!(master_fields(s)["ip"], "localhost");
        assert_eq!(
            entries_field(s, "REPLICAS", "name"),
            [format!("localhost:{rp}")]
        );
        assert_eq!(entries_field(s, "REPLICAS", "ip"), ["localhost"]);
        // Every hello carried `localhost`, Redwing's and Redis's.
        assert_eq!(
            entries_field(s, "SENTINELS", "ip"),
            ["localhost", "localhost"]
        );
    }
    assert_eq!(
        master0_line(ours),
        format!("master0:name=mym,status=ok,address=localhost:{mp},slaves=1,sentinels=3")
    );
    assert_eq!(master0_line(ours), master0_line(theirs));
    let conf = std::fs::read_to_string(&sentinels[0].conf).unwrap();
    for l in [
        format!("sentinel monitor mym localhost {mp} 2"),
        format!("sentinel known-replica mym localhost {rp}"),
        "sentinel resolve-hostnames yes".into(),
        "sentinel announce-hostnames yes".into(),
    ] {
        assert!(conf.contains(&l), "{l}\n{conf}");
    }
    assert_eq!(
        conf.matches("sentinel known-sentinel mym localhost ")
            .count(),
        2,
        "{conf}"
    );

    wait_offsets_equal(&master, &[&r]);
    let (msg, _) = kill_until_switch(&mut master, ours);
    let want = format!("\r\nmym localhost {mp} localhost {rp}\r\n");
    assert!(msg.ends_with(&want), "{msg}");
    wait_for(
        "every sentinel to name the replica",
        Duration::from_secs(10),
        || {
            all.iter()
                .all(|s| master_addr(s) == ("localhost".into(), r.port))
        },
    );
    assert!(is_master(&r));
    // The leader and two observers ran the script with hostnames.
    wait_for(
        "three reconfig script runs",
        Duration::from_secs(10),
        || std::fs::read_to_string(&calls).is_ok_and(|t| t.lines().count() >= 3),
    );
    let text = std::fs::read_to_string(&calls).unwrap();
    for l in text.lines() {
        let a: Vec<&str> = l.split(' ').collect();
        assert!(a[1] == "leader" || a[1] == "observer", "{l}");
        assert_eq!(
            [a[0], a[2], a[3], a[4], a[5], a[6]],
            ["mym", "start", "localhost", &mp[..], "localhost", &rp[..]],
            "{text}"
        );
    }
    // Announcing IPs again: the same address, as an IP, on both kinds.
    for s in [ours, theirs] {
        let ok: String = cmd(&["SENTINEL", "CONFIG", "SET", "announce-hostnames", "no"])
            .query(&mut s.conn())
            .unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(master_addr(s), ("127.0.0.1".into(), r.port));
    }
}

/// Runs `bin conf` (+ `--sentinel` for redwing) and returns what it wrote
/// to stderr and stdout when it exits (10 s at most).
fn failed_start(bin: &str, conf: &std::path::Path) -> String {
    let mut c = std::process::Command::new(bin);
    c.arg(conf);
    if bin == redwing_bin() {
        c.arg("--sentinel");
    }
    let mut child = Proc(
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let limit = Instant::now() + Duration::from_secs(10);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < limit, "{bin} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    use std::io::Read;
    for pipe in [
        child.0.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
        child.0.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut p = pipe;
        p.read_to_string(&mut out).unwrap();
    }
    out
}

/// Without resolve-hostnames a hostname is refused where Redis refuses
/// it, with Redis's words; with it, SENTINEL MONITOR takes `localhost`
/// and answers with the IP unless announce-hostnames is on.
#[test]
fn hostnames_need_resolve_hostnames_as_in_redis() {
    let master = Server::start(&[]);
    let mp = master.port.to_string();
    let ours = sentinel(master.port, 1, "", false);
    let theirs = sentinel(master.port, 1, "", true);
    let (mut ca, mut cb) = (ours.s.conn(), theirs.s.conn());
    for args in [
        &["SENTINEL", "MONITOR", "h", "localhost", &mp, "1"][..],
        &["SENTINEL", "MONITOR", "h", "nosuch.invalid", &mp, "1"],
        &["SENTINEL", "MONITOR", "h", "127.0.0.1", "abc", "1"],
        &["SENTINEL", "MONITOR", "h", "127.0.0.1", "70000", "1"],
        &["SENTINEL", "MONITOR", "h", "127.0.0.1", "-1", "1"],
        &["SENTINEL", "MONITOR", "h", "127.0.0.1", &mp, "x"],
        &["SENTINEL", "CONFIG", "SET", "resolve-hostnames", "yes"],
        &["SENTINEL", "MONITOR", "h", "nosuch.invalid", &mp, "1"],
        &["SENTINEL", "MONITOR", "h", "localhost", &mp, "1"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "h"],
        &[
            "SENTINEL",
            "IS-MASTER-DOWN-BY-ADDR",
            "localhost",
            &mp,
            "0",
            "*",
        ],
        &["SENTINEL", "CONFIG", "SET", "announce-hostnames", "yes"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "h"],
        &["SENTINEL", "CONFIG", "GET", "*hostnames"],
        &["SENTINEL", "REMOVE", "h"],
    ] {
        assert_eq!(q(&mut ca, args), q(&mut cb, args), "{args:?}");
    }
    let a: Vec<String> = cmd(&["SENTINEL", "CONFIG", "GET", "resolve-hostnames"])
        .query(&mut ca)
        .unwrap();
    assert_eq!(a, ["resolve-hostnames", "yes"]);
    // A config file naming a hostname without resolve-hostnames: neither
    // starts, both say why.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("sentinel.conf");
    for bin in [redwing_bin(), "redis-sentinel"] {
        std::fs::write(&conf, format!("sentinel monitor mym localhost {mp} 1\n")).unwrap();
        let out = failed_start(bin, &conf);
        assert!(
            out.contains("Can't resolve instance hostname."),
            "{bin}: {out}"
        );
    }
}
