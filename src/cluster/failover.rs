//! FAIL and failover, as Redis 7.0 does them: a PFAIL node turns FAIL
//! once a majority of masters report it (markNodeAsFailingIfNeeded); a
//! replica of a failed master runs an election after a rank delay and
//! wins with a majority of the masters' votes
//! (clusterHandleSlaveFailover, clusterSendFailoverAuthIfNeeded,
//! clusterFailoverReplaceYourMaster); CLUSTER FAILOVER's manual
//! failover (MFSTART, the paused master, FORCE and TAKEOVER).

use rand::Rng;

use super::gossip::{now, Send};
use super::nodes::{flag, NodeId};
use super::wire::{kind, mflag, Body, Header, Message};
use super::State;
use crate::config::{self, Opt};

/// A replica's election (Redis's failover_auth_*).
#[derive(Default)]
pub struct Election {
    /// Unix ms the election starts (or started).
    pub time: u64,
    /// Votes received for `epoch`.
    pub count: usize,
    /// The request went out.
    pub sent: bool,
    pub rank: usize,
    pub epoch: u64,
    /// "Unable to failover: data too old" was logged (once per election).
    pub logged_data_age: bool,
}

/// A manual failover (Redis's mf_*): 0 `end` means none.
#[derive(Default)]
pub struct Manual {
    pub end: u64,
    /// The replica may run its election (it caught up, or FORCE).
    pub can_start: bool,
    /// On the master: the replica that asked.
    pub replica: Option<NodeId>,
    /// On the replica: the offset the paused master announced.
    pub master_offset: Option<u64>,
}

/// How long a manual failover may take.
const MANUAL_TIMEOUT: u64 = 5000;
/// How long a master must stay orphaned before a replica migrates to it,
/// so that its own replicas can announce a failover first.
const MIGRATION_DELAY: u64 = 5000;

fn node_timeout() -> u64 {
    config::num(Opt::ClusterNodeTimeout) as u64
}

fn my_offset() -> u64 {
    crate::replication::master_offset().max(0) as u64
}

impl State {
    /// PFAIL → FAIL when myself (if a master) and the masters reporting
    /// it make a majority; everybody is told.
    pub fn mark_failing_if_needed(&mut self, i: usize, out: &mut Vec<Send>) {
        let needed = self.size / 2 + 1; // a majority of the masters
        let now = now();
        let valid = node_timeout() * 2;
        let i_am_master = self.myself().is(flag::MASTER);
        let n = &mut self.nodes[i];
        if !n.is(flag::PFAIL) || n.is(flag::FAIL) {
            return;
        }
        n.fail_reports
            .retain(|(_, t)| now.saturating_sub(*t) <= valid);
        let failures = n.fail_reports.len() + i_am_master as usize;
        if failures < needed {
            return;
        }
        tracing::info!("Marking node {} as failing (quorum reached).", n.id);
        n.flags = (n.flags & !flag::PFAIL) | flag::FAIL;
        n.fail_time = now;
        let nodename = *n.id.bytes();
        let fail = Message {
            header: self.header(),
            body: Body::Fail { nodename },
        };
        self.broadcast(&fail, out);
        self.todo_save = true;
    }

    /// Replicas of myself's master, myself excluded, with a greater
    /// offset: the election waits a second for each.
    fn rank(&self) -> usize {
        let me = self.myself();
        let mine = my_offset();
        self.nodes
            .iter()
            .filter(|n| {
                n.master == me.master
                    && !n.is(flag::MYSELF | flag::NOFAILOVER)
                    && n.is(flag::SLAVE)
                    && n.repl_offset > mine
            })
            .count()
    }

    /// Replicas of `m` not marked FAIL (`strict`: not PFAIL either).
    fn working_replicas(&self, m: NodeId, strict: bool) -> usize {
        let down = if strict {
            flag::FAIL | flag::PFAIL
        } else {
            flag::FAIL
        };
        self.nodes
            .iter()
            .filter(|r| r.master == Some(m) && r.is(flag::SLAVE) && !r.is(down))
            .count()
    }

