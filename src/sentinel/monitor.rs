//! Monitoring: the timer, the links' upkeep, PING / INFO / hello traffic,
//! what the replies teach (replicas from INFO, sentinels from hellos),
//! and subjective / objective down (sentinelTimer and the functions it
//! calls in sentinel.c).

use std::time::Duration;

use super::addr::Addr;
use super::link::{self, Asked, Resp};
use super::timing::{get, T};
use super::{event, failover, flag, now, with, Failover, Inst, Level, Master, Sentinel};

pub const HELLO_CHANNEL: &str = "__sentinel__:hello";
const MAX_PENDING: usize = 100;

/// Which instance of a master a link or a reply belongs to.
#[derive(Clone, Debug, PartialEq)]
pub enum Who {
    Master,
    Replica(String),
    Sentinel(String),
}

pub fn inst<'a>(m: &'a Master, who: &Who) -> Option<&'a Inst> {
    match who {
        Who::Master => Some(&m.inst),
        Who::Replica(n) => m.replicas.get(n),
        Who::Sentinel(n) => m.sentinels.get(n),
    }
}

pub fn inst_mut<'a>(m: &'a mut Master, who: &Who) -> Option<&'a mut Inst> {
    match who {
        Who::Master => Some(&mut m.inst),
        Who::Replica(n) => m.replicas.get_mut(n),
        Who::Sentinel(n) => m.sentinels.get_mut(n),
    }
}

/// Finds the instance a link uid belongs to.
fn locate(s: &Sentinel, uid: u64) -> Option<(String, Who)> {
    for m in s.masters.values() {
        if m.inst.uid == uid {
            return Some((m.name().to_string(), Who::Master));
        }
        if let Some(r) = m.replicas.values().find(|r| r.uid == uid) {
            return Some((m.name().to_string(), Who::Replica(r.name.clone())));
        }
        if let Some(p) = m.sentinels.values().find(|p| p.uid == uid) {
            return Some((m.name().to_string(), Who::Sentinel(p.name.clone())));
        }
    }
    None
}

/// The timer: every 100 ms, as Redis's sentinelTimer at hz 10.
pub async fn timer() {
    loop {
        crate::runtime::sleep(Duration::from_millis(100)).await;
        with(tick);
    }
}

fn tick(s: &mut Sentinel) {
    check_tilt(s);
    super::scripts::tick();
    let names: Vec<String> = s.masters.keys().cloned().collect();
    for name in names {
        let Some(m) = s.masters.get(&name) else {
            continue;
        };
        let mut whos = vec![Who::Master];
        whos.extend(m.replicas.keys().map(|k| Who::Replica(k.clone())));
        whos.extend(m.sentinels.keys().map(|k| Who::Sentinel(k.clone())));
        // Replicas and sentinels first, then the master (Redis's order).
        whos.rotate_left(1);
        for who in whos {
            handle(s, &name, &who);
        }
        if s.masters.get(&name).map(|m| m.failover_state) == Some(Failover::UpdateConfig) {
            failover::switch_to_promoted(s, &name);
        }
    }
    if s.dirty {
        if let Err(e) = super::config::flush(s) {
            tracing::warn!(
                "WARNING: Sentinel was not able to save the new configuration on disk!!!: {e}"
            );
        }
    }
}

fn check_tilt(s: &mut Sentinel) {
    let t = now();
    let delta = t - s.previous_time;
    if !(0..=get(T::TiltTrigger)).contains(&delta) {
        s.tilt = true;
        s.tilt_start = t;
        event(Level::Warning, "+tilt", None, "#tilt mode entered", "");
    }
    s.previous_time = t;
}

/// sentinelHandleRedisInstance.
fn handle(s: &mut Sentinel, name: &str, who: &Who) {
    reconnect(s, name, who);
    send_periodic(s, name, who);
    if s.tilt {
        if now() - s.tilt_start < get(T::TiltPeriod) {
            return;
        }
        s.tilt = false;
        event(Level::Warning, "-tilt", None, "#tilt mode exited", "");
    }
    check_sdown(s, name, who);
    if *who == Who::Master {
        check_odown(s, name);
        if failover::start_if_needed(s, name) {
            ask_others(s, name, true);
        }
        failover::state_machine(s, name);
        ask_others(s, name, false);
    }
}

