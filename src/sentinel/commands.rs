//! What a sentinel answers: the command table cut down to Redis
//! Sentinel's, and SENTINEL, INFO, ROLE and PUBLISH as a sentinel runs
//! them. The state lives on the control executor; each command is one job
//! there.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use super::addr::{self, Addr};
use super::config::{create_error, Kind};
use super::{failover, flag, monitor, now, with, Inst, Level, Master, Sentinel};
use crate::commands::flags::*;
use crate::commands::{spec, ClientRef, Cross, Handler, Spec};
use crate::protocol::Reply;

type Fut = Pin<Box<dyn Future<Output = Reply>>>;

/// The server's commands a sentinel keeps (sentinelcmds in Redis 7.0);
/// INFO, ROLE and PUBLISH are replaced by the rows below.
const KEPT: &[&str] = &[
    "ping",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "client",
    "shutdown",
    "auth",
    "hello",
    "acl",
    "command",
];

/// Turns the full command table into the sentinel's.
pub fn restrict(t: &mut Vec<Spec>) {
    t.retain(|s| KEPT.contains(&s.name));
    let g = "sentinel";
    t.push(spec(
        "sentinel",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        Handler::Coord(sentinel_cmd),
        Cross::Never,
        g,
        "A container for Redis Sentinel commands.",
        "2.8.4",
    ));
    t.push(spec(
        "info",
        -1,
        LOADING | STALE,
        (0, 0, 0),
        Handler::Coord(info_cmd),
        Cross::Never,
        "server",
        "Returns information and statistics about the server.",
        "1.0.0",
    ));
    t.push(spec(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        (0, 0, 0),
        Handler::Coord(role_cmd),
        Cross::Never,
        "server",
        "Returns the replication role.",
        "2.8.12",
    ));
    t.push(spec(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        (0, 0, 0),
        Handler::Coord(publish_cmd),
        Cross::Never,
        "pubsub",
        "Posts a message to a channel.",
        "2.0.0",
    ));
}

/// Runs `f` on the sentinel state (one hop to the control executor) and
/// writes the config file if it changed the state.
async fn on_state(f: impl FnOnce(&mut Sentinel) -> Reply + Send + 'static) -> Reply {
    while !super::ready() {
        crate::runtime::sleep(std::time::Duration::from_millis(5)).await;
    }
    let r = crate::runtime::call_on(crate::runtime::control(), move || {
        with(|s| {
            let r = f(s);
            if s.dirty {
                if let Err(e) = super::config::flush(s) {
                    tracing::warn!("WARNING: Sentinel was not able to save the new configuration on disk!!!: {e}");
                }
            }
            r
        })
    })
    .await;
    r.unwrap_or_else(|| Reply::error("ERR server is shutting down"))
}

fn publish_cmd(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        if &args[1][..] != monitor::HELLO_CHANNEL.as_bytes() {
            return Reply::error("ERR Only HELLO messages are accepted by Sentinel instances.");
        }
        let payload = String::from_utf8_lossy(&args[2]).into_owned();
        on_state(move |s| {
            monitor::process_hello(s, &payload);
            Reply::Int(1)
        })
        .await
    })
}

fn role_cmd(_: ClientRef, _: Vec<Bytes>) -> Fut {
    Box::pin(on_state(|s| {
        Reply::Array(vec![
            Reply::bulk("sentinel"),
            Reply::Array(s.masters.keys().map(Reply::bulk).collect()),
        ])
    }))
}

