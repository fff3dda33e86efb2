//! The monitored instances, as Redis's `sentinelRedisInstance`: a [`Master`] owns its replicas
//! and the other sentinels watching it; every one of them is an [`Instance`] with its flags
//! (`SRI_*`), link state and the facts learned from INFO, PING and hello messages.
//!
//! Times are unix milliseconds (`mstime()`), 0 meaning "never", as in Redis.

use crate::link::Link;
use std::sync::atomic::{AtomicBool, Ordering};

/// `SRI_MASTER`
pub const SRI_MASTER: u32 = 1 << 0;
/// `SRI_SLAVE`
pub const SRI_SLAVE: u32 = 1 << 1;
/// `SRI_SENTINEL`
pub const SRI_SENTINEL: u32 = 1 << 2;
/// `SRI_S_DOWN`: subjectively down (no quorum).
pub const SRI_S_DOWN: u32 = 1 << 3;
/// `SRI_O_DOWN`: objectively down (quorum of sentinels agrees).
pub const SRI_O_DOWN: u32 = 1 << 4;
/// `SRI_MASTER_DOWN`: on a sentinel, it thinks our master is down.
pub const SRI_MASTER_DOWN: u32 = 1 << 5;
/// `SRI_FAILOVER_IN_PROGRESS`
pub const SRI_FAILOVER_IN_PROGRESS: u32 = 1 << 6;
/// `SRI_PROMOTED`: the replica chosen for promotion.
pub const SRI_PROMOTED: u32 = 1 << 7;
/// `SRI_RECONF_SENT`: REPLICAOF <new master> sent.
pub const SRI_RECONF_SENT: u32 = 1 << 8;
/// `SRI_RECONF_INPROG`: the replica is syncing with the new master.
pub const SRI_RECONF_INPROG: u32 = 1 << 9;
/// `SRI_RECONF_DONE`: the replica finished syncing with the new master.
pub const SRI_RECONF_DONE: u32 = 1 << 10;
/// `SRI_FORCE_FAILOVER`: SENTINEL FAILOVER, no agreement needed.
pub const SRI_FORCE_FAILOVER: u32 = 1 << 11;
/// `SRI_SCRIPT_KILL_SENT`
pub const SRI_SCRIPT_KILL_SENT: u32 = 1 << 12;
/// `SRI_MASTER_REBOOT`: the master restarted (new run id) and is inside
/// `master-reboot-down-after-period`.
pub const SRI_MASTER_REBOOT: u32 = 1 << 13;

/// Failover states (`SENTINEL_FAILOVER_STATE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailoverState {
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoone,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

impl FailoverState {
    /// `sentinelFailoverStateStr()`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverState::None => "none",
            FailoverState::WaitStart => "wait_start",
            FailoverState::SelectSlave => "select_slave",
            FailoverState::SendSlaveofNoone => "send_slaveof_noone",
            FailoverState::WaitPromotion => "wait_promotion",
            FailoverState::ReconfSlaves => "reconf_slaves",
            FailoverState::UpdateConfig => "update_config",
        }
    }
}

/// `sentinel announce-hostnames`: replies, events, hellos and the rewritten config show
/// the host names as configured rather than the addresses they resolved to. Process-wide, as
/// Redis's `sentinel.announce_hostnames` (set at load and by SENTINEL CONFIG SET).
pub static ANNOUNCE_HOSTNAMES: AtomicBool = AtomicBool::new(false);

/// An address as configured or announced (Redis's `sentinelAddr`): the host as given (an IP
/// address, or a host name with `resolve-hostnames yes`) and the IP address it resolved to
/// when the address was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub host: String,
    /// The resolved address (the host itself when it is an IP address, or when it does not
    /// resolve).
    pub ip: String,
    pub port: u16,
}

