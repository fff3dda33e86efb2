//! `pyrope-cli --cluster <command> [args...] [opts...]`: redis-cli's cluster manager
//! (redis-cli.c 7.4, "Cluster Manager" section), over RESP only.
//!
//! - here: the `--cluster*` options ([`Opts`], taken out of argv before clap sees it, with
//!   redis-cli's rules), the subcommand table and dispatch, coloured log lines ([`Out`]), the
//!   prompt ([`Manager::confirm`]), and the topology: [`Manager::load_from_node`]
//!   (`clusterManagerLoadInfoFromNode`) and [`Manager::check_cluster`]
//!   (`clusterManagerCheckCluster`, which `fix` runs with repairs on).
//! - [`node`]: one node: connection, CLUSTER NODES parsing, slot strings, the printed forms.
//! - [`fix`]: open slots, uncovered slots, multiple owners.
//! - [`create`]: `create`, slot allocation and replica anti-affinity.
//! - [`migrate`]: moving a slot (SETSLOT IMPORTING/MIGRATING, MIGRATE ... KEYS batches,
//!   SETSLOT NODE), `reshard`, `rebalance`.
//! - [`admin`]: `info`, `add-node`, `del-node`, `call`, `set-timeout`, `import`, `backup`,
//!   `help`.
//!
//! Output goes to stdout exactly as redis-cli prints it (coloured when `TERM` contains
//! "xterm", as its `isColorTerm`); the exit code is 0 when the subcommand succeeds, else 1
//! (`help` too, as redis-cli). Beyond redis-cli: `check --json`, `reshard --cluster-simulate`,
//! and a progress bar on stderr for reshard / rebalance / import on a terminal.

pub mod admin;
pub mod create;
pub mod fix;
pub mod migrate;
pub mod node;

use node::{flag, Auth, Node, SLOTS};
use pyrope_common::client::atoi;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

/// `CLUSTER_MANAGER_CMD_FLAG_*`.
pub mod cmdflag {
    pub const FIX: u32 = 1 << 0;
    pub const SLAVE: u32 = 1 << 1;
    pub const YES: u32 = 1 << 2;
    pub const EMPTYMASTER: u32 = 1 << 4;
    pub const SIMULATE: u32 = 1 << 5;
    pub const REPLACE: u32 = 1 << 6;
    pub const COPY: u32 = 1 << 7;
    pub const COLOR: u32 = 1 << 8;
    pub const CHECK_OWNERS: u32 = 1 << 9;
    pub const FIX_WITH_UNREACHABLE_MASTERS: u32 = 1 << 10;
    pub const MASTERS_ONLY: u32 = 1 << 11;
    pub const SLAVES_ONLY: u32 = 1 << 12;
    /// Ours: `check --json`.
    pub const JSON: u32 = 1 << 20;
}

/// The cluster manager's options (`clusterManagerCommand`), with redis-cli's defaults:
/// MIGRATE timeout 60000 ms, pipeline 10 keys, rebalance threshold 2 %.
#[derive(Debug, Clone)]
pub struct Opts {
    /// The subcommand (`create`, `check`, ...).
    pub name: String,
    /// Its arguments, as given (bytes: `call` sends them as they are).
    pub argv: Vec<Vec<u8>>,
    /// `cmdflag::*` bits.
    pub flags: u32,
    pub replicas: i64,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `node=weight` words of `--cluster-weight`.
    pub weight: Vec<String>,
    pub master_id: Option<String>,
    pub slots: i64,
    /// MIGRATE timeout in milliseconds.
    pub timeout: i64,
    /// Keys per GETKEYSINSLOT / MIGRATE batch.
    pub pipeline: i64,
    /// Rebalance threshold, percent.
    pub threshold: f32,
    pub from_user: Option<Vec<u8>>,
    pub from_pass: Option<Vec<u8>>,
    pub from_askpass: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            name: String::new(),
            argv: Vec::new(),
            flags: 0,
            replicas: 0,
            from: None,
            to: None,
            weight: Vec::new(),
            master_id: None,
            slots: 0,
            timeout: 60000,
            pipeline: 10,
            threshold: 2.0,
            from_user: None,
            from_pass: None,
            from_askpass: false,
        }
    }
}

/// What [`split_args`] found.
pub enum Split {
    /// No `--cluster`: the arguments for clap (`--cluster-*` options removed, as redis-cli
    /// accepts and ignores them).
    Plain(Vec<OsString>),
    /// `--cluster`: its options, and the remaining arguments for clap.
    Cluster(Box<Opts>, Vec<OsString>),
    /// `--cluster` as the last argument: redis-cli prints its usage and exits 1.
    Usage,
}

fn lossy(s: &OsString) -> String {
    String::from_utf8_lossy(s.as_bytes()).into_owned()
}