fn auth_cmds(s: &Sentinel, m: &Master, who: &Who, pubsub: bool) -> Vec<u8> {
    let mut out = Vec::new();
    // Data nodes: the master's auth-pass / auth-user. Sentinels:
    // sentinel-pass / sentinel-user, else our own requirepass.
    let (user, pass) = match who {
        Who::Sentinel(_) if !s.sentinel_pass.is_empty() => {
            (s.sentinel_user.clone(), s.sentinel_pass.clone())
        }
        Who::Sentinel(_) => (
            String::new(),
            crate::config::text(crate::config::Opt::Requirepass),
        ),
        _ => (m.auth_user.clone(), m.auth_pass.clone()),
    };
    if !pass.is_empty() {
        if user.is_empty() {
            out.extend(m.renamed.cmd(&["AUTH", &pass]));
        } else {
            out.extend(m.renamed.cmd(&["AUTH", &user, &pass]));
        }
    }
    let kind = if pubsub { "pubsub" } else { "cmd" };
    let me = format!("sentinel-{}-{kind}", &s.myid[..8.min(s.myid.len())]);
    out.extend(m.renamed.cmd(&["CLIENT", "SETNAME", &me]));
    out
}

/// sentinelReconnectInstance: at most one attempt per link per second.
fn reconnect(s: &mut Sentinel, name: &str, who: &Who) {
    let t = now();
    let Some(m) = s.masters.get_mut(name) else {
        return;
    };
    let is_sentinel = matches!(who, Who::Sentinel(_));
    let Some(i) = inst_mut(m, who) else {
        return;
    };
    if i.addr.port == 0 {
        return;
    }
    let uid = i.uid;
    let want_cmd = super::link(uid, false).is_none() && t - i.cc_conn_time >= 1000;
    let want_pc = !is_sentinel && super::link(uid, true).is_none() && t - i.pc_conn_time >= 1000;
    if want_cmd {
        i.cc_conn_time = t;
        // It may have been down when we first looked its name up, or be
        // back at another IP.
        i.addr.refresh();
    }
    if want_pc {
        i.pc_conn_time = t;
    }
    let (ip, port) = (i.addr.ip.clone(), i.addr.port);
    if ip.is_empty() {
        return;
    }
    for (pubsub, want) in [(false, want_cmd), (true, want_pc)] {
        if !want {
            continue;
        }
        let m = s.masters.get(name).unwrap();
        let hello = auth_cmds(s, m, who, pubsub);
        let ip = ip.clone();
        crate::runtime::spawn(async move {
            let on_reply = move |asked, r| with(|s| on_reply(s, uid, pubsub, asked, r));
            let on_close = move || with(|s| on_close(s, uid, pubsub));
            let Ok(l) = link::connect(&ip, port, on_reply, on_close).await else {
                return;
            };
            with(|s| connected(s, uid, pubsub, l, hello));
        });
    }
}

fn connected(s: &mut Sentinel, uid: u64, pubsub: bool, l: std::rc::Rc<link::Link>, hello: Vec<u8>) {
    let Some((name, who)) = locate(s, uid) else {
        l.close();
        return;
    };
    if super::link(uid, pubsub).is_some() {
        l.close();
        return;
    }
    let renamed = &s.masters[&name].renamed;
    let mut first = hello;
    let mut asked = vec![Asked::Ignore; count_cmds(&first)];
    if pubsub {
        first.extend(renamed.cmd(&["SUBSCRIBE", HELLO_CHANNEL]));
        asked.clear();
    } else {
        first.extend(renamed.cmd(&["PING"]));
        asked.push(Asked::Ping);
    }
    if !l.send(&first, &asked) {
        return;
    }
    super::set_link(uid, pubsub, Some(l));
    let m = s.masters.get_mut(&name).unwrap();
    let is_sentinel = matches!(who, Who::Sentinel(_));
    let i = inst_mut(m, &who).unwrap();
    let t = now();
    if pubsub {
        i.pc_last_activity = t;
    } else {
        i.cc_conn_time = t;
        if i.act_ping_time == 0 {
            i.act_ping_time = t;
        }
        i.last_ping_time = t;
    }
    let up = super::link(uid, false).is_some() && (is_sentinel || super::link(uid, true).is_some());
    if up {
        i.flags &= !flag::DISCONNECTED;
    }
}

