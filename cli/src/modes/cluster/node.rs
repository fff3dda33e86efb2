//! The cluster manager's view of one node (redis-cli's `clusterManagerNode`) and how it is
//! learned: a connection with AUTH ([`Link`]), `INFO` for `cluster_enabled`, and `CLUSTER
//! NODES` parsed as `clusterManagerNodeLoadInfo` does (the node's own line gives its slots and
//! its open slots; the other lines give the "friends" to load next).
//!
//! Node ids, addresses and slot lists are ASCII text in every Redis version, so they are
//! `String`s here; command arguments and key names stay bytes.

use pyrope_common::client::{atoi, os_error_text, Client, ClientError, Stream};
use pyrope_common::resp::Frame;
use std::time::Duration;

/// Number of hash slots (`CLUSTER_MANAGER_SLOTS`).
pub const SLOTS: usize = 16384;
/// Cluster bus port offset (`CLUSTER_MANAGER_PORT_INCR`).
pub const PORT_INCR: u32 = 10000;

/// `CLUSTER_MANAGER_FLAG_*`: what the node's flags say.
pub mod flag {
    pub const MYSELF: u32 = 1 << 0;
    pub const SLAVE: u32 = 1 << 1;
    pub const FRIEND: u32 = 1 << 2;
    pub const NOADDR: u32 = 1 << 3;
    pub const DISCONNECT: u32 = 1 << 4;
    pub const FAIL: u32 = 1 << 5;
}

/// A blocking connection to one node that behaves like a hiredis context: after an I/O
/// error every later command gets no reply (`None`), as `redisCommand` returns NULL.
pub struct Link {
    client: Option<Client>,
}

/// Credentials and connect timeout used for every node (redis-cli's `config.conn_info` and
/// `config.connect_timeout`).
#[derive(Clone, Debug, Default)]
pub struct Auth {
    pub user: Option<Vec<u8>>,
    pub password: Option<Vec<u8>>,
    /// Connect timeout (`-t`); None: the OS's.
    pub timeout: Option<Duration>,
}

impl Link {
    /// A link over a connected client.
    pub fn new(c: Client) -> Link {
        Link { client: Some(c) }
    }

    /// Sends one command and waits for its reply; None when the connection failed (now or
    /// before).
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Option<Frame> {
        let c = self.client.as_mut()?;
        match c.call(args) {
            Ok(f) => Some(f),
            Err(_) => {
                self.client = None;
                None
            }
        }
    }

    /// Sends one command without waiting for its reply ([`Link::read`] reads it).
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Option<()> {
        let c = self.client.as_mut()?;
        if c.send(args).is_err() {
            self.client = None;
            return None;
        }
        Some(())
    }

    /// Reads the next reply; None when the connection failed.
    pub fn read(&mut self) -> Option<Frame> {
        let c = self.client.as_mut()?;
        match c.read_reply() {
            Ok(f) => Some(f),
            Err(_) => {
                self.client = None;
                None
            }
        }
    }

    /// Sends several commands in one write and reads their replies in order; None when the
    /// connection failed. (Used where redis-cli sends one command at a time but the replies
    /// do not decide what is sent next.)
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Option<Vec<Frame>> {
        let c = self.client.as_mut()?;
        let mut out = Vec::new();
        for cmd in cmds {
            pyrope_common::resp::encode::command(&mut out, cmd);
        }
        let r: Result<Vec<Frame>, ClientError> = c
            .send_raw(&out)
            .and_then(|_| cmds.iter().map(|_| c.read_reply()).collect());
        match r {
            Ok(v) => Some(v),
            Err(_) => {
                self.client = None;
                None
            }
        }
    }

    /// The socket and the bytes buffered past the last reply (for SYNC in `backup`).
    pub fn take_stream(&mut self) -> Option<(Stream, Vec<u8>)> {
        self.client.take().map(Client::into_parts)
    }
}