/// Takes `--cluster <cmd> [args]` and every `--cluster-*` option out of `argv` (argv[0]
/// kept), with redis-cli's `parseOptions` rules: the subcommand's arguments are the words
/// after it up to the first one starting with '-'; when there are none there, the first run
/// of words not starting with '-' after an option is taken instead; an option that takes a
/// value takes the next word whatever it is (and is ignored as the last word); numbers are
/// read with atoi / atof.
pub fn split_args(argv: Vec<OsString>) -> Split {
    let mut rest = Vec::with_capacity(argv.len());
    let mut opts: Option<Opts> = None;
    let mut o = Opts::default();
    let mut i = 0;
    let n = argv.len();
    let is_dash = |s: &OsString| s.as_bytes().first() == Some(&b'-');
    while i < n {
        let a = argv[i].as_bytes();
        let last = i + 1 >= n;
        let val = |i: usize| lossy(&argv[i + 1]);
        let valb = |i: usize| argv[i + 1].as_bytes().to_vec();
        match a {
            b"--cluster" if !last => {
                if opts.is_some() {
                    return Split::Usage;
                }
                o.name = val(i);
                let mut j = i + 2;
                while j < n && !is_dash(&argv[j]) {
                    o.argv.push(argv[j].as_bytes().to_vec());
                    j += 1;
                }
                opts = Some(Opts::default());
                i = j;
                continue;
            }
            b"--cluster" => return Split::Usage,
            b"--cluster-only-masters" => o.flags |= cmdflag::MASTERS_ONLY,
            b"--cluster-only-replicas" => o.flags |= cmdflag::SLAVES_ONLY,
            b"--cluster-yes" => o.flags |= cmdflag::YES,
            b"--cluster-simulate" => o.flags |= cmdflag::SIMULATE,
            b"--cluster-replace" => o.flags |= cmdflag::REPLACE,
            b"--cluster-copy" => o.flags |= cmdflag::COPY,
            b"--cluster-slave" => o.flags |= cmdflag::SLAVE,
            b"--cluster-use-empty-masters" => o.flags |= cmdflag::EMPTYMASTER,
            b"--cluster-search-multiple-owners" => o.flags |= cmdflag::CHECK_OWNERS,
            b"--cluster-fix-with-unreachable-masters" => {
                o.flags |= cmdflag::FIX_WITH_UNREACHABLE_MASTERS
            }
            b"--cluster-from-askpass" => o.from_askpass = true,
            b"--cluster-json" | b"--json" if opts.is_some() => o.flags |= cmdflag::JSON,
            b"--cluster-weight" if !last => {
                if !o.weight.is_empty() {
                    eprintln!(
                        "WARNING: you cannot use --cluster-weight more than once.\nYou can set more weights by adding them as a space-separated list, ie:\n--cluster-weight n1=w n2=w"
                    );
                    std::process::exit(1);
                }
                let mut j = i + 1;
                while j < n {
                    let w = argv[j].as_bytes();
                    if w.starts_with(b"--") || !w.contains(&b'=') {
                        break;
                    }
                    o.weight.push(lossy(&argv[j]));
                    j += 1;
                }
                i = j;
                continue;
            }
            b"--cluster-replicas"
            | b"--cluster-master-id"
            | b"--cluster-from"
            | b"--cluster-to"
            | b"--cluster-from-user"
            | b"--cluster-from-pass"
            | b"--cluster-slots"
            | b"--cluster-timeout"
            | b"--cluster-pipeline"
            | b"--cluster-threshold"
                if !last =>
            {
                match a {
                    b"--cluster-replicas" => o.replicas = atoi(valb(i)),
                    b"--cluster-master-id" => o.master_id = Some(val(i)),
                    b"--cluster-from" => o.from = Some(val(i)),
                    b"--cluster-to" => o.to = Some(val(i)),
                    b"--cluster-from-user" => o.from_user = Some(valb(i)),
                    b"--cluster-from-pass" => o.from_pass = Some(valb(i)),
                    b"--cluster-slots" => o.slots = atoi(valb(i)),
                    b"--cluster-timeout" => o.timeout = atoi(valb(i)),
                    b"--cluster-pipeline" => o.pipeline = atoi(valb(i)),
                    _ => o.threshold = atof(&val(i)) as f32,
                }
                i += 2;
                continue;
            }
            _ if a.starts_with(b"--cluster-") => {}
            _ if opts.is_some() && !is_dash(&argv[i]) && i > 0 => {
                if o.argv.is_empty() {
                    let mut j = i;
                    while j < n && !is_dash(&argv[j]) {
                        o.argv.push(argv[j].as_bytes().to_vec());
                        j += 1;
                    }
                    i = j;
                    continue;
                }
                // redis-cli stops parsing at a stray word; the rest is ignored.
                break;
            }
            _ if opts.is_none() && !is_dash(&argv[i]) && i > 0 => {
                // The command: everything from here is its arguments, as they are (redis-cli
                // stops parsing options at the command name).
                rest.extend(argv[i..].iter().cloned());
                break;
            }
            _ => {
                rest.push(argv[i].clone());
                // An option's value travels with it (so `-a -x` stays a password).
                if i > 0 && takes_value(a) && !last {
                    rest.push(argv[i + 1].clone());
                    i += 2;
                    continue;
                }
            }
        }
        i += 1;
    }
    match opts {
        Some(_) => Split::Cluster(Box::new(o), rest),
        None => Split::Plain(rest),
    }
}

