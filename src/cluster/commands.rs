//! CLUSTER and its subcommands, ASKING, READONLY and READWRITE, with
//! Redis 7.0's replies (clusterCommand). REPLICATE and FAILOVER answer
//! "unknown subcommand" until they exist. Outside cluster mode all four
//! commands answer Redis's "cluster support disabled".

use bytes::Bytes;

use super::bus;
use super::nodes::{flag, Node};
use super::{NodeId, State};
use crate::commands::client::ClientState;
use crate::commands::flags::*;
use crate::commands::{spec, ClientRef, Cross, Handler, Spec};
use crate::config::{self, Opt};
use crate::protocol::errors::{unknown_subcommand, wrong_args};
use crate::protocol::{parse_i64, Reply};
use crate::runtime;
use crate::storage::slot::{key_slot, SLOTS};
use crate::storage::{now_ms, shard};

type Fut = std::pin::Pin<Box<dyn std::future::Future<Output = Reply>>>;

const DISABLED: &str = "ERR This instance has cluster support disabled";

pub fn register(t: &mut Vec<Spec>) {
    use Handler::{Conn, Coord};
    const N: (i32, i32, i32) = (0, 0, 0);
    let g = "cluster";
    t.extend([
        spec(
            "cluster",
            -2,
            0,
            N,
            Coord(cluster),
            Cross::Never,
            g,
            "A container for Redis Cluster commands.",
            "3.0.0",
        ),
        spec(
            "asking",
            1,
            FAST,
            N,
            Conn(asking),
            Cross::Never,
            g,
            "Signals that a cluster client is following an -ASK redirect.",
            "3.0.0",
        ),
        spec(
            "readonly",
            1,
            FAST | LOADING | STALE,
            N,
            Conn(readonly),
            Cross::Never,
            g,
            "Enables read-only queries for a connection to a Redis Cluster replica node.",
            "3.0.0",
        ),
        spec(
            "readwrite",
            1,
            FAST | LOADING | STALE,
            N,
            Conn(readwrite),
            Cross::Never,
            g,
            "Enables read-write queries for a connection to a Reids Cluster replica node.",
            "3.0.0",
        ),
    ]);
}

fn asking(c: &mut ClientState, _: &[Bytes]) -> Reply {
    if !super::enabled() {
        return Reply::error(DISABLED);
    }
    c.asking = true;
    Reply::Ok
}

fn readonly(c: &mut ClientState, _: &[Bytes]) -> Reply {
    if !super::enabled() {
        return Reply::error(DISABLED);
    }
    c.readonly = true;
    Reply::Ok
}

fn readwrite(c: &mut ClientState, _: &[Bytes]) -> Reply {
    if !super::enabled() {
        return Reply::error(DISABLED);
    }
    c.readonly = false;
    Reply::Ok
}

const HELP: &[&str] = &[
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
    "HELP",
    "    Prints this help.",
];

fn cluster(_: ClientRef, args: Vec<Bytes>) -> Fut {
    Box::pin(async move {
        if !super::enabled() {
            return Reply::error(DISABLED);
        }
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        // The ACL's subcommand table is the one list of subcommands and
        // their arities.
        let name = format!("cluster|{sub}");
        let Some(arity) = crate::acl::category::sub_arity(&name) else {
            return unknown_subcommand("CLUSTER", &args[1]);
        };
        let argc = args.len();
        let ok = if arity >= 0 {
            argc == arity as usize
        } else {
            argc >= (-arity) as usize
        };
        if !ok {
            return wrong_args(&name);
        }
        run(&sub, &args).await
    })
}

