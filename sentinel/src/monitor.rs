//! The monitoring half of the sentinel, run by the timer (`sentinelTimer`) and by replies on
//! the outbound links: reconnecting links, PING / INFO / hello on their periods, reading
//! INFO (`sentinelRefreshInstanceInfo`), SDOWN and ODOWN, asking the other sentinels
//! (`SENTINEL IS-MASTER-DOWN-BY-ADDR`) and TILT. The failover state machine it drives is in
//! [`crate::failover`].
//!
//! Periods and limits are Redis's `SENTINEL_*` constants, in milliseconds.

use crate::instance::*;
use crate::link::{Expect, Link};
use crate::log::{mstime, Level};
use crate::state::{Sentinel, HELLO_CHANNEL};
use pyrope_common::resp::Frame;

/// `SENTINEL_INFO_PERIOD`: INFO to masters and replicas.
pub const INFO_PERIOD: i64 = 10_000;
/// `SENTINEL_PING_PERIOD`
pub const PING_PERIOD: i64 = 1_000;
/// `SENTINEL_ASK_PERIOD`: IS-MASTER-DOWN-BY-ADDR while the master is SDOWN.
pub const ASK_PERIOD: i64 = 1_000;
/// `SENTINEL_PUBLISH_PERIOD`: hello messages.
pub const PUBLISH_PERIOD: i64 = 2_000;
/// `SENTINEL_TILT_TRIGGER`: a timer gap longer than this enters TILT.
pub const TILT_TRIGGER: i64 = 2_000;
/// `SENTINEL_TILT_PERIOD`: TILT lasts this long after the last trigger.
pub const TILT_PERIOD: i64 = PING_PERIOD * 30;
/// `SENTINEL_SLAVE_RECONF_TIMEOUT`
pub const SLAVE_RECONF_TIMEOUT: i64 = 10_000;
/// `SENTINEL_MIN_LINK_RECONNECT_PERIOD`
pub const MIN_LINK_RECONNECT_PERIOD: i64 = 15_000;
/// `SENTINEL_MAX_PENDING_COMMANDS` per link.
pub const MAX_PENDING_COMMANDS: i64 = 100;
/// `SENTINEL_ELECTION_TIMEOUT`
pub const ELECTION_TIMEOUT: i64 = 10_000;
/// `SENTINEL_MAX_DESYNC`: random spread of failover start times.
pub const MAX_DESYNC: i64 = 1_000;

fn bytes_of(f: &Frame) -> Option<&[u8]> {
    f.as_bytes()
}

impl Sentinel {
    /// Ids of every instance, masters first with their replicas and sentinels (the order
    /// of `sentinelHandleDictOfRedisInstances`).
    fn all_ids(&self) -> Vec<u64> {
        let mut ids = Vec::new();
        for m in &self.masters {
            ids.push(m.inst.id);
            ids.extend(m.replicas.iter().map(|r| r.id));
            ids.extend(m.sentinels.iter().map(|s| s.id));
        }
        ids
    }

    /// One timer tick (`sentinelTimer`): TILT check, then every instance.
    pub fn timer(&mut self) {
        self.check_tilt();
        let ids = self.all_ids();
        for id in ids {
            let Some((mi, who)) = self.locate(id) else {
                continue;
            };
            self.handle_instance(mi, who);
            if who == Who::Master {
                // Masters are handled before their replicas; the switch happens after all
                // of them were, so handle it when the next master starts or at the end.
            }
        }
        let switching: Vec<usize> = (0..self.masters.len())
            .filter(|&mi| self.masters[mi].failover_state == FailoverState::UpdateConfig)
            .collect();
        for mi in switching {
            self.failover_switch_to_promoted(mi);
        }
        self.run_scripts();
    }

    /// `sentinelCheckTiltCondition()`
    fn check_tilt(&mut self) {
        let now = mstime();
        let delta = now - self.previous_time;
        if !(0..=TILT_TRIGGER).contains(&delta) {
            self.tilt = true;
            self.tilt_start_time = now;
            self.event_raw(Level::Warning, "+tilt", "#tilt mode entered");
        }
        self.previous_time = now;
    }

