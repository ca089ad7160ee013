//! Leader election and the failover state machine (sentinelVoteLeader,
//! sentinelGetLeader, sentinelStartFailoverIfNeeded,
//! sentinelFailoverStateMachine and its states, sentinelSelectSlave,
//! sentinelFailoverSwitchToPromotedSlave), the reconfiguration
//! transaction, and the scripts.

use super::addr::Addr;
use super::link::{self, Asked};
use super::timing::{get, T};
use super::{event, flag, now, Failover, Inst, Level, Master, Sentinel};

fn jitter() -> i64 {
    use rand::Rng;
    rand::thread_rng().gen_range(0..1000)
}

/// sentinelVoteLeader: our vote for `req_runid` in `req_epoch`, or the
/// vote we already gave. Returns (leader, leader_epoch).
pub fn vote(s: &mut Sentinel, name: &str, req_epoch: u64, req_runid: &str) -> (String, u64) {
    if req_epoch > s.current_epoch {
        s.current_epoch = req_epoch;
        s.dirty = true;
        event(
            Level::Warning,
            "+new-epoch",
            None,
            &req_epoch.to_string(),
            "",
        );
    }
    let current = s.current_epoch;
    let myid = s.myid.clone();
    let m = s.masters.get_mut(name).unwrap();
    if m.leader_epoch < req_epoch && current <= req_epoch {
        m.leader = req_runid.to_string();
        m.leader_epoch = current;
        s.dirty = true;
        event(
            Level::Warning,
            "+vote-for-leader",
            None,
            &format!("{} {}", m.leader, m.leader_epoch),
            &m.notification_script,
        );
        // Voting for another delays our own failover attempt.
        if req_runid != myid {
            m.failover_start_time = now() + jitter();
        }
    }
    (m.leader.clone(), m.leader_epoch)
}

/// sentinelGetLeader: the sentinel that has the majority of the votes for
/// `epoch`, counting ours, if any.
fn leader(s: &mut Sentinel, name: &str, epoch: u64) -> Option<String> {
    let m = s.masters.get(name).unwrap();
    let mut counts: Vec<(String, u32)> = Vec::new();
    let add = |who: &str, counts: &mut Vec<(String, u32)>| match counts
        .iter_mut()
        .find(|(w, _)| w == who)
    {
        Some((_, n)) => *n += 1,
        None => counts.push((who.to_string(), 1)),
    };
    for p in m.sentinels.values() {
        if !p.leader.is_empty() && p.leader_epoch == s.current_epoch {
            add(&p.leader, &mut counts);
        }
    }
    let voters = m.sentinels.len() as u32 + 1;
    let quorum = m.quorum;
    let top = |counts: &Vec<(String, u32)>| {
        counts
            .iter()
            .fold(None::<&(String, u32)>, |best, c| match best {
                Some(b) if b.1 >= c.1 => Some(b),
                _ => Some(c),
            })
            .cloned()
    };
    let candidate = top(&counts).map(|(w, _)| w).unwrap_or(s.myid.clone());
    let (myvote, vote_epoch) = vote(s, name, epoch, &candidate);
    if !myvote.is_empty() && vote_epoch == epoch {
        add(&myvote, &mut counts);
    }
    let (winner, votes) = top(&counts)?;
    // A majority of the voters (voters / 2 + 1) and the quorum.
    (votes > voters / 2 && votes >= quorum).then_some(winner)
}

/// sentinelStartFailoverIfNeeded.
pub fn start_if_needed(s: &mut Sentinel, name: &str) -> bool {
    let t = now();
    let m = s.masters.get_mut(name).unwrap();
    if !m.inst.is(flag::O_DOWN) || m.inst.is(flag::FAILOVER_IN_PROGRESS) {
        return false;
    }
    if t - m.failover_start_time < m.failover_timeout * 2 {
        if m.failover_delay_logged != m.failover_start_time {
            m.failover_delay_logged = m.failover_start_time;
            tracing::warn!(
                "Next failover delay: I will not start a failover before {} ms from now",
                m.failover_start_time + m.failover_timeout * 2 - t
            );
        }
        return false;
    }
    start(s, name);
    true
}

/// sentinelStartFailover.
pub fn start(s: &mut Sentinel, name: &str) {
    s.current_epoch += 1;
    let epoch = s.current_epoch;
    s.dirty = true;
    let m = s.masters.get_mut(name).unwrap();
    m.failover_state = Failover::WaitStart;
    m.inst.flags |= flag::FAILOVER_IN_PROGRESS;
    m.failover_epoch = epoch;
    event(Level::Warning, "+new-epoch", None, &epoch.to_string(), "");
    m.ev(Level::Warning, "+try-failover", "");
    m.failover_start_time = now() + jitter();
    m.failover_state_change_time = now();
}