async fn run(sub: &str, args: &[Bytes]) -> Reply {
    match sub {
        "help" => Reply::Array(HELP.iter().map(|l| Reply::status(*l)).collect()),
        "info" => Reply::Verbatim(Bytes::from(super::with(info))),
        "myid" => Reply::bulk(super::myself_id().as_str()),
        "nodes" => Reply::Verbatim(Bytes::from(super::with(|st| {
            st.refresh_myself();
            st.describe_all(false)
        }))),
        "slots" => super::with(slots_reply),
        "shards" => super::with(shards_reply),
        "links" => links().await,
        "meet" => meet(args),
        "forget" => super::with(|st| forget(st, &args[2])),
        "replicate" => replicate(&args[2]).await,
        "failover" => failover(&args[1], &args[2..]),
        "keyslot" => Reply::Int(key_slot(&args[2]) as i64),
        "countkeysinslot" => match parse_i64(&args[2]) {
            None => Reply::error(crate::protocol::errors::NOT_INTEGER),
            Some(s) if !(0..SLOTS as i64).contains(&s) => Reply::error("ERR Invalid slot"),
            Some(s) => Reply::Int(count_in_slot(s as usize).await as i64),
        },
        "getkeysinslot" => getkeysinslot(&args[2], &args[3]).await,
        "addslots" | "delslots" => match parse_slots(&args[2..], false) {
            Ok(list) => change_slots(sub == "addslots", list),
            Err(e) => e,
        },
        "addslotsrange" | "delslotsrange" => {
            if args.len() % 2 == 1 {
                return wrong_args(&format!("cluster|{sub}"));
            }
            match parse_slots(&args[2..], true) {
                Ok(list) => change_slots(sub == "addslotsrange", list),
                Err(e) => e,
            }
        }
        "flushslots" => {
            if count_db0().await != 0 {
                return Reply::error("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.");
            }
            super::with(|st| {
                let me = st.myself().id;
                let mine: Vec<usize> = st.slots_of(me).collect();
                st.assign(&mine, None);
                st.unplace_free();
                saved(st, Reply::Ok)
            })
        }
        "setslot" => setslot(args).await,
        "saveconfig" => super::with(|st| match st.save_fsynced() {
            Ok(()) => Reply::Ok,
            Err(e) => Reply::error(format!("ERR error saving the cluster node config: {e}")),
        }),
        "set-config-epoch" => super::with(|st| set_config_epoch(st, &args[2])),
        "bumpepoch" => super::with(|st| {
            let bumped = st.bump_epoch();
            let epoch = st.myself().config_epoch;
            let word = if bumped { "BUMPED" } else { "STILL" };
            saved(st, Reply::status(format!("{word} {epoch}")))
        }),
        "reset" => reset(&args[2..]).await,
        "count-failure-reports" => super::with(|st| match st.node(&args[2]) {
            Some(n) => {
                // Reports older than 2 × node timeout no longer count.
                let valid = 2 * config::num(Opt::ClusterNodeTimeout) as u64;
                let now = now_ms() as u64;
                let n = n.fail_reports.iter().filter(|(_, t)| now - t <= valid);
                Reply::Int(n.count() as i64)
            }
            None => unknown_node(&args[2]),
        }),
        "replicas" | "slaves" => super::with(|st| match st.node(&args[2]) {
            None => unknown_node(&args[2]),
            Some(n) if n.is(flag::SLAVE) => Reply::error("ERR The specified node is not a master"),
            Some(n) => {
                let id = n.id;
                Reply::Array(
                    st.nodes
                        .iter()
                        .filter(|r| r.master == Some(id))
                        .map(|r| Reply::bulk(st.describe(r)))
                        .collect(),
                )
            }
        }),
        _ => unreachable!("listed subcommand"),
    }
}

/// CLUSTER MEET <ip> <port> [<bus-port>]: a handshake node the bus
/// connects to on its next tick (clusterStartHandshake).
fn meet(args: &[Bytes]) -> Reply {
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    if args.len() > 5 {
        return Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
            text(&args[1])
        ));
    }
    let Some(port) = parse_i64(&args[3]) else {
        return Reply::error(format!(
            "ERR Invalid TCP base port specified: {}",
            text(&args[3])
        ));
    };
    let cport = match args.get(4) {
        None => port + 10000,
        Some(a) => match parse_i64(a) {
            Some(p) => p,
            None => {
                return Reply::error(format!("ERR Invalid TCP bus port specified: {}", text(a)))
            }
        },
    };
    let ip: Option<std::net::IpAddr> = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|s| s.parse().ok());
    let valid = |p: i64| (1..=65535).contains(&p);
    let (Some(ip), true, true) = (ip, valid(port), valid(cport)) else {
        return Reply::error(format!(
            "ERR Invalid node address specified: {}:{}",
            text(&args[2]),
            text(&args[3])
        ));
    };
    let ip = ip.to_string();
    let (port, cport) = (port as u16, cport as u16);
    super::with(|st| {
        let pending = st
            .nodes
            .iter()
            .any(|n| n.is(flag::HANDSHAKE) && n.ip == ip && n.port == port && n.cport == cport);
        if !pending {
            let mut n = Node::new(NodeId::random(), flag::HANDSHAKE | flag::MEET);
            n.ip = ip;
            n.port = port;
            n.cport = cport;
            st.nodes.push(n);
        }
    });
    Reply::Ok
}