    /// `sentinelHandleRedisInstance()`
    fn handle_instance(&mut self, mi: usize, who: Who) {
        self.reconnect(mi, who);
        self.send_periodic(mi, who);
        if self.tilt {
            if mstime() - self.tilt_start_time < TILT_PERIOD {
                return;
            }
            self.tilt = false;
            self.event_raw(Level::Warning, "-tilt", "#tilt mode exited");
        }
        self.check_sdown(mi, who);
        if who == Who::Master {
            self.check_odown(mi);
            if self.start_failover_if_needed(mi) {
                self.ask_other_sentinels(mi, true);
            }
            self.failover_state_machine(mi);
            self.ask_other_sentinels(mi, false);
        }
    }

    /// Sends a command on the command link of `who`; false when there is no link or the
    /// write failed (the link is then closed).
    pub fn send_cmd<A: AsRef<[u8]>>(
        &mut self,
        mi: usize,
        who: Who,
        args: &[A],
        expect: Expect,
    ) -> bool {
        let ri = self.masters[mi].get_mut(who);
        let Some(cc) = ri.cc.as_mut() else {
            return false;
        };
        match cc.send(args, expect) {
            Ok(()) => {
                ri.pending_commands += 1;
                true
            }
            Err(_) => {
                self.close_link(mi, who, 0);
                false
            }
        }
    }

    /// Closes one link (`k` 0: command, 1: pub/sub) after an error or a reconnect decision.
    pub fn close_link(&mut self, mi: usize, who: Who, k: usize) {
        let ri = self.masters[mi].get_mut(who);
        let l = if k == 0 { ri.cc.take() } else { ri.pc.take() };
        if k == 0 {
            ri.pending_commands = 0;
            ri.info_pending = false;
        }
        if let Some(mut l) = l {
            l.deregister(&self.registry);
            let kind = if k == 0 { "-cmd-link" } else { "-pubsub-link" };
            self.event(Level::Debug, kind, mi, who, " #closed");
        }
    }

    /// Sends AUTH on a new link when a password is configured (`sentinelSendAuthIfNeeded`):
    /// the master's auth-pass for nodes, sentinel-pass for sentinels.
    fn auth_args(&self, mi: usize, who: Who) -> Option<Vec<String>> {
        let m = &self.masters[mi];
        let (user, pass) = if matches!(who, Who::Sentinel(_)) {
            (
                self.cfg.sentinel_user.clone(),
                self.cfg.sentinel_pass.clone(),
            )
        } else {
            (m.auth_user.clone(), m.auth_pass.clone())
        };
        let pass = pass?;
        let auth = m.map_command("AUTH");
        Some(match user {
            Some(u) => vec![auth, u, pass],
            None => vec![auth, pass],
        })
    }

    /// `sentinelReconnectInstance()`: (re)opens the missing links at most once per
    /// PING_PERIOD, names them `sentinel-<id8>-cmd` / `-pubsub`, subscribes to hellos.
    fn reconnect(&mut self, mi: usize, who: Who) {
        let now = mstime();
        let ri = self.masters[mi].get(who);
        if !ri.disconnected() || ri.addr.port == 0 {
            return;
        }
        if now - ri.last_reconn_time < PING_PERIOD {
            return;
        }
        let (id, host, port) = (ri.id, ri.addr.ip.clone(), ri.addr.port);
        let need_pc = !matches!(who, Who::Sentinel(_)) && ri.pc.is_none();
        let need_cc = ri.cc.is_none();
        self.masters[mi].get_mut(who).last_reconn_time = now;
        let auth = self.auth_args(mi, who);
        let setname = self.masters[mi].map_command("CLIENT");
        let short = self.myid[..8].to_string();
        if need_cc {
            match Link::connect(&host, port, Sentinel::link_token(id, 0), &self.registry) {
                Ok(l) => {
                    let ri = self.masters[mi].get_mut(who);
                    ri.cc = Some(l);
                    ri.pending_commands = 0;
                    ri.cc_conn_time = now;
                    if let Some(a) = &auth {
                        self.send_cmd(mi, who, a, Expect::Discard);
                    }
                    let name = format!("sentinel-{short}-cmd");
                    self.send_cmd(
                        mi,
                        who,
                        &[setname.as_str(), "SETNAME", &name],
                        Expect::Discard,
                    );
                    self.send_ping(mi, who);
                }
                Err(e) => {
                    self.event(
                        Level::Debug,
                        "-cmd-link-reconnection",
                        mi,
                        who,
                        &format!(" #{e}"),
                    );
                    return;
                }
            }
        }
        if need_pc {
            match Link::connect(&host, port, Sentinel::link_token(id, 1), &self.registry) {
                Ok(mut l) => {
                    let mut ok = true;
                    if let Some(a) = &auth {
                        ok &= l.send_untracked(a).is_ok();
                    }
                    let name = format!("sentinel-{short}-pubsub");
                    ok &= l
                        .send_untracked(&[setname.as_str(), "SETNAME", &name])
                        .is_ok();
                    let sub = self.masters[mi].map_command("SUBSCRIBE");
                    ok &= l.send_untracked(&[sub.as_str(), HELLO_CHANNEL]).is_ok();
                    let ri = self.masters[mi].get_mut(who);
                    ri.pc = Some(l);
                    ri.pc_conn_time = now;
                    ri.pc_last_activity = now;
                    if !ok {
                        self.close_link(mi, who, 1);
                    }
                }
                Err(e) => {
                    self.event(
                        Level::Debug,
                        "-pubsub-link-reconnection",
                        mi,
                        who,
                        &format!(" #{e}"),
                    );
                }
            }
        }
    }