/// INFO as a sentinel: server, clients, cpu, stats and sentinel.
fn info_cmd(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        const SECTIONS: [&str; 5] = ["server", "clients", "cpu", "stats", "sentinel"];
        let mut wanted: Vec<&str> = Vec::new();
        if args.len() == 1 {
            wanted.extend(SECTIONS);
        }
        for a in &args[1..] {
            let a = String::from_utf8_lossy(a).to_ascii_lowercase();
            match a.as_str() {
                "default" | "all" | "everything" => wanted.extend(SECTIONS),
                n => wanted.extend(SECTIONS.iter().filter(|s| **s == n)),
            }
        }
        let server: Vec<Bytes> = SECTIONS[..4]
            .iter()
            .filter(|s| wanted.contains(s))
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        let mut text = String::new();
        if !server.is_empty() {
            text = crate::commands::server::info_text(&server)
                .await
                .replace("redis_mode:standalone", "redis_mode:sentinel");
        }
        if wanted.contains(&"sentinel") {
            let sec = on_state(|s| Reply::bulk(info_section(s))).await;
            if let Reply::Bulk(b) = sec {
                if !text.is_empty() {
                    text.push_str("\r\n");
                }
                text.push_str(&String::from_utf8_lossy(&b));
            }
        }
        Reply::Verbatim(Bytes::from(text))
    })
}

fn info_section(s: &Sentinel) -> String {
    let mut o = String::from("# Sentinel\r\n");
    let _ = write!(
        o,
        "sentinel_masters:{}\r\nsentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{}\r\nsentinel_running_scripts:{}\r\nsentinel_scripts_queue_length:{}\r\nsentinel_simulate_failure_flags:{}\r\n",
        s.masters.len(),
        s.tilt as u8,
        if s.tilt { (now() - s.tilt_start) / 1000 } else { -1 },
        super::scripts::running(),
        super::scripts::queued(),
        s.simulate_failure,
    );
    for (i, m) in s.masters.values().enumerate() {
        let status = if m.inst.is(flag::O_DOWN) {
            "odown"
        } else if m.inst.is(flag::S_DOWN) {
            "sdown"
        } else {
            "ok"
        };
        let a = m.current_addr();
        let _ = write!(
            o,
            "master{i}:name={},status={status},address={}:{},slaves={},sentinels={}\r\n",
            m.name(),
            a.announced(),
            a.port,
            m.replicas.len(),
            m.sentinels.len() + 1
        );
    }
    o
}

fn sentinel_cmd(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        let args: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        on_state(move |s| run(s, &args)).await
    })
}

fn err(text: impl Into<String>) -> Reply {
    Reply::error(text.into())
}

fn wrong_args(sub: &str) -> Reply {
    err(format!(
        "ERR wrong number of arguments for 'sentinel|{sub}' command"
    ))
}

const NO_MASTER: &str = "ERR No such master with that name";

/// Arity of each SENTINEL subcommand (Redis 7.0's subcommand table).
fn arity(sub: &str) -> Option<i32> {
    Some(match sub {
        "masters" | "myid" | "flushconfig" | "help" => 2,
        "master"
        | "replicas"
        | "slaves"
        | "sentinels"
        | "get-master-addr-by-name"
        | "failover"
        | "ckquorum"
        | "remove"
        | "reset" => 3,
        "is-master-down-by-addr" => 6,
        "monitor" => 6,
        "set" => -5,
        "config" | "info-cache" | "simulate-failure" => -3,
        "debug" => -2,
        "pending-scripts" => 2,
        _ => return None,
    })
}