/// CLUSTER FORGET <id>: removed, and kept out of gossip for a minute.
fn forget(st: &mut State, id: &[u8]) -> Reply {
    let Some(n) = st.node(id) else {
        return unknown_node(id);
    };
    let id = n.id;
    if n.is(flag::MYSELF) {
        return Reply::error("ERR I tried hard but I can't forget myself...");
    }
    if st.myself().is(flag::SLAVE) && st.myself().master == Some(id) {
        return Reply::error("ERR Can't forget my master!");
    }
    st.blacklist.insert(id, now_ms() as u64 + 60_000);
    // The bus closes the links of nodes it no longer knows.
    let mut out = Vec::new();
    st.del_node(id, &mut out);
    st.todo_save = false;
    bus::send_later(out);
    saved(st, Reply::Ok)
}

/// CLUSTER REPLICATE <id>: an empty master without slots (or a
/// replica) follows `id`; the bus starts replication from it.
async fn replicate(id: &[u8]) -> Reply {
    let check = super::with(|st| {
        let Some(n) = st.node(id) else {
            return Err(unknown_node(id));
        };
        if n.is(flag::MYSELF) {
            return Err(Reply::error("ERR Can't replicate myself"));
        }
        if n.is(flag::SLAVE) {
            return Err(Reply::error(
                "ERR I can only replicate a master, not a replica.",
            ));
        }
        let me = st.myself().id;
        Ok((
            n.id,
            st.myself().is(flag::MASTER),
            st.slots_of(me).next().is_some(),
        ))
    });
    let (master, i_am_master, have_slots) = match check {
        Ok(c) => c,
        Err(e) => return e,
    };
    if i_am_master && (have_slots || count_db0().await != 0) {
        return Reply::error(
            "ERR To set a master the node must be empty and without assigned slots.",
        );
    }
    let (reply, upstream) = super::with(|st| {
        st.set_my_master(master);
        st.todo_save = false;
        let m = st.get(master).filter(|m| !m.ip.is_empty() && m.port != 0);
        let upstream = m.map(|m| super::gossip::Send::Replicate(m.ip.clone(), m.port));
        (saved(st, Reply::Ok), upstream)
    });
    // Replication starts before the reply, as Redis's clusterSetMyMaster
    // does: ROLE says "slave" as soon as REPLICATE has answered.
    if let Some(up) = upstream {
        bus::send_now(vec![up]).await;
    }
    reply
}

/// CLUSTER FAILOVER [FORCE|TAKEOVER]: the bus carries it out.
fn failover(name: &Bytes, args: &[Bytes]) -> Reply {
    let (force, takeover) = match args {
        [] => (false, false),
        [a] if a.eq_ignore_ascii_case(b"force") => (true, false),
        [a] if a.eq_ignore_ascii_case(b"takeover") => (false, true),
        [_] => return Reply::error(crate::protocol::errors::SYNTAX),
        _ => {
            return Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.",
                String::from_utf8_lossy(name)
            ))
        }
    };
    let sent = super::with(|st| {
        let mut out = Vec::new();
        st.failover_command(force, takeover, &mut out).map(|()| {
            st.update_state();
            let _ = st.save();
            st.todo_save = false;
            out
        })
    });
    match sent {
        Ok(out) => {
            bus::send_later(out);
            Reply::Ok
        }
        Err(e) => Reply::error(e),
    }
}

/// CLUSTER LINKS: the bus's links to and from known nodes.
async fn links() -> Reply {
    let rows = runtime::call_on(runtime::control(), bus::link_rows)
        .await
        .unwrap_or_default();
    Reply::Array(
        rows.into_iter()
            .map(|r| {
                Reply::Map(vec![
                    (
                        Reply::bulk("direction"),
                        Reply::bulk(if r.to { "to" } else { "from" }),
                    ),
                    (
                        Reply::bulk("node"),
                        Reply::bulk(r.node.map(|n| n.to_string()).unwrap_or_default()),
                    ),
                    (Reply::bulk("create-time"), Reply::Int(r.ctime as i64)),
                    (
                        Reply::bulk("events"),
                        Reply::bulk(if r.queued > 0 { "rw" } else { "r" }),
                    ),
                    (
                        Reply::bulk("send-buffer-allocated"),
                        Reply::Int(r.queued as i64),
                    ),
                    (Reply::bulk("send-buffer-used"), Reply::Int(r.queued as i64)),
                ])
            })
            .collect(),
    )
}