    /// Replica migration (Redis's clusterCron and
    /// clusterHandleSlaveMigration): a replica of a master with the most
    /// working replicas moves to an orphaned master — one serving slots
    /// that had replicas and has no working one — when its own master
    /// keeps more than `cluster-migration-barrier`. Of the candidates, the
    /// replica with the smallest id goes, after the master has been
    /// orphaned for 5 s.
    pub fn replica_migration(&mut self) {
        // Masters that have had replicas may receive migrants.
        let with_replicas: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|r| r.is(flag::SLAVE))
            .filter_map(|r| r.master)
            .collect();
        for n in self.nodes.iter_mut() {
            if n.is(flag::MASTER) && with_replicas.contains(&n.id) {
                n.flags |= flag::MIGRATE_TO;
            }
        }
        let me = self.myself();
        let Some(my_master) = me.master.filter(|_| me.is(flag::SLAVE)) else {
            return;
        };
        if config::num(Opt::ClusterAllowReplicaMigration) == 0 || !self.state_ok() {
            return;
        }
        let masters: Vec<(NodeId, usize, bool)> = self
            .nodes
            .iter()
            .filter(|n| n.is(flag::MASTER) && !n.is(flag::FAIL))
            .map(|n| {
                let ok = self.working_replicas(n.id, false);
                let orphaned =
                    ok == 0 && n.is(flag::MIGRATE_TO) && self.owner.contains(&Some(n.id));
                (n.id, ok, orphaned)
            })
            .collect();
        let max = masters.iter().map(|m| m.1).max().unwrap_or(0);
        let mine = masters.iter().find(|m| m.0 == my_master).map_or(0, |m| m.1);
        if !masters.iter().any(|m| m.2) || max < 2 || mine != max {
            return;
        }
        let barrier = config::num(Opt::ClusterMigrationBarrier) as usize;
        if self.working_replicas(my_master, true) <= barrier {
            return;
        }
        let now = now();
        let mut target = None;
        for &(id, _, orphaned) in &masters {
            let n = self.get_mut(id).expect("listed");
            if orphaned {
                n.orphaned_since = if n.orphaned_since == 0 {
                    now
                } else {
                    n.orphaned_since
                };
                target = target.or(Some((id, n.orphaned_since)));
            } else {
                n.orphaned_since = 0;
            }
        }
        let candidate = self
            .nodes
            .iter()
            .filter(|r| r.is(flag::SLAVE))
            .filter(|r| masters.iter().any(|m| Some(m.0) == r.master && m.1 == max))
            .map(|r| r.id)
            .min();
        let Some((target, since)) = target else {
            return;
        };
        if candidate == Some(self.myself().id) && now.saturating_sub(since) > MIGRATION_DELAY {
            tracing::info!("Migrating to orphaned master {target}");
            self.set_my_master(target);
        }
    }

    /// A replica disconnected from its master for longer than the node
    /// timeout plus `cluster-replica-validity-factor` node timeouts (plus
    /// the ping period) does not start an election: its data may be too
    /// old (0 disables the check; manual failovers skip it).
    fn data_too_old(&mut self, timeout: u64) -> bool {
        let factor = config::num(Opt::ClusterReplicaValidityFactor) as u64;
        let Some(mut age) = crate::replication::replica::data_age_ms() else {
            return false;
        };
        if age > timeout {
            age -= timeout;
        }
        let period = config::num(Opt::ReplPingReplicaPeriod) as u64 * 1000;
        let too_old = factor != 0 && age > period + timeout.saturating_mul(factor);
        if too_old && !self.election.logged_data_age {
            self.election.logged_data_age = true;
            tracing::warn!(
                "Currently unable to failover: Disconnected from master for longer than allowed. Please check the 'cluster-replica-validity-factor' configuration option."
            );
        }
        too_old
    }

    /// The replica's side, from the cron and on each vote.
    pub fn replica_failover(&mut self, out: &mut Vec<Send>) {
        let me = self.myself();
        let Some(master) = me.master.filter(|_| me.is(flag::SLAVE)) else {
            return;
        };
        let Some(m) = self.get(master) else { return };
        let manual = self.manual.end != 0 && self.manual.can_start;
        let timeout = node_timeout();
        let auth_timeout = (timeout * 2).max(2000);
        let retry = auth_timeout * 2;
        let now = now();
        if !(m.is(flag::FAIL) || manual) || !self.owner.contains(&Some(master)) {
            return;
        }
        if config::num(Opt::ClusterReplicaNoFailover) == 1 && !manual {
            return;
        }
        if !manual && self.data_too_old(timeout) {
            return;
        }
        if now.saturating_sub(self.election.time) > retry {
            let rank = self.rank();
            let delay = if manual {
                0
            } else {
                500 + rand::thread_rng().gen_range(0..500) + rank as u64 * 1000
            };
            self.election = super::failover::Election {
                time: now + delay,
                rank: if manual { 0 } else { rank },
                ..Default::default()
            };
            tracing::info!(
                "Start of election delayed for {delay} milliseconds (rank #{rank}, offset {}).",
                my_offset()
            );
            // Siblings learn our offset, for their rank.
            let pong = self.ping(kind::PONG, None);
            for n in &self.nodes {
                if n.master == Some(master) && !n.is(flag::MYSELF) && n.connected {
                    out.push(Send::To(n.id, pong.clone()));
                }
            }
            return;
        }
        if !self.election.sent && !manual {
            let rank = self.rank();
            if rank > self.election.rank {
                let added = (rank - self.election.rank) as u64 * 1000;
                self.election.time += added;
                self.election.rank = rank;
                tracing::info!(
                    "Replica rank updated to #{rank}, added {added} milliseconds of delay."
                );
            }
        }
        if now < self.election.time || now - self.election.time > auth_timeout {
            return;
        }
        if !self.election.sent {
            self.current_epoch += 1;
            self.election.epoch = self.current_epoch;
            self.election.sent = true;
            tracing::info!(
                "Starting a failover election for epoch {}.",
                self.current_epoch
            );
            let mut req = Message {
                header: self.header(),
                body: Body::FailoverAuthRequest,
            };
            if manual {
                req.header.mflags[0] |= mflag::FORCEACK;
            }
            self.broadcast(&req, out);
            self.todo_save = true;
            return;
        }
        if self.election.count > self.size / 2 {
            tracing::info!("Failover election won: I'm the new master.");
            if self.myself().config_epoch < self.election.epoch {
                self.myself_mut().config_epoch = self.election.epoch;
                tracing::info!(
                    "configEpoch set to {} after successful failover",
                    self.election.epoch
                );
            }
            self.replace_my_master(out);
        }
    }

    /// Myself, a replica, takes its master's slots and tells everybody.
    pub fn replace_my_master(&mut self, out: &mut Vec<Send>) {
        let me = self.myself_mut();
        let Some(old) = me.master.filter(|_| me.is(flag::SLAVE)) else {
            return;
        };
        me.flags = (me.flags & !flag::SLAVE) | flag::MASTER;
        me.master = None;
        let id = me.id;
        let slots: Vec<usize> = self.slots_of(old).collect();
        self.assign(&slots, Some(id));
        out.push(Send::StopReplication);
        self.manual = Manual::default();
        self.todo_save = true;
        self.update_state();
        let pong = self.ping(kind::PONG, None);
        self.broadcast(&pong, out);
    }

    /// A master's vote for a replica of a failed master (or a manual
    /// failover's FORCEACK).
    pub fn vote(&mut self, s: usize, h: &Header, out: &mut Vec<Send>) {
        let me = self.myself();
        if me.is(flag::SLAVE) || !self.owner.contains(&Some(me.id)) {
            return;
        }
        let now = now();
        let force = h.mflags[0] & mflag::FORCEACK != 0;
        if h.current_epoch < self.current_epoch || self.last_vote_epoch == self.current_epoch {
            return;
        }
        let n = &self.nodes[s];
        let Some(mi) = n
            .master
            .filter(|_| n.is(flag::SLAVE))
            .and_then(|m| self.index(m))
        else {
            return;
        };
        if !self.nodes[mi].is(flag::FAIL) && !force {
            return;
        }
        if now.saturating_sub(self.nodes[mi].voted_time) < node_timeout() * 2 {
            return;
        }
        let stale = h.myslots.iter().any(|slot| {
            self.owner[slot]
                .and_then(|o| self.get(o))
                .is_some_and(|o| o.config_epoch > h.config_epoch)
        });
        if stale {
            return;
        }
        self.last_vote_epoch = self.current_epoch;
        self.nodes[mi].voted_time = now;
        self.todo_save = true;
        let to = self.nodes[s].id;
        tracing::info!(
            "Failover auth granted to {to} for epoch {}",
            self.current_epoch
        );
        let ack = Message {
            header: self.header(),
            body: Body::FailoverAuthAck,
        };
        out.push(Send::To(to, ack));
    }

    /// A vote for myself's election.
    pub fn count_vote(&mut self, s: usize, h: &Header, out: &mut Vec<Send>) {
        let id = self.nodes[s].id;
        if self.nodes[s].is(flag::MASTER)
            && self.owner.contains(&Some(id))
            && h.current_epoch >= self.election.epoch
        {
            self.election.count += 1;
            self.replica_failover(out);
        }
    }

    /// MFSTART from a replica of mine: pause writes, and tell it our
    /// offset in PINGs flagged PAUSED.
    pub fn manual_start(&mut self, s: usize, out: &mut Vec<Send>) {
        let id = self.nodes[s].id;
        let me = self.myself();
        if me.is(flag::SLAVE) || self.nodes[s].master != Some(me.id) {
            return;
        }
        self.manual = Manual {
            end: now() + MANUAL_TIMEOUT,
            replica: Some(id),
            ..Default::default()
        };
        crate::replication::failover::pause(true);
        tracing::info!("Manual failover requested by replica {id}.");
        let ping = self.ping(kind::PING, Some(id));
        out.push(Send::To(id, ping));
    }

    /// A PAUSED ping from my master: the offset to reach.
    pub fn master_paused(&mut self, s: usize, h: &Header) {
        let me = self.myself();
        if me.is(flag::SLAVE)
            && me.master == Some(self.nodes[s].id)
            && h.mflags[0] & mflag::PAUSED != 0
            && self.manual.end != 0
            && self.manual.master_offset.is_none()
        {
            self.manual.master_offset = Some(h.offset);
            self.manual_progress();
        }
    }

    /// The replica may start once it processed the paused master's stream.
    fn manual_progress(&mut self) {
        if self.manual.end == 0 || self.manual.can_start {
            return;
        }
        if self.manual.master_offset == Some(my_offset()) {
            self.manual.can_start = true;
            tracing::info!("All master replication stream processed, manual failover can start.");
        }
    }

    /// From the cron: time out a manual failover, keep the master's
    /// PAUSED pings going, and let the replica progress.
    pub fn manual_cron(&mut self, out: &mut Vec<Send>) {
        if self.manual.end == 0 {
            return;
        }
        if self.manual.end < now() {
            tracing::warn!("Manual failover timed out.");
            self.reset_manual();
            return;
        }
        if let Some(r) = self.manual.replica {
            let ping = self.ping(kind::PING, Some(r));
            out.push(Send::To(r, ping));
        }
        self.manual_progress();
    }

    /// Ends a manual failover; a paused master resumes writes.
    pub fn reset_manual(&mut self) {
        if self.manual.replica.is_some() {
            crate::replication::failover::pause(false);
        }
        self.manual = Manual::default();
    }

    /// CLUSTER FAILOVER [FORCE|TAKEOVER] on a replica.
    pub fn failover_command(
        &mut self,
        force: bool,
        takeover: bool,
        out: &mut Vec<Send>,
    ) -> Result<(), &'static str> {
        let me = self.myself();
        if me.is(flag::MASTER) {
            return Err("ERR You should send CLUSTER FAILOVER to a replica");
        }
        let Some(m) = me.master.and_then(|m| self.get(m)) else {
            return Err("ERR I'm a replica but my master is unknown to me");
        };
        if !force && !takeover && (m.is(flag::FAIL) || !m.connected) {
            return Err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE");
        }
        let master = m.id;
        self.reset_manual();
        self.manual.end = now() + MANUAL_TIMEOUT;
        if takeover {
            // No votes: a new epoch of our own, then the slots.
            tracing::info!("Taking over the master (user request).");
            self.bump_epoch();
            self.replace_my_master(out);
        } else if force {
            tracing::info!("Forced failover user request accepted.");
            self.manual.can_start = true;
        } else {
            tracing::info!("Manual failover user request accepted.");
            let m = Message {
                header: self.header(),
                body: Body::MfStart,
            };
            out.push(Send::To(master, m));
        }
        Ok(())
    }
}