    /// `sentinelSendPing()`
    pub fn send_ping(&mut self, mi: usize, who: Who) -> bool {
        let ping = self.masters[mi].map_command("PING");
        if !self.send_cmd(mi, who, &[ping.as_str()], Expect::Ping) {
            return false;
        }
        let now = mstime();
        let ri = self.masters[mi].get_mut(who);
        ri.last_ping_time = now;
        if ri.act_ping_time == 0 {
            ri.act_ping_time = now;
        }
        true
    }

    /// `sentinelSendPeriodicCommands()`: INFO (10 s, 1 s for replicas of a master that is
    /// down or failing over), PING (1 s), hello (2 s).
    fn send_periodic(&mut self, mi: usize, who: Who) {
        let now = mstime();
        let m = &self.masters[mi];
        let ri = m.get(who);
        if ri.disconnected() || ri.pending_commands >= MAX_PENDING_COMMANDS {
            return;
        }
        let info_period = if matches!(who, Who::Replica(_))
            && (m.inst.flags & (SRI_O_DOWN | SRI_FAILOVER_IN_PROGRESS) != 0
                || ri.master_link_down_time != 0)
        {
            1000
        } else {
            INFO_PERIOD
        };
        let ping_period = ri.down_after_period.min(PING_PERIOD);
        let want_info = !matches!(who, Who::Sentinel(_))
            && !ri.info_pending
            && (ri.info_refresh == 0 || now - ri.info_refresh > info_period);
        let want_ping =
            now - ri.last_pong_time > ping_period && now - ri.last_ping_time > ping_period / 2;
        let want_hello = now - ri.last_pub_time > PUBLISH_PERIOD;
        if want_info {
            let info = self.masters[mi].map_command("INFO");
            if self.send_cmd(mi, who, &[info.as_str()], Expect::Info) {
                self.masters[mi].get_mut(who).info_pending = true;
            }
        }
        if want_ping {
            self.send_ping(mi, who);
        }
        if want_hello {
            self.send_hello(mi, who);
        }
    }

    /// The address we announce: `announce-ip`, else the local address of the link.
    fn announce_ip(&self, mi: usize, who: Who) -> Option<String> {
        if let Some(ip) = &self.cfg.announce_ip {
            return Some(ip.clone());
        }
        self.masters[mi].get(who).cc.as_ref()?.local_ip()
    }

    /// `sentinelSendHello()`: PUBLISH `ip,port,runid,current_epoch,master_name,master_ip,
    /// master_port,master_config_epoch` on the hello channel of a node, or to a sentinel.
    pub fn send_hello(&mut self, mi: usize, who: Who) -> bool {
        let ri = self.masters[mi].get(who);
        if ri.disconnected() || !ri.cc.as_ref().is_some_and(|l| l.connected) {
            return false;
        }
        let Some(ip) = self.announce_ip(mi, who) else {
            return false;
        };
        let port = if self.cfg.announce_port != 0 {
            self.cfg.announce_port
        } else {
            self.port
        };
        let m = &self.masters[mi];
        let maddr = m.current_addr();
        let payload = format!(
            "{},{},{},{},{},{},{},{}",
            ip,
            port,
            self.myid,
            self.current_epoch,
            m.inst.name,
            maddr.shown(),
            maddr.port,
            m.config_epoch
        );
        let publish = m.map_command("PUBLISH");
        let ok = self.send_cmd(
            mi,
            who,
            &[publish.as_str(), HELLO_CHANNEL, payload.as_str()],
            Expect::Publish,
        );
        if ok {
            self.masters[mi].get_mut(who).last_pub_time = mstime();
        }
        ok
    }