fn unknown_node(id: &[u8]) -> Reply {
    Reply::error(format!("ERR Unknown node {}", String::from_utf8_lossy(id)))
}

/// Saves nodes.conf after a change and re-evaluates the state (Redis
/// does both before replying); `reply` unless saving fails.
fn saved(st: &mut State, reply: Reply) -> Reply {
    st.update_state();
    match st.save() {
        Ok(()) => reply,
        Err(e) => {
            tracing::warn!("Fatal: can't update cluster config file: {e}");
            Reply::error(format!("ERR error saving the cluster node config: {e}"))
        }
    }
}

/// CLUSTER INFO's text.
fn info(st: &mut State) -> String {
    let owners = st.owner_counts();
    let assigned: usize = owners
        .iter()
        .filter(|(o, _)| o.is_some())
        .map(|o| o.1)
        .sum();
    let with_flag = |f: u16| -> usize {
        owners
            .iter()
            .filter(|(o, _)| o.and_then(|id| st.get(id)).is_some_and(|n| n.is(f)))
            .map(|o| o.1)
            .sum()
    };
    let (pfail, fail) = (with_flag(flag::PFAIL), with_flag(flag::FAIL));
    let me = st.myself();
    let my_epoch = match me.master.and_then(|m| st.get(m)) {
        Some(m) => m.config_epoch,
        None => me.config_epoch,
    };
    let lines = [
        (
            "cluster_state",
            if st.state_ok() {
                "ok".to_string()
            } else {
                "fail".to_string()
            },
        ),
        ("cluster_slots_assigned", assigned.to_string()),
        ("cluster_slots_ok", (assigned - pfail - fail).to_string()),
        ("cluster_slots_pfail", pfail.to_string()),
        ("cluster_slots_fail", fail.to_string()),
        ("cluster_known_nodes", st.nodes.len().to_string()),
        ("cluster_size", st.size.to_string()),
        ("cluster_current_epoch", st.current_epoch.to_string()),
        ("cluster_my_epoch", my_epoch.to_string()),
    ];
    let mut out: String = lines.iter().map(|(k, v)| format!("{k}:{v}\r\n")).collect();
    // Per message type, only types seen, then the totals (as Redis).
    for (dir, counts) in [("sent", &bus::SENT), ("received", &bus::RECEIVED)] {
        let mut total = 0;
        for (name, c) in bus::TYPE_NAMES.iter().zip(counts.iter()) {
            let c = c.load(std::sync::atomic::Ordering::Relaxed);
            if c != 0 {
                out.push_str(&format!("cluster_stats_messages_{name}_{dir}:{c}\r\n"));
            }
            total += c;
        }
        out.push_str(&format!("cluster_stats_messages_{dir}:{total}\r\n"));
    }
    out.push_str(&format!(
        "total_cluster_links_buffer_limit_exceeded:{}\r\n",
        bus::LIMIT_EXCEEDED.load(std::sync::atomic::Ordering::Relaxed)
    ));
    out
}

/// A node as CLUSTER SLOTS lists it: endpoint, port, id, extra map.
fn slot_node(n: &Node) -> Reply {
    let kind = config::text(Opt::ClusterPreferredEndpointType);
    let endpoint = match kind.as_str() {
        "hostname" => Reply::bulk(if n.hostname.is_empty() {
            "?"
        } else {
            &n.hostname
        }),
        "unknown-endpoint" => Reply::Nil,
        _ => Reply::bulk(&n.ip),
    };
    let mut extra = Vec::new();
    if kind != "ip" {
        extra.push((Reply::bulk("ip"), Reply::bulk(&n.ip)));
    }
    if kind != "hostname" && !n.hostname.is_empty() {
        extra.push((Reply::bulk("hostname"), Reply::bulk(&n.hostname)));
    }
    Reply::Array(vec![
        endpoint,
        Reply::Int(n.port as i64),
        Reply::bulk(n.id.as_str()),
        Reply::Map(extra),
    ])
}