fn count_cmds(b: &[u8]) -> usize {
    let mut n = 0;
    let mut at = 0;
    while let Ok(Some((_, used))) = link::parse(&b[at..]) {
        n += 1;
        at += used;
    }
    n
}

fn on_close(s: &mut Sentinel, uid: u64, pubsub: bool) {
    if super::link(uid, pubsub).is_some_and(|l| l.closed.get()) {
        super::set_link(uid, pubsub, None);
    }
    if let Some((name, who)) = locate(s, uid) {
        if let Some(i) = inst_mut(s.masters.get_mut(&name).unwrap(), &who) {
            i.flags |= flag::DISCONNECTED;
        }
    }
}

fn on_reply(s: &mut Sentinel, uid: u64, pubsub: bool, asked: Option<Asked>, r: Resp) {
    let Some((name, who)) = locate(s, uid) else {
        return;
    };
    let t = now();
    if pubsub {
        let m = s.masters.get_mut(&name).unwrap();
        if let Some(i) = inst_mut(m, &who) {
            i.pc_last_activity = t;
        }
        if let Resp::Array(Some(items)) = &r {
            if items.len() == 3 && items[0].text().as_deref() == Some("message") {
                if let Some(payload) = items[2].text() {
                    process_hello(s, &payload);
                }
            }
        }
        return;
    }
    match asked {
        Some(Asked::Ping) => {
            let m = s.masters.get_mut(&name).unwrap();
            if who == Who::Master && r == Resp::Status("PONG".into()) {
                m.reboot_since = 0;
            }
            let kill = m.renamed.cmd(&["SCRIPT", "KILL"]);
            let Some(i) = inst_mut(m, &who) else {
                return;
            };
            let valid = match &r {
                Resp::Status(p) => p == "PONG",
                Resp::Error(e) => e.starts_with("LOADING") || e.starts_with("MASTERDOWN"),
                _ => false,
            };
            if valid {
                i.last_avail_time = t;
                i.act_ping_time = 0;
            } else if let Resp::Error(e) = &r {
                // A busy script on a master we see down: kill it once.
                if e.starts_with("BUSY") && i.is(flag::S_DOWN) && !i.is(flag::SCRIPT_KILL_SENT) {
                    if let Some(l) = super::link(uid, false) {
                        if l.send(&kill, &[Asked::Ignore]) {
                            i.flags |= flag::SCRIPT_KILL_SENT;
                        }
                    }
                }
            }
            i.last_pong_time = t;
        }
        Some(Asked::Info) => {
            if let Some(text) = r.text() {
                refresh_info(s, &name, &who, &text);
            }
        }
        Some(Asked::MasterDown) => {
            let m = s.masters.get_mut(&name).unwrap();
            let Some(i) = inst_mut(m, &who) else {
                return;
            };
            if let Resp::Array(Some(a)) = &r {
                if let [Resp::Int(down), Resp::Bulk(Some(leader)), Resp::Int(epoch)] = a.as_slice()
                {
                    i.last_master_down_reply_time = t;
                    if *down == 1 {
                        i.flags |= flag::MASTER_DOWN;
                    } else {
                        i.flags &= !flag::MASTER_DOWN;
                    }
                    let leader = String::from_utf8_lossy(leader).into_owned();
                    if leader != "*" {
                        if leader != i.leader || *epoch as u64 != i.leader_epoch {
                            tracing::info!("{} voted for {} {}", i.name, leader, *epoch);
                        }
                        i.leader = leader;
                        i.leader_epoch = *epoch as u64;
                    }
                }
            }
        }
        _ => {}
    }
}