const HELP: &[&str] = &[
    "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CKQUORUM <master-name>",
    "    Check if the current Sentinel configuration is able to reach the quorum",
    "    needed to failover a master and the majority needed to authorize the",
    "    failover.",
    "CONFIG SET <param> <value>",
    "    Set a global Sentinel configuration parameter.",
    "CONFIG GET <param>",
    "    Get global Sentinel configuration parameter.",
    "DEBUG [<param> <value> ...]",
    "    Show a list of configurable time parameters and their values (milliseconds).",
    "    Or update current configurable parameters values (one or more).",
    "GET-MASTER-ADDR-BY-NAME <master-name>",
    "    Return the ip and port number of the master with that name.",
    "FAILOVER <master-name>",
    "    Manually failover a master node without asking for agreement from other",
    "    Sentinels",
    "FLUSHCONFIG",
    "    Force Sentinel to rewrite its configuration on disk, including the current",
    "    Sentinel state.",
    "INFO-CACHE <master-name>",
    "    Return last cached INFO output from masters and all its replicas.",
    "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
    "    Check if the master specified by ip:port is down from current Sentinel's",
    "    point of view.",
    "MASTER <master-name>",
    "    Show the state and info of the specified master.",
    "MASTERS",
    "    Show a list of monitored masters and their state.",
    "MONITOR <name> <ip> <port> <quorum>",
    "    Start monitoring a new master with the specified name, ip, port and quorum.",
    "MYID",
    "    Return the ID of the Sentinel instance.",
    "PENDING-SCRIPTS",
    "    Get pending scripts information.",
    "REMOVE <master-name>",
    "    Remove master from Sentinel's monitor list.",
    "REPLICAS <master-name>",
    "    Show a list of replicas for this master and their state.",
    "RESET <pattern>",
    "    Reset masters for specific master name matching this pattern.",
    "SENTINELS <master-name>",
    "    Show a list of Sentinel instances for this master and their state.",
    "SET <master-name> <option> <value> [<option> <value> ...]",
    "    Set configuration parameters for certain masters.",
    "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
    "    Simulate a Sentinel crash.",
    "HELP",
    "    Prints this help.",
];

/// One SENTINEL subcommand, on the control executor.
fn run(s: &mut Sentinel, a: &[String]) -> Reply {
    let sub = a[1].to_ascii_lowercase();
    let Some(ar) = arity(&sub) else {
        return crate::protocol::errors::unknown_subcommand("sentinel", a[1].as_bytes());
    };
    let ok = if ar >= 0 {
        a.len() == ar as usize
    } else {
        a.len() >= (-ar) as usize
    };
    if !ok {
        return wrong_args(&sub);
    }
    let master = |s: &Sentinel| s.masters.get(&a[2]).map(|m| m.name().to_string());
    match sub.as_str() {
        "help" => Reply::Array(HELP.iter().map(|l| Reply::status(*l)).collect()),
        "myid" => Reply::bulk(&s.myid),
        "masters" => Reply::Array(s.masters.values().map(describe_master).collect()),
        "master" => match s.masters.get(&a[2]) {
            Some(m) => describe_master(m),
            None => err(NO_MASTER),
        },
        "replicas" | "slaves" => match s.masters.get(&a[2]) {
            Some(m) => Reply::Array(
                m.replicas
                    .values()
                    .filter(|r| r.replica_announced)
                    .map(|r| describe(r, Some(m)))
                    .collect(),
            ),
            None => err(NO_MASTER),
        },
        "sentinels" => match s.masters.get(&a[2]) {
            Some(m) => Reply::Array(m.sentinels.values().map(|p| describe(p, None)).collect()),
            None => err(NO_MASTER),
        },
        "get-master-addr-by-name" => match s.masters.get(&a[2]) {
            Some(m) => {
                let a = m.current_addr();
                Reply::Array(vec![
                    Reply::bulk(a.announced()),
                    Reply::bulk(a.port.to_string()),
                ])
            }
            None => Reply::NilArray,
        },
        "is-master-down-by-addr" => is_master_down(s, a),
        "failover" => match failover::force(s, &a[2]) {
            Ok(()) => Reply::Ok,
            Err(e) => err(e),
        },
        "ckquorum" => match s.masters.get(&a[2]) {
            Some(m) => ckquorum(m),
            None => err(NO_MASTER),
        },
        "flushconfig" => match super::config::flush(s) {
            Ok(()) => Reply::Ok,
            Err(e) => err(format!("ERR {e}")),
        },
        "remove" => match master(s) {
            Some(name) => {
                let m = s.masters.remove(&name).unwrap();
                m.ev(Level::Warning, "-monitor", "");
                let mut m = m;
                failover::reset(&mut m, true);
                super::drop_links(m.inst.uid);
                s.dirty = true;
                Reply::Ok
            }
            None => err(NO_MASTER),
        },
        "reset" => {
            let names: Vec<String> = s
                .masters
                .keys()
                .filter(|n| crate::glob::matches(a[2].as_bytes(), n.as_bytes(), false))
                .cloned()
                .collect();
            for n in &names {
                let m = s.masters.get_mut(n).unwrap();
                failover::reset(m, true);
                m.ev(Level::Warning, "+reset-master", "");
            }
            s.dirty = true;
            Reply::Int(names.len() as i64)
        }
        "monitor" => monitor_cmd(s, a),
        "set" => set_cmd(s, a),
        "config" => config_cmd(s, a),
        "info-cache" => info_cache(s, &a[2..]),
        "debug" => debug_cmd(&a[2..]),
        "pending-scripts" => super::scripts::pending(),
        "simulate-failure" => simulate_failure(s, &a[2..]),
        _ => crate::protocol::errors::unknown_subcommand("sentinel", a[1].as_bytes()),
    }
}