    /// `sentinelForceHelloUpdateForMaster()`: hellos go out at the next tick.
    pub fn force_hello_update(&mut self, mi: usize) {
        let t = mstime() - PUBLISH_PERIOD - 1;
        let m = &mut self.masters[mi];
        m.inst.last_pub_time = t;
        m.replicas.iter_mut().for_each(|r| r.last_pub_time = t);
        m.sentinels.iter_mut().for_each(|s| s.last_pub_time = t);
    }

    /// `sentinelCheckSubjectivelyDown()`: idle links are reconnected; SDOWN when no valid
    /// PING reply for `down-after-milliseconds`, when a master reports a replica role for
    /// too long, or after a reboot outlasting `master-reboot-down-after-period`.
    fn check_sdown(&mut self, mi: usize, who: Who) {
        let now = mstime();
        let ri = self.masters[mi].get(who);
        let mut elapsed = 0;
        if ri.act_ping_time != 0 {
            elapsed = now - ri.act_ping_time;
        } else if ri.disconnected() {
            elapsed = now - ri.last_avail_time;
        }
        if ri.cc.is_some()
            && now - ri.cc_conn_time > MIN_LINK_RECONNECT_PERIOD
            && ri.act_ping_time != 0
            && now - ri.act_ping_time > ri.down_after_period / 2
            && now - ri.last_pong_time > ri.down_after_period / 2
        {
            self.close_link(mi, who, 0);
        }
        let ri = self.masters[mi].get(who);
        if ri.pc.is_some()
            && now - ri.pc_conn_time > MIN_LINK_RECONNECT_PERIOD
            && now - ri.pc_last_activity > PUBLISH_PERIOD * 3
        {
            self.close_link(mi, who, 1);
        }
        let ri = self.masters[mi].get(who);
        let down = elapsed > ri.down_after_period
            || (ri.flags & SRI_MASTER != 0
                && ri.role_reported == SRI_SLAVE
                && now - ri.role_reported_time > ri.down_after_period + INFO_PERIOD * 2)
            || (ri.flags & SRI_MASTER_REBOOT != 0
                && now - ri.master_reboot_since_time > ri.master_reboot_down_after_period);
        if down {
            if ri.flags & SRI_S_DOWN == 0 {
                self.event(Level::Warning, "+sdown", mi, who, "");
                let ri = self.masters[mi].get_mut(who);
                ri.s_down_since_time = now;
                ri.flags |= SRI_S_DOWN;
            }
        } else if ri.flags & SRI_S_DOWN != 0 {
            self.event(Level::Warning, "-sdown", mi, who, "");
            self.masters[mi].get_mut(who).flags &= !(SRI_S_DOWN | SRI_SCRIPT_KILL_SENT);
        }
    }

    /// `sentinelCheckObjectivelyDown()`: ODOWN when we and enough sentinels (flag
    /// `SRI_MASTER_DOWN` from their replies) reach the quorum.
    fn check_odown(&mut self, mi: usize) {
        let m = &self.masters[mi];
        let mut quorum = 0u32;
        let mut odown = false;
        if m.inst.flags & SRI_S_DOWN != 0 {
            quorum = 1 + m
                .sentinels
                .iter()
                .filter(|s| s.flags & SRI_MASTER_DOWN != 0)
                .count() as u32;
            odown = quorum >= m.quorum;
        }
        if odown {
            if m.inst.flags & SRI_O_DOWN == 0 {
                let q = m.quorum;
                self.event(
                    Level::Warning,
                    "+odown",
                    mi,
                    Who::Master,
                    &format!(" #quorum {quorum}/{q}"),
                );
                let m = &mut self.masters[mi];
                m.inst.flags |= SRI_O_DOWN;
                m.inst.o_down_since_time = mstime();
            }
        } else if m.inst.flags & SRI_O_DOWN != 0 {
            self.event(Level::Warning, "-odown", mi, Who::Master, "");
            self.masters[mi].inst.flags &= !SRI_O_DOWN;
        }
    }

