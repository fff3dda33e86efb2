//! An in-process server with no sockets, for the command-level fuzz target and tests: the
//! real command table and `process_command()` run on a socketless client (the same kind of
//! client the Lua client, the AOF loader and the master link will be), and the cron can be
//! driven by hand. Nothing listens; the lazy-free thread runs as in the real server.

use crate::client::Client;
use crate::command::Argv;
use crate::server::Server;

/// A server state plus one socketless client.
pub struct Harness {
    srv: Server,
    cid: usize,
    /// Lookup tables of the fuzz decoder, built on first use (see [`fuzz_one`]).
    fuzz: Option<Box<FuzzTables>>,
    /// Inputs run through [`fuzz_one`] so far.
    fuzz_inputs: u64,
}

impl Harness {
    /// A fresh server configured with `directives` (`(name, value)` pairs as in redis.conf),
    /// with the DEBUG command enabled. Errors name the directive that was refused.
    pub fn new(directives: &[(&str, &str)]) -> Result<Harness, String> {
        let mut cfg = crate::config::Config::new();
        cfg.set_from_file("enable-debug-command", &["yes".into()])?;
        // No automatic snapshots from an in-process server (tests and the fuzzer).
        cfg.set_from_file("save", &["".into()])?;
        for (k, v) in directives {
            cfg.set_from_file(k, &[v.to_string()])
                .map_err(|e| format!("{k}: {e}"))?;
        }
        let table = crate::command::meta::build(&crate::handlers());
        let mut srv = Server::new(cfg, table);
        // DEBUG QUICKLIST-PACKED-THRESHOLD is process-wide (as in Redis): a fresh harness
        // starts unset, whatever an earlier one (an earlier fuzz input) set.
        crate::types::list::set_packed_threshold(0);
        let cid = srv.create_socketless_client();
        Ok(Harness {
            srv,
            cid,
            fuzz: None,
            fuzz_inputs: 0,
        })
    }

    /// The server the command fuzz target runs: values are capped at 8 MB
    /// (`proto-max-bulk-len`, which CONFIG SET cannot change there), so that the 32 commands
    /// of one input cannot pile up gigabytes (SETRANGE/APPEND/SETBIT at 512 MB, and their
    /// replies) before the between-inputs memory check resets the server. The paths that
    /// refuse sizes are the same at any limit. Lua scripts end after 100 ms and share 256 MB.
    pub fn for_fuzzing() -> Harness {
        // Scripts: stopped after 100 ms (no client could send SCRIPT KILL here), and at most
        // 256 MB of Lua memory.
        crate::script::lua::set_memory_limit(256 << 20);
        Harness::new(&[
            ("proto-max-bulk-len", "8mb"),
            ("busy-reply-threshold", "100"),
        ])
        .expect("fuzz harness")
    }

    /// Runs one command as the client would send it and returns the reply bytes it produced
    /// (empty for CLIENT REPLY OFF, or a command postponed by CLIENT PAUSE).
    pub fn run(&mut self, argv: &[&[u8]]) -> Vec<u8> {
        if argv.is_empty() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let mut ranges = Vec::with_capacity(argv.len());
        for a in argv {
            let s = buf.len();
            buf.extend_from_slice(a);
            ranges.push(s..buf.len());
        }
        let mut out = std::mem::take(&mut self.srv.clients[self.cid].out);
        let start = out.buf.len();
        self.srv.batch_clock = None;
        crate::command::call::process_command(
            &mut self.srv,
            self.cid,
            Argv::new(&buf, &ranges),
            &mut out,
        );
        let reply = out.buf.split_off(start);
        out.buf.clear();
        self.srv.clients[self.cid].out = out;
        if self.srv.shutdown.is_some() {
            // SHUTDOWN asked the loop to stop; there is no loop: forget it.
            self.srv.shutdown = None;
        }
        reply
    }

    /// Runs the periodic work once (`serverCron` and the fast expire cycle).
    pub fn cron(&mut self) {
        self.srv.cron();
        crate::expire::active_expire_cycle(&mut self.srv, crate::expire::CycleKind::Fast);
    }

    /// Number of keys in db `db`.
    pub fn dbsize(&self, db: usize) -> usize {
        self.srv.ks.db(db).len()
    }

