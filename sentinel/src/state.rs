//! The sentinel's state (Redis's `struct sentinelState` and the functions that change it
//! outside the timer): the masters, the current epoch, our id, TILT; events in Redis's
//! `sentinelEvent()` format; votes (`sentinelVoteLeader`); hello processing
//! (`sentinelProcessHelloMessage`); resets and address switches; the config snapshot that is
//! rewritten into `sentinel.conf` (`rewriteConfigSentinelOption`).

use crate::config::{self, Config, MasterConf};
use crate::instance::*;
use crate::log::{mstime, Level};
use mio::{Registry, Token};

/// Pub/sub channel of hello messages (`SENTINEL_HELLO_CHANNEL`).
pub const HELLO_CHANNEL: &str = "__sentinel__:hello";
/// How far ahead of our current epoch a peer's epoch may be before we call it absurd and
/// ignore the message (Redis takes any value; a peer a million failovers ahead is broken or
/// hostile, and following it would leave the group stuck at a bogus epoch).
pub const MAX_EPOCH_JUMP: u64 = 1_000_000;

/// First token of outbound links; client tokens stay below it.
pub const LINK_TOKEN_BASE: usize = 1 << 48;

/// Everything the sentinel knows, owned by the event loop thread.
pub struct Sentinel {
    pub myid: String,
    pub current_epoch: u64,
    pub masters: Vec<Master>,
    pub tilt: bool,
    pub tilt_start_time: i64,
    pub previous_time: i64,
    /// `SENTINEL SIMULATE-FAILURE` flags.
    pub simfailure_flags: u32,
    /// The loaded configuration (server options; master options live in `masters`).
    pub cfg: Config,
    /// The port we listen on (announced unless `announce-port`).
    pub port: u16,
    /// Events to publish to our subscribers: (channel, message).
    pub published: Vec<(String, String)>,
    /// Registry of the event loop, for new links.
    pub registry: Registry,
    next_id: u64,
    /// Set when the config must be rewritten (flushed after the current step).
    pub config_dirty: bool,
    /// Notification and client-reconfig scripts.
    pub scripts: crate::scripts::Scripts,
    /// ACL users (`user` lines, `requirepass`, ACL SETUSER).
    pub acl: crate::acl::Acl,
}

/// 40 random hex characters (Redis's `getRandomHexChars`), from the kernel's generator.
pub fn random_hex40() -> String {
    let mut b = [0u8; 20];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        // Fallback: time and pid mixed through a xorshift; only reached without /dev/urandom.
        let mut x = (mstime() as u64) ^ ((std::process::id() as u64) << 32) | 1;
        for v in b.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *v = x as u8;
        }
    }
    b.iter().map(|v| format!("{v:02x}")).collect()
}

/// A small random number in `0..n` (for the desync of failover starts, Redis's `rand() % n`).
pub fn rand_below(n: i64) -> i64 {
    let h = random_hex40();
    (u64::from_str_radix(&h[..12], 16).unwrap_or(0) % n.max(1) as u64) as i64
}