/// One node as the cluster manager sees it (`clusterManagerNode`).
pub struct Node {
    pub link: Option<Link>,
    /// Node id (40 hex characters), empty until loaded.
    pub name: String,
    pub ip: String,
    pub port: u16,
    pub bus_port: u32,
    /// The node's config epoch (CLUSTER NODES field 7; redis-cli calls it current_epoch).
    pub current_epoch: u64,
    /// `flag::*` bits.
    pub flags: u32,
    /// The flags as CLUSTER NODES wrote them, in order.
    pub flags_str: Vec<String>,
    /// The primary's node id when this node is a replica.
    pub replicate: Option<String>,
    /// Planned changes not yet sent (create).
    pub dirty: bool,
    /// Which of the 16384 slots the node serves.
    pub slots: Vec<bool>,
    pub slots_count: usize,
    pub replicas_count: usize,
    /// The other nodes its CLUSTER NODES names (loaded next).
    pub friends: Vec<Node>,
    /// Open slots: (slot as written, destination node id).
    pub migrating: Vec<(String, String)>,
    /// Open slots: (slot as written, source node id).
    pub importing: Vec<(String, String)>,
    /// Rebalance weight (1.0 unless `--cluster-weight`).
    pub weight: f32,
    /// Rebalance: slots to give (positive) or take (negative).
    pub balance: i64,
}

/// `ip:port[@bus_port]` as `parseClusterNodeAddress`: the last '@' ends the address (and
/// starts the bus port, read with atoi), the last ':' splits host and port (atoi).
/// None without a ':'.
pub fn parse_address(addr: &str) -> Option<(String, u16, u32)> {
    let (addr, bus) = match addr.rfind('@') {
        Some(i) => (
            &addr[..i],
            atoi(&addr[i + 1..]).clamp(0, u32::MAX as i64) as u32,
        ),
        None => (addr, 0),
    };
    let i = addr.rfind(':')?;
    let port = atoi(&addr[i + 1..]);
    Some((addr[..i].to_string(), port.clamp(0, 65535) as u16, bus))
}

/// `getLongInfoField`: the integer after `field:` in an INFO text (0 when absent).
pub fn info_field(info: &[u8], field: &str) -> i64 {
    let text = String::from_utf8_lossy(info);
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(atoi))
        .unwrap_or(0)
}