    /// The top-level command names of the table (lowercase, in table order).
    pub fn command_names(&self) -> Vec<Vec<u8>> {
        self.srv
            .commands
            .cmds
            .iter()
            .filter(|c| c.parent.is_none())
            .map(|c| c.name.as_bytes().to_vec())
            .collect()
    }

    /// The subcommand names of container `cmd` (lowercase, sorted); empty for a plain command.
    pub fn subcommand_names(&self, cmd: &[u8]) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = self
            .srv
            .commands
            .cmds
            .iter()
            .filter(|c| c.parent.is_none() && c.name.as_bytes().eq_ignore_ascii_case(cmd))
            .flat_map(|c| c.subcommands.keys().map(|k| k.as_bytes().to_vec()))
            .collect();
        v.sort();
        v
    }

    /// Arity of `cmd` (or of its subcommand `sub`), as in the table; None if unknown.
    fn arity_of(&self, cmd: &[u8], sub: Option<&[u8]>) -> Option<i32> {
        let top = self
            .srv
            .commands
            .cmds
            .iter()
            .find(|c| c.parent.is_none() && c.name.as_bytes().eq_ignore_ascii_case(cmd))?;
        match sub {
            None => Some(top.arity),
            Some(s) => {
                let s = String::from_utf8_lossy(s).to_ascii_lowercase();
                top.subcommands
                    .get(&s)
                    .map(|&id| self.srv.commands.cmds[id].arity)
            }
        }
    }

    /// The connection of the socketless client was closed (QUIT, CLIENT KILL of itself, an
    /// output limit): free it as the event loop would, and start a new one, as a client
    /// reconnecting.
    fn reconnect_if_closed(&mut self) {
        use crate::client::flags;
        let f = self.srv.clients[self.cid].flags;
        if f & (flags::CLOSE_AFTER_REPLY | flags::CLOSE_ASAP) == 0 {
            return;
        }
        let k = self.cid;
        crate::pubsub::unsubscribe_all(&mut self.srv, k);
        crate::multi::free_client(&mut self.srv, k);
        crate::tracking::disable(&mut self.srv, k);
        self.srv.clients.remove(k);
        self.srv.to_close.retain(|x| *x != k);
        self.srv.pending_writes.retain(|x| *x != k);
        self.cid = self.srv.create_socketless_client();
    }
}

/// Sends the server log to /dev/null (the fuzz target runs DEBUG LOG and CONFIG SET
/// loglevel at random; their lines are noise there).
pub fn quiet_logs() {
    let _ = crate::log::configure(4, "/dev/null");
}

// ---------------------------------------------------------------------------------------
// The command-level fuzz target (fuzz/fuzz_targets/commands.rs) and its replay test.
//
// An input is a little script: up to `MAX_COMMANDS_PER_INPUT` commands, each decoded from
// the bytes by `decode_command`. The first byte picks a command of the server's own table
// (0xFF: a made-up name), containers take a subcommand byte (DEBUG's subcommands, which
// are not in the table, come from `DEBUG_SUBS`), a count byte gives the number of
// arguments (usually one that satisfies the arity, so the handler runs), and each argument
// comes from a token byte: a word of `TOKENS` (keys k0..k7 so that commands collide,
// options, edge-case numbers, patterns, channels), a config directive name of the server's
// own `CONFIG GET *`, a plausible config value, a number built from the next bytes, or raw
// bytes. The byte 0xFE in command position runs the cron instead; 0xFF spells the name out
// (length byte, bytes). `sanitize` then takes out what would stop the process or stall the fuzzer for
// real (DEBUG SEGFAULT and friends, long sleeps and pauses, slow DEBUG POPULATE counts,
// rebinding listeners). Every reply must be a sequence of complete RESP frames, non-empty
// unless CLIENT REPLY OFF/SKIP or a pause swallowed it, with no RESP3-only type on a RESP2
// connection. The server state is kept across inputs by the caller.
// ---------------------------------------------------------------------------------------