/// CLUSTER SLOTS: one entry per contiguous range of one master.
fn slots_reply(st: &mut State) -> Reply {
    st.refresh_myself();
    let mut out = Vec::new();
    let mut s = 0;
    while s < SLOTS {
        let Some(id) = st.owner[s] else {
            s += 1;
            continue;
        };
        let start = s;
        while s + 1 < SLOTS && st.owner[s + 1] == Some(id) {
            s += 1;
        }
        let mut entry = vec![Reply::Int(start as i64), Reply::Int(s as i64)];
        if let Some(m) = st.get(id) {
            entry.push(slot_node(m));
            for r in st.nodes.iter().filter(|r| r.master == Some(id)) {
                if !r.is(flag::FAIL) && r.repl_offset != 0 {
                    entry.push(slot_node(r));
                }
            }
        }
        out.push(Reply::Array(entry));
        s += 1;
    }
    Reply::Array(out)
}

/// A node as CLUSTER SHARDS lists it.
fn shard_node(n: &Node, offset: u64) -> Reply {
    let kind = config::text(Opt::ClusterPreferredEndpointType);
    let endpoint = match kind.as_str() {
        "hostname" if !n.hostname.is_empty() => n.hostname.clone(),
        "hostname" | "unknown-endpoint" => "?".to_string(),
        _ => n.ip.clone(),
    };
    let mut m = vec![
        (Reply::bulk("id"), Reply::bulk(n.id.as_str())),
        (Reply::bulk("port"), Reply::Int(n.port as i64)),
        (Reply::bulk("ip"), Reply::bulk(&n.ip)),
        (Reply::bulk("endpoint"), Reply::bulk(endpoint)),
    ];
    if !n.hostname.is_empty() {
        m.push((Reply::bulk("hostname"), Reply::bulk(&n.hostname)));
    }
    let role = if n.is(flag::SLAVE) {
        "replica"
    } else {
        "master"
    };
    let health = if n.is(flag::FAIL) {
        "fail"
    } else if n.is(flag::SLAVE) && offset == 0 {
        "loading"
    } else {
        "online"
    };
    m.push((Reply::bulk("role"), Reply::bulk(role)));
    m.push((Reply::bulk("replication-offset"), Reply::Int(offset as i64)));
    m.push((Reply::bulk("health"), Reply::bulk(health)));
    Reply::Map(m)
}

/// CLUSTER SHARDS: every master (with or without slots) and its replicas.
fn shards_reply(st: &mut State) -> Reply {
    st.refresh_myself();
    let my_offset = crate::replication::master_offset().max(0) as u64;
    let offset = |n: &Node| {
        if n.is(flag::MYSELF) {
            my_offset
        } else {
            n.repl_offset
        }
    };
    let mut out = Vec::new();
    for m in st.nodes.iter().filter(|n| n.is(flag::MASTER)) {
        let ranges = super::nodes::ranges(st.slots_of(m.id));
        let slots = ranges
            .iter()
            .flat_map(|&(a, b)| [Reply::Int(a as i64), Reply::Int(b as i64)])
            .collect();
        let mut nodes = vec![shard_node(m, offset(m))];
        for r in st.nodes.iter().filter(|r| r.master == Some(m.id)) {
            nodes.push(shard_node(r, offset(r)));
        }
        out.push(Reply::Map(vec![
            (Reply::bulk("slots"), Reply::Array(slots)),
            (Reply::bulk("nodes"), Reply::Array(nodes)),
        ]));
    }
    Reply::Array(out)
}

/// A slot argument (Redis's getSlotOrReply).
fn slot_arg(a: &[u8]) -> Result<usize, Reply> {
    match parse_i64(a) {
        Some(n) if (0..SLOTS as i64).contains(&n) => Ok(n as usize),
        _ => Err(Reply::error("ERR Invalid or out of range slot")),
    }
}

/// The slots of ADDSLOTS / DELSLOTS (or their RANGE forms, as pairs),
/// each named once.
fn parse_slots(args: &[Bytes], ranges: bool) -> Result<Vec<usize>, Reply> {
    let mut list = Vec::new();
    if ranges {
        for pair in args.chunks(2) {
            let (a, b) = (slot_arg(&pair[0])?, slot_arg(&pair[1])?);
            if a > b {
                return Err(Reply::error(format!(
                    "ERR start slot number {a} is greater than end slot number {b}"
                )));
            }
            list.extend(a..=b);
        }
    } else {
        for a in args {
            list.push(slot_arg(a)?);
        }
    }
    Ok(list)
}