/// SENTINEL IS-MASTER-DOWN-BY-ADDR ip port current-epoch runid.
fn is_master_down(s: &mut Sentinel, a: &[String]) -> Reply {
    let Ok(port) = a[3].parse::<i64>() else {
        return err(crate::protocol::errors::NOT_INTEGER);
    };
    let Ok(req_epoch) = a[4].parse::<i64>() else {
        return err(crate::protocol::errors::NOT_INTEGER);
    };
    // The master is named by address: a hostname matches by what it
    // resolves to, or by name while it does not resolve.
    let asked = Addr::new(&a[2], port, true).ok();
    let name = asked.and_then(|asked| {
        s.masters
            .values()
            .find(|m| m.inst.addr.same(&asked))
            .map(|m| m.name().to_string())
    });
    let down = !s.tilt
        && name
            .as_ref()
            .is_some_and(|n| s.masters[n].inst.is(flag::S_DOWN));
    let mut leader = (String::new(), 0u64);
    if let Some(n) = &name {
        if a[5] != "*" {
            leader = failover::vote(s, n, req_epoch.max(0) as u64, &a[5]);
        }
    }
    let has = !leader.0.is_empty();
    Reply::Array(vec![
        Reply::Int(down as i64),
        Reply::bulk(if has { leader.0.as_str() } else { "*" }),
        Reply::Int(if has { leader.1 as i64 } else { 0 }),
    ])
}

/// SENTINEL CKQUORUM (sentinelIsQuorumReachable).
fn ckquorum(m: &Master) -> Reply {
    let voters = m.sentinels.len() + 1;
    let usable = 1 + m
        .sentinels
        .values()
        .filter(|p| !p.is(flag::S_DOWN | flag::O_DOWN))
        .count();
    let noquorum = usable < m.quorum as usize;
    let noauth = usable < voters / 2 + 1;
    if !noquorum && !noauth {
        return Reply::status(format!(
            "OK {usable} usable Sentinels. Quorum and failover authorization can be reached"
        ));
    }
    let mut e = format!("NOQUORUM {usable} usable Sentinels. ");
    if noquorum {
        e.push_str("Not enough available Sentinels to reach the specified quorum for this master");
    }
    if noauth {
        if noquorum {
            e.push_str(". ");
        }
        e.push_str("Not enough available Sentinels to reach the majority and authorize a failover");
    }
    err(e)
}

/// SENTINEL MONITOR name host port quorum: a hostname needs
/// resolve-hostnames and must resolve now.
fn monitor_cmd(s: &mut Sentinel, a: &[String]) -> Reply {
    let Ok(quorum) = a[5].parse::<i64>() else {
        return err("ERR Invalid quorum");
    };
    let Ok(port) = a[4].parse::<i64>() else {
        return err("ERR Invalid port");
    };
    if quorum <= 0 {
        return err("ERR Quorum must be 1 or greater.");
    }
    if addr::resolve(&a[3]).is_none() {
        return err("ERR Invalid IP address or hostname specified");
    }
    let at = match Addr::new(&a[3], port, true) {
        Ok(at) => at,
        Err(b) => return err(format!("ERR {}", create_error(Kind::Master, Some(b)))),
    };
    if s.masters.contains_key(&a[2]) {
        return err(format!("ERR {}", create_error(Kind::Master, None)));
    }
    let m = Master::new(a[2].clone(), at, quorum as u32);
    m.ev(Level::Warning, "+monitor", &format!(" quorum {quorum}"));
    s.masters.insert(a[2].clone(), m);
    s.dirty = true;
    Reply::Ok
}