/// Most commands decoded from one fuzz input.
const MAX_COMMANDS_PER_INPUT: usize = 32;
/// Run the cron once every this many inputs.
const CRON_EVERY: u64 = 256;
/// Above this resident set size (bytes) the server is replaced by a fresh one between inputs:
/// values of hundreds of MB are legitimate (SETRANGE k 536870911 x), keeping many of them is
/// not the point of the target (and libFuzzer's -rss_limit_mb would call it a crash).
const RSS_RESET_BYTES: u64 = 3 << 29;
/// Above this many keys (all dbs) the server is replaced likewise.
const MAX_KEYS: usize = 200_000;

/// Words an argument is most often drawn from.
const TOKENS: &[&[u8]] = &[
    b"k0",
    b"k1",
    b"k2",
    b"k3",
    b"k4",
    b"k5",
    b"k6",
    b"k7",
    b"k0",
    b"k1",
    b"k2",
    b"k3",
    b"NX",
    b"XX",
    b"GT",
    b"LT",
    b"EX",
    b"PX",
    b"EXAT",
    b"PXAT",
    b"KEEPTTL",
    b"GET",
    b"PERSIST",
    b"COUNT",
    b"MATCH",
    b"TYPE",
    b"REPLACE",
    b"DB",
    b"ASYNC",
    b"SYNC",
    b"ABSTTL",
    b"IDLETIME",
    b"FREQ",
    b"LEN",
    b"IDX",
    b"MINMATCHLEN",
    b"WITHMATCHLEN",
    b"ID",
    b"ADDR",
    b"LADDR",
    b"SKIPME",
    b"USER",
    b"MAXAGE",
    b"NORMAL",
    b"PUBSUB",
    b"MASTER",
    b"REPLICA",
    b"WRITE",
    b"ALL",
    b"ON",
    b"OFF",
    b"SKIP",
    b"yes",
    b"no",
    b"AUTH",
    b"SETNAME",
    b"LIB-NAME",
    b"LIB-VER",
    b"FILTERBY",
    b"MODULE",
    b"ACLCAT",
    b"PATTERN",
    b"WITHSCORES",
    b"LIMIT",
    b"default",
    b"string",
    b"list",
    b"set",
    b"zset",
    b"hash",
    b"stream",
    b"0",
    b"1",
    b"-1",
    b"2",
    b"3",
    b"10",
    b"100",
    b"1000",
    b"-2",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"18446744073709551616",
    b"1e308",
    b"-1e308",
    b"1e309",
    b"nan",
    b"inf",
    b"-inf",
    b"+inf",
    b"1.5",
    b"0.1",
    b" 1",
    b"1 ",
    b"0x10",
    b"",
    b"536870911",
    b"536870912",
    b"4294967296",
    b"2147483647",
    b"-2147483648",
    b"17179869184",
    b"1e10",
    b"00",
    b"+1",
    b"3.0e2",
    b"1e-400",
    b"*",
    b"k*",
    b"[a-",
    b"\\",
    b"?",
    b"k[0-3]",
    b"*[",
    b"ch0",
    b"ch1",
    b"ch*",
    b"__keyspace@0__:k0",
    b"\x00",
    b"\xff\xfe",
    b"0-0",
    b"$",
    b">",
    b"+",
    b"-",
    b"(1",
    b"a\r\nb",
];

/// Values for CONFIG SET.
const CONFIG_VALUES: &[&[u8]] = &[
    b"yes",
    b"no",
    b"",
    b"0",
    b"1",
    b"-1",
    b"100",
    b"100mb",
    b"1gb",
    b"1kb",
    b"3600 1",
    b"allkeys-lru",
    b"noeviction",
    b"volatile-ttl",
    b"normal 0 0 0",
    b"pubsub 1mb 1kb 60",
    b"replica 0 0 0",
    b"KEA",
    b"Ex",
    b"g$lshzxetd",
    b"debug",
    b"verbose",
    b"notice",
    b"warning",
    b"nothing",
    b"local",
    b"1000000",
    b"10 20",
    b"1 2 3",
    b"65536",
    b"2147483648",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"1e3",
    b"0.5",
    b"5000",
    b"1 1 1 1",
    b"normal 1 1",
];