/// The connection options that take a value (so it is kept with them in the arguments that
/// clap parses).
fn takes_value(a: &[u8]) -> bool {
    matches!(
        a,
        b"-h"
            | b"-p"
            | b"-s"
            | b"-a"
            | b"--user"
            | b"--pass"
            | b"-u"
            | b"-t"
            | b"-n"
            | b"-r"
            | b"-i"
            | b"-X"
            | b"-d"
            | b"-D"
            | b"--name"
    )
}

/// C's `atof`: the longest leading decimal number (0 when none).
pub fn atof(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    let b = t.as_bytes();
    let mut seen_dot = false;
    let mut seen_e = false;
    while end < b.len() {
        let c = b[end];
        let ok = c.is_ascii_digit()
            || ((c == b'-' || c == b'+') && (end == 0 || matches!(b[end - 1], b'e' | b'E')))
            || (c == b'.' && !seen_dot && !seen_e)
            || ((c == b'e' || c == b'E') && !seen_e && end > 0);
        if !ok {
            break;
        }
        seen_dot |= c == b'.';
        seen_e |= c == b'e' || c == b'E';
        end += 1;
    }
    while end > 0 {
        if let Ok(v) = t[..end].parse::<f64>() {
            return v;
        }
        end -= 1;
    }
    0.0
}

/// redis-cli's `isColorTerm`: `TERM` contains "xterm".
pub fn is_color_term() -> bool {
    std::env::var("TERM").is_ok_and(|t| t.contains("xterm"))
}

/// Log levels of `clusterManagerLog` and their colours.
#[derive(Clone, Copy)]
pub enum Level {
    /// Bold.
    Info,
    /// Yellow.
    Warn,
    /// Red.
    Err,
    /// Green.
    Ok,
}

/// The cluster manager's stdout: coloured log lines (`clusterManagerLog`) and plain text.
#[derive(Clone, Copy)]
pub struct Out {
    pub color: bool,
}

impl Out {
    /// Prints `text` at `level` (no newline added), in colour when enabled.
    pub fn log(&self, level: Level, text: &str) {
        let mut so = std::io::stdout().lock();
        if self.color {
            let c = match level {
                Level::Info => "29;1m",
                Level::Warn => "33;1m",
                Level::Err => "31;1m",
                Level::Ok => "32;1m",
            };
            let _ = write!(so, "\x1b[{c}{text}\x1b[0m");
        } else {
            let _ = so.write_all(text.as_bytes());
        }
        let _ = so.flush();
    }
    pub fn info(&self, t: &str) {
        self.log(Level::Info, t)
    }
    pub fn warn(&self, t: &str) {
        self.log(Level::Warn, t)
    }
    pub fn err(&self, t: &str) {
        self.log(Level::Err, t)
    }
    pub fn ok(&self, t: &str) {
        self.log(Level::Ok, t)
    }
    /// `CLUSTER_MANAGER_PRINT_REPLY_ERROR`: "Node ip:port replied with error:\n<err>\n".
    pub fn reply_error(&self, addr: &str, e: &str) {
        self.err(&format!("Node {addr} replied with error:\n{e}\n"));
    }
    /// Plain text to stdout, flushed.
    pub fn print(&self, t: &str) {
        let mut so = std::io::stdout().lock();
        let _ = so.write_all(t.as_bytes());
        let _ = so.flush();
    }
}

/// The cluster manager's state (`cluster_manager`): the loaded nodes (the node named on the
/// command line first, then the others in its CLUSTER NODES order), the errors `check`
/// found, and how many primaries could not be reached.
pub struct Manager {
    pub nodes: Vec<Node>,
    pub errors: Vec<String>,
    pub unreachable_masters: usize,
    pub opts: Opts,
    pub auth: Auth,
    pub out: Out,
    /// `--verbose` (rebalance prints each node's balance).
    pub verbose: bool,
}