fn abort(m: &mut Master) {
    m.inst.flags &= !(flag::FAILOVER_IN_PROGRESS | flag::FORCE_FAILOVER);
    m.failover_state = Failover::None;
    m.failover_state_change_time = now();
    if let Some(p) = m.promoted.take() {
        if let Some(r) = m.replicas.get_mut(&p) {
            r.flags &= !flag::PROMOTED;
        }
    }
}

/// sentinelFailoverStateMachine.
pub fn state_machine(s: &mut Sentinel, name: &str) {
    let state = s.masters.get(name).unwrap().failover_state;
    if !s.masters[name].inst.is(flag::FAILOVER_IN_PROGRESS) {
        return;
    }
    let t = now();
    match state {
        Failover::WaitStart => {
            let epoch = s.masters[name].failover_epoch;
            let elected = leader(s, name, epoch).is_some_and(|l| l == s.myid);
            let m = s.masters.get_mut(name).unwrap();
            if !elected && !m.inst.is(flag::FORCE_FAILOVER) {
                let timeout = get(T::ElectionTimeout).min(m.failover_timeout);
                if t - m.failover_start_time > timeout {
                    m.ev(Level::Warning, "-failover-abort-not-elected", "");
                    abort(m);
                }
                return;
            }
            m.ev(Level::Warning, "+elected-leader", "");
            super::crash_if(s, super::CRASH_AFTER_ELECTION);
            let m = s.masters.get_mut(name).unwrap();
            m.failover_state = Failover::SelectSlave;
            m.failover_state_change_time = t;
            m.ev(Level::Warning, "+failover-state-select-slave", "");
            // Go on at once: nothing to wait for.
            state_machine(s, name);
        }
        Failover::SelectSlave => {
            let m = s.masters.get_mut(name).unwrap();
            match select_replica(m) {
                None => {
                    m.ev(Level::Warning, "-failover-abort-no-good-slave", "");
                    abort(m);
                }
                Some(r) => {
                    let ri = m.replicas.get_mut(&r).unwrap();
                    ri.flags |= flag::PROMOTED;
                    let ri = ri.clone();
                    m.ev_on(Level::Warning, "+selected-slave", &ri, "");
                    m.promoted = Some(r);
                    m.failover_state = Failover::SendSlaveofNoone;
                    m.failover_state_change_time = t;
                    m.ev_on(Level::Notice, "+failover-state-send-slaveof-noone", &ri, "");
                    state_machine(s, name);
                }
            }
        }
        Failover::SendSlaveofNoone => {
            let m = s.masters.get_mut(name).unwrap();
            let p = m.promoted.clone().unwrap_or_default();
            let Some(ri) = m.replicas.get(&p).cloned() else {
                abort(m);
                return;
            };
            if ri.is(flag::DISCONNECTED) {
                if t - m.failover_state_change_time > m.failover_timeout {
                    m.ev(Level::Warning, "-failover-abort-slave-timeout", "");
                    abort(m);
                }
                return;
            }
            if send_slaveof(&m.renamed, &ri, None) {
                m.ev_on(Level::Notice, "+failover-state-wait-promotion", &ri, "");
                m.failover_state = Failover::WaitPromotion;
                m.failover_state_change_time = t;
                // Ask the replica for INFO now rather than in a second.
                if let Some(l) = super::link(ri.uid, false) {
                    l.send(&m.renamed.cmd(&["INFO"]), &[Asked::Info]);
                }
            }
        }
        Failover::WaitPromotion => {
            let m = s.masters.get_mut(name).unwrap();
            if t - m.failover_state_change_time > m.failover_timeout {
                m.ev(Level::Warning, "-failover-abort-slave-timeout", "");
                abort(m);
            } else if let Some(ri) = m.promoted.as_ref().and_then(|p| m.replicas.get(p)) {
                // Poll the promoted replica quickly: promotion shows in INFO.
                if let Some(l) = super::link(ri.uid, false) {
                    if t - ri.info_refresh > 100 && l.pending.borrow().is_empty() {
                        l.send(&m.renamed.cmd(&["INFO"]), &[Asked::Info]);
                    }
                }
            }
        }
        Failover::ReconfSlaves => reconf_next(s, name),
        Failover::None | Failover::UpdateConfig => {}
    }
}