impl Addr {
    /// An address for `host:port`, resolving a host name now (first address of
    /// `getaddrinfo`, as `anetResolve`).
    pub fn new(host: impl Into<String>, port: u16) -> Addr {
        let host: String = host.into();
        let ip = if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
            host.clone()
        } else {
            crate::link::resolve(&host, port)
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|_| host.clone())
        };
        Addr { host, ip, port }
    }

    /// What Redis shows of this address (`announceSentinelAddr`): the host name with
    /// `announce-hostnames yes`, else the IP address.
    pub fn shown(&self) -> &str {
        if ANNOUNCE_HOSTNAMES.load(Ordering::Relaxed) {
            &self.host
        } else {
            &self.ip
        }
    }

    /// `ip:port`, or `[ip]:port` for IPv6 (Redis's `announceSentinelAddrAndPort` /
    /// `anetFormatAddr`), of the host as given.
    pub fn fmt_ip_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Same port, and `host` names this address: its host name (case-insensitive, as
    /// `sentinelAddrEqualsHostname`) or its IP address.
    pub fn same(&self, host: &str, port: u16) -> bool {
        self.port == port && self.same_host(host)
    }

    /// `host` is this address's host name or IP address.
    pub fn same_host(&self, host: &str) -> bool {
        self.host.eq_ignore_ascii_case(host) || self.ip.eq_ignore_ascii_case(host)
    }
}

/// Where an instance sits inside its master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Master,
    Replica(usize),
    Sentinel(usize),
}

/// One monitored node or peer sentinel (Redis `sentinelRedisInstance` with its
/// `instanceLink`).
pub struct Instance {
    /// Process-unique id; link tokens are derived from it.
    pub id: u64,
    /// `SRI_*` flags.
    pub flags: u32,
    /// Master name; `ip:port` for replicas; the run id for sentinels.
    pub name: String,
    pub runid: Option<String>,
    pub addr: Addr,
    /// Command link.
    pub cc: Option<Link>,
    /// Pub/sub link (masters and replicas only).
    pub pc: Option<Link>,
    /// Commands sent on `cc` whose replies have not arrived.
    pub pending_commands: i64,
    pub cc_conn_time: i64,
    pub pc_conn_time: i64,
    pub pc_last_activity: i64,
    /// Last valid PING reply (PONG, LOADING, MASTERDOWN).
    pub last_avail_time: i64,
    /// Time of the oldest PING still unanswered (0: none pending).
    pub act_ping_time: i64,
    /// Last PING sent.
    pub last_ping_time: i64,
    /// Last PING reply of any kind.
    pub last_pong_time: i64,
    pub last_reconn_time: i64,
    pub last_pub_time: i64,
    /// Sentinels: last hello received from it.
    pub last_hello_time: i64,
    pub last_master_down_reply_time: i64,
    pub s_down_since_time: i64,
    pub o_down_since_time: i64,
    /// `down-after-milliseconds`, ms.
    pub down_after_period: i64,
    pub master_reboot_down_after_period: i64,
    pub master_reboot_since_time: i64,
    /// Time of the last INFO reply (0: never).
    pub info_refresh: i64,
    /// An INFO is in flight (we send one at a time).
    pub info_pending: bool,
    /// The last INFO text (SENTINEL INFO-CACHE).
    pub info: String,
    /// Role from INFO: `SRI_MASTER` or `SRI_SLAVE`.
    pub role_reported: u32,
    pub role_reported_time: i64,
    pub slave_conf_change_time: i64,
    // Replica facts from INFO.
    pub master_link_down_time: i64,
    pub slave_priority: i64,
    pub slave_reconf_sent_time: i64,
    pub slave_master_host: Option<String>,
    pub slave_master_port: i64,
    pub slave_master_link_up: bool,
    pub slave_repl_offset: u64,
    pub replica_announced: i64,
    /// Sentinels: the leader it voted for, and the epoch of that vote. Masters: our vote.
    pub leader: Option<String>,
    pub leader_epoch: u64,
}

impl Instance {
    /// A fresh instance with Redis's initial link times (`createInstanceLink`: the link
    /// counts as just available, so a new instance is not SDOWN at once).
    pub fn new(id: u64, flags: u32, name: String, addr: Addr, down_after: i64, now: i64) -> Self {
        Instance {
            id,
            flags,
            name,
            runid: None,
            addr,
            cc: None,
            pc: None,
            pending_commands: 0,
            cc_conn_time: 0,
            pc_conn_time: 0,
            pc_last_activity: 0,
            last_avail_time: now,
            act_ping_time: now,
            last_ping_time: 0,
            last_pong_time: now,
            last_reconn_time: 0,
            last_pub_time: 0,
            last_hello_time: now,
            last_master_down_reply_time: now,
            s_down_since_time: 0,
            o_down_since_time: 0,
            down_after_period: down_after,
            master_reboot_down_after_period: 0,
            master_reboot_since_time: 0,
            info_refresh: 0,
            info_pending: false,
            info: String::new(),
            role_reported: flags & (SRI_MASTER | SRI_SLAVE),
            role_reported_time: now,
            slave_conf_change_time: now,
            master_link_down_time: 0,
            slave_priority: 100,
            slave_reconf_sent_time: 0,
            slave_master_host: None,
            slave_master_port: 0,
            slave_master_link_up: false,
            slave_repl_offset: 0,
            replica_announced: 1,
            leader: None,
            leader_epoch: 0,
        }
    }