/// `CLUSTER_MANAGER_INVALID_HOST_ARG`.
pub const INVALID_HOST_ARG: &str = "[ERR] Invalid arguments: you need to pass either a valid address (ie. 120.0.0.1:7000) or space separated IP and port (ie. 120.0.0.1 7000)";

/// `getClusterHostFromCmdArgs`: `ip:port` (an `@bus` suffix ignored) as one argument, or
/// `ip port` as two. None when the port reads as 0 or there is no ':'.
pub fn host_from_args(argv: &[Vec<u8>]) -> Option<(String, u16)> {
    let (ip, port) = if argv.len() == 1 {
        let (ip, port, _) = node::parse_address(&String::from_utf8_lossy(&argv[0]))?;
        (ip, port)
    } else {
        (
            String::from_utf8_lossy(argv.first()?).into_owned(),
            atoi(argv.get(1)?).clamp(0, 65535) as u16,
        )
    };
    (port != 0).then_some((ip, port))
}

/// One subcommand: name, handler, arity (negative: at least), argument synopsis, options
/// (`clusterManagerCommands`).
struct CommandDef {
    name: &'static str,
    proc: fn(&mut Manager) -> bool,
    arity: i32,
    args: Option<&'static str>,
    options: Option<&'static str>,
}

const HOST_ARGS: &str = "<host:port> or <host> <port> - separated by either colon or space";

const COMMANDS: &[CommandDef] = &[
    CommandDef {
        name: "create",
        proc: create::create,
        arity: -1,
        args: Some("host1:port1 ... hostN:portN"),
        options: Some("replicas <arg>"),
    },
    CommandDef {
        name: "check",
        proc: Manager::command_check,
        arity: -1,
        args: Some(HOST_ARGS),
        options: Some("search-multiple-owners"),
    },
    CommandDef {
        name: "info",
        proc: admin::info,
        arity: -1,
        args: Some(HOST_ARGS),
        options: None,
    },
    CommandDef {
        name: "fix",
        proc: Manager::command_fix,
        arity: -1,
        args: Some(HOST_ARGS),
        options: Some("search-multiple-owners,fix-with-unreachable-masters"),
    },
    CommandDef {
        name: "reshard",
        proc: migrate::reshard,
        arity: -1,
        args: Some(HOST_ARGS),
        options: Some("from <arg>,to <arg>,slots <arg>,yes,timeout <arg>,pipeline <arg>,replace"),
    },
    CommandDef {
        name: "rebalance",
        proc: migrate::rebalance,
        arity: -1,
        args: Some(HOST_ARGS),
        options: Some("weight <node1=w1...nodeN=wN>,use-empty-masters,timeout <arg>,simulate,pipeline <arg>,threshold <arg>,replace"),
    },
    CommandDef {
        name: "add-node",
        proc: admin::add_node,
        arity: 2,
        args: Some("new_host:new_port existing_host:existing_port"),
        options: Some("slave,master-id <arg>"),
    },
    CommandDef {
        name: "del-node",
        proc: admin::del_node,
        arity: 2,
        args: Some("host:port node_id"),
        options: None,
    },
    CommandDef {
        name: "call",
        proc: admin::call,
        arity: -2,
        args: Some("host:port command arg arg .. arg"),
        options: Some("only-masters,only-replicas"),
    },
    CommandDef {
        name: "set-timeout",
        proc: admin::set_timeout,
        arity: 2,
        args: Some("host:port milliseconds"),
        options: None,
    },
    CommandDef {
        name: "import",
        proc: admin::import,
        arity: 1,
        args: Some("host:port"),
        options: Some("from <arg>,from-user <arg>,from-pass <arg>,from-askpass,copy,replace"),
    },
    CommandDef {
        name: "backup",
        proc: admin::backup,
        arity: 2,
        args: Some("host:port backup_directory"),
        options: None,
    },
    CommandDef {
        name: "help",
        proc: admin::help,
        arity: 0,
        args: None,
        options: None,
    },
];

/// `clusterManagerCommandHelp`'s text.
pub fn help_text() -> String {
    let mut s = String::from("Cluster Manager Commands:\n");
    let padding = 15;
    for def in COMMANDS {
        s += &format!(
            "  {}{}{}\n",
            def.name,
            " ".repeat(padding - def.name.len()),
            def.args.unwrap_or("")
        );
        if let Some(opts) = def.options {
            for o in opts.split(',').filter(|o| !o.is_empty()) {
                s += &format!("{}  --cluster-{o}\n", " ".repeat(padding));
            }
        }
    }
    s += "\nFor check, fix, reshard, del-node, set-timeout, info, rebalance, call, import, backup you can specify the host and port of any working node in the cluster.\n";
    s += "\nCluster Manager Options:\n";
    s += &format!(
        "  --cluster-yes{}Automatic yes to cluster commands prompts\n",
        " ".repeat(padding - "--cluster-yes".len())
    );
    s += "\n";
    s
}