/// sentinelSelectSlave with compareSlavesForPromotion.
fn select_replica(m: &Master) -> Option<String> {
    let t = now();
    let mut max_down = 0;
    if m.inst.is(flag::S_DOWN) {
        max_down += t - m.inst.s_down_since;
    }
    max_down += m.inst.down_after * 10;
    let validity = if m.inst.is(flag::S_DOWN) {
        get(T::PingPeriod) * 5
    } else {
        get(T::InfoPeriod) * 3
    };
    let mut c: Vec<&Inst> = m
        .replicas
        .values()
        .filter(|r| {
            !r.is(flag::S_DOWN | flag::O_DOWN | flag::DISCONNECTED)
                && t - r.last_avail_time <= get(T::PingPeriod) * 5
                && r.slave_priority != 0
                && t - r.info_refresh <= validity
                && r.master_link_down_time <= max_down
        })
        .collect();
    c.sort_by(|a, b| {
        a.slave_priority
            .cmp(&b.slave_priority)
            .then(b.slave_repl_offset.cmp(&a.slave_repl_offset))
            .then_with(|| match (a.runid.is_empty(), b.runid.is_empty()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => a.runid.to_lowercase().cmp(&b.runid.to_lowercase()),
            })
    });
    c.first().map(|r| r.name.clone())
}

/// sentinelSendSlaveOf: the reconfiguration as one transaction (SLAVEOF
/// the announced address, never REPLICAOF; replies ignored, the next INFO
/// tells).
pub fn send_slaveof(renamed: &link::Renames, ri: &Inst, to: Option<&Addr>) -> bool {
    let Some(l) = super::link(ri.uid, false) else {
        return false;
    };
    let port;
    let slaveof: Vec<&str> = match to {
        Some(a) => {
            port = a.port.to_string();
            vec!["SLAVEOF", a.announced(), &port]
        }
        None => vec!["SLAVEOF", "NO", "ONE"],
    };
    let mut b = renamed.cmd(&["MULTI"]);
    b.extend(renamed.cmd(&slaveof));
    b.extend(renamed.cmd(&["CONFIG", "REWRITE"]));
    b.extend(renamed.cmd(&["CLIENT", "KILL", "TYPE", "normal"]));
    b.extend(renamed.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]));
    b.extend(renamed.cmd(&["EXEC"]));
    l.send(&b, &[Asked::Ignore; 6])
}

/// What a replica's INFO means for the failover and for its
/// configuration (the second half of sentinelRefreshInstanceInfo).
pub fn replica_info(s: &mut Sentinel, name: &str, rname: &str, role: u32) {
    let t = now();
    let m = s.masters.get_mut(name).unwrap();
    let Some(ri) = m.replicas.get(rname).cloned() else {
        return;
    };
    let waiting = m.inst.is(flag::FAILOVER_IN_PROGRESS)
        && m.failover_state == Failover::WaitPromotion
        && m.promoted.as_deref() == Some(rname);
    if role == flag::MASTER && ri.is(flag::PROMOTED) && waiting {
        // The promotion worked.
        m.config_epoch = m.failover_epoch;
        m.failover_state = Failover::ReconfSlaves;
        m.failover_state_change_time = t;
        s.dirty = true;
        m.ev_on(Level::Warning, "+promoted-slave", &ri, "");
        super::crash_if(s, super::CRASH_AFTER_PROMOTION);
        let m = s.masters.get_mut(name).unwrap();
        m.ev(Level::Warning, "+failover-state-reconf-slaves", "");
        reconf_script(m, "leader", &m.inst.addr, &ri.addr);
        force_hello(m);
        // Reconfigure the other replicas now, not at the next tick.
        reconf_next(s, name);
        return;
    }
    if role == flag::MASTER && !ri.is(flag::PROMOTED) {
        // A replica that says it is a master (the old master back):
        // make it a replica again once things are stable.
        let wait = get(T::PublishPeriod) * 4;
        if master_sane(m)
            && ri.no_down_for(wait)
            && t - ri.role_reported_time > wait
            && send_slaveof(&m.renamed, &ri, Some(&m.inst.addr))
        {
            m.ev_on(Level::Notice, "+convert-to-slave", &ri, "");
        }
        return;
    }
    if role == flag::SLAVE
        && !m.inst.is(flag::FAILOVER_IN_PROGRESS)
        && (ri.slave_master_port != m.inst.addr.port
            || !m.inst.addr.equals_host(&ri.slave_master_host))
    {
        let wait = m.failover_timeout;
        if master_sane(m)
            && ri.no_down_for(wait)
            && t - ri.slave_conf_change_time > wait
            && send_slaveof(&m.renamed, &ri, Some(&m.inst.addr))
        {
            m.ev_on(Level::Notice, "+fix-slave-config", &ri, "");
        }
    }
    if role == flag::SLAVE && ri.is(flag::RECONF_SENT | flag::RECONF_INPROG) {
        let Some(p) = m.promoted.as_ref().and_then(|p| m.replicas.get(p)).cloned() else {
            return;
        };
        let r = m.replicas.get_mut(rname).unwrap();
        if r.is(flag::RECONF_SENT)
            && !r.slave_master_host.is_empty()
            && p.addr.equals_host(&r.slave_master_host)
            && r.slave_master_port == p.addr.port
        {
            r.flags &= !flag::RECONF_SENT;
            r.flags |= flag::RECONF_INPROG;
            let r = r.clone();
            m.ev_on(Level::Notice, "+slave-reconf-inprog", &r, "");
        }
        let r = m.replicas.get_mut(rname).unwrap();
        if r.is(flag::RECONF_INPROG) && r.slave_master_link_up {
            r.flags &= !flag::RECONF_INPROG;
            r.flags |= flag::RECONF_DONE;
            let r = r.clone();
            m.ev_on(Level::Notice, "+slave-reconf-done", &r, "");
        }
    }
}