    /// Redis's `link->disconnected`: the command link (and for nodes the pub/sub link) is
    /// missing.
    pub fn disconnected(&self) -> bool {
        self.cc.is_none() || (self.flags & SRI_SENTINEL == 0 && self.pc.is_none())
    }

    /// `sentinelRedisInstanceTypeStr()`.
    pub fn type_str(&self) -> &'static str {
        if self.flags & SRI_MASTER != 0 {
            "master"
        } else if self.flags & SRI_SLAVE != 0 {
            "slave"
        } else {
            "sentinel"
        }
    }

    /// Most recent of the SDOWN / ODOWN start times is older than `ms` (or never down):
    /// `sentinelRedisInstanceNoDownFor()`.
    pub fn no_down_for(&self, ms: i64, now: i64) -> bool {
        let when = self.s_down_since_time.max(self.o_down_since_time);
        when == 0 || now - when > ms
    }
}

/// A monitored master with its replicas and peer sentinels, and the failover state.
pub struct Master {
    pub inst: Instance,
    pub replicas: Vec<Instance>,
    pub sentinels: Vec<Instance>,
    pub quorum: u32,
    pub parallel_syncs: i64,
    pub auth_pass: Option<String>,
    pub auth_user: Option<String>,
    pub notification_script: Option<String>,
    pub client_reconfig_script: Option<String>,
    pub rename_commands: Vec<(String, String)>,
    pub config_epoch: u64,
    pub failover_epoch: u64,
    pub failover_state: FailoverState,
    pub failover_state_change_time: i64,
    pub failover_start_time: i64,
    /// `failover-timeout`, ms.
    pub failover_timeout: i64,
    pub failover_delay_logged: i64,
    /// Id of the replica being promoted.
    pub promoted: Option<u64>,
}

impl Master {
    /// The instance at `who`.
    pub fn get(&self, who: Who) -> &Instance {
        match who {
            Who::Master => &self.inst,
            Who::Replica(i) => &self.replicas[i],
            Who::Sentinel(i) => &self.sentinels[i],
        }
    }

    /// The instance at `who`, mutably.
    pub fn get_mut(&mut self, who: Who) -> &mut Instance {
        match who {
            Who::Master => &mut self.inst,
            Who::Replica(i) => &mut self.replicas[i],
            Who::Sentinel(i) => &mut self.sentinels[i],
        }
    }

    /// Finds the instance with id `id`.
    pub fn find(&self, id: u64) -> Option<Who> {
        if self.inst.id == id {
            return Some(Who::Master);
        }
        if let Some(i) = self.replicas.iter().position(|r| r.id == id) {
            return Some(Who::Replica(i));
        }
        self.sentinels
            .iter()
            .position(|s| s.id == id)
            .map(Who::Sentinel)
    }

    /// The promoted replica, if a failover chose one.
    pub fn promoted_replica(&self) -> Option<&Instance> {
        let id = self.promoted?;
        self.replicas.iter().find(|r| r.id == id)
    }

    /// The command Redis would send for `cmd` after `rename-command` (`sentinelInstanceMapCommand`).
    pub fn map_command(&self, cmd: &str) -> String {
        self.rename_commands
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(cmd))
            .map(|(_, to)| to.clone())
            .unwrap_or_else(|| cmd.to_string())
    }

    /// The address the master is at for clients: the promoted replica's once the failover
    /// reached `update_config` (`sentinelGetCurrentMasterAddress`).
    pub fn current_addr(&self) -> &Addr {
        if self.inst.flags & SRI_FAILOVER_IN_PROGRESS != 0
            && self.failover_state >= FailoverState::ReconfSlaves
        {
            if let Some(p) = self.promoted_replica() {
                return &p.addr;
            }
        }
        &self.inst.addr
    }
}