/// SENTINEL SET master option value [option value ...].
fn set_cmd(s: &mut Sentinel, a: &[String]) -> Reply {
    let deny = s.deny_scripts_reconfig;
    let Some(m) = s.masters.get_mut(&a[2]) else {
        return err(NO_MASTER);
    };
    let mut i = 3;
    let mut changed = false;
    while i < a.len() {
        let opt = a[i].to_ascii_lowercase();
        let Some(val) = a.get(i + 1) else {
            return err(format!(
                "ERR Unknown option or number of arguments for SENTINEL SET '{}'",
                a[i]
            ));
        };
        let bad = || {
            err(format!(
                "ERR Invalid argument '{val}' for SENTINEL SET '{opt}'"
            ))
        };
        let positive = || val.parse::<i64>().ok().filter(|n| *n > 0);
        match opt.as_str() {
            "down-after-milliseconds" => {
                let Some(n) = positive() else { return bad() };
                m.inst.down_after = n;
                for r in m.replicas.values_mut().chain(m.sentinels.values_mut()) {
                    r.down_after = n;
                }
            }
            "failover-timeout" => {
                let Some(n) = positive() else { return bad() };
                m.failover_timeout = n;
            }
            "parallel-syncs" => {
                let Some(n) = positive() else { return bad() };
                m.parallel_syncs = n as u32;
            }
            "quorum" => {
                let Some(n) = positive() else { return bad() };
                m.quorum = n as u32;
            }
            "master-reboot-down-after-period" => {
                let Some(n) = val.parse::<i64>().ok().filter(|n| *n >= 0) else {
                    return bad();
                };
                m.reboot_down_after = n;
            }
            "auth-pass" => m.auth_pass = val.clone(),
            "auth-user" => m.auth_user = val.clone(),
            "notification-script" | "client-reconfig-script" => {
                if deny {
                    return err("ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your config file.");
                }
                if !val.is_empty() && !super::config::executable(val) {
                    return err("ERR Notification script seems non existing or non executable");
                }
                if opt == "notification-script" {
                    m.notification_script = val.clone();
                } else {
                    m.client_reconfig_script = val.clone();
                }
            }
            _ => {
                return err(format!(
                    "ERR Unknown option or number of arguments for SENTINEL SET '{}'",
                    a[i]
                ))
            }
        }
        m.ev(Level::Warning, "+set", &format!(" {opt} {val}"));
        changed = true;
        i += 2;
    }
    if changed {
        s.dirty = true;
    }
    Reply::Ok
}

fn flags_text(i: &Inst) -> String {
    let mut v: Vec<&str> = Vec::new();
    for (bit, name) in flag::NAMES.iter().enumerate() {
        if i.flags & (1 << bit) != 0 {
            v.push(name);
        }
    }
    v.join(",")
}

fn describe_master(m: &Master) -> Reply {
    describe(&m.inst, Some(m))
}