/// sentinelMasterLooksSane.
fn master_sane(m: &Master) -> bool {
    m.inst.is(flag::MASTER)
        && m.inst.role_reported == flag::MASTER
        && !m.inst.is(flag::S_DOWN | flag::O_DOWN | flag::DISCONNECTED)
        && now() - m.inst.info_refresh < get(T::InfoPeriod) * 2
}

/// sentinelForceHelloUpdateForMaster: hellos go out at the next tick.
fn force_hello(m: &mut Master) {
    m.inst.last_pub_time = 0;
    for i in m.replicas.values_mut().chain(m.sentinels.values_mut()) {
        i.last_pub_time = 0;
    }
}

/// sentinelFailoverReconfNextSlave, then sentinelFailoverDetectEnd.
fn reconf_next(s: &mut Sentinel, name: &str) {
    let t = now();
    let m = s.masters.get_mut(name).unwrap();
    let Some(p) = m.promoted.as_ref().and_then(|p| m.replicas.get(p)).cloned() else {
        return;
    };
    let mut in_progress = m
        .replicas
        .values()
        .filter(|r| r.is(flag::RECONF_SENT | flag::RECONF_INPROG))
        .count() as u32;
    let names: Vec<String> = m.replicas.keys().cloned().collect();
    for rn in &names {
        if in_progress >= m.parallel_syncs {
            break;
        }
        let r = m.replicas.get_mut(rn).unwrap();
        if r.is(flag::PROMOTED | flag::RECONF_DONE) {
            continue;
        }
        if r.is(flag::RECONF_SENT) && t - r.slave_reconf_sent_time > get(T::SlaveReconfTimeout) {
            r.flags &= !flag::RECONF_SENT;
            r.flags |= flag::RECONF_DONE;
            let r = r.clone();
            m.ev_on(Level::Notice, "-slave-reconf-sent-timeout", &r, "");
            continue;
        }
        if r.is(flag::RECONF_SENT | flag::RECONF_INPROG | flag::DISCONNECTED) {
            continue;
        }
        if send_slaveof(&m.renamed, r, Some(&p.addr)) {
            r.flags |= flag::RECONF_SENT;
            r.slave_reconf_sent_time = t;
            let r = r.clone();
            m.ev_on(Level::Notice, "+slave-reconf-sent", &r, "");
            in_progress += 1;
        }
    }
    detect_end(m);
}

/// sentinelFailoverDetectEnd.
fn detect_end(m: &mut Master) {
    let t = now();
    let Some(p) = m.promoted.as_ref().and_then(|p| m.replicas.get(p)).cloned() else {
        return;
    };
    if m.failover_state != Failover::ReconfSlaves || p.is(flag::S_DOWN) {
        return;
    }
    let mut left = m
        .replicas
        .values()
        .filter(|r| !r.is(flag::PROMOTED | flag::RECONF_DONE | flag::S_DOWN))
        .count();
    let mut timeout = false;
    if t - m.failover_state_change_time > m.failover_timeout {
        left = 0;
        timeout = true;
        m.ev(Level::Warning, "+failover-end-for-timeout", "");
    }
    if left == 0 {
        m.ev(Level::Warning, "+failover-end", "");
        m.failover_state = Failover::UpdateConfig;
        m.failover_state_change_time = t;
    }
    if timeout {
        let names: Vec<String> = m.replicas.keys().cloned().collect();
        for rn in names {
            let r = m.replicas.get_mut(&rn).unwrap();
            if r.is(flag::RECONF_DONE | flag::RECONF_SENT | flag::PROMOTED | flag::DISCONNECTED) {
                continue;
            }
            if send_slaveof(&m.renamed, r, Some(&p.addr)) {
                r.flags |= flag::RECONF_SENT;
                let r = r.clone();
                m.ev_on(Level::Notice, "+slave-reconf-sent-be", &r, "");
            }
        }
    }
}