impl Sentinel {
    /// Builds the state from the loaded config: masters, their known replicas and sentinels.
    pub fn new(cfg: Config, registry: Registry) -> Sentinel {
        let now = mstime();
        let mut s = Sentinel {
            myid: cfg.myid.clone().unwrap_or_else(random_hex40),
            current_epoch: cfg.current_epoch,
            masters: Vec::new(),
            tilt: false,
            tilt_start_time: 0,
            previous_time: now,
            simfailure_flags: 0,
            port: cfg.port,
            cfg,
            published: Vec::new(),
            registry,
            next_id: 1,
            config_dirty: false,
            scripts: Default::default(),
            acl: Default::default(),
        };
        crate::instance::ANNOUNCE_HOSTNAMES.store(
            s.cfg.announce_hostnames,
            std::sync::atomic::Ordering::Relaxed,
        );
        // The `user` lines were checked at load; the default user takes `requirepass`.
        s.acl = crate::acl::Acl::from_config(s.cfg.requirepass.as_deref(), &s.cfg.users)
            .unwrap_or_default();
        let masters = std::mem::take(&mut s.cfg.masters);
        for mc in &masters {
            s.add_master(mc);
        }
        s
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The link token of instance `id` (`k` 0: command link, 1: pub/sub link).
    pub fn link_token(id: u64, k: usize) -> Token {
        Token(LINK_TOKEN_BASE + (id as usize) * 2 + k)
    }

    /// Adds a master from its config (SENTINEL MONITOR or the file), with its known replicas
    /// and sentinels. Returns its index.
    pub fn add_master(&mut self, mc: &MasterConf) -> usize {
        let now = mstime();
        let id = self.new_id();
        let mut inst = Instance::new(
            id,
            SRI_MASTER,
            mc.name.clone(),
            Addr::new(mc.host.clone(), mc.port),
            mc.down_after_ms,
            now,
        );
        inst.master_reboot_down_after_period = mc.reboot_down_after_ms;
        inst.leader_epoch = mc.leader_epoch;
        let mut m = Master {
            inst,
            replicas: Vec::new(),
            sentinels: Vec::new(),
            quorum: mc.quorum,
            parallel_syncs: mc.parallel_syncs,
            auth_pass: mc.auth_pass.clone(),
            auth_user: mc.auth_user.clone(),
            notification_script: mc.notification_script.clone(),
            client_reconfig_script: mc.client_reconfig_script.clone(),
            rename_commands: mc.rename_commands.clone(),
            config_epoch: mc.config_epoch,
            failover_epoch: 0,
            failover_state: FailoverState::None,
            failover_state_change_time: 0,
            failover_start_time: 0,
            failover_timeout: mc.failover_timeout_ms,
            failover_delay_logged: 0,
            promoted: None,
        };
        for (h, p) in &mc.known_replicas {
            if m.replicas.iter().any(|r| r.addr.same(h, *p)) {
                continue;
            }
            let addr = Addr::new(h.clone(), *p);
            let rid = self.new_id();
            m.replicas.push(Instance::new(
                rid,
                SRI_SLAVE,
                addr.fmt_ip_port(),
                addr,
                mc.down_after_ms,
                now,
            ));
        }
        for (h, p, runid) in &mc.known_sentinels {
            if runid == &self.myid {
                continue;
            }
            let sid = self.new_id();
            let mut si = Instance::new(
                sid,
                SRI_SENTINEL,
                runid.clone(),
                Addr::new(h.clone(), *p),
                mc.down_after_ms,
                now,
            );
            if !runid.is_empty() {
                si.runid = Some(runid.clone());
            }
            m.sentinels.push(si);
        }
        self.masters.push(m);
        self.masters.len() - 1
    }

    /// Index of the master called `name`.
    pub fn master_index(&self, name: &str) -> Option<usize> {
        self.masters.iter().position(|m| m.inst.name == name)
    }

    /// Finds the instance with id `id`: (master index, position).
    pub fn locate(&self, id: u64) -> Option<(usize, Who)> {
        self.masters
            .iter()
            .enumerate()
            .find_map(|(mi, m)| m.find(id).map(|w| (mi, w)))
    }

    /// The `%@` part of an event: `<type> <name> <ip> <port>` and, for replicas and sentinels,
    /// ` @ <master name> <master ip> <master port>`.
    pub fn describe(&self, mi: usize, who: Who) -> String {
        let m = &self.masters[mi];
        let ri = m.get(who);
        let mut s = format!(
            "{} {} {} {}",
            ri.type_str(),
            ri.name,
            ri.addr.shown(),
            ri.addr.port
        );
        if who != Who::Master {
            s.push_str(&format!(
                " @ {} {} {}",
                m.inst.name,
                m.inst.addr.shown(),
                m.inst.addr.port
            ));
        }
        s
    }

    /// `sentinelEvent()` for an instance: `msg` follows the `%@` description (pass "" for a
    /// bare `%@`). Logged as `<type> <description><msg>` and published on channel `type`.
    pub fn event(&mut self, level: Level, kind: &str, mi: usize, who: Who, msg: &str) {
        let text = format!("{}{}", self.describe(mi, who), msg);
        self.event_for(level, kind, mi, &text);
    }

    /// `sentinelEvent()` about master `mi` with a message of its own (`+new-epoch 5`,
    /// `+switch-master ...`): like [`Sentinel::event_raw`], and warnings also run the master's
    /// notification script with `<type> <message>`.
    pub fn event_for(&mut self, level: Level, kind: &str, mi: usize, text: &str) {
        self.event_raw(level, kind, text);
        if level == Level::Warning {
            if let Some(script) = self.masters[mi].notification_script.clone() {
                self.scripts
                    .schedule(vec![script, kind.to_string(), text.to_string()]);
            }
        }
    }

    /// `sentinelCallClientReconfScript()`: `<master> <leader|observer> <state> <from ip>
    /// <from port> <to ip> <to port>` to the master's client-reconfig-script.
    pub fn call_client_reconf_script(
        &mut self,
        mi: usize,
        leader: bool,
        state: &str,
        from: &Addr,
        to: &Addr,
    ) {
        let m = &self.masters[mi];
        let Some(script) = m.client_reconfig_script.clone() else {
            return;
        };
        let argv = vec![
            script,
            m.inst.name.clone(),
            if leader { "leader" } else { "observer" }.to_string(),
            state.to_string(),
            from.shown().to_string(),
            from.port.to_string(),
            to.shown().to_string(),
            to.port.to_string(),
        ];
        self.scripts.schedule(argv);
    }

    /// Runs the script queue for one timer tick and logs/publishes what happened.
    pub fn run_scripts(&mut self) {
        for (level, kind, text) in self.scripts.step() {
            self.event_raw(level, kind, &text);
        }
    }

    /// `sentinelEvent()` with a message that does not describe an instance (`+new-epoch 5`,
    /// `+switch-master ...`, `+tilt #tilt mode entered`).
    pub fn event_raw(&mut self, level: Level, kind: &str, text: &str) {
        crate::log::log(level, &format!("{kind} {text}"));
        if level != Level::Debug {
            self.published.push((kind.to_string(), text.to_string()));
        }
    }

    /// Epoch bump seen in a hello or a vote request: `+new-epoch` and a config flush.
    pub fn bump_epoch(&mut self, epoch: u64, mi: usize) {
        if epoch > self.current_epoch {
            self.current_epoch = epoch;
            self.config_dirty = true;
            self.event_for(Level::Warning, "+new-epoch", mi, &epoch.to_string());
        }
    }

    /// An epoch at most [`MAX_EPOCH_JUMP`] ahead of ours.
    pub fn epoch_plausible(&self, epoch: u64) -> bool {
        epoch <= self.current_epoch.saturating_add(MAX_EPOCH_JUMP)
    }

    /// `sentinelVoteLeader()`: votes for `req_runid` in `req_epoch` unless we already voted in
    /// that epoch; returns our vote (leader run id, its epoch).
    pub fn vote_leader(
        &mut self,
        mi: usize,
        req_epoch: u64,
        req_runid: &str,
    ) -> (Option<String>, u64) {
        self.bump_epoch(req_epoch, mi);
        let now = mstime();
        let m = &mut self.masters[mi];
        if m.inst.leader_epoch < req_epoch && self.current_epoch <= req_epoch {
            m.inst.leader = Some(req_runid.to_string());
            m.inst.leader_epoch = self.current_epoch;
            self.config_dirty = true;
            let text = format!("{} {}", req_runid, self.current_epoch);
            self.event_for(Level::Warning, "+vote-for-leader", mi, &text);
            // Voting for another: delay our own failover attempt for this master.
            if !req_runid.eq_ignore_ascii_case(&self.myid) {
                self.masters[mi].failover_start_time = now + rand_below(crate::monitor::MAX_DESYNC);
            }
        }
        let m = &self.masters[mi];
        (m.inst.leader.clone(), m.inst.leader_epoch)
    }

    /// Processes one hello payload (`sentinelProcessHelloMessage`): 8 comma-separated tokens
    /// `ip,port,runid,current_epoch,master_name,master_ip,master_port,master_config_epoch`.
    /// Malformed payloads are logged and ignored; returns whether it was understood.
    pub fn process_hello(&mut self, hello: &str) -> bool {
        let t: Vec<&str> = hello.split(',').collect();
        if t.len() != 8 {
            crate::log!(
                Verbose,
                "Ignoring malformed hello message ({} tokens)",
                t.len()
            );
            return false;
        }
        let (Some(port), Some(cur), Some(mport), Some(mepoch)) = (
            t[1].parse::<u16>().ok(),
            t[3].parse::<u64>().ok(),
            t[6].parse::<u16>().ok(),
            t[7].parse::<u64>().ok(),
        ) else {
            crate::log!(Verbose, "Ignoring malformed hello message '{hello}'");
            return false;
        };
        if t[2].len() != config::RUN_ID_SIZE || t[2].eq_ignore_ascii_case(&self.myid) {
            return false;
        }
        if !self.epoch_plausible(cur) || !self.epoch_plausible(mepoch) {
            crate::log!(
                Warning,
                "Ignoring hello message with an absurd epoch '{hello}'"
            );
            return false;
        }
        let Some(mi) = self.master_index(t[4]) else {
            return false;
        };
        let now = mstime();
        let (ip, runid) = (t[0], t[2]);
        let m = &self.masters[mi];
        let mut si = m
            .sentinels
            .iter()
            .position(|s| s.addr.same(ip, port) && s.runid.as_deref() == Some(runid));
        if si.is_none() {
            // A known run id at a new address: replace it; a known address with a new run id:
            // mark the old one invalid (port 0).
            let before = self.masters[mi].sentinels.len();
            let removed: Vec<Instance> = {
                let m = &mut self.masters[mi];
                let (gone, keep): (Vec<Instance>, Vec<Instance>) = std::mem::take(&mut m.sentinels)
                    .into_iter()
                    .partition(|s| s.runid.as_deref() == Some(runid));
                m.sentinels = keep;
                gone
            };
            let n_removed = before - self.masters[mi].sentinels.len();
            for mut r in removed {
                self.close_links(&mut r);
            }
            if n_removed > 0 {
                self.event(
                    Level::Notice,
                    "+sentinel-address-switch",
                    mi,
                    Who::Master,
                    &format!(" ip {ip} port {port} for {runid}"),
                );
            } else if let Some(oi) = self.masters[mi]
                .sentinels
                .iter()
                .position(|s| s.addr.same(ip, port))
            {
                self.event(
                    Level::Notice,
                    "+sentinel-invalid-addr",
                    mi,
                    Who::Sentinel(oi),
                    "",
                );
                self.masters[mi].sentinels[oi].addr.port = 0;
                self.update_sentinel_address_in_all_masters(mi, oi);
            }
            let id = self.new_id();
            let down_after = self.masters[mi].inst.down_after_period;
            let mut inst = Instance::new(
                id,
                SRI_SENTINEL,
                runid.to_string(),
                Addr::new(ip.to_string(), port),
                down_after,
                now,
            );
            inst.runid = Some(runid.to_string());
            self.masters[mi].sentinels.push(inst);
            let idx = self.masters[mi].sentinels.len() - 1;
            if n_removed == 0 {
                self.event(Level::Notice, "+sentinel", mi, Who::Sentinel(idx), "");
            } else {
                self.update_sentinel_address_in_all_masters(mi, idx);
            }
            self.config_dirty = true;
            si = Some(idx);
        }
        self.bump_epoch(cur, mi);
        let si = si.expect("sentinel present");
        if self.masters[mi].config_epoch < mepoch {
            self.masters[mi].config_epoch = mepoch;
            self.config_dirty = true;
            let m = &self.masters[mi];
            if mport != m.inst.addr.port || !m.inst.addr.same_host(t[5]) {
                self.event(
                    Level::Warning,
                    "+config-update-from",
                    mi,
                    Who::Sentinel(si),
                    "",
                );
                let m = &self.masters[mi];
                let text = format!(
                    "{} {} {} {} {}",
                    m.inst.name,
                    m.inst.addr.shown(),
                    m.inst.addr.port,
                    t[5],
                    mport
                );
                self.event_for(Level::Warning, "+switch-master", mi, &text);
                let old = self.masters[mi].inst.addr.clone();
                self.reset_master_and_change_address(mi, t[5], mport);
                let new = self.masters[mi].inst.addr.clone();
                self.call_client_reconf_script(mi, false, "start", &old, &new);
            }
        }
        self.masters[mi].sentinels[si].last_hello_time = now;
        true
    }

    /// `sentinelUpdateSentinelAddressInAllMasters()`: sentinel `si` of master `mi` has a new
    /// address; the same sentinel (by run id) under every master takes it, its links closed
    /// (they reconnect to the new address), and `+sentinel-address-update` tells how many
    /// other masters were changed.
    pub fn update_sentinel_address_in_all_masters(&mut self, mi: usize, si: usize) {
        let (Some(runid), addr) = (
            self.masters[mi].sentinels[si].runid.clone(),
            self.masters[mi].sentinels[si].addr.clone(),
        ) else {
            return;
        };
        let mut reconfigured = 0;
        for m in 0..self.masters.len() {
            let Some(k) = self.masters[m]
                .sentinels
                .iter()
                .position(|s| s.runid.as_deref() == Some(runid.as_str()))
            else {
                continue;
            };
            let mut ri = std::mem::replace(
                &mut self.masters[m].sentinels[k],
                Instance::new(0, 0, String::new(), Addr::new("", 0), 0, 0),
            );
            self.close_links(&mut ri);
            if !(m == mi && k == si) {
                ri.addr = addr.clone();
                reconfigured += 1;
            }
            self.masters[m].sentinels[k] = ri;
        }
        if reconfigured > 0 {
            self.event(
                Level::Notice,
                "+sentinel-address-update",
                mi,
                Who::Sentinel(si),
                &format!(" {reconfigured} additional matching instances"),
            );
        }
    }

    /// Closes both links of an instance.
    pub fn close_links(&self, ri: &mut Instance) {
        for l in [ri.cc.take(), ri.pc.take()].into_iter().flatten() {
            let mut l = l;
            l.deregister(&self.registry);
        }
        ri.pending_commands = 0;
        ri.info_pending = false;
    }

    /// `sentinelResetMaster()`: forgets replicas (and sentinels unless `keep_sentinels`),
    /// closes the links, clears flags and failover state. `+reset-master` when `event`.
    pub fn reset_master(&mut self, mi: usize, keep_sentinels: bool, event: bool) {
        let now = mstime();
        let mut replicas = std::mem::take(&mut self.masters[mi].replicas);
        for r in replicas.iter_mut() {
            self.close_links(r);
        }
        if !keep_sentinels {
            let mut ss = std::mem::take(&mut self.masters[mi].sentinels);
            for s in ss.iter_mut() {
                self.close_links(s);
            }
        }
        let mut inst = std::mem::replace(
            &mut self.masters[mi].inst,
            Instance::new(0, 0, String::new(), Addr::new(String::new(), 0), 0, 0),
        );
        self.close_links(&mut inst);
        inst.flags &= SRI_MASTER;
        inst.leader = None;
        inst.runid = None;
        inst.slave_master_host = None;
        inst.act_ping_time = now;
        inst.last_ping_time = 0;
        inst.last_avail_time = now;
        inst.last_pong_time = now;
        inst.role_reported_time = now;
        inst.role_reported = SRI_MASTER;
        inst.info_refresh = 0;
        // Connect to the (possibly new) address at the next tick instead of waiting out the
        // reconnect throttle of the old one: with a short down-after-milliseconds, a late first
        // PING would make the new master look SDOWN right after a switch.
        inst.last_reconn_time = 0;
        let m = &mut self.masters[mi];
        m.inst = inst;
        m.failover_state = FailoverState::None;
        m.failover_state_change_time = 0;
        m.failover_start_time = 0;
        m.promoted = None;
        if event {
            self.event(Level::Warning, "+reset-master", mi, Who::Master, "");
        }
    }

    /// `sentinelResetMasterAndChangeAddress()`: the master moves to `host:port`; every old
    /// replica except the new master, plus the old master, become its replicas (`+slave`).
    pub fn reset_master_and_change_address(&mut self, mi: usize, host: &str, port: u16) {
        let m = &self.masters[mi];
        let mut slaves: Vec<Addr> = m
            .replicas
            .iter()
            .filter(|r| !r.addr.same(host, port))
            .map(|r| r.addr.clone())
            .collect();
        if !m.inst.addr.same(host, port) {
            slaves.push(m.inst.addr.clone());
        }
        self.reset_master(mi, true, false);
        let now = mstime();
        let down_after = self.masters[mi].inst.down_after_period;
        {
            let m = &mut self.masters[mi];
            m.inst.addr = Addr::new(host.to_string(), port);
            m.inst.o_down_since_time = 0;
            m.inst.s_down_since_time = 0;
        }
        for a in slaves {
            let id = self.new_id();
            let inst = Instance::new(id, SRI_SLAVE, a.fmt_ip_port(), a, down_after, now);
            self.masters[mi].replicas.push(inst);
            let idx = self.masters[mi].replicas.len() - 1;
            self.event(Level::Notice, "+slave", mi, Who::Replica(idx), "");
        }
        self.config_dirty = true;
    }

    /// Adds a replica discovered in a master's INFO (`+slave`).
    pub fn add_replica(&mut self, mi: usize, host: &str, port: u16) -> usize {
        let now = mstime();
        let id = self.new_id();
        let addr = Addr::new(host.to_string(), port);
        let down_after = self.masters[mi].inst.down_after_period;
        let inst = Instance::new(id, SRI_SLAVE, addr.fmt_ip_port(), addr, down_after, now);
        self.masters[mi].replicas.push(inst);
        let idx = self.masters[mi].replicas.len() - 1;
        self.event(Level::Notice, "+slave", mi, Who::Replica(idx), "");
        self.config_dirty = true;
        idx
    }

    /// The lines Redis writes for the sentinel state (`rewriteConfigSentinelOption`), as
    /// `(key, line)` for [`config::rewrite_file`].
    pub fn config_lines(&self) -> Vec<(String, String)> {
        let q = |s: &str| pyrope_common::conf::quote_arg(s.as_bytes());
        let mut out: Vec<(String, String)> = Vec::new();
        let mut push = |k: &str, l: String| out.push((k.to_string(), l));
        if !self.cfg.protected_mode {
            push("protected-mode", "protected-mode no".into());
        }
        let dir = std::env::current_dir().unwrap_or_default();
        push(
            "dir",
            format!(
                "dir {}",
                pyrope_common::conf::repr(dir.to_string_lossy().as_bytes())
            ),
        );
        // Redis's rewrite puts the users between the server options and the sentinel ones.
        for l in self.acl.config_lines() {
            push("user", l);
        }
        push("sentinel myid", format!("sentinel myid {}", self.myid));
        if !self.cfg.deny_scripts_reconfig {
            push(
                "sentinel deny-scripts-reconfig",
                "sentinel deny-scripts-reconfig no".into(),
            );
        }
        if self.cfg.resolve_hostnames {
            push(
                "sentinel resolve-hostnames",
                "sentinel resolve-hostnames yes".into(),
            );
        }
        if self.cfg.announce_hostnames {
            push(
                "sentinel announce-hostnames",
                "sentinel announce-hostnames yes".into(),
            );
        }
        if let Some(u) = &self.cfg.sentinel_user {
            push(
                "sentinel sentinel-user",
                format!("sentinel sentinel-user {}", q(u)),
            );
        }
        if let Some(p) = &self.cfg.sentinel_pass {
            push(
                "sentinel sentinel-pass",
                format!("sentinel sentinel-pass {}", q(p)),
            );
        }
        for m in &self.masters {
            let name = q(&m.inst.name);
            let addr = m.current_addr();
            push(
                "sentinel monitor",
                format!(
                    "sentinel monitor {name} {} {} {}",
                    addr.shown(),
                    addr.port,
                    m.quorum
                ),
            );
            if m.inst.down_after_period != config::DEFAULT_DOWN_AFTER_MS {
                push(
                    "sentinel down-after-milliseconds",
                    format!(
                        "sentinel down-after-milliseconds {name} {}",
                        m.inst.down_after_period
                    ),
                );
            }
            if m.failover_timeout != config::DEFAULT_FAILOVER_TIMEOUT_MS {
                push(
                    "sentinel failover-timeout",
                    format!("sentinel failover-timeout {name} {}", m.failover_timeout),
                );
            }
            if m.parallel_syncs != config::DEFAULT_PARALLEL_SYNCS {
                push(
                    "sentinel parallel-syncs",
                    format!("sentinel parallel-syncs {name} {}", m.parallel_syncs),
                );
            }
            if let Some(s) = &m.notification_script {
                push(
                    "sentinel notification-script",
                    format!("sentinel notification-script {name} {}", q(s)),
                );
            }
            if let Some(s) = &m.client_reconfig_script {
                push(
                    "sentinel client-reconfig-script",
                    format!("sentinel client-reconfig-script {name} {}", q(s)),
                );
            }
            if let Some(s) = &m.auth_pass {
                push(
                    "sentinel auth-pass",
                    format!("sentinel auth-pass {name} {}", q(s)),
                );
            }
            if let Some(s) = &m.auth_user {
                push(
                    "sentinel auth-user",
                    format!("sentinel auth-user {name} {}", q(s)),
                );
            }
            if m.inst.master_reboot_down_after_period != 0 {
                push(
                    "sentinel master-reboot-down-after-period",
                    format!(
                        "sentinel master-reboot-down-after-period {name} {}",
                        m.inst.master_reboot_down_after_period
                    ),
                );
            }
            push(
                "sentinel config-epoch",
                format!("sentinel config-epoch {name} {}", m.config_epoch),
            );
            push(
                "sentinel leader-epoch",
                format!("sentinel leader-epoch {name} {}", m.inst.leader_epoch),
            );
            for r in &m.replicas {
                // The promoted replica is the master now (its address is the monitor line).
                if r.addr.same(&addr.host, addr.port) {
                    continue;
                }
                push(
                    "sentinel known-replica",
                    format!(
                        "sentinel known-replica {name} {} {}",
                        r.addr.shown(),
                        r.addr.port
                    ),
                );
            }
            for s in &m.sentinels {
                let Some(runid) = &s.runid else { continue };
                if s.addr.port == 0 {
                    continue;
                }
                push(
                    "sentinel known-sentinel",
                    format!(
                        "sentinel known-sentinel {name} {} {} {runid}",
                        s.addr.shown(),
                        s.addr.port
                    ),
                );
            }
            for (from, to) in &m.rename_commands {
                push(
                    "sentinel rename-command",
                    format!("sentinel rename-command {name} {} {}", q(from), q(to)),
                );
            }
        }
        push(
            "sentinel current-epoch",
            format!("sentinel current-epoch {}", self.current_epoch),
        );
        if let Some(ip) = &self.cfg.announce_ip {
            push(
                "sentinel announce-ip",
                format!("sentinel announce-ip {}", q(ip)),
            );
        }
        if self.cfg.announce_port != 0 {
            push(
                "sentinel announce-port",
                format!("sentinel announce-port {}", self.cfg.announce_port),
            );
        }
        out
    }

    /// `sentinelFlushConfig()`: rewrites the config file now. Errors are logged (Redis logs
    /// "WARNING: Sentinel was not able to save the new configuration on disk!!!") and returned.
    pub fn flush_config(&mut self) -> std::io::Result<()> {
        self.config_dirty = false;
        let lines = self.config_lines();
        let owned = |k: &str| {
            k.starts_with("sentinel ") || k == "dir" || k == "protected-mode" || k == "user"
        };
        let r = config::rewrite_file(&self.cfg.path, &lines, &owned);
        if r.is_ok() {
            crate::log!(Notice, "Sentinel new configuration saved on disk");
        }
        if let Err(e) = &r {
            crate::log!(
                Warning,
                "WARNING: Sentinel was not able to save the new configuration on disk!!!: {e}"
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentinel_address_switch_applies_under_every_master() {
        let cfg = config::load_str(
            "sentinel monitor m1 127.0.0.1 7001 2\nsentinel monitor m2 127.0.0.1 7002 2\n",
            "t.conf",
        )
        .unwrap();
        let poll = mio::Poll::new().unwrap();
        let mut s = Sentinel::new(cfg, poll.registry().try_clone().unwrap());
        let id = "a".repeat(40);
        for (m, p) in [("m1", 7001), ("m2", 7002)] {
            assert!(s.process_hello(&format!("127.0.0.1,5000,{id},0,{m},127.0.0.1,{p},0")));
        }
        // Seen at a new address through m1 only: m2's instance follows.
        assert!(s.process_hello(&format!("127.0.0.2,5001,{id},0,m1,127.0.0.1,7001,0")));
        for m in &s.masters {
            assert_eq!(m.sentinels.len(), 1);
            let a = &m.sentinels[0].addr;
            assert_eq!(
                (a.ip.as_str(), a.port),
                ("127.0.0.2", 5001),
                "{}",
                m.inst.name
            );
        }
    }
}