    /// `sentinelAskMasterStateToOtherSentinels()`: while the master is SDOWN, asks every
    /// connected sentinel each ASK_PERIOD (at once when `forced`), requesting its vote (our id)
    /// once our failover started.
    fn ask_other_sentinels(&mut self, mi: usize, forced: bool) {
        let now = mstime();
        for si in 0..self.masters[mi].sentinels.len() {
            let m = &mut self.masters[mi];
            let s = &mut m.sentinels[si];
            let elapsed = now - s.last_master_down_reply_time;
            if elapsed > ASK_PERIOD * 5 {
                s.flags &= !SRI_MASTER_DOWN;
                s.leader = None;
            }
            if m.inst.flags & SRI_S_DOWN == 0 || s.disconnected() {
                continue;
            }
            if !forced && now - s.last_master_down_reply_time < ASK_PERIOD {
                continue;
            }
            let runid = if m.failover_state > FailoverState::None {
                self.myid.clone()
            } else {
                "*".to_string()
            };
            let args = [
                m.map_command("SENTINEL"),
                "is-master-down-by-addr".to_string(),
                m.inst.addr.shown().to_string(),
                m.inst.addr.port.to_string(),
                self.current_epoch.to_string(),
                runid,
            ];
            self.send_cmd(mi, Who::Sentinel(si), &args, Expect::IsMasterDown);
        }
    }

    /// Readiness on an outbound link: completes the connect, flushes, dispatches replies.
    pub fn on_link_event(&mut self, id: u64, k: usize) {
        let Some((mi, who)) = self.locate(id) else {
            return;
        };
        let ri = self.masters[mi].get_mut(who);
        let link = if k == 0 {
            ri.cc.as_mut()
        } else {
            ri.pc.as_mut()
        };
        let Some(link) = link else { return };
        let r = link.on_ready();
        let (frames, closed) = match r {
            Ok(x) => x,
            Err(e) => {
                let kind = if k == 0 { "-cmd-link" } else { "-pubsub-link" };
                self.event(Level::Debug, kind, mi, who, &format!(" #{e}"));
                self.close_link(mi, who, k);
                return;
            }
        };
        for f in frames {
            // Each reply may reshape the instance lists (a reset, a new replica): find the
            // instance again by id.
            let Some((mi, who)) = self.locate(id) else {
                return;
            };
            if k == 1 {
                self.on_pubsub_message(mi, who, &f);
                continue;
            }
            let ri = self.masters[mi].get_mut(who);
            let Some(cc) = ri.cc.as_mut() else { return };
            let Some(expect) = cc.pending.pop_front() else {
                continue;
            };
            ri.pending_commands = (ri.pending_commands - 1).max(0);
            self.on_reply(mi, who, expect, &f);
        }
        if closed {
            if let Some((mi, who)) = self.locate(id) {
                self.close_link(mi, who, k);
            }
        }
    }

    /// A message on the pub/sub link: hellos from other sentinels
    /// (`sentinelReceiveHelloMessages`).
    fn on_pubsub_message(&mut self, mi: usize, who: Who, f: &Frame) {
        self.masters[mi].get_mut(who).pc_last_activity = mstime();
        let items = match f {
            Frame::Array(Some(v)) | Frame::Push(v) => v,
            _ => return,
        };
        if items.len() != 3 || bytes_of(&items[0]) != Some(b"message") {
            return;
        }
        let Some(payload) = bytes_of(&items[2]) else {
            return;
        };
        let text = String::from_utf8_lossy(payload).into_owned();
        if text.contains(&self.myid) {
            return;
        }
        self.process_hello(&text);
    }

    /// Dispatches one command-link reply.
    fn on_reply(&mut self, mi: usize, who: Who, expect: Expect, f: &Frame) {
        let now = mstime();
        match expect {
            Expect::Ping => {
                let ri = self.masters[mi].get_mut(who);
                if let Frame::Simple(s) | Frame::Error(s) = f {
                    if s.starts_with(b"PONG")
                        || s.starts_with(b"LOADING")
                        || s.starts_with(b"MASTERDOWN")
                    {
                        ri.last_avail_time = now;
                        ri.act_ping_time = 0;
                        if ri.flags & SRI_MASTER_REBOOT != 0 && s.starts_with(b"PONG") {
                            ri.flags &= !SRI_MASTER_REBOOT;
                        }
                    } else if s.starts_with(b"BUSY")
                        && ri.flags & SRI_S_DOWN != 0
                        && ri.flags & SRI_SCRIPT_KILL_SENT == 0
                    {
                        ri.flags |= SRI_SCRIPT_KILL_SENT;
                        let script = self.masters[mi].map_command("SCRIPT");
                        self.send_cmd(mi, who, &[script.as_str(), "KILL"], Expect::Discard);
                    }
                }
                self.masters[mi].get_mut(who).last_pong_time = now;
            }
            Expect::Info => {
                self.masters[mi].get_mut(who).info_pending = false;
                if let Some(text) = f.as_bytes() {
                    let text = String::from_utf8_lossy(text).into_owned();
                    self.refresh_info(mi, who, &text);
                }
            }
            Expect::Publish => {
                if f.is_error() {
                    // Retry at the next tick, as Redis (pub time only moves on success).
                    self.masters[mi].get_mut(who).last_pub_time = 0;
                }
            }
            Expect::IsMasterDown => self.on_is_master_down_reply(mi, who, f),
            Expect::Discard => {}
        }
    }