/// sentinelFailoverSwitchToPromotedSlave.
pub fn switch_to_promoted(s: &mut Sentinel, name: &str) {
    let m = s.masters.get(name).unwrap();
    let Some(p) = m.promoted.as_ref().and_then(|p| m.replicas.get(p)).cloned() else {
        return;
    };
    let (old, new) = (&m.inst.addr, &p.addr);
    event(
        Level::Warning,
        "+switch-master",
        None,
        &format!(
            "{name} {} {} {} {}",
            old.announced(),
            old.port,
            new.announced(),
            new.port
        ),
        "",
    );
    reset_and_change_address(s, name, &p.addr.host, p.addr.port);
}

/// sentinelResetMasterAndChangeAddress: the master is now at `host:port`;
/// the other replicas and the old master become its replicas, the
/// sentinels stay. False (nothing changed) if `host` does not resolve.
pub fn reset_and_change_address(s: &mut Sentinel, name: &str, host: &str, port: u16) -> bool {
    let Ok(new) = Addr::new(host, port as i64, false) else {
        return false;
    };
    let m = s.masters.get_mut(name).unwrap();
    let mut addrs: Vec<Addr> = m
        .replicas
        .values()
        .filter(|r| !r.addr.same(&new))
        .map(|r| r.addr.clone())
        .collect();
    if !new.same(&m.inst.addr) {
        addrs.push(m.inst.addr.clone());
    }
    reset(m, false);
    m.inst.addr = new;
    for a in addrs {
        // Resolved again, as Redis creates them anew.
        let Ok(a) = Addr::new(&a.host, a.port as i64, true) else {
            continue;
        };
        if let Some(r) = m.add_replica(a) {
            m.ev_on(Level::Notice, "+slave", &r, "");
        }
    }
    s.dirty = true;
    true
}

/// sentinelResetMaster: forget the replicas (and the sentinels when
/// asked), the failover, and the links.
pub fn reset(m: &mut Master, sentinels_too: bool) {
    for r in std::mem::take(&mut m.replicas).into_values() {
        super::drop_links(r.uid);
    }
    if sentinels_too {
        for p in std::mem::take(&mut m.sentinels).into_values() {
            super::drop_links(p.uid);
        }
    }
    super::drop_links(m.inst.uid);
    let old = m.inst.clone();
    m.inst = Inst::new(flag::MASTER, old.name, old.addr, old.down_after);
    m.failover_state = Failover::None;
    m.failover_state_change_time = 0;
    m.failover_start_time = 0;
    m.promoted = None;
}

/// Runs client-reconfig-script `<master> <role> start <from-host>
/// <from-port> <to-host> <to-port>` with the announced addresses (in
/// Redis 7.0 the state is always "start").
pub fn reconf_script(m: &Master, role: &str, from: &Addr, to: &Addr) {
    if m.client_reconfig_script.is_empty() {
        return;
    }
    super::scripts::schedule(
        m.client_reconfig_script.clone(),
        vec![
            m.name().to_string(),
            role.to_string(),
            "start".to_string(),
            from.announced().to_string(),
            from.port.to_string(),
            to.announced().to_string(),
            to.port.to_string(),
        ],
    );
}

/// SENTINEL FAILOVER: a failover that needs no agreement.
pub fn force(s: &mut Sentinel, name: &str) -> Result<(), &'static str> {
    let m = s
        .masters
        .get(name)
        .ok_or("ERR No such master with that name")?;
    if m.inst.is(flag::FAILOVER_IN_PROGRESS) {
        return Err("INPROG Failover already in progress");
    }
    if select_replica(m).is_none() {
        return Err("NOGOODSLAVE No suitable replica to promote");
    }
    tracing::warn!("Executing user requested FAILOVER of '{name}'");
    start(s, name);
    s.masters.get_mut(name).unwrap().inst.flags |= flag::FORCE_FAILOVER;
    Ok(())
}