/// Runs the subcommand (`validateClusterManagerCommand` + `clusterManagerMode`); returns the
/// exit code.
pub fn run(mut opts: Opts, auth: Auth, verbose: bool) -> i32 {
    let Some(def) = COMMANDS.iter().find(|d| d.name == opts.name) else {
        eprintln!("Unknown --cluster subcommand");
        return 1;
    };
    let argc = opts.argv.len() as i32;
    if (def.arity > 0 && argc != def.arity) || (def.arity < 0 && argc < -def.arity) {
        eprintln!("[ERR] Wrong number of arguments for specified --cluster sub command");
        return 1;
    }
    if is_color_term() {
        opts.flags |= cmdflag::COLOR;
    }
    if std::env::var("REDISCLI_CLUSTER_YES").is_ok_and(|v| v == "1") {
        opts.flags |= cmdflag::YES;
    }
    let mut m = Manager {
        nodes: Vec::new(),
        errors: Vec::new(),
        unreachable_masters: 0,
        out: Out {
            color: opts.flags & cmdflag::COLOR != 0,
        },
        opts,
        auth,
        verbose,
    };
    if (def.proc)(&mut m) {
        0
    } else {
        1
    }
}

/// redis-cli's `readArgFromStdin`-free prompt read: up to `n` bytes of one `read(2)` of
/// stdin (0 bytes at end of input or on error).
pub fn read_stdin(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let r = unsafe { libc::read(0, buf.as_mut_ptr().cast(), n) };
    buf.truncate(r.max(0) as usize);
    buf
}

impl Manager {
    /// `flag` is set in the options.
    pub fn has(&self, flag: u32) -> bool {
        self.opts.flags & flag != 0
    }

    /// `confirmWithYes`: with `--cluster-yes` (unless `ignore_force`, as for every repair of
    /// `fix`) true at once; else prints "<msg> (type 'yes' to accept): " and reads one answer
    /// from stdin, true only for "yes".
    pub fn confirm(&self, msg: &str, ignore_force: bool) -> bool {
        if !ignore_force && self.has(cmdflag::YES) {
            return true;
        }
        self.out.print(&format!("{msg} (type 'yes' to accept): "));
        let b = read_stdin(4);
        // C compares the first three bytes read with "yes" (the fourth is overwritten by NUL).
        b.get(..3) == Some(b"yes")
    }

    /// Connects a node with the session's credentials, reporting failures as redis-cli.
    pub fn connect(&self, n: &mut Node) -> bool {
        let out = self.out;
        n.connect(&self.auth, &mut |n, e| out.reply_error(&n.addr(), e))
    }

    /// `clusterManagerPrintNotClusterNodeError`.
    pub fn not_cluster_error(&self, n: &Node, e: Option<&str>) {
        let msg = e.unwrap_or("is not configured as a cluster node.");
        self.out
            .err(&format!("[ERR] Node {}:{} {msg}\n", n.ip, n.port));
    }

    /// `clusterManagerPrintNotEmptyNodeError`.
    pub fn not_empty_error(&self, n: &Node, e: Option<&str>) {
        let msg = e.unwrap_or(
            "is not empty. Either the node already knows other nodes (check with CLUSTER NODES) or contains some key in database 0.",
        );
        self.out
            .err(&format!("[ERR] Node {}:{} {msg}\n", n.ip, n.port));
    }

    /// `clusterManagerLoadInfoFromNode`: connects to `node`, checks it is a cluster node,
    /// reads its CLUSTER NODES and then each other node's own view; nodes that cannot be
    /// reached or are flagged noaddr / disconnected / fail are left out (a primary among
    /// them counts in `unreachable_masters`). Replica counts are set last. False (reported)
    /// when the first node cannot be used.
    pub fn load_from_node(&mut self, mut node: Node) -> bool {
        if node.link.is_none() && !self.connect(&mut node) {
            return false;
        }
        match node.is_cluster() {
            Ok(true) => {}
            Ok(false) => {
                self.not_cluster_error(&node, None);
                return false;
            }
            Err(e) => {
                self.not_cluster_error(&node, e.as_deref());
                return false;
            }
        }
        if let Err(e) = node.load_info(true) {
            if let Some(e) = e {
                self.out.reply_error(&node.addr(), &e);
            }
            return false;
        }
        let friends = std::mem::take(&mut node.friends);
        self.nodes = vec![node];
        for mut f in friends {
            let ok = f.port != 0
                && (f.link.is_some() || self.connect(&mut f))
                && match f.load_info(false) {
                    Ok(()) => f.flags & (flag::NOADDR | flag::DISCONNECT | flag::FAIL) == 0,
                    Err(_) => {
                        self.out.err(&format!(
                            "[ERR] Unable to load info for node {}:{}\n",
                            f.ip, f.port
                        ));
                        false
                    }
                };
            if ok {
                self.nodes.push(f);
            } else if !f.is_replica() {
                self.unreachable_masters += 1;
            }
        }
        for i in 0..self.nodes.len() {
            let Some(m) = self.nodes[i].replicate.clone() else {
                continue;
            };
            match self.by_name(&m) {
                Some(j) => self.nodes[j].replicas_count += 1,
                None => {
                    let n = &self.nodes[i];
                    self.out.warn(&format!(
                        "*** WARNING: {}:{} claims to be slave of unknown node ID {m}.\n",
                        n.ip, n.port
                    ));
                }
            }
        }
        true
    }