/// DEBUG subcommands (those of Redis 7.4's debug.c and Pyrope's own), including the ones
/// `sanitize` takes out, so the bytes stay meaningful when they are.
const DEBUG_SUBS: &[&[u8]] = &[
    b"help",
    b"sleep",
    b"set-active-expire",
    b"object",
    b"populate",
    b"digest",
    b"digest-value",
    b"protocol",
    b"log",
    b"error",
    b"repl-stream",
    b"change-repl-id",
    b"reload",
    b"loadaof",
    b"jmap",
    b"quicklist-packed-threshold",
    b"listpack",
    b"stringmatch-len",
    b"set-skip-checksum-validation",
    b"aof-flush-sleep",
    b"replybuffer",
    b"dict-resizing",
    b"pause-cron",
    b"sdslen",
    b"ziplist",
    b"htstats",
    b"htstats-key",
    b"client-eviction",
    b"mallctl",
    b"mallctl-str",
    b"leak",
    b"set-disable-deny-scripts",
    b"script",
    b"segfault",
    b"panic",
    b"restart",
];

/// DEBUG subcommands that stop or restart the process, or do slow file work.
const DEBUG_BLOCKED: &[&[u8]] = &[
    b"segfault",
    b"panic",
    b"restart",
    b"crash-and-recover",
    b"assert",
    b"oom",
    b"reload",
    b"loadaof",
    b"jmap",
    b"leak",
];

/// Directives CONFIG SET must not touch from the fuzzer: they listen on real ports, write
/// files in the working directory or move it, fork, or lift the fuzz server's size cap or
/// its script time limit.
const CONFIG_BLOCKED: &[&str] = &[
    "proto-max-bulk-len",
    "busy-reply-threshold",
    "lua-time-limit",
    "port",
    "bind",
    "tls-port",
    "unixsocket",
    "unixsocketperm",
    "dir",
    "logfile",
    "pidfile",
    "dbfilename",
    "appendonly",
    "appenddirname",
    "appendfilename",
    "save",
    "daemonize",
    "cluster-config-file",
    "aclfile",
    "cluster-port",
];

/// What the decoder needs to know of the server, computed once.
struct FuzzTables {
    /// Top-level command names.
    names: Vec<Vec<u8>>,
    /// Subcommand names per entry of `names` (empty for plain commands).
    subs: Vec<Vec<Vec<u8>>>,
    /// Config directive names (CONFIG GET *).
    config_names: Vec<Vec<u8>>,
    /// Commands (`name` or `name|sub`, lowercase) that `sanitize` turns into PING: from
    /// `PYROPE_FUZZ_SKIP` (comma-separated), to fuzz past a known, not yet fixed crash.
    skip: Vec<String>,
}

impl FuzzTables {
    fn new(h: &Harness) -> FuzzTables {
        let names = h.command_names();
        let subs = names
            .iter()
            .map(|n| {
                if n.as_slice() == b"debug" {
                    DEBUG_SUBS.iter().map(|s| s.to_vec()).collect()
                } else {
                    h.subcommand_names(n)
                }
            })
            .collect();
        let mut config_names: Vec<Vec<u8>> = h
            .srv
            .config
            .get_matching(&[b"*"])
            .into_iter()
            .map(|(k, _)| k.into_bytes())
            .collect();
        config_names.sort();
        let skip = std::env::var("PYROPE_FUZZ_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|x| x.trim().to_ascii_lowercase())
            .filter(|x| !x.is_empty())
            .collect();
        FuzzTables {
            names,
            subs,
            config_names,
            skip,
        }
    }
}

/// A cursor over the fuzz input; reads past the end give zeros.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let s = self.pos.min(self.data.len());
        let e = (s + n).min(self.data.len());
        self.pos = s + n;
        &self.data[s..e]
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let t = self.take(8);
        b[..t.len()].copy_from_slice(t);
        u64::from_le_bytes(b)
    }

    /// One index below `n` (one byte, two when `n` exceeds 255).
    fn index(&mut self, n: usize) -> usize {
        let mut v = self.byte() as usize;
        if n > 255 {
            v = (v << 8) | self.byte() as usize;
        }
        v % n.max(1)
    }
}