    /// `sentinelReceiveIsMasterDownReply()`: `[down 0/1, leader runid or *, leader epoch]`.
    fn on_is_master_down_reply(&mut self, mi: usize, who: Who, f: &Frame) {
        let Frame::Array(Some(v)) = f else { return };
        let (Some(down), Some(leader), Some(epoch)) = (
            v.first().and_then(|x| match x {
                Frame::Integer(i) => Some(*i),
                _ => None,
            }),
            v.get(1).and_then(|x| x.as_bytes()),
            v.get(2).and_then(|x| match x {
                Frame::Integer(i) => Some(*i),
                _ => None,
            }),
        ) else {
            return;
        };
        if v.len() != 3 {
            return;
        }
        let leader = String::from_utf8_lossy(leader).into_owned();
        let ri = self.masters[mi].get_mut(who);
        ri.last_master_down_reply_time = mstime();
        if down == 1 {
            ri.flags |= SRI_MASTER_DOWN;
        } else {
            ri.flags &= !SRI_MASTER_DOWN;
        }
        if leader != "*" {
            if ri.leader_epoch as i64 != epoch {
                crate::log!(Notice, "{} voted for {} {}", ri.name, leader, epoch);
            }
            ri.leader = Some(leader);
            ri.leader_epoch = epoch.max(0) as u64;
        }
    }