    /// `clusterManagerNodeByName`: the node with this id (case-insensitive).
    pub fn by_name(&self, name: &str) -> Option<usize> {
        let lc = name.to_ascii_lowercase();
        self.nodes
            .iter()
            .position(|n| !n.name.is_empty() && n.name == lc)
    }

    /// `clusterManagerNodeByAbbreviatedName`: the first node whose id starts with `name`.
    pub fn by_prefix(&self, name: &str) -> Option<usize> {
        let lc = name.to_ascii_lowercase();
        self.nodes
            .iter()
            .position(|n| !n.name.is_empty() && n.name.starts_with(&lc))
    }

    /// Loads the cluster through the node named by the subcommand's first arguments
    /// (`ip:port` or `ip port`), or prints the invalid-arguments error.
    pub fn load_from_args(&mut self, argv: &[Vec<u8>]) -> bool {
        let Some((ip, port)) = host_from_args(argv) else {
            eprintln!("{INVALID_HOST_ARG}");
            return false;
        };
        self.load_from_node(Node::new(&ip, port, 0))
    }

    /// `clusterManagerShowNodes`.
    pub fn show_nodes(&self) {
        for n in &self.nodes {
            self.out.print(&format!("{}\n", n.info(0)));
        }
    }

    /// `clusterManagerShowClusterInfo`: one line per primary (keys by DBSIZE, slots,
    /// replicas), the totals and the keys per slot.
    pub fn show_cluster_info(&mut self) {
        let mut masters = 0;
        let mut keys: i64 = 0;
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_replica() || self.nodes[i].name.is_empty() {
                continue;
            }
            let name = self.nodes[i].name.clone();
            let replicas = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(j, n)| *j != i && n.is_replica() && n.replicate.as_deref() == Some(&name))
                .count();
            let n = &mut self.nodes[i];
            let dbsize = match n.call(&["DBSIZE"]) {
                Some(pyrope_common::resp::Frame::Integer(k)) => k,
                r => {
                    let e = r.as_ref().and_then(node::err_text).unwrap_or_default();
                    self.out.reply_error(&n.addr(), &e);
                    return;
                }
            };
            let short: String = name.chars().take(8).collect();
            self.out.print(&format!(
                "{}:{} ({short}...) -> {dbsize} keys | {} slots | {replicas} slaves.\n",
                n.ip, n.port, n.slots_count
            ));
            masters += 1;
            keys += dbsize;
        }
        self.out
            .ok(&format!("[OK] {keys} keys in {masters} masters.\n"));
        let per_slot = keys as f32 / SLOTS as f32;
        self.out
            .print(&format!("{per_slot:.2} keys per slot on average.\n"));
    }

    /// `clusterManagerIsConfigConsistent`: every node gives the same config signature.
    pub fn is_config_consistent(&mut self) -> bool {
        if self.nodes.len() <= 1 {
            return !self.nodes.is_empty();
        }
        let mut first: Option<String> = None;
        for n in self.nodes.iter_mut() {
            let Some(sig) = node::config_signature(n) else {
                return false;
            };
            match &first {
                None => first = Some(sig),
                Some(f) if *f != sig => return false,
                _ => {}
            }
        }
        true
    }

    /// `clusterManagerOnError`: records and prints (red) an error line.
    pub fn on_error(&mut self, e: String) {
        self.out.err(&format!("{e}\n"));
        self.errors.push(e);
    }

    /// `clusterManagerGetCoveredSlots`: marks in `all` every slot some node serves; returns
    /// how many.
    pub fn covered_slots(&self, all: &mut [bool]) -> usize {
        let mut total = 0;
        for n in &self.nodes {
            for (s, a) in all.iter_mut().enumerate() {
                if n.slots[s] && !*a {
                    *a = true;
                    total += 1;
                }
            }
        }
        total
    }

    /// `clusterManagerCheckCluster`: configuration agreement, open slots, slot coverage and
    /// (with `--cluster-search-multiple-owners`) slots with several owners; with the FIX flag
    /// each problem is repaired ([`fix`]). Returns true when the cluster is healthy (or was
    /// repaired).
    pub fn check_cluster(&mut self, quiet: bool) -> bool {
        let Some(first) = self.nodes.first() else {
            return false;
        };
        self.out.info(&format!(
            ">>> Performing Cluster Check (using node {}:{})\n",
            first.ip, first.port
        ));
        let do_fix = self.has(cmdflag::FIX);
        let mut result = true;
        if !quiet {
            self.show_nodes();
        }
        if !self.is_config_consistent() {
            self.on_error("[ERR] Nodes don't agree about configuration!".into());
            result = false;
        } else {
            self.out
                .ok("[OK] All nodes agree about slots configuration.\n");
        }
        self.out.info(">>> Check for open slots...\n");
        let mut open: Vec<String> = Vec::new();
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            let (ip, port) = (n.ip.clone(), n.port);
            let mig: Vec<String> = n.migrating.iter().map(|(s, _)| s.clone()).collect();
            let imp: Vec<String> = n.importing.iter().map(|(s, _)| s.clone()).collect();
            if !mig.is_empty() {
                for s in &mig {
                    if !open.contains(s) {
                        open.push(s.clone());
                    }
                }
                self.on_error(format!(
                    "[WARNING] Node {ip}:{port} has slots in migrating state {}.",
                    mig.join(",")
                ));
            }
            if !imp.is_empty() {
                for s in &imp {
                    if !open.contains(s) {
                        open.push(s.clone());
                    }
                }
                self.on_error(format!(
                    "[WARNING] Node {ip}:{port} has slots in importing state {}.",
                    imp.join(",")
                ));
            }
        }
        if !open.is_empty() {
            result = false;
            self.out.err(&format!(
                "[WARNING] The following slots are open: {}.\n",
                open.join(",")
            ));
            if do_fix {
                for s in &open {
                    result = fix::fix_open_slot(self, atoi(s) as usize);
                    if !result {
                        break;
                    }
                }
            }
        }
        self.out.info(">>> Check slots coverage...\n");
        let mut all = vec![false; SLOTS];
        if self.covered_slots(&mut all) == SLOTS {
            self.out.ok(&format!("[OK] All {SLOTS} slots covered.\n"));
        } else {
            self.on_error(format!(
                "[ERR] Not all {SLOTS} slots are covered by nodes.\n"
            ));
            result = false;
            if do_fix {
                let fixed = fix::fix_slots_coverage(self, &all);
                if fixed > 0 {
                    result = true;
                }
            }
        }
        if self.has(cmdflag::CHECK_OWNERS) {
            self.out.info(">>> Check for multiple slot owners...\n");
            let mut multiple = 0;
            for slot in 0..SLOTS {
                let mut owners = Vec::new();
                for (i, n) in self.nodes.iter_mut().enumerate() {
                    if n.is_replica() {
                        continue;
                    }
                    // A node holding keys of the slot counts as an owner too.
                    if n.slots[slot] || fix::count_keys_in_slot(n, slot) > 0 {
                        owners.push(i);
                    }
                }
                if owners.len() > 1 {
                    result = false;
                    self.out.err(&format!(
                        "[WARNING] Slot {slot} has {} owners:\n",
                        owners.len()
                    ));
                    for &i in &owners {
                        let n = &self.nodes[i];
                        self.out.err(&format!("    {}:{}\n", n.ip, n.port));
                    }
                    multiple += 1;
                    if do_fix {
                        result = fix::fix_multiple_slot_owners(self, slot, &owners);
                        if !result {
                            self.out
                                .err(&format!("Failed to fix multiple owners for slot {slot}\n"));
                            break;
                        }
                        multiple -= 1;
                    }
                }
            }
            if multiple == 0 {
                self.out.ok("[OK] No multiple owners found.\n");
            }
        }
        result
    }

    /// `check`: info, then the check (`clusterManagerCommandCheck`); with `--json` (ours)
    /// the nodes as `backup`'s nodes.json plus the check's verdict, for monitoring scripts.
    pub fn command_check(&mut self) -> bool {
        let argv = self.opts.argv.clone();
        if !self.load_from_args(&argv) {
            return false;
        }
        if self.has(cmdflag::JSON) {
            return self.check_json();
        }
        self.show_cluster_info();
        self.check_cluster(false)
    }

    /// `fix`: `check` with repairs on.
    pub fn command_fix(&mut self) -> bool {
        self.opts.flags |= cmdflag::FIX;
        self.command_check()
    }

    /// `check --json`: runs the check with its lines captured away from stdout... the check
    /// prints as usual to stderr, and stdout gets one JSON document:
    /// `{"ok": bool, "errors": [...], "nodes": [<nodes.json objects>]}`.
    fn check_json(&mut self) -> bool {
        // The human-readable check goes to stderr so stdout stays one document.
        let ok = {
            let _guard = StdoutToStderr::new();
            self.show_cluster_info();
            self.check_cluster(false)
        };
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|e| format!("\"{}\"", json_escape(e.trim_end())))
            .collect();
        let nodes: Vec<String> = self.nodes.iter().map(|n| n.json(0)).collect();
        println!(
            "{{\n\"ok\": {ok},\n\"errors\": [{}],\n\"nodes\": [\n{}\n]\n}}",
            errors.join(", "),
            nodes.join(",\n")
        );
        ok
    }
}