/// One argument.
fn decode_token(r: &mut Bytes, t: &FuzzTables) -> Vec<u8> {
    let b = r.byte();
    match b {
        0x00..=0x7f => TOKENS[b as usize % TOKENS.len()].to_vec(),
        0x80..=0x9f => {
            if t.config_names.is_empty() {
                b"hz".to_vec()
            } else {
                t.config_names[r.index(t.config_names.len())].clone()
            }
        }
        0xa0..=0xaf => CONFIG_VALUES[r.byte() as usize % CONFIG_VALUES.len()].to_vec(),
        0xb0..=0xbf => match b & 0x0f {
            0..=5 => (r.byte() as i8).to_string().into_bytes(),
            6..=8 => (r.u64() as i64).to_string().into_bytes(),
            9 => r.u64().to_string().into_bytes(),
            10 | 11 => f64::from_bits(r.u64()).to_string().into_bytes(),
            12 => format!("{:e}", f64::from_bits(r.u64())).into_bytes(),
            13 => {
                // 2^k + d: sizes and offsets around the interesting boundaries.
                let k = r.byte() % 64;
                let d = r.byte() as i8 as i128;
                ((1i128 << k) + d).to_string().into_bytes()
            }
            14 => (r.byte() as u32 * 1000).to_string().into_bytes(),
            _ => format!("{}.{}", r.byte() as i8, r.byte()).into_bytes(),
        },
        _ => {
            let n = (b & 0x3f) as usize;
            r.take(n).to_vec()
        }
    }
}

/// One command's argv.
fn decode_command(r: &mut Bytes, h: &Harness) -> Vec<Vec<u8>> {
    let t = h.fuzz.as_deref().expect("tables built");
    let b = r.byte();
    let mut argv = Vec::new();
    let mut pick = None;
    if b == 0xff || t.names.is_empty() {
        // A name spelled out: unknown commands, and regression inputs that must not depend
        // on the order of the table.
        let n = (r.byte() % 16) as usize;
        argv.push(r.take(n).to_vec());
    } else {
        let i = if t.names.len() > 255 {
            ((b as usize) << 8 | r.byte() as usize) % t.names.len()
        } else {
            b as usize % t.names.len()
        };
        // Mixed case, as clients send it.
        let mut name = t.names[i].clone();
        if b & 0x80 != 0 {
            name.make_ascii_uppercase();
        }
        argv.push(name);
        pick = Some(i);
    }
    let mut sub = None;
    if let Some(i) = pick {
        let subs = &t.subs[i];
        if !subs.is_empty() {
            let s = r.byte();
            if s == 0xff {
                argv.push(decode_token(r, t));
            } else {
                let name = subs[s as usize % subs.len()].clone();
                sub = Some(name.clone());
                argv.push(name);
            }
        }
    }
    let c = r.byte();
    let have = argv.len() as i32;
    let count = match h.arity_of(&argv[0], sub.as_deref()) {
        // Mostly an argument count the arity accepts, so the handler runs.
        Some(a) if c < 0xe0 => {
            if a > 0 {
                (a - have).max(0) as usize
            } else {
                (-a - have).max(0) as usize + (c % 6) as usize
            }
        }
        _ => (c % 16) as usize,
    };
    for _ in 0..count {
        if r.done() {
            break;
        }
        argv.push(decode_token(r, t));
    }
    argv
}