/// The text of a bulk / simple / verbatim reply.
pub fn text(f: &Frame) -> Option<String> {
    match f {
        Frame::Bulk(Some(b)) | Frame::Simple(b) | Frame::Verbatim(_, b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}

/// The error text of an error reply (as C prints it: up to a NUL).
pub fn err_text(f: &Frame) -> Option<String> {
    match f {
        Frame::Error(e) => Some(crate::conn::cstr(e)),
        _ => None,
    }
}

impl Node {
    /// A node at `ip:port` not yet connected (`clusterManagerNewNode`); a bus port of 0 means
    /// `port + 10000` until CLUSTER NODES says otherwise.
    pub fn new(ip: &str, port: u16, bus_port: u32) -> Node {
        Node {
            link: None,
            name: String::new(),
            ip: ip.to_string(),
            port,
            bus_port: if bus_port != 0 {
                bus_port
            } else {
                port as u32 + PORT_INCR
            },
            current_epoch: 0,
            flags: 0,
            flags_str: Vec::new(),
            replicate: None,
            dirty: false,
            slots: vec![false; SLOTS],
            slots_count: 0,
            replicas_count: 0,
            friends: Vec::new(),
            migrating: Vec::new(),
            importing: Vec::new(),
            weight: 1.0,
            balance: 0,
        }
    }

    /// `ip:port` as redis-cli prints it (`%s:%d`).
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// True for a replica (the SLAVE flag).
    pub fn is_replica(&self) -> bool {
        self.flags & flag::SLAVE != 0
    }

    /// `clusterManagerNodeConnect`: connects and sends AUTH. A connect failure prints
    /// "Could not connect to Redis at ip:port: <reason>" on stderr; a refused AUTH prints the
    /// reply error (see [`crate::modes::cluster::Out::reply_error`]) through `on_auth_err`.
    /// Returns false on either.
    pub fn connect(&mut self, auth: &Auth, on_auth_err: &mut dyn FnMut(&Node, &str)) -> bool {
        self.link = None;
        let stream = match Stream::tcp(&self.ip, self.port, auth.timeout) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "Could not connect to Redis at {}:{}: {}",
                    self.ip,
                    self.port,
                    os_error_text(&e)
                );
                return false;
            }
        };
        let mut link = Link {
            client: Some(Client::new(stream)),
        };
        if let Some(p) = &auth.password {
            let r = match &auth.user {
                None => link.call(&[b"AUTH".to_vec(), p.clone()]),
                Some(u) => link.call(&[b"AUTH".to_vec(), u.clone(), p.clone()]),
            };
            match r {
                None => return false,
                Some(Frame::Error(e)) => {
                    on_auth_err(self, &crate::conn::cstr(&e));
                    return false;
                }
                Some(_) => {}
            }
        }
        self.link = Some(link);
        true
    }

    /// Sends a command to this node; None when not connected or the connection failed.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Option<Frame> {
        self.link.as_mut()?.call(args)
    }

    /// `clusterManagerGetNodeRedisInfo` + `cluster_enabled`: Ok(bool), or Err(Some(reply
    /// error)) / Err(None) when there was no reply.
    pub fn is_cluster(&mut self) -> Result<bool, Option<String>> {
        match self.call(&["INFO"]) {
            None => Err(None),
            Some(Frame::Error(e)) => Err(Some(crate::conn::cstr(&e))),
            Some(f) => Ok(info_field(&bulk_bytes(&f), "cluster_enabled") != 0),
        }
    }

    /// `clusterManagerNodeIsEmpty`: no key in db 0 (INFO keyspace) and no other known node
    /// (CLUSTER INFO). Err as [`Node::is_cluster`].
    pub fn is_empty(&mut self) -> Result<bool, Option<String>> {
        let info = match self.call(&["INFO"]) {
            None => return Err(None),
            Some(Frame::Error(e)) => return Err(Some(crate::conn::cstr(&e))),
            Some(f) => bulk_bytes(&f),
        };
        if info.windows(4).any(|w| w == b"db0:") {
            return Ok(false);
        }
        match self.call(&["CLUSTER", "INFO"]) {
            None => Ok(false),
            Some(Frame::Error(e)) => Err(Some(crate::conn::cstr(&e))),
            Some(f) => Ok(info_field(&bulk_bytes(&f), "cluster_known_nodes") == 1),
        }
    }

    /// Clears the slot table (`clusterManagerNodeResetSlots`).
    pub fn reset_slots(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = false);
        self.slots_count = 0;
    }

    /// `clusterManagerNodeLoadInfo`: reads CLUSTER NODES. The node's own line sets its id,
    /// slots, open slots, flags, primary and epoch; with `getfriends` every other line becomes
    /// a friend node. Err(Some(reply error)), Err(None) for no reply or a malformed reply
    /// (the latter reported as "Error: invalid CLUSTER NODES reply").
    pub fn load_info(&mut self, getfriends: bool) -> Result<(), Option<String>> {
        let reply = match self.call(&["CLUSTER", "NODES"]) {
            None => return Err(None),
            Some(Frame::Error(e)) => return Err(Some(crate::conn::cstr(&e))),
            Some(f) => String::from_utf8_lossy(&bulk_bytes(&f)).into_owned(),
        };
        // As the C parser: only '\n'-terminated lines count.
        let mut rest = reply.as_str();
        while let Some(nl) = rest.find('\n') {
            let line = &rest[..nl];
            rest = &rest[nl + 1..];
            let mut fields: Vec<&str> = Vec::with_capacity(8);
            let mut tail = line;
            while fields.len() < 8 {
                match tail.find(' ') {
                    Some(sp) => {
                        fields.push(&tail[..sp]);
                        tail = &tail[sp + 1..];
                    }
                    None => break,
                }
            }
            let has_slots = fields.len() == 8;
            let Some(&flags) = fields.get(2) else {
                return Err(None);
            };
            let Some((ip, port, bus_port)) = fields.get(1).and_then(|a| parse_address(a)) else {
                eprintln!("Error: invalid CLUSTER NODES reply");
                return Err(None);
            };
            let myself = flags.contains("myself");
            let name = fields[0];
            let master_id = fields.get(3).copied();
            let target: &mut Node = if myself {
                self.bus_port = bus_port;
                self.flags |= flag::MYSELF;
                self.reset_slots();
                self.migrating.clear();
                self.importing.clear();
                if has_slots {
                    self.parse_slots(tail);
                }
                self.dirty = false;
                self
            } else if !getfriends {
                if self.flags & flag::MYSELF == 0 {
                    continue;
                } else {
                    break;
                }
            } else {
                let mut f = Node::new(&ip, port, bus_port);
                f.flags |= flag::FRIEND;
                self.friends.push(f);
                self.friends.last_mut().unwrap()
            };
            target.name = name.to_string();
            target.flags_str.clear();
            for fl in flags.split(',').filter(|f| !f.is_empty()) {
                match fl {
                    "noaddr" => target.flags |= flag::NOADDR,
                    "disconnected" => target.flags |= flag::DISCONNECT,
                    "fail" => target.flags |= flag::FAIL,
                    "slave" => {
                        target.flags |= flag::SLAVE;
                        if let Some(m) = master_id {
                            target.replicate = Some(m.to_string());
                        }
                    }
                    _ => {}
                }
                target.flags_str.push(fl.to_string());
            }
            if let Some(e) = fields.get(6) {
                target.current_epoch = atoi(e).max(0) as u64;
            }
            if !getfriends && myself {
                break;
            }
        }
        Ok(())
    }

    /// The slot fields of the node's own CLUSTER NODES line: `a-b`, `n`,
    /// `[slot->-id]` (migrating), `[slot-<-id]` (importing).
    fn parse_slots(&mut self, defs: &str) {
        for def in defs.split(' ') {
            if let Some(open) = def.strip_prefix('[') {
                let open = open.strip_suffix(']').unwrap_or(open);
                if let Some((slot, dst)) = open.split_once("->-") {
                    self.migrating.push((slot.to_string(), dst.to_string()));
                } else if let Some((slot, src)) = open.split_once("-<-") {
                    self.importing.push((slot.to_string(), src.to_string()));
                }
            } else if let Some((a, b)) = def.split_once('-') {
                let (start, stop) = (atoi(a), atoi(b));
                for s in start.max(0)..=stop.min(SLOTS as i64 - 1) {
                    if !self.slots[s as usize] {
                        self.slots[s as usize] = true;
                        self.slots_count += 1;
                    }
                }
            } else if !def.is_empty() {
                let s = atoi(def);
                if (0..SLOTS as i64).contains(&s) && !self.slots[s as usize] {
                    self.slots[s as usize] = true;
                    self.slots_count += 1;
                }
            }
        }
    }

    /// `clusterManagerNodeFlagString`: the flags but `myself`, comma-separated.
    pub fn flag_string(&self) -> String {
        self.flags_str
            .iter()
            .filter(|f| f.as_str() != "myself")
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `clusterManagerNodeSlotsString`: `[0-5460],[5462]` (ranges in brackets).
    pub fn slots_string(&self) -> String {
        slots_string(&self.slots)
    }

    /// `clusterManagerNodeInfo`: the node's lines in check/create/reshard output, each after
    /// `indent` spaces:
    /// ```text
    /// M: <id> ip:port
    ///    slots:[0-5460] (5461 slots) master
    ///    1 additional replica(s)
    /// ```
    /// A replica planned by create prints `S: <id> ip:port` and `replicates <id>` only.
    pub fn info(&self, indent: usize) -> String {
        let spaces = " ".repeat(indent);
        let mut out = spaces.clone();
        let role = if self.is_replica() { "S" } else { "M" };
        if self.dirty && self.replicate.is_some() {
            out += &format!("S: {} {}:{}", self.name, self.ip, self.port);
        } else {
            out += &format!(
                "{role}: {} {}:{}\n{spaces}   slots:{} ({} slots) {}",
                self.name,
                self.ip,
                self.port,
                self.slots_string(),
                self.slots_count,
                self.flag_string()
            );
        }
        if let Some(m) = &self.replicate {
            out += &format!("\n{spaces}   replicates {m}");
        } else if self.replicas_count > 0 {
            out += &format!("\n{spaces}   {} additional replica(s)", self.replicas_count);
        }
        out
    }

    /// `clusterManagerNodeGetJSON`: the node's object in `backup`'s nodes.json (and our
    /// `check --json`), indented as redis-cli writes it.
    pub fn json(&self, error_count: usize) -> String {
        let replicate = match &self.replicate {
            Some(r) => format!("\"{r}\""),
            None => "null".into(),
        };
        let slots = self.slots_string().replace('-', ",");
        let mut j = format!(
            "  {{\n    \"name\": \"{}\",\n    \"host\": \"{}\",\n    \"port\": {},\n    \"replicate\": {},\n    \"slots\": [{}],\n    \"slots_count\": {},\n    \"flags\": \"{}\",\n    \"current_epoch\": {}",
            self.name,
            self.ip,
            self.port,
            replicate,
            slots,
            self.slots_count,
            self.flag_string(),
            self.current_epoch
        );
        if error_count > 0 {
            j += &format!(",\n    \"cluster_errors\": {error_count}");
        }
        let open = |v: &[(String, String)]| {
            v.iter()
                .map(|(s, n)| format!("\"{s}\": \"{n}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        if !self.migrating.is_empty() {
            j += &format!(",\n    \"migrating\": {{{}}}", open(&self.migrating));
        }
        if !self.importing.is_empty() {
            j += &format!(",\n    \"importing\": {{{}}}", open(&self.importing));
        }
        j += "\n  }";
        j
    }
}

/// The bytes of a bulk / simple / verbatim reply (empty otherwise).
pub fn bulk_bytes(f: &Frame) -> Vec<u8> {
    match f {
        Frame::Bulk(Some(b)) | Frame::Simple(b) | Frame::Verbatim(_, b) => b.clone(),
        _ => Vec::new(),
    }
}

/// `clusterManagerNodeSlotsString` over any slot table: bracketed ranges, comma-separated.
pub fn slots_string(slots: &[bool]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < slots.len() {
        if !slots[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < slots.len() && slots[i + 1] {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == i {
            out += &format!("[{start}]");
        } else {
            out += &format!("[{start}-{i}]");
        }
        i += 1;
    }
    out
}

/// `clusterManagerGetConfigSignature`: from one node's CLUSTER NODES, every node that serves
/// slots as `id:slot,slot` (slot fields sorted as strings, open slots left out), the entries
/// sorted and joined by `|`. None when there is no reply or no node serves a slot.
pub fn config_signature(node: &mut Node) -> Option<String> {
    let f = node.call(&["CLUSTER", "NODES"])?;
    if f.is_error() {
        return None;
    }
    let text = String::from_utf8_lossy(&bulk_bytes(&f)).into_owned();
    let mut configs = Vec::new();
    let mut rest = text.as_str();
    while let Some(nl) = rest.find('\n') {
        let line = &rest[..nl];
        rest = &rest[nl + 1..];
        let mut tail = line;
        let mut name = "";
        let mut n = 0;
        while n < 8 {
            match tail.find(' ') {
                Some(sp) => {
                    if n == 0 {
                        name = &tail[..sp];
                    }
                    tail = &tail[sp + 1..];
                    n += 1;
                }
                None => break,
            }
        }
        if n != 8 || tail.is_empty() {
            continue;
        }
        let mut slots: Vec<&str> = tail.split(' ').filter(|d| !d.starts_with('[')).collect();
        if slots.is_empty() {
            continue;
        }
        slots.sort_unstable();
        configs.push(format!("{name}:{}", slots.join(",")));
    }
    if configs.is_empty() {
        return None;
    }
    configs.sort_unstable();
    Some(configs.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_redis_cli_parses_them() {
        assert_eq!(
            parse_address("127.0.0.1:30001@40001"),
            Some(("127.0.0.1".into(), 30001, 40001))
        );
        assert_eq!(
            parse_address("10.0.0.1:7000@17000,host.example"),
            Some(("10.0.0.1".into(), 7000, 17000))
        );
        assert_eq!(parse_address("::1:7000"), Some(("::1".into(), 7000, 0)));
        assert_eq!(parse_address(":0@0"), Some(("".into(), 0, 0)));
        assert_eq!(parse_address("nocolon"), None);
    }

    #[test]
    fn slot_strings_are_bracketed_ranges() {
        let mut s = vec![false; SLOTS];
        assert_eq!(slots_string(&s), "");
        s[..=5460].iter_mut().for_each(|x| *x = true);
        s[5462] = true;
        s[16383] = true;
        assert_eq!(slots_string(&s), "[0-5460],[5462],[16383]");
    }

    #[test]
    fn own_line_slots_and_open_slots() {
        let mut n = Node::new("127.0.0.1", 1, 0);
        n.parse_slots("0-2 7 [8->-abc] [9-<-def]");
        assert_eq!(n.slots_count, 4);
        assert!(n.slots[7] && !n.slots[8]);
        assert_eq!(n.migrating, vec![("8".to_string(), "abc".to_string())]);
        assert_eq!(n.importing, vec![("9".to_string(), "def".to_string())]);
    }

    #[test]
    fn info_fields_read_as_get_long_info_field() {
        let info = b"# Cluster\r\ncluster_enabled:1\r\ncluster_known_nodes:6\r\n";
        assert_eq!(info_field(info, "cluster_enabled"), 1);
        assert_eq!(info_field(info, "cluster_known_nodes"), 6);
        assert_eq!(info_field(info, "cluster"), 0);
    }
}