/// addReplySentinelRedisInstance: a map, every value a bulk string.
fn describe(i: &Inst, m: Option<&Master>) -> Reply {
    let t = now();
    let mut f: Vec<(&str, String)> = vec![
        ("name", i.name.clone()),
        ("ip", i.addr.announced().to_string()),
        ("port", i.addr.port.to_string()),
        ("runid", i.runid.clone()),
        ("flags", flags_text(i)),
        (
            "link-pending-commands",
            super::link(i.uid, false)
                .map_or(0, |l| l.pending.borrow().len())
                .to_string(),
        ),
        ("link-refcount", "1".into()),
    ];
    if let (true, Some(m)) = (i.is(flag::FAILOVER_IN_PROGRESS), m) {
        f.push(("failover-state", m.failover_state.name().into()));
    }
    let since = |x: i64| if x == 0 { 0 } else { t - x };
    f.push(("last-ping-sent", since(i.act_ping_time).to_string()));
    f.push(("last-ok-ping-reply", (t - i.last_avail_time).to_string()));
    f.push(("last-ping-reply", (t - i.last_pong_time).to_string()));
    if i.is(flag::S_DOWN) {
        f.push(("s-down-time", (t - i.s_down_since).to_string()));
    }
    if i.is(flag::O_DOWN) {
        f.push(("o-down-time", (t - i.o_down_since).to_string()));
    }
    f.push(("down-after-milliseconds", i.down_after.to_string()));
    if i.is(flag::MASTER | flag::SLAVE) {
        f.push(("info-refresh", since(i.info_refresh).to_string()));
        let role = if i.role_reported == flag::MASTER {
            "master"
        } else {
            "slave"
        };
        f.push(("role-reported", role.into()));
        f.push(("role-reported-time", (t - i.role_reported_time).to_string()));
    }
    if let (true, Some(m)) = (i.is(flag::MASTER), m) {
        f.push(("config-epoch", m.config_epoch.to_string()));
        f.push(("num-slaves", m.replicas.len().to_string()));
        f.push(("num-other-sentinels", m.sentinels.len().to_string()));
        f.push(("quorum", m.quorum.to_string()));
        f.push(("failover-timeout", m.failover_timeout.to_string()));
        f.push(("parallel-syncs", m.parallel_syncs.to_string()));
        if !m.notification_script.is_empty() {
            f.push(("notification-script", m.notification_script.clone()));
        }
        if !m.client_reconfig_script.is_empty() {
            f.push(("client-reconfig-script", m.client_reconfig_script.clone()));
        }
    }
    if i.is(flag::SLAVE) {
        f.push(("master-link-down-time", i.master_link_down_time.to_string()));
        f.push((
            "master-link-status",
            if i.slave_master_link_up { "ok" } else { "err" }.into(),
        ));
        let host = if i.slave_master_host.is_empty() {
            "?".to_string()
        } else {
            i.slave_master_host.clone()
        };
        f.push(("master-host", host));
        f.push(("master-port", i.slave_master_port.to_string()));
        f.push(("slave-priority", i.slave_priority.to_string()));
        f.push(("slave-repl-offset", i.slave_repl_offset.to_string()));
        f.push(("replica-announced", (i.replica_announced as u8).to_string()));
    }
    if i.is(flag::SENTINEL) {
        f.push(("last-hello-message", since(i.last_hello_time).to_string()));
        let leader = if i.leader.is_empty() {
            "?".to_string()
        } else {
            i.leader.clone()
        };
        f.push(("voted-leader", leader));
        f.push(("voted-leader-epoch", i.leader_epoch.to_string()));
    }
    Reply::Map(
        f.into_iter()
            .map(|(k, v)| (Reply::bulk(k), Reply::bulk(v)))
            .collect(),
    )
}

/// The sentinel's own options that SENTINEL CONFIG GET/SET reach (Redis 7.0).
fn config_values(s: &Sentinel) -> [(&'static str, String); 6] {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    [
        ("resolve-hostnames", yes_no(addr::resolve_hostnames())),
        ("announce-hostnames", yes_no(addr::announce_hostnames())),
        ("announce-ip", s.announce_ip.clone()),
        ("announce-port", s.announce_port.to_string()),
        ("sentinel-user", s.sentinel_user.clone()),
        ("sentinel-pass", s.sentinel_pass.clone()),
    ]
}