/// ADDSLOTS / DELSLOTS over a parsed list: all checked before any changes.
fn change_slots(add: bool, list: Vec<usize>) -> Reply {
    super::with(|st| {
        let mut seen = vec![false; SLOTS];
        for &s in &list {
            if add && st.owner[s].is_some() {
                return Reply::error(format!("ERR Slot {s} is already busy"));
            }
            if !add && st.owner[s].is_none() {
                return Reply::error(format!("ERR Slot {s} is already unassigned"));
            }
            if std::mem::replace(&mut seen[s], true) {
                return Reply::error(format!("ERR Slot {s} specified multiple times"));
            }
        }
        if add {
            // A slot this node takes is no longer being imported.
            for s in &list {
                st.importing.remove(s);
            }
            let me = st.myself().id;
            st.assign(&list, Some(me));
        } else {
            st.assign(&list, None);
        }
        saved(st, Reply::Ok)
    })
}

/// CLUSTER SETSLOT <slot> IMPORTING|MIGRATING <id> | STABLE | NODE <id>.
async fn setslot(args: &[Bytes]) -> Reply {
    if super::with(|st| st.myself().is(flag::SLAVE)) {
        return Reply::error("ERR Please use SETSLOT only with masters.");
    }
    let slot = match slot_arg(&args[2]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    // NODE runs on the slot's core: it counts the slot's keys and gives
    // the slot away in one step there, so no write can land in the slot
    // between the two (in Redis both are one command on one thread). The
    // other actions need no keys (and a hop each made reshards slower).
    if !args[3].eq_ignore_ascii_case(b"node") {
        return setslot_here(slot, args);
    }
    let args = args.to_vec();
    runtime::call_on(runtime::owner(slot), move || setslot_here(slot, &args))
        .await
        .unwrap_or_else(|| Reply::error("ERR the server is shutting down"))
}

/// CLUSTER SETSLOT's change of the cluster state, on the slot's core.
fn setslot_here(slot: usize, args: &[Bytes]) -> Reply {
    let action = String::from_utf8_lossy(&args[3]).to_ascii_lowercase();
    let target = args.get(4);
    // NODE refuses to give away a slot that still has keys here.
    let keys = if action == "node" && args.len() == 5 {
        shard::with(|s| s.dbs[0].slot_len(slot))
    } else {
        0
    };
    super::with(|st| {
        let known = |st: &State, id: &[u8]| st.node(id).map(|n| (n.id, n.is(flag::SLAVE)));
        match (action.as_str(), target) {
            ("migrating", Some(id)) if args.len() == 5 => {
                if !st.mine(slot) {
                    return Reply::error(format!("ERR I'm not the owner of hash slot {slot}"));
                }
                let Some((to, slave)) = known(st, id) else {
                    return dont_know(id);
                };
                if slave {
                    return Reply::error("ERR Target node is not a master");
                }
                st.migrating.insert(slot, to);
            }
            ("importing", Some(id)) if args.len() == 5 => {
                if st.mine(slot) {
                    return Reply::error(format!("ERR I'm already the owner of hash slot {slot}"));
                }
                let Some((from, slave)) = known(st, id) else {
                    return dont_know(id);
                };
                if slave {
                    return Reply::error("ERR Target node is not a master");
                }
                st.importing.insert(slot, from);
            }
            ("stable", None) => {
                st.migrating.remove(&slot);
                st.importing.remove(&slot);
            }
            ("node", Some(id)) if args.len() == 5 => {
                let Some((to, slave)) = known(st, id) else {
                    return unknown_node(id);
                };
                if slave {
                    return Reply::error("ERR Target node is not a master");
                }
                let me = st.myself().id;
                if st.mine(slot) && to != me && keys != 0 {
                    return Reply::error(format!("ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."));
                }
                if keys == 0 {
                    st.migrating.remove(&slot);
                }
                if to == me && st.importing.remove(&slot).is_some() {
                    // The import is closed: claim the slot with a new epoch.
                    if st.bump_epoch() {
                        tracing::info!("configEpoch updated after importing slot {slot}");
                    }
                }
                st.assign(&[slot], Some(to));
            }
            _ => {
                return Reply::error(
                    "ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP",
                )
            }
        }
        st.sync(&[slot]);
        saved(st, Reply::Ok)
    })
}

fn dont_know(id: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR I don't know about node {}",
        String::from_utf8_lossy(id)
    ))
}