fn json_escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '"' => o += "\\\"",
            '\\' => o += "\\\\",
            '\n' => o += "\\n",
            c if (c as u32) < 0x20 => o += &format!("\\u{:04x}", c as u32),
            c => o.push(c),
        }
    }
    o
}

/// While alive, file descriptor 1 points at stderr (restored on drop).
struct StdoutToStderr {
    saved: i32,
}

impl StdoutToStderr {
    fn new() -> StdoutToStderr {
        let _ = std::io::stdout().flush();
        // SAFETY: dup/dup2 on the process's own standard descriptors.
        let saved = unsafe { libc::dup(1) };
        unsafe { libc::dup2(2, 1) };
        StdoutToStderr { saved }
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        if self.saved >= 0 {
            // SAFETY: restores the descriptor saved in `new`.
            unsafe {
                libc::dup2(self.saved, 1);
                libc::close(self.saved);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn cluster_arguments_split_as_redis_cli_parses_them() {
        let Split::Cluster(o, rest) = split_args(os(&[
            "cli",
            "-a",
            "pw",
            "--cluster",
            "create",
            "127.0.0.1:1",
            "127.0.0.1:2",
            "--cluster-replicas",
            "1",
            "--cluster-yes",
        ])) else {
            panic!()
        };
        assert_eq!(o.name, "create");
        assert_eq!(o.argv.len(), 2);
        assert_eq!(o.replicas, 1);
        assert!(o.flags & cmdflag::YES != 0);
        assert_eq!(rest, os(&["cli", "-a", "pw"]));
        // Arguments after the options when none followed the subcommand.
        let Split::Cluster(o, _) = split_args(os(&[
            "cli",
            "--cluster",
            "reshard",
            "--cluster-slots",
            "10",
            "h:1",
        ])) else {
            panic!()
        };
        assert_eq!((o.slots, o.argv), (10, vec![b"h:1".to_vec()]));
        let Split::Cluster(o, _) = split_args(os(&[
            "cli",
            "--cluster",
            "rebalance",
            "h:1",
            "--cluster-weight",
            "a=1",
            "b=2",
            "--cluster-threshold",
            "1.5x",
        ])) else {
            panic!()
        };
        assert_eq!(o.weight, vec!["a=1", "b=2"]);
        assert_eq!(o.threshold, 1.5);
        assert!(matches!(
            split_args(os(&["cli", "--cluster"])),
            Split::Usage
        ));
        assert!(matches!(
            split_args(os(&["cli", "--cluster-yes", "get", "k"])),
            Split::Plain(v) if v == os(&["cli", "get", "k"])
        ));
        // After the command name every word is an argument of the command.
        assert!(matches!(
            split_args(os(&["cli", "-n", "1", "set", "k", "--cluster-yes", "--cluster"])),
            Split::Plain(v) if v == os(&["cli", "-n", "1", "set", "k", "--cluster-yes", "--cluster"])
        ));
    }

    #[test]
    fn help_lists_every_subcommand() {
        let h = help_text();
        assert!(h.starts_with("Cluster Manager Commands:\n  create         host1:port1 ... hostN:portN\n                 --cluster-replicas <arg>\n"));
        assert!(h.contains("  help           \n"));
        assert!(h.ends_with("  --cluster-yes  Automatic yes to cluster commands prompts\n\n"));
    }

    #[test]
    fn host_arguments() {
        assert_eq!(
            host_from_args(&[b"127.0.0.1:7000".to_vec()]),
            Some(("127.0.0.1".into(), 7000))
        );
        assert_eq!(
            host_from_args(&[b"h".to_vec(), b"7".to_vec()]),
            Some(("h".into(), 7))
        );
        assert_eq!(host_from_args(&[b"h".to_vec()]), None);
        assert_eq!(host_from_args(&[b"h:0".to_vec()]), None);
    }

    #[test]
    fn atof_reads_a_leading_number() {
        assert_eq!(atof("2"), 2.0);
        assert_eq!(atof(" 1.5x"), 1.5);
        assert_eq!(atof("x"), 0.0);
        assert_eq!(atof("-3e2"), -300.0);
    }
}
