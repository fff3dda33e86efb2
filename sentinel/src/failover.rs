//! The failover state machine (Redis's `sentinelFailoverStateMachine` and friends): start
//! when ODOWN (or SENTINEL FAILOVER), win the election for a new epoch
//! (`sentinelGetLeader`), select the best replica, REPLICAOF NO ONE, wait for the promotion
//! seen in INFO, re-point the other replicas `parallel-syncs` at a time, then switch the
//! master to the promoted replica (`+switch-master`).

use crate::instance::*;
use crate::log::{mstime, Level};
use crate::monitor::{
    ELECTION_TIMEOUT, INFO_PERIOD, MAX_DESYNC, PING_PERIOD, SLAVE_RECONF_TIMEOUT,
};
use crate::state::{rand_below, Sentinel};
use std::collections::HashMap;

impl Sentinel {
    /// `sentinelStartFailoverIfNeeded()`: ODOWN, no failover running, and the previous attempt
    /// older than twice the failover timeout.
    pub fn start_failover_if_needed(&mut self, mi: usize) -> bool {
        let m = &mut self.masters[mi];
        if m.inst.flags & SRI_O_DOWN == 0 || m.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0 {
            return false;
        }
        if mstime() - m.failover_start_time < m.failover_timeout * 2 {
            if m.failover_delay_logged != m.failover_start_time {
                m.failover_delay_logged = m.failover_start_time;
                let when = (m.failover_start_time + m.failover_timeout * 2) / 1000;
                crate::log!(
                    Notice,
                    "Next failover delay: I will not start a failover before {}",
                    crate::log::ctime(when)
                );
            }
            return false;
        }
        self.start_failover(mi);
        true
    }

    /// `sentinelStartFailover()`: a new epoch, `+new-epoch`, `+try-failover`, a start time
    /// spread by up to MAX_DESYNC ms.
    pub fn start_failover(&mut self, mi: usize) {
        let now = mstime();
        self.current_epoch = self.current_epoch.saturating_add(1);
        let epoch = self.current_epoch;
        let m = &mut self.masters[mi];
        m.failover_state = FailoverState::WaitStart;
        m.inst.flags |= SRI_FAILOVER_IN_PROGRESS;
        m.failover_epoch = epoch;
        self.event_for(Level::Warning, "+new-epoch", mi, &epoch.to_string());
        self.event(Level::Warning, "+try-failover", mi, Who::Master, "");
        let m = &mut self.masters[mi];
        m.failover_start_time = now + rand_below(MAX_DESYNC);
        m.failover_state_change_time = now;
        self.config_dirty = true;
    }

    /// `sentinelAbortFailover()`
    pub fn abort_failover(&mut self, mi: usize) {
        let m = &mut self.masters[mi];
        m.inst.flags &= !(SRI_FAILOVER_IN_PROGRESS | SRI_FORCE_FAILOVER);
        m.failover_state = FailoverState::None;
        m.failover_state_change_time = mstime();
        if let Some(id) = m.promoted.take() {
            if let Some(r) = m.replicas.iter_mut().find(|r| r.id == id) {
                r.flags &= !SRI_PROMOTED;
            }
        }
    }

    /// `sentinelGetLeader()`: counts the votes of the other sentinels for `epoch`, casts ours
    /// (for the most voted, or ourselves), and returns the winner if it has an absolute
    /// majority of all known sentinels and at least the quorum.
    pub fn get_leader(&mut self, mi: usize, epoch: u64) -> Option<String> {
        let m = &self.masters[mi];
        let voters = m.sentinels.len() + 1;
        let mut counters: HashMap<String, usize> = HashMap::new();
        // Insertion order matters for ties in Redis (dict order); we take the first max.
        let mut order: Vec<String> = Vec::new();
        for s in &m.sentinels {
            if let Some(l) = &s.leader {
                if s.leader_epoch == self.current_epoch {
                    if !counters.contains_key(l) {
                        order.push(l.clone());
                    }
                    *counters.entry(l.clone()).or_default() += 1;
                }
            }
        }
        let mut winner: Option<String> = None;
        let mut max_votes = 0;
        for l in &order {
            if counters[l] > max_votes {
                max_votes = counters[l];
                winner = Some(l.clone());
            }
        }
        let candidate = winner.clone().unwrap_or_else(|| self.myid.clone());
        let (myvote, leader_epoch) = self.vote_leader(mi, epoch, &candidate);
        if let Some(v) = myvote {
            if leader_epoch == epoch {
                let c = counters.entry(v.clone()).or_default();
                *c += 1;
                if *c > max_votes {
                    max_votes = *c;
                    winner = Some(v);
                }
            }
        }
        let quorum = self.masters[mi].quorum as usize;
        let voters_quorum = voters / 2 + 1;
        if winner.is_some() && (max_votes < voters_quorum || max_votes < quorum) {
            winner = None;
        }
        winner
    }