fn set_config_epoch(st: &mut State, arg: &[u8]) -> Reply {
    let Some(epoch) = parse_i64(arg) else {
        return Reply::error(crate::protocol::errors::NOT_INTEGER);
    };
    if epoch < 0 {
        return Reply::error(format!("ERR Invalid config epoch specified: {epoch}"));
    }
    if st.nodes.len() > 1 {
        return Reply::error(
            "ERR The user can assign a config epoch only when the node does not know any other node.",
        );
    }
    if st.myself().config_epoch != 0 {
        return Reply::error("ERR Node config epoch is already non-zero");
    }
    st.myself_mut().config_epoch = epoch as u64;
    st.current_epoch = st.current_epoch.max(epoch as u64);
    saved(st, Reply::Ok)
}

/// CLUSTER RESET [HARD|SOFT]: a master must hold no keys.
async fn reset(args: &[Bytes]) -> Reply {
    let hard = match args {
        [] => false,
        [a] if a.eq_ignore_ascii_case(b"hard") => true,
        [a] if a.eq_ignore_ascii_case(b"soft") => false,
        _ => return Reply::error(crate::protocol::errors::SYNTAX),
    };
    let master = super::with(|st| st.myself().is(flag::MASTER));
    if master && count_db0().await != 0 {
        return Reply::error("ERR CLUSTER RESET can't be called with master nodes containing keys");
    }
    super::with(|st| {
        st.migrating.clear();
        st.importing.clear();
        let all: Vec<usize> = (0..SLOTS).collect();
        st.assign(&all, None);
        st.unplace_free();
        st.nodes.truncate(1);
        let me = st.myself_mut();
        me.flags = flag::MYSELF | flag::MASTER;
        me.master = None;
        if hard {
            st.current_epoch = 0;
            st.last_vote_epoch = 0;
            let me = st.myself_mut();
            me.config_epoch = 0;
            me.id = NodeId::random();
            tracing::info!("Node hard reset, now I'm {}", me.id);
        }
        saved(st, Reply::Ok)
    })
}

/// Keys in db 0 on all cores.
async fn count_db0() -> usize {
    runtime::gather(0..runtime::shards(), || shard::with(|s| s.dbs[0].len()))
        .await
        .into_iter()
        .sum()
}

/// Keys of `slot` in db 0 (on the core that stores the slot).
async fn count_in_slot(slot: usize) -> usize {
    let core = runtime::owner(slot);
    runtime::call_on(core, move || shard::with(|s| s.dbs[0].slot_len(slot)))
        .await
        .unwrap_or(0)
}

async fn getkeysinslot(slot: &[u8], count: &[u8]) -> Reply {
    let (Some(slot), Some(count)) = (parse_i64(slot), parse_i64(count)) else {
        return Reply::error(crate::protocol::errors::NOT_INTEGER);
    };
    if count < 0 || !(0..SLOTS as i64).contains(&slot) {
        return Reply::error("ERR Invalid slot or number of keys");
    }
    let slot = slot as usize;
    let keys = runtime::call_on(runtime::owner(slot), move || {
        let mut out = Vec::new();
        shard::with(|s| s.dbs[0].slot_keys(slot, now_ms(), &mut out));
        out.truncate(count as usize);
        out
    })
    .await
    .unwrap_or_default();
    Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
}

/// DEBUG CORES: the slots each core holds and its db-0 keys, one
/// `core:<i> slots:<n> keys:<n>` line per core (how evenly a node's
/// slots and keys are spread).
pub async fn per_core_text() -> String {
    use crate::runtime::slots;
    let n = runtime::shards();
    let mut held = vec![0usize; n];
    for s in 0..SLOTS {
        let e = slots::entry(s);
        let here = e & slots::FOREIGN == 0 || e & (slots::IMPORTING | slots::REPLICA) != 0;
        if here && e & slots::UNPLACED == 0 {
            held[(e & slots::CORE) as usize % n] += 1;
        }
    }
    let keys = runtime::gather(0..n, || shard::with(|s| s.dbs[0].len())).await;
    keys.iter()
        .enumerate()
        .map(|(i, k)| format!("core:{i} slots:{} keys:{k}\r\n", held[i]))
        .collect()
}