/// sentinelSendPeriodicCommands.
fn send_periodic(s: &mut Sentinel, name: &str, who: &Who) {
    let t = now();
    let Some(m) = s.masters.get(name) else {
        return;
    };
    let master_flags = m.inst.flags;
    let (info_cmd, ping_cmd) = (m.renamed.cmd(&["INFO"]), m.renamed.cmd(&["PING"]));
    let Some(i) = inst(m, who) else {
        return;
    };
    let Some(l) = super::link(i.uid, false) else {
        return;
    };
    if l.pending.borrow().len() >= MAX_PENDING {
        return;
    }
    let is_sentinel = matches!(who, Who::Sentinel(_));
    let replica = matches!(who, Who::Replica(_));
    // Redis polls at 1 s from ODOWN; Redwing already from SDOWN, so the
    // replicas' INFO is fresh enough to pick one when the failover starts.
    let info_period = if replica
        && (master_flags & (flag::S_DOWN | flag::O_DOWN | flag::FAILOVER_IN_PROGRESS) != 0
            || i.master_link_down_time != 0
            || i.is(flag::RECONF_SENT | flag::RECONF_INPROG))
    {
        1000
    } else {
        get(T::InfoPeriod)
    };
    let ping_period = i.down_after.min(get(T::PingPeriod));
    let send_info = !is_sentinel && (i.info_refresh == 0 || t - i.info_refresh > info_period);
    let send_ping = t - i.last_pong_time > ping_period && t - i.last_ping_time > ping_period / 2;
    let send_hello = t - i.last_pub_time > get(T::PublishPeriod);
    if send_info {
        l.send(&info_cmd, &[Asked::Info]);
    }
    if send_ping && l.send(&ping_cmd, &[Asked::Ping]) {
        let m = s.masters.get_mut(name).unwrap();
        let i = inst_mut(m, who).unwrap();
        i.last_ping_time = t;
        if i.act_ping_time == 0 {
            i.act_ping_time = t;
        }
    }
    if send_hello {
        send_hello_to(s, name, who);
    }
}

/// sentinelSendHello: our address and the master's, over PUBLISH.
pub fn send_hello_to(s: &mut Sentinel, name: &str, who: &Who) {
    let m = s.masters.get(name).unwrap();
    let Some(i) = inst(m, who) else {
        return;
    };
    if i.is(flag::DISCONNECTED) {
        return;
    }
    let Some(l) = super::link(i.uid, false) else {
        return;
    };
    let ip = if s.announce_ip.is_empty() {
        l.local_ip.clone()
    } else {
        s.announce_ip.clone()
    };
    let port = if s.announce_port != 0 {
        s.announce_port as i64
    } else {
        crate::config::num(crate::config::Opt::Port)
    };
    let cur = m.current_addr();
    let payload = format!(
        "{ip},{port},{},{},{},{},{},{}",
        s.myid,
        s.current_epoch,
        m.name(),
        cur.announced(),
        cur.port,
        m.config_epoch
    );
    if l.send(
        &m.renamed.cmd(&["PUBLISH", HELLO_CHANNEL, &payload]),
        &[Asked::Ignore],
    ) {
        let m = s.masters.get_mut(name).unwrap();
        inst_mut(m, who).unwrap().last_pub_time = now();
    }
}