/// Wall-clock Unix time in ms.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Takes out of `argv` what would stop the process or stall the fuzzer for real; see the
/// section comment.
fn sanitize(argv: &mut Vec<Vec<u8>>) {
    let name = argv[0].to_ascii_lowercase();
    let sub = argv
        .get(1)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let int = |a: &[u8]| pyrope_common::util::string2ll(a);
    match (name.as_slice(), sub.as_slice()) {
        (b"debug", s) if DEBUG_BLOCKED.contains(&s) => argv[1] = b"help".to_vec(),
        // File writes in the working directory and forks of the fuzzer's process.
        (b"save" | b"bgsave" | b"bgrewriteaof", _) => argv[0] = b"lastsave".to_vec(),
        (b"shutdown", _) => {
            for a in argv.iter_mut().skip(1) {
                if a.eq_ignore_ascii_case(b"save") {
                    *a = b"nosave".to_vec();
                }
            }
        }
        (b"debug", b"sleep") if argv.len() > 2 => {
            // Up to 0.2 s (enough for the cron's 100 ms samples); anything that strtod()
            // might read as longer sleeps not at all.
            let secs = std::str::from_utf8(&argv[2])
                .ok()
                .and_then(|s| s.parse::<f64>().ok());
            if !matches!(secs, Some(v) if v.is_nan() || v <= 0.2) {
                argv[2] = b"0".to_vec();
            }
        }
        (b"debug", b"populate") => {
            // Absurd counts (10^12 and up, which cannot be allocated) must answer an error
            // at once and stay in; slow but possible ones are brought down.
            if let Some(v) = argv.get(2).and_then(|a| int(a)) {
                if v > 1000 && v < 1_000_000_000_000 {
                    argv[2] = (v % 1000).to_string().into_bytes();
                }
            }
            if let Some(v) = argv.get(4).and_then(|a| int(a)) {
                if v > 4096 && v < 1 << 40 {
                    argv[4] = (v % 4096).to_string().into_bytes();
                }
            }
        }
        (b"srandmember" | b"zrandmember" | b"hrandfield", _) if argv.len() > 2 => {
            // A negative count is that many replies (Redis writes them until the client's
            // output limit cuts it): at most a thousand here.
            if let Some(v) = int(&argv[2]) {
                if v < -1000 {
                    argv[2] = (v % 1000).to_string().into_bytes();
                }
            }
        }
        (b"client", b"pause") if argv.len() > 2 => {
            // A pause of at most 20 ms; timeouts the server refuses stay as they are.
            if let Some(v) = int(&argv[2]) {
                let limit = i64::MAX - wall_ms();
                if v > 20 && v <= limit - 1_000_000_000 {
                    argv[2] = (v % 20).to_string().into_bytes();
                } else if v > 20 && v <= limit.saturating_add(1_000_000_000) {
                    argv[2] = b"9223372036854775807".to_vec();
                }
            }
        }
        (b"config", b"set") => {
            for i in (2..argv.len()).step_by(2) {
                let d = String::from_utf8_lossy(&argv[i]).to_ascii_lowercase();
                if CONFIG_BLOCKED.contains(&d.trim_end_matches('\0')) {
                    argv[i] = b"hz".to_vec();
                }
            }
        }
        (b"replicaof" | b"slaveof", s) if s != b"no" && argv.len() > 1 => {
            // No outgoing connection to whatever listens on this machine.
            argv[1] = b"no".to_vec();
        }
        (b"pfselftest", _) => {
            // Ten million HLL additions (a second or more): only its arity paths stay.
            if argv.len() == 1 {
                argv.push(b"x".to_vec());
            }
        }
        (b"migrate" | b"failover", _) | (b"cluster", b"meet") => {
            argv.truncate(1);
            argv[0] = b"ping".to_vec();
        }
        _ => {}
    }
}