/// SENTINEL CONFIG GET <pattern> | SET <option> <value>.
fn config_cmd(s: &mut Sentinel, a: &[String]) -> Reply {
    const ONLY: &str =
        "ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.";
    match (a[2].to_ascii_lowercase().as_str(), a.len()) {
        ("get", 4) => Reply::Map(
            config_values(s)
                .into_iter()
                .filter(|(name, _)| crate::glob::matches(a[3].as_bytes(), name.as_bytes(), true))
                .map(|(name, value)| (Reply::bulk(name), Reply::bulk(value)))
                .collect(),
        ),
        ("set", 5) => {
            let (opt, val) = (a[3].to_ascii_lowercase(), &a[4]);
            let invalid = || {
                err(format!(
                    "ERR Invalid value '{val}' to SENTINEL CONFIG SET '{opt}'"
                ))
            };
            let yes_no = match val.to_ascii_lowercase().as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            };
            match opt.as_str() {
                "resolve-hostnames" | "announce-hostnames" => {
                    let Some(v) = yes_no else { return invalid() };
                    if opt == "resolve-hostnames" {
                        addr::set_resolve_hostnames(v);
                    } else {
                        addr::set_announce_hostnames(v);
                    }
                }
                "announce-ip" => s.announce_ip = val.clone(),
                "announce-port" => match val.parse::<u16>() {
                    Ok(p) => s.announce_port = p,
                    Err(_) => return invalid(),
                },
                "sentinel-user" => s.sentinel_user = val.clone(),
                "sentinel-pass" => s.sentinel_pass = val.clone(),
                _ => {
                    return err(format!(
                        "ERR Invalid argument '{}' to SENTINEL CONFIG SET",
                        a[3]
                    ))
                }
            }
            s.dirty = true;
            Reply::Ok
        }
        _ => err(ONLY),
    }
}

/// SENTINEL INFO-CACHE <master> ...: each named master's last INFO and
/// its replicas', with how old each is (ms); unknown names are skipped.
fn info_cache(s: &Sentinel, names: &[String]) -> Reply {
    let t = now();
    let cached = |i: &Inst| {
        let age = if i.info_refresh != 0 {
            t - i.info_refresh
        } else {
            0
        };
        let text = i.info.as_deref().map_or(Reply::Nil, Reply::bulk);
        Reply::Array(vec![Reply::Int(age), text])
    };
    let mut out = Vec::new();
    for m in s.masters.values() {
        if !names.iter().any(|n| n == m.name()) {
            continue;
        }
        let mut all = vec![cached(&m.inst)];
        all.extend(m.replicas.values().map(cached));
        out.push((Reply::bulk(m.name()), Reply::Array(all)));
    }
    Reply::Map(out)
}

/// SENTINEL DEBUG [<param> <value> ...]: lists the time parameters, or
/// sets them in order (those before a bad pair stay set, as in Redis).
fn debug_cmd(a: &[String]) -> Reply {
    if a.is_empty() {
        return Reply::Map(
            super::timing::list()
                .map(|(name, v)| (Reply::bulk(name), Reply::bulk(v.to_string())))
                .collect(),
        );
    }
    let mut i = 0;
    while i < a.len() {
        let (opt, val) = (&a[i], a.get(i + 1));
        let Some(val) = val.filter(|_| super::timing::known(opt)) else {
            return err(format!(
                "ERR Unknown option or number of arguments for SENTINEL DEBUG '{opt}'"
            ));
        };
        match val.parse::<i64>() {
            Ok(v) if v > 0 => super::timing::set(opt, v),
            _ => {
                return err(format!(
                    "ERR Invalid argument '{val}' for SENTINEL DEBUG '{opt}'"
                ))
            }
        }
        i += 2;
    }
    Reply::Ok
}

/// SENTINEL SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP].
fn simulate_failure(s: &mut Sentinel, a: &[String]) -> Reply {
    s.simulate_failure = 0;
    for f in a {
        match f.to_ascii_lowercase().as_str() {
            "crash-after-election" => {
                s.simulate_failure |= super::CRASH_AFTER_ELECTION;
                tracing::warn!("Failure simulation: this Sentinel will crash after being successfully elected as failover leader");
            }
            "crash-after-promotion" => {
                s.simulate_failure |= super::CRASH_AFTER_PROMOTION;
                tracing::warn!("Failure simulation: this Sentinel will crash after promoting the selected replica to master");
            }
            "help" => {
                return Reply::Array(vec![
                    Reply::bulk("crash-after-election"),
                    Reply::bulk("crash-after-promotion"),
                ])
            }
            _ => return err("ERR Unknown failure simulation specified"),
        }
    }
    Reply::Ok
}