/// sentinelProcessHelloMessage: `host,port,runid,epoch,master,
/// master-host,master-port,master-config-epoch`; the hosts may be
/// hostnames (announce-ip, announce-hostnames).
pub fn process_hello(s: &mut Sentinel, payload: &str) {
    let tok: Vec<&str> = payload.split(',').collect();
    if tok.len() != 8 {
        return;
    }
    let (host, runid, mname, mhost) = (tok[0], tok[2], tok[4], tok[5]);
    let (Ok(port), Ok(epoch), Ok(mport), Ok(mepoch)) = (
        tok[1].parse::<u16>(),
        tok[3].parse::<u64>(),
        tok[6].parse::<u16>(),
        tok[7].parse::<u64>(),
    ) else {
        return;
    };
    if runid == s.myid {
        return;
    }
    let Some(m) = s.masters.get_mut(mname) else {
        return;
    };
    // Without resolve-hostnames a sentinel announcing a hostname is not
    // one we can know (Redis cannot create it either).
    let at = Addr::new(host, port as i64, true).ok();
    let known = m
        .sentinels
        .get(runid)
        .is_some_and(|p| at.as_ref().is_some_and(|a| p.addr.same(a)));
    if !known {
        let moved = m.sentinels.remove(runid);
        if let Some(old) = &moved {
            super::drop_links(old.uid);
            m.ev(
                Level::Notice,
                "+sentinel-address-switch",
                &format!(" ip {host} port {port} for {runid}"),
            );
        } else if let Some(a) = &at {
            // Another run id at this address: that sentinel was restarted
            // with a new id; forget the old one.
            let stale: Vec<String> = m
                .sentinels
                .values()
                .filter(|p| p.addr.same(a))
                .map(|p| p.name.clone())
                .collect();
            for k in stale {
                if let Some(p) = m.sentinels.remove(&k) {
                    super::drop_links(p.uid);
                }
            }
        }
        if let Some(a) = at {
            let mut p = Inst::new(flag::SENTINEL, runid.to_string(), a, m.inst.down_after);
            p.runid = runid.to_string();
            if moved.is_none() {
                m.ev_on(Level::Notice, "+sentinel", &p, "");
            }
            m.sentinels.insert(runid.to_string(), p);
        }
        s.dirty = true;
    }
    if s.current_epoch < epoch {
        s.current_epoch = epoch;
        s.dirty = true;
        event(Level::Warning, "+new-epoch", None, &epoch.to_string(), "");
    }
    let m = s.masters.get_mut(mname).unwrap();
    if !m.sentinels.contains_key(runid) {
        return;
    }
    if m.config_epoch < mepoch {
        m.config_epoch = mepoch;
        if m.inst.addr.port != mport || !m.inst.addr.equals_host(mhost) {
            let old = m.inst.addr.clone();
            if let Some(p) = m.sentinels.get(runid) {
                m.ev_on(Level::Warning, "+config-update-from", p, "");
            }
            event(
                Level::Warning,
                "+switch-master",
                None,
                &format!("{mname} {} {} {mhost} {mport}", old.announced(), old.port),
                "",
            );
            failover::reset_and_change_address(s, mname, mhost, mport);
            let m = &s.masters[mname];
            failover::reconf_script(m, "observer", &old, &m.inst.addr);
        }
        s.dirty = true;
    }
    if let Some(p) = s
        .masters
        .get_mut(mname)
        .and_then(|m| m.sentinels.get_mut(runid))
    {
        p.last_hello_time = now();
    }
}