    /// `sentinelRefreshInstanceInfo()`: reads an INFO reply: run id (`+reboot`), replicas of a
    /// master (`+slave`), role and replication facts, then reacts to role changes (promotion
    /// done, `+convert-to-slave`, `+fix-slave-config`, reconfiguration progress).
    pub fn refresh_info(&mut self, mi: usize, who: Who, text: &str) {
        let now = mstime();
        let mut discovered: Vec<(String, u16)> = Vec::new();
        let mut role = 0u32;
        let mut reboot = false;
        {
            let ri = self.masters[mi].get_mut(who);
            ri.info = text.to_string();
            ri.master_link_down_time = 0;
            for l in text.split("\r\n") {
                if let Some(id) = l.strip_prefix("run_id:") {
                    if id.len() >= 40 {
                        let id = &id[..40];
                        match &ri.runid {
                            None => ri.runid = Some(id.to_string()),
                            Some(old) if old != id => {
                                reboot = true;
                                ri.runid = Some(id.to_string());
                            }
                            _ => {}
                        }
                    }
                } else if ri.flags & SRI_MASTER != 0
                    && l.len() >= 7
                    && l.starts_with("slave")
                    && l.as_bytes()[5].is_ascii_digit()
                {
                    if let Some(a) = parse_slave_line(l) {
                        discovered.push(a);
                    }
                } else if let Some(v) = l.strip_prefix("master_link_down_since_seconds:") {
                    ri.master_link_down_time = v.trim().parse::<i64>().unwrap_or(0) * 1000;
                } else if l == "role:master" {
                    role = SRI_MASTER;
                } else if l == "role:slave" {
                    role = SRI_SLAVE;
                }
                if role == SRI_SLAVE {
                    if let Some(v) = l.strip_prefix("master_host:") {
                        if ri.slave_master_host.as_deref() != Some(v) {
                            ri.slave_master_host = Some(v.to_string());
                            ri.slave_conf_change_time = now;
                        }
                    } else if let Some(v) = l.strip_prefix("master_port:") {
                        let p = v.parse::<i64>().unwrap_or(0);
                        if ri.slave_master_port != p {
                            ri.slave_master_port = p;
                            ri.slave_conf_change_time = now;
                        }
                    } else if let Some(v) = l.strip_prefix("master_link_status:") {
                        ri.slave_master_link_up = v == "up";
                    } else if let Some(v) = l
                        .strip_prefix("slave_priority:")
                        .or_else(|| l.strip_prefix("replica_priority:"))
                    {
                        ri.slave_priority = v.parse().unwrap_or(100);
                    } else if let Some(v) = l.strip_prefix("slave_repl_offset:") {
                        ri.slave_repl_offset = v.parse().unwrap_or(0);
                    } else if let Some(v) = l.strip_prefix("replica_announced:") {
                        ri.replica_announced = v.parse().unwrap_or(1);
                    }
                }
            }
            ri.info_refresh = now;
        }
        if reboot {
            self.event(Level::Notice, "+reboot", mi, who, "");
            let ri = self.masters[mi].get_mut(who);
            if ri.flags & SRI_MASTER != 0 && ri.master_reboot_down_after_period != 0 {
                ri.flags |= SRI_MASTER_REBOOT;
                ri.master_reboot_since_time = now;
            }
        }
        for (host, port) in discovered {
            if !self.masters[mi]
                .replicas
                .iter()
                .any(|r| r.addr.same(&host, port))
            {
                self.add_replica(mi, &host, port);
            }
        }
        if role == 0 {
            return;
        }
        let ri = self.masters[mi].get_mut(who);
        if role != ri.role_reported {
            ri.role_reported_time = now;
            ri.role_reported = role;
            if role == SRI_SLAVE {
                ri.slave_conf_change_time = now;
            }
            let coherent = ri.flags & (SRI_MASTER | SRI_SLAVE) == role;
            let kind = if coherent {
                "+role-change"
            } else {
                "-role-change"
            };
            let r = if role == SRI_MASTER {
                "master"
            } else {
                "slave"
            };
            self.event(
                Level::Verbose,
                kind,
                mi,
                who,
                &format!(" new reported role is {r}"),
            );
        }
        if self.tilt {
            return;
        }
        let is_slave = matches!(who, Who::Replica(_));
        if is_slave && role == SRI_MASTER {
            let m = &self.masters[mi];
            let ri = m.get(who);
            if ri.flags & SRI_PROMOTED != 0
                && m.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0
                && m.failover_state == FailoverState::WaitPromotion
            {
                // The chosen replica is a master now: our election epoch becomes the config
                // epoch, which makes the other sentinels follow.
                let m = &mut self.masters[mi];
                m.config_epoch = m.failover_epoch;
                m.failover_state = FailoverState::ReconfSlaves;
                m.failover_state_change_time = now;
                self.config_dirty = true;
                self.event(Level::Warning, "+promoted-slave", mi, who, "");
                self.event(
                    Level::Warning,
                    "+failover-state-reconf-slaves",
                    mi,
                    Who::Master,
                    "",
                );
                let (from, to) = (
                    self.masters[mi].inst.addr.clone(),
                    self.masters[mi].get(who).addr.clone(),
                );
                self.call_client_reconf_script(mi, true, "start", &from, &to);
                self.force_hello_update(mi);
            } else {
                let wait = PUBLISH_PERIOD * 4;
                if ri.flags & SRI_PROMOTED == 0
                    && self.master_looks_sane(mi)
                    && ri.no_down_for(wait, now)
                    && now - ri.role_reported_time > wait
                {
                    let maddr = self.masters[mi].inst.addr.clone();
                    if self.send_slaveof(mi, who, Some(&maddr)) {
                        self.event(Level::Notice, "+convert-to-slave", mi, who, "");
                    }
                }
            }
        }
        let m = &self.masters[mi];
        let ri = m.get(who);
        if is_slave
            && role == SRI_SLAVE
            && (ri.slave_master_port != m.inst.addr.port as i64
                || !ri
                    .slave_master_host
                    .as_deref()
                    .is_some_and(|h| m.inst.addr.same_host(h)))
        {
            let wait = m.failover_timeout;
            if self.master_looks_sane(mi)
                && ri.no_down_for(wait, now)
                && now - ri.slave_conf_change_time > wait
            {
                let maddr = m.inst.addr.clone();
                if self.send_slaveof(mi, who, Some(&maddr)) {
                    self.event(Level::Notice, "+fix-slave-config", mi, who, "");
                }
            }
        }
        let m = &self.masters[mi];
        let ri = m.get(who);
        if is_slave && role == SRI_SLAVE && ri.flags & (SRI_RECONF_SENT | SRI_RECONF_INPROG) != 0 {
            let promoted = m.promoted_replica().map(|p| p.addr.clone());
            if ri.flags & SRI_RECONF_SENT != 0 {
                if let (Some(p), Some(h)) = (&promoted, &ri.slave_master_host) {
                    if p.same_host(h) && ri.slave_master_port == p.port as i64 {
                        let ri = self.masters[mi].get_mut(who);
                        ri.flags &= !SRI_RECONF_SENT;
                        ri.flags |= SRI_RECONF_INPROG;
                        self.event(Level::Notice, "+slave-reconf-inprog", mi, who, "");
                    }
                }
            }
            let ri = self.masters[mi].get(who);
            if ri.flags & SRI_RECONF_INPROG != 0 && ri.slave_master_link_up {
                let ri = self.masters[mi].get_mut(who);
                ri.flags &= !SRI_RECONF_INPROG;
                ri.flags |= SRI_RECONF_DONE;
                self.event(Level::Notice, "+slave-reconf-done", mi, who, "");
            }
        }
    }