    /// Runs the step of the current failover state.
    pub fn failover_state_machine(&mut self, mi: usize) {
        let m = &self.masters[mi];
        if m.inst.flags & SRI_FAILOVER_IN_PROGRESS == 0 {
            return;
        }
        match m.failover_state {
            FailoverState::WaitStart => self.failover_wait_start(mi),
            FailoverState::SelectSlave => self.failover_select_slave(mi),
            FailoverState::SendSlaveofNoone => self.failover_send_slaveof_noone(mi),
            FailoverState::WaitPromotion => self.failover_wait_promotion(mi),
            FailoverState::ReconfSlaves => self.failover_reconf_next_slave(mi),
            _ => {}
        }
    }

    /// `sentinelFailoverWaitStart()`: leader (or forced) moves on; otherwise abort after the
    /// election timeout.
    fn failover_wait_start(&mut self, mi: usize) {
        let epoch = self.masters[mi].failover_epoch;
        let leader = self.get_leader(mi, epoch);
        let isleader = leader
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(&self.myid));
        let m = &self.masters[mi];
        if !isleader && m.inst.flags & SRI_FORCE_FAILOVER == 0 {
            let election_timeout = ELECTION_TIMEOUT.min(m.failover_timeout);
            if mstime() - m.failover_start_time > election_timeout {
                self.event(
                    Level::Warning,
                    "-failover-abort-not-elected",
                    mi,
                    Who::Master,
                    "",
                );
                self.abort_failover(mi);
            }
            return;
        }
        self.event(Level::Warning, "+elected-leader", mi, Who::Master, "");
        let m = &mut self.masters[mi];
        m.failover_state = FailoverState::SelectSlave;
        m.failover_state_change_time = mstime();
        self.event(
            Level::Warning,
            "+failover-state-select-slave",
            mi,
            Who::Master,
            "",
        );
    }

    /// `sentinelSelectSlave()`: the usable replicas (up, connected, recently pinged and
    /// INFOed, not cut from the master for too long, priority > 0), best first by priority,
    /// then replication offset (higher first), then run id.
    pub fn select_slave(&self, mi: usize) -> Option<usize> {
        let now = mstime();
        let m = &self.masters[mi];
        let mut max_master_down_time = 0;
        if m.inst.flags & SRI_S_DOWN != 0 {
            max_master_down_time += now - m.inst.s_down_since_time;
        }
        max_master_down_time += m.inst.down_after_period * 10;
        let info_validity = if m.inst.flags & SRI_S_DOWN != 0 {
            PING_PERIOD * 5
        } else {
            INFO_PERIOD * 3
        };
        let mut cands: Vec<usize> = (0..m.replicas.len())
            .filter(|&i| {
                let r = &m.replicas[i];
                r.flags & (SRI_S_DOWN | SRI_O_DOWN) == 0
                    && !r.disconnected()
                    && now - r.last_avail_time <= PING_PERIOD * 5
                    && r.slave_priority != 0
                    && now - r.info_refresh <= info_validity
                    && r.master_link_down_time <= max_master_down_time
            })
            .collect();
        cands.sort_by(|&a, &b| {
            let (a, b) = (&m.replicas[a], &m.replicas[b]);
            a.slave_priority
                .cmp(&b.slave_priority)
                .then(b.slave_repl_offset.cmp(&a.slave_repl_offset))
                .then_with(|| match (&a.runid, &b.runid) {
                    (Some(x), Some(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, None) => std::cmp::Ordering::Equal,
                })
        });
        cands.first().copied()
    }

    fn failover_select_slave(&mut self, mi: usize) {
        match self.select_slave(mi) {
            None => {
                self.event(
                    Level::Warning,
                    "-failover-abort-no-good-slave",
                    mi,
                    Who::Master,
                    "",
                );
                self.abort_failover(mi);
            }
            Some(i) => {
                self.event(Level::Warning, "+selected-slave", mi, Who::Replica(i), "");
                let m = &mut self.masters[mi];
                m.replicas[i].flags |= SRI_PROMOTED;
                m.promoted = Some(m.replicas[i].id);
                m.failover_state = FailoverState::SendSlaveofNoone;
                m.failover_state_change_time = mstime();
                self.event(
                    Level::Notice,
                    "+failover-state-send-slaveof-noone",
                    mi,
                    Who::Replica(i),
                    "",
                );
            }
        }
    }

    fn promoted_index(&self, mi: usize) -> Option<usize> {
        let m = &self.masters[mi];
        let id = m.promoted?;
        m.replicas.iter().position(|r| r.id == id)
    }

    fn failover_send_slaveof_noone(&mut self, mi: usize) {
        let Some(pi) = self.promoted_index(mi) else {
            self.abort_failover(mi);
            return;
        };
        let m = &self.masters[mi];
        if m.replicas[pi].disconnected() {
            if mstime() - m.failover_state_change_time > m.failover_timeout {
                self.event(
                    Level::Warning,
                    "-failover-abort-slave-timeout",
                    mi,
                    Who::Master,
                    "",
                );
                self.abort_failover(mi);
            }
            return;
        }
        if !self.send_slaveof(mi, Who::Replica(pi), None) {
            return;
        }
        self.event(
            Level::Notice,
            "+failover-state-wait-promotion",
            mi,
            Who::Replica(pi),
            "",
        );
        let m = &mut self.masters[mi];
        m.failover_state = FailoverState::WaitPromotion;
        m.failover_state_change_time = mstime();
    }

    fn failover_wait_promotion(&mut self, mi: usize) {
        let m = &self.masters[mi];
        if mstime() - m.failover_state_change_time > m.failover_timeout {
            self.event(
                Level::Warning,
                "-failover-abort-slave-timeout",
                mi,
                Who::Master,
                "",
            );
            self.abort_failover(mi);
        }
    }

    /// `sentinelFailoverReconfNextSlave()`: REPLICAOF <promoted> to up to `parallel-syncs`
    /// replicas at a time; a replica stuck in `reconf_sent` for SLAVE_RECONF_TIMEOUT counts as
    /// done (sentinels fix it later).
    fn failover_reconf_next_slave(&mut self, mi: usize) {
        let now = mstime();
        let mut in_progress = self.masters[mi]
            .replicas
            .iter()
            .filter(|r| r.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG) != 0)
            .count() as i64;
        let promoted = self.masters[mi].promoted_replica().map(|p| p.addr.clone());
        let Some(paddr) = promoted else {
            return;
        };
        for i in 0..self.masters[mi].replicas.len() {
            if in_progress >= self.masters[mi].parallel_syncs {
                break;
            }
            let r = &self.masters[mi].replicas[i];
            if r.flags & (SRI_PROMOTED | SRI_RECONF_DONE) != 0 {
                continue;
            }
            if r.flags & SRI_RECONF_SENT != 0
                && now - r.slave_reconf_sent_time > SLAVE_RECONF_TIMEOUT
            {
                self.event(
                    Level::Notice,
                    "-slave-reconf-sent-timeout",
                    mi,
                    Who::Replica(i),
                    "",
                );
                let r = &mut self.masters[mi].replicas[i];
                r.flags &= !SRI_RECONF_SENT;
                r.flags |= SRI_RECONF_DONE;
            }
            let r = &self.masters[mi].replicas[i];
            if r.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG) != 0 || r.disconnected() {
                continue;
            }
            if self.send_slaveof(mi, Who::Replica(i), Some(&paddr)) {
                let r = &mut self.masters[mi].replicas[i];
                r.flags |= SRI_RECONF_SENT;
                r.slave_reconf_sent_time = now;
                self.event(Level::Notice, "+slave-reconf-sent", mi, Who::Replica(i), "");
                in_progress += 1;
            }
        }
        self.failover_detect_end(mi);
    }

    /// `sentinelFailoverDetectEnd()`: every reachable replica reconfigured (or the failover
    /// timeout passed: best-effort REPLICAOF to the rest) ends the failover.
    fn failover_detect_end(&mut self, mi: usize) {
        let now = mstime();
        let m = &self.masters[mi];
        let Some(p) = m.promoted_replica() else {
            return;
        };
        if p.flags & SRI_S_DOWN != 0 {
            return;
        }
        let elapsed = now - m.failover_state_change_time;
        let mut not_reconfigured = m
            .replicas
            .iter()
            .filter(|r| {
                r.flags & (SRI_PROMOTED | SRI_RECONF_DONE) == 0 && r.flags & SRI_S_DOWN == 0
            })
            .count();
        let mut timeout = false;
        if elapsed > m.failover_timeout {
            not_reconfigured = 0;
            timeout = true;
            self.event(
                Level::Warning,
                "+failover-end-for-timeout",
                mi,
                Who::Master,
                "",
            );
        }
        if not_reconfigured == 0 {
            self.event(Level::Warning, "+failover-end", mi, Who::Master, "");
            let m = &mut self.masters[mi];
            m.failover_state = FailoverState::UpdateConfig;
            m.failover_state_change_time = now;
        }
        if timeout {
            let paddr = self.masters[mi].promoted_replica().map(|p| p.addr.clone());
            let Some(paddr) = paddr else { return };
            for i in 0..self.masters[mi].replicas.len() {
                let r = &self.masters[mi].replicas[i];
                if r.flags & (SRI_PROMOTED | SRI_RECONF_DONE | SRI_RECONF_SENT) != 0
                    || r.disconnected()
                {
                    continue;
                }
                if self.send_slaveof(mi, Who::Replica(i), Some(&paddr)) {
                    self.event(
                        Level::Notice,
                        "+slave-reconf-sent-be",
                        mi,
                        Who::Replica(i),
                        "",
                    );
                }
            }
        }
    }

    /// `sentinelFailoverSwitchToPromotedSlave()`: `+switch-master <name> <old ip> <old port>
    /// <new ip> <new port>`, then the master is reset at the new address.
    pub fn failover_switch_to_promoted(&mut self, mi: usize) {
        let m = &self.masters[mi];
        let to = m
            .promoted_replica()
            .map(|p| p.addr.clone())
            .unwrap_or_else(|| m.inst.addr.clone());
        let text = format!(
            "{} {} {} {} {}",
            m.inst.name,
            m.inst.addr.shown(),
            m.inst.addr.port,
            to.shown(),
            to.port
        );
        self.event_for(Level::Warning, "+switch-master", mi, &text);
        self.reset_master_and_change_address(mi, &to.host, to.port);
    }
}