/// sentinelRefreshInstanceInfo: what an INFO reply says.
fn refresh_info(s: &mut Sentinel, name: &str, who: &Who, text: &str) {
    let t = now();
    let tilt = s.tilt;
    let m = s.masters.get_mut(name).unwrap();
    let Some(i) = inst_mut(m, who) else {
        return;
    };
    let mut role = 0;
    let mut found_replicas: Vec<(String, u16)> = Vec::new();
    let mut rebooted = false;
    i.master_link_down_time = 0;
    for l in text.lines() {
        let l = l.trim_end();
        if let Some(id) = l.strip_prefix("run_id:") {
            if l.len() >= 47 {
                if !i.runid.is_empty() && i.runid != id {
                    rebooted = true;
                }
                i.runid = id.to_string();
            }
        } else if l.starts_with("slave") && l.as_bytes().get(5).is_some_and(u8::is_ascii_digit) {
            if let Some((ip, port)) = replica_line(l) {
                found_replicas.push((ip, port));
            }
        } else if let Some(v) = l.strip_prefix("master_link_down_since_seconds:") {
            i.master_link_down_time = v.parse::<i64>().unwrap_or(0) * 1000;
        } else if l == "role:master" {
            role = flag::MASTER;
        } else if l == "role:slave" {
            role = flag::SLAVE;
        }
        if role == flag::SLAVE {
            if let Some(h) = l.strip_prefix("master_host:") {
                if i.slave_master_host != h {
                    i.slave_master_host = h.to_string();
                    i.slave_conf_change_time = t;
                }
            } else if let Some(p) = l.strip_prefix("master_port:") {
                let p = p.parse().unwrap_or(0);
                if i.slave_master_port != p {
                    i.slave_master_port = p;
                    i.slave_conf_change_time = t;
                }
            } else if let Some(v) = l.strip_prefix("master_link_status:") {
                i.slave_master_link_up = v == "up";
            } else if let Some(v) = l.strip_prefix("slave_priority:") {
                i.slave_priority = v.parse().unwrap_or(100);
            } else if let Some(v) = l.strip_prefix("slave_repl_offset:") {
                i.slave_repl_offset = v.parse().unwrap_or(0);
            } else if let Some(v) = l.strip_prefix("replica_announced:") {
                i.replica_announced = v != "0";
            }
        }
    }
    i.info_refresh = t;
    i.info = Some(text.to_string());
    let changed_role = role != 0 && role != i.role_reported;
    if changed_role {
        i.role_reported_time = t;
        i.role_reported = role;
        if role == flag::SLAVE {
            i.slave_conf_change_time = t;
        }
    }
    let i = i.clone();
    if rebooted {
        match who {
            Who::Master => m.ev(Level::Notice, "+reboot", ""),
            _ => m.ev_on(Level::Notice, "+reboot", &i, ""),
        }
        if *who == Who::Master && m.reboot_down_after != 0 {
            m.reboot_since = t;
        }
    }
    if changed_role {
        let new = if role == flag::MASTER {
            "master"
        } else {
            "slave"
        };
        let kind = if i.is(flag::MASTER) == (role == flag::MASTER) {
            "-role-change"
        } else {
            "+role-change"
        };
        let rest = format!(" new reported role is {new}");
        match who {
            Who::Master => m.ev(Level::Verbose, kind, &rest),
            _ => m.ev_on(Level::Verbose, kind, &i, &rest),
        }
    }
    if *who == Who::Master {
        // A replica may announce a hostname (replica-announce-ip).
        for (host, port) in found_replicas {
            if m.replica_at(&host, port).is_some() {
                continue;
            }
            let Ok(a) = Addr::new(&host, port as i64, true) else {
                continue;
            };
            if let Some(r) = m.add_replica(a) {
                m.ev_on(Level::Notice, "+slave", &r, "");
                s.dirty = true;
            }
        }
    }
    if tilt || role == 0 {
        return;
    }
    if let Who::Replica(rname) = who {
        failover::replica_info(s, name, rname, role);
    }
}

/// `slave0:ip=1.2.3.4,port=6380,state=online,...` or the old
/// `slave0:1.2.3.4,6380,online`.
fn replica_line(l: &str) -> Option<(String, u16)> {
    let body = l.split_once(':')?.1;
    if body.contains("ip=") {
        let mut ip = None;
        let mut port = None;
        for kv in body.split(',') {
            if let Some(v) = kv.strip_prefix("ip=") {
                ip = Some(v.to_string());
            } else if let Some(v) = kv.strip_prefix("port=") {
                port = v.parse().ok();
            }
        }
        Some((ip?, port?))
    } else {
        let mut it = body.split(',');
        Some((it.next()?.to_string(), it.next()?.parse().ok()?))
    }
}