    /// `sentinelMasterLooksSane()`: a master we believe in, reporting the master role, not
    /// down, with a recent INFO.
    pub fn master_looks_sane(&self, mi: usize) -> bool {
        let m = &self.masters[mi].inst;
        m.flags & SRI_MASTER != 0
            && m.role_reported == SRI_MASTER
            && m.flags & (SRI_S_DOWN | SRI_O_DOWN) == 0
            && mstime() - m.info_refresh < INFO_PERIOD * 2
    }

    /// `sentinelSendSlaveOf()`: MULTI, REPLICAOF host port (NO ONE when `addr` is None),
    /// CONFIG REWRITE, CLIENT KILL TYPE normal, CLIENT KILL TYPE pubsub, EXEC. Replies are
    /// not checked: the next INFO shows the effect.
    pub fn send_slaveof(&mut self, mi: usize, who: Who, addr: Option<&Addr>) -> bool {
        if self.masters[mi].get(who).cc.is_none() {
            return false;
        }
        let (host, port) = match addr {
            None => ("NO".to_string(), "ONE".to_string()),
            Some(a) => (a.shown().to_string(), a.port.to_string()),
        };
        let m = &self.masters[mi];
        let (multi, slaveof, config, client, exec) = (
            m.map_command("MULTI"),
            m.map_command("SLAVEOF"),
            m.map_command("CONFIG"),
            m.map_command("CLIENT"),
            m.map_command("EXEC"),
        );
        let cmds: Vec<Vec<String>> = vec![
            vec![multi],
            vec![slaveof, host, port],
            vec![config, "REWRITE".into()],
            vec![
                client.clone(),
                "KILL".into(),
                "TYPE".into(),
                "normal".into(),
            ],
            vec![client, "KILL".into(), "TYPE".into(), "pubsub".into()],
            vec![exec],
        ];
        for c in cmds {
            if !self.send_cmd(mi, who, &c, Expect::Discard) {
                return false;
            }
        }
        true
    }
}

/// `slave0:ip=127.0.0.1,port=6380,state=online,offset=1,lag=0` (or the old
/// `slave0:<ip>,<port>,<state>`): the replica's address.
pub fn parse_slave_line(l: &str) -> Option<(String, u16)> {
    let v = l.split_once(':')?.1;
    if !v.contains("ip=") {
        let mut it = v.split(',');
        let ip = it.next()?;
        let port = it.next()?.parse().ok()?;
        return Some((ip.to_string(), port));
    }
    let mut ip = None;
    let mut port = None;
    for kv in v.split(',') {
        if let Some(x) = kv.strip_prefix("ip=") {
            ip = Some(x.to_string());
        } else if let Some(x) = kv.strip_prefix("port=") {
            port = x.parse().ok();
        }
    }
    Some((ip?, port?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn slave_lines() {
        assert_eq!(
            super::parse_slave_line("slave0:ip=127.0.0.1,port=6380,state=online,offset=1,lag=0"),
            Some(("127.0.0.1".into(), 6380))
        );
        assert_eq!(
            super::parse_slave_line("slave1:10.0.0.1,7000,online"),
            Some(("10.0.0.1".into(), 7000))
        );
        assert_eq!(super::parse_slave_line("slave0:ip=x"), None);
    }
}