/// Lossy text of an argv, for panic messages.
fn show(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// True if `f` (and everything in it) is a RESP2 type.
fn resp2_only(f: &pyrope_common::resp::Frame) -> bool {
    use pyrope_common::resp::Frame as F;
    match f {
        F::Simple(_) | F::Error(_) | F::Integer(_) | F::Bulk(_) => true,
        F::Array(a) => a.as_ref().is_none_or(|v| v.iter().all(resp2_only)),
        _ => false,
    }
}

/// Checks that `reply` is a sequence of complete, well-formed RESP frames (at least one
/// unless `may_be_empty`), and only RESP2 types when `resp` is 2; panics naming `argv`.
fn check_reply(argv: &[Vec<u8>], reply: &[u8], resp: u8, may_be_empty: bool) {
    let mut pos = 0;
    let mut frames = 0;
    while pos < reply.len() {
        match pyrope_common::resp::parse_frame(&reply[pos..]) {
            Ok(Some((f, used))) => {
                assert!(
                    resp != 2 || resp2_only(&f),
                    "RESP3 type in a reply to a RESP2 client: {}\nreply: {:?}",
                    show(argv),
                    String::from_utf8_lossy(reply)
                );
                pos += used;
                frames += 1;
            }
            Ok(None) => panic!(
                "incomplete reply frame at byte {pos}: {}\nreply: {:?}",
                show(argv),
                String::from_utf8_lossy(reply)
            ),
            Err(e) => panic!(
                "malformed reply ({e}): {}\nreply: {:?}",
                show(argv),
                String::from_utf8_lossy(reply)
            ),
        }
    }
    assert!(frames > 0 || may_be_empty, "no reply: {}", show(argv));
}

/// Resident set size of this process in bytes (0 if unknown).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// Runs one fuzz input (a script of commands, see the section comment) on `h`, checking
/// every reply; panics on a broken invariant (or lets a server panic through). State stays
/// in `h` for the next input; the cron runs every `CRON_EVERY` inputs.
pub fn fuzz_one(h: &mut Harness, data: &[u8]) {
    use crate::client::flags;
    if h.fuzz.is_none() {
        h.fuzz = Some(Box::new(FuzzTables::new(h)));
    }
    // Process-wide, so reset for each input to reproduce on its own.
    crate::types::list::set_packed_threshold(0);
    let mut r = Bytes { data, pos: 0 };
    for _ in 0..MAX_COMMANDS_PER_INPUT {
        if r.done() {
            break;
        }
        if r.data[r.pos] == 0xfe {
            // Not a command: the cron, so that inputs reproduce what needs it on their own.
            r.pos += 1;
            h.cron();
            continue;
        }
        let mut argv = decode_command(&mut r, h);
        sanitize(&mut argv);
        let t = h.fuzz.as_deref().expect("tables built");
        if !t.skip.is_empty() {
            let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
            let full = match argv.get(1) {
                Some(s) => format!("{name}|{}", String::from_utf8_lossy(s).to_ascii_lowercase()),
                None => name.clone(),
            };
            if t.skip.contains(&name) || t.skip.contains(&full) {
                argv = vec![b"ping".to_vec()];
            }
        }
        let quiet = flags::REPLY_OFF | flags::REPLY_SKIP | flags::REPLY_SKIP_NEXT;
        let before = h.srv.clients[h.cid].flags;
        h.srv.update_time();
        let paused = h.srv.paused().is_some();
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        if std::env::var_os("PYROPE_FUZZ_TRACE").is_some() {
            eprintln!("fuzz> {}", show(&argv));
        }
        let reply = h.run(&refs);
        let after = h.srv.clients[h.cid].flags;
        let resp = h.srv.clients[h.cid].out.resp;
        // A SHUTDOWN that goes ahead has no reply (the connection just closes).
        let may_be_empty =
            paused || (before | after) & quiet != 0 || argv[0].eq_ignore_ascii_case(b"shutdown");
        check_reply(&argv, &reply, resp, may_be_empty);
        // Whatever paused clients for long (the clamp in `sanitize` missed it): unpause, or
        // every later command would be postponed.
        if h.srv.pause.until_ms > wall_ms() + 1000 {
            h.srv.pause.until_ms = 0;
        }
        h.reconnect_if_closed();
    }
    h.fuzz_inputs += 1;
    if h.fuzz_inputs % CRON_EVERY == 0 {
        h.cron();
    }
    // Start over on a fresh server when the state has grown past what is useful (DEBUG
    // POPULATE under many prefixes, 512 MB SETRANGE values): a FLUSHALL is not enough, since
    // the fuzzer may have set requirepass, renamed nothing but paused, or filled other dbs.
    let keys: usize = (0..h.srv.ks.dbs()).map(|d| h.dbsize(d)).sum();
    if keys > MAX_KEYS || (h.fuzz_inputs % 4 == 0 && rss_bytes() > RSS_RESET_BYTES) {
        let inputs = h.fuzz_inputs;
        *h = Harness::for_fuzzing();
        h.fuzz_inputs = inputs;
    }
}

impl Server {
    /// Adds a client without a socket (see `Client::conn`) and returns its slab key. It is
    /// not counted in INFO/CLIENT LIST, never written to by the event loop, and its owner
    /// reads its replies from its `out` buffer.
    pub fn create_socketless_client(&mut self) -> usize {
        let id = self.next_id();
        let need_auth = !self.settings.requirepass.is_empty();
        let c = Client::new(
            id,
            None,
            String::new(),
            String::new(),
            self.now_ms,
            need_auth,
        );
        let k = self.clients.insert(c);
        // Nothing would ever run a socketless client's blocked command again.
        self.clients[k].flags |= crate::client::flags::DENY_BLOCKING;
        k
    }

    /// Frees a socketless client made by [`Server::create_socketless_client`] (its
    /// subscriptions and blocked state included).
    pub fn free_socketless_client(&mut self, k: usize) {
        if !self.clients.contains(k) {
            return;
        }
        crate::pubsub::unsubscribe_all(self, k);
        crate::blocking::forget(self, k);
        crate::multi::free_client(self, k);
        crate::tracking::disable(self, k);
        self.clients.remove(k);
        self.to_close.retain(|x| *x != k);
        self.pending_writes.retain(|x| *x != k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socketless_client_runs_commands_and_receives_its_messages() {
        let mut h = Harness::new(&[]).unwrap();
        assert_eq!(h.run(&[b"SET", b"k", b"v"]), b"+OK\r\n");
        assert_eq!(h.run(&[b"GET", b"k"]), b"$1\r\nv\r\n");
        assert_eq!(h.run(&[b"HELLO", b"3"]).first(), Some(&b'%'));
        assert_eq!(
            h.run(&[b"SUBSCRIBE", b"c"]),
            b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
        );
        // PUBLISH to its own channel: the reply, then the message (Redis 7.2+ order).
        assert_eq!(
            h.run(&[b"PUBLISH", b"c", b"m"]),
            b":1\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
        );
        assert_eq!(h.dbsize(0), 1);
        h.cron();
    }

    /// Replays the crashes the `commands` fuzz target found (`fuzz/regressions/commands/`,
    /// each on a fresh server: they reproduce alone) and its corpus (`fuzz/corpus/commands/`,
    /// on one server, as the fuzzer runs it), so `cargo test` keeps them fixed.
    #[test]
    fn fuzz_commands_regressions_and_corpus_replay() {
        quiet_logs();
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let files = |dir: &str| -> Vec<std::path::PathBuf> {
            let mut v: Vec<_> = std::fs::read_dir(fuzz.join(dir))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_file())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        for p in files("regressions/commands") {
            if std::env::var_os("PYROPE_FUZZ_TRACE").is_some() {
                eprintln!("fuzz input {}", p.display());
            }
            let mut h = Harness::new(&[]).unwrap();
            fuzz_one(&mut h, &std::fs::read(&p).unwrap());
        }
        let mut h = Harness::for_fuzzing();
        for p in files("corpus/commands") {
            fuzz_one(&mut h, &std::fs::read(&p).unwrap());
        }
    }

    #[test]
    fn the_fuzz_decoder_reaches_handlers_with_valid_arity() {
        let mut h = Harness::new(&[]).unwrap();
        h.fuzz = Some(Box::new(FuzzTables::new(&h)));
        let t = h.fuzz.as_deref().unwrap();
        let set = t.names.iter().position(|n| n == b"set").unwrap();
        // SET (one index byte, or two once the table has more than 255 names), count byte 0 (arity -3: two arguments), k0, then token 0x7f % len.
        let mut data = if t.names.len() > 255 {
            vec![(set >> 8) as u8, set as u8]
        } else {
            vec![set as u8]
        };
        data.extend_from_slice(&[0, 0, 1]);
        let mut r = Bytes {
            data: &data,
            pos: 0,
        };
        // The name's case follows the index byte's high bit.
        let mut got = decode_command(&mut r, &h);
        got[0].make_ascii_lowercase();
        assert_eq!(got, [b"set".to_vec(), b"k0".to_vec(), b"k1".to_vec()]);
        let mut argv = vec![
            b"DEBUG".to_vec(),
            b"populate".to_vec(),
            b"10000000".to_vec(),
        ];
        sanitize(&mut argv);
        assert_eq!(argv[2], b"0");
        let mut argv = vec![b"client".to_vec(), b"PAUSE".to_vec(), b"100000".to_vec()];
        sanitize(&mut argv);
        assert_eq!(argv[2], b"0");
        // Random inputs keep every invariant.
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let len = rng.usize(0..64);
            let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            fuzz_one(&mut h, &data);
        }
    }
}