/// sentinelCheckSubjectivelyDown, with the link recycling before it.
fn check_sdown(s: &mut Sentinel, name: &str, who: &Who) {
    let t = now();
    let m = s.masters.get_mut(name).unwrap();
    // master-reboot-down-after-period: a rebooted master that has not
    // answered PONG since counts as down after that period.
    let rebooted_down =
        *who == Who::Master && m.reboot_since != 0 && t - m.reboot_since > m.reboot_down_after;
    let Some(i) = inst_mut(m, who) else {
        return;
    };
    let elapsed = if i.act_ping_time != 0 {
        t - i.act_ping_time
    } else if i.is(flag::DISCONNECTED) {
        t - i.last_avail_time
    } else {
        0
    };
    // A link with a ping pending too long is recycled (the peer may be
    // fine and the link stuck); so is a silent pubsub link.
    if let Some(l) = super::link(i.uid, false) {
        if t - i.cc_conn_time > get(T::MinLinkReconnectPeriod)
            && i.act_ping_time != 0
            && t - i.act_ping_time > i.down_after / 2
            && t - i.last_pong_time > i.down_after / 2
        {
            l.close();
        }
    }
    if let Some(l) = super::link(i.uid, true) {
        if t - i.pc_conn_time > get(T::MinLinkReconnectPeriod)
            && t - i.pc_last_activity > get(T::PublishPeriod) * 3
        {
            l.close();
        }
    }
    let down = elapsed > i.down_after
        || rebooted_down
        || (i.is(flag::MASTER)
            && i.role_reported == flag::SLAVE
            && t - i.role_reported_time > i.down_after + get(T::InfoPeriod) * 2);
    let was = i.is(flag::S_DOWN);
    if down && !was {
        i.s_down_since = t;
        i.flags |= flag::S_DOWN;
        i.flags &= !flag::SCRIPT_KILL_SENT;
    } else if !down && was {
        i.flags &= !(flag::S_DOWN | flag::SCRIPT_KILL_SENT);
    }
    if down != was {
        let i = i.clone();
        let kind = if down { "+sdown" } else { "-sdown" };
        match who {
            Who::Master => m.ev(Level::Warning, kind, ""),
            _ => m.ev_on(Level::Warning, kind, &i, ""),
        }
    }
}

/// sentinelCheckObjectivelyDown.
fn check_odown(s: &mut Sentinel, name: &str) {
    let t = now();
    let m = s.masters.get_mut(name).unwrap();
    let mut quorum = 0;
    let mut odown = false;
    if m.inst.is(flag::S_DOWN) {
        quorum = 1 + m
            .sentinels
            .values()
            .filter(|p| p.is(flag::MASTER_DOWN))
            .count() as u32;
        odown = quorum >= m.quorum;
    }
    if odown && !m.inst.is(flag::O_DOWN) {
        m.inst.flags |= flag::O_DOWN;
        m.inst.o_down_since = t;
        m.ev(
            Level::Warning,
            "+odown",
            &format!(" #quorum {quorum}/{}", m.quorum),
        );
    } else if !odown && m.inst.is(flag::O_DOWN) {
        m.inst.flags &= !flag::O_DOWN;
        m.ev(Level::Warning, "-odown", "");
    }
}

/// sentinelAskMasterStateToOtherSentinels.
fn ask_others(s: &mut Sentinel, name: &str, forced: bool) {
    let t = now();
    let myid = s.myid.clone();
    let epoch = s.current_epoch;
    let m = s.masters.get_mut(name).unwrap();
    let sdown = m.inst.is(flag::S_DOWN);
    let runid = if m.failover_state > Failover::None {
        myid
    } else {
        "*".to_string()
    };
    let (host, port) = (
        m.inst.addr.announced().to_string(),
        m.inst.addr.port.to_string(),
    );
    for p in m.sentinels.values_mut() {
        let elapsed = t - p.last_master_down_reply_time;
        if elapsed > get(T::AskPeriod) * 5 {
            p.flags &= !flag::MASTER_DOWN;
            p.leader.clear();
        }
        if !sdown || p.is(flag::DISCONNECTED) {
            continue;
        }
        if !forced && elapsed < get(T::AskPeriod) {
            continue;
        }
        let Some(l) = super::link(p.uid, false) else {
            continue;
        };
        let cmd = m.renamed.cmd(&[
            "SENTINEL",
            "is-master-down-by-addr",
            &host,
            &port,
            &epoch.to_string(),
            &runid,
        ]);
        l.send(&cmd, &[Asked::MasterDown]);
    }
}
