//! The commands a sentinel answers (Redis 7.4's sentinel command table): PING, SENTINEL and
//! its subcommands, INFO, ROLE, CLIENT, AUTH, HELLO, (P)SUBSCRIBE / (P)UNSUBSCRIBE, PUBLISH
//! (hello messages only), SHUTDOWN, ACL WHOAMI, COMMAND COUNT. Replies and error texts are
//! redis-sentinel's (`sentinelCommand`, `addReplySentinelRedisInstance`,
//! `sentinelInfoCommand`...), checked by the differential tests.

use crate::instance::*;
use crate::log::{mstime, Level};
use crate::server::Server;
use mio::Token;
use pyrope_common::acl as common_acl;
use pyrope_common::resp::encode;

/// The text of `SENTINEL HELP`, captured from Redis 7.4.1.
const SENTINEL_HELP: &str = include_str!("sentinel_help.txt");

/// The text of `ACL HELP`, captured from Redis 7.4.1.
const ACL_HELP: &str = include_str!("acl_help.txt");

/// The text of `CLIENT HELP`, captured from Redis 7.4.1.
const CLIENT_HELP: &str = include_str!("client_help.txt");

/// Arity of the top-level commands (Redis's command table: negative = at least).
fn arity(cmd: &str) -> Option<i64> {
    Some(match cmd {
        "ping" => -1,
        "sentinel" => -2,
        "subscribe" | "psubscribe" => -2,
        "unsubscribe" | "punsubscribe" => -1,
        "publish" => 3,
        "info" => -1,
        "role" => 1,
        "client" => -2,
        "shutdown" => -1,
        "auth" => -2,
        "hello" => -1,
        "acl" => -2,
        "command" => -1,
        "quit" => -1,
        "reset" => 1,
        _ => return None,
    })
}

/// Arity of SENTINEL subcommands (Redis 7.4 command JSON).
fn sentinel_arity(sub: &str) -> Option<i64> {
    Some(match sub {
        "ckquorum"
        | "get-master-addr-by-name"
        | "master"
        | "remove"
        | "replicas"
        | "slaves"
        | "reset"
        | "sentinels"
        | "failover" => 3,
        "config" | "info-cache" | "simulate-failure" => -3,
        "debug" => -2,
        "help" | "masters" | "myid" | "pending-scripts" | "flushconfig" => 2,
        "is-master-down-by-addr" => 6,
        "monitor" => 6,
        "set" => -5,
        _ => return None,
    })
}

fn arity_ok(a: i64, argc: usize) -> bool {
    (a > 0 && argc as i64 == a) || (a < 0 && argc as i64 >= -a)
}

fn s(a: &[u8]) -> String {
    String::from_utf8_lossy(a).into_owned()
}

/// A reply under construction for one client (its protocol version).
struct R<'a> {
    out: &'a mut Vec<u8>,
    resp: u8,
    errors: &'a mut u64,
}

impl R<'_> {
    fn ok(&mut self) {
        encode::simple(self.out, b"OK");
    }
    fn err(&mut self, e: &str) {
        *self.errors += 1;
        encode::error(self.out, e.as_bytes());
    }
    fn bulk(&mut self, b: &str) {
        encode::bulk(self.out, b.as_bytes());
    }
    fn bulk_i(&mut self, v: i64) {
        encode::bulk_i64(self.out, v);
    }
    fn int(&mut self, v: i64) {
        encode::integer(self.out, v);
    }
}

/// `ERR unknown command '<cmd>', with args beginning with: '<a>' '<b>' `, as
/// `processCommand` (args up to 128 characters).
fn unknown_command(argv: &[Vec<u8>]) -> String {
    let mut args = String::new();
    for a in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let a = s(a);
        let a: String = a.chars().take(room).collect();
        args.push_str(&format!("'{a}' "));
    }
    let name: String = s(&argv[0]).chars().take(128).collect();
    format!("ERR unknown command '{name}', with args beginning with: {args}")
}

/// Executes one command for client `t`.
pub fn execute(srv: &mut Server, t: Token, argv: &[Vec<u8>]) {
    let cmd = s(&argv[0]).to_ascii_lowercase();
    let Some(c) = srv.clients.get_mut(&t) else {
        return;
    };
    let mut out = std::mem::take(&mut c.out);
    let resp = c.resp;
    let authenticated = c.authenticated;
    let subscribed = c.subscriptions() > 0 && resp == 2;
    // `c->lastcmd = lookupCommand(...)`: NULL for an unknown command or subcommand.
    c.last_cmd = crate::cmdtable::lookup_argv(argv)
        .map(|e| e.name.clone())
        .unwrap_or_else(|| "NULL".into());
    let mut errors = 0u64;
    let out_start = out.len();
    {
        let mut r = R {
            out: &mut out,
            resp,
            errors: &mut errors,
        };
        match arity(&cmd) {
            None => r.err(&unknown_command(argv)),
            Some(a) if !arity_ok(a, argv.len()) => {
                r.err(&format!("ERR wrong number of arguments for '{cmd}' command"))
            }
            Some(_) if !authenticated && !matches!(cmd.as_str(), "auth" | "hello" | "quit") => {
                r.err("NOAUTH Authentication required.")
            }
            Some(_)
                if subscribed
                    && !matches!(
                        cmd.as_str(),
                        "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
                    ) =>
            {
                r.err(&format!(
                    "ERR Can't execute '{cmd}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                ))
            }
            Some(_) => {
                // ACL: `NOPERM` for a command the user may not run (a known subcommand is
                // checked as itself; unknown ones fail in the command with Redis's text).
                let denied = crate::cmdtable::lookup_argv(argv).and_then(|e| {
                    let user = srv.clients.get(&t).map(|c| c.user.clone())?;
                    let u = srv.sentinel.acl.get(&user)?;
                    (!u.can_run(e))
                        .then(|| format!("NOPERM {}", common_acl::noperm_command(&user, &e.name)))
                });
                match denied {
                    Some(e) => {
                        let now = mstime();
                        if let Some(c) = srv.clients.get(&t) {
                            let info = client_info_line(c, now);
                            let user = c.user.clone();
                            let object = crate::cmdtable::lookup_argv(argv)
                                .map(|x| x.name.clone())
                                .unwrap_or_default();
                            srv.sentinel
                                .acl
                                .log_denial("command", &object, &user, info, now);
                        }
                        r.err(&e)
                    }
                    None => dispatch(srv, t, &cmd, argv, &mut out, resp, &mut errors),
                }
            }
        }
    }
    srv.stats.error_replies += errors;
    if let Some(c) = srv.clients.get_mut(&t) {
        // CLIENT REPLY OFF / SKIP: the reply is dropped (pub/sub messages still go out).
        if c.reply_skip > 0 {
            c.reply_skip -= 1;
            out.truncate(out_start);
        } else if c.reply_off {
            out.truncate(out_start);
        }
        // Pub/sub messages may have been queued into c.out while we held the reply.
        let queued = std::mem::take(&mut c.out);
        c.out = out;
        c.out.extend_from_slice(&queued);
    }
}

fn dispatch(
    srv: &mut Server,
    t: Token,
    cmd: &str,
    argv: &[Vec<u8>],
    out: &mut Vec<u8>,
    resp: u8,
    errors: &mut u64,
) {
    let mut r = R { out, resp, errors };
    match cmd {
        "ping" => {
            let sub = srv
                .clients
                .get(&t)
                .is_some_and(|c| c.subscriptions() > 0 && c.resp == 2);
            if argv.len() > 2 {
                r.err("ERR wrong number of arguments for 'ping' command");
            } else if sub {
                encode::array(r.out, 2);
                r.bulk("pong");
                encode::bulk(r.out, argv.get(1).map(|v| v.as_slice()).unwrap_or(b""));
            } else if argv.len() == 2 {
                encode::bulk(r.out, &argv[1]);
            } else {
                encode::simple(r.out, b"PONG");
            }
        }
        "quit" => {
            r.ok();
            if let Some(c) = srv.clients.get_mut(&t) {
                c.close_after_reply = true;
            }
        }
        "reset" => {
            if let Some(c) = srv.clients.get_mut(&t) {
                c.channels.clear();
                c.patterns.clear();
                c.name = None;
                c.resp = 2;
                c.authenticated = srv.sentinel.acl.default_auto_auth();
                c.user = "default".into();
            }
            encode::simple(r.out, b"RESET");
        }
        "sentinel" => sentinel_command(srv, argv, &mut r),
        "info" => {
            // sentinelInfoCommand replies with a plain bulk string, even in RESP3.
            let text = crate::info::info(srv, argv);
            encode::bulk(r.out, text.as_bytes());
        }
        "role" => {
            encode::array(r.out, 2);
            r.bulk("sentinel");
            encode::array(r.out, srv.sentinel.masters.len());
            for m in &srv.sentinel.masters {
                encode::bulk(r.out, m.inst.name.as_bytes());
            }
        }
        "client" => client_command(srv, t, argv, &mut r),
        "auth" => auth_command(srv, t, argv, &mut r),
        "hello" => hello_command(srv, t, argv, &mut r),
        "subscribe" | "psubscribe" => {
            let pattern = cmd == "psubscribe";
            let Some(c) = srv.clients.get_mut(&t) else {
                return;
            };
            for a in &argv[1..] {
                let name = s(a);
                let list = if pattern {
                    &mut c.patterns
                } else {
                    &mut c.channels
                };
                if !list.contains(&name) {
                    list.push(name.clone());
                }
                let n = c.subscriptions();
                encode::push(r.out, 3, c.resp);
                r.bulk(cmd);
                r.bulk(&name);
                r.int(n as i64);
            }
        }
        "unsubscribe" | "punsubscribe" => {
            let pattern = cmd == "punsubscribe";
            let Some(c) = srv.clients.get_mut(&t) else {
                return;
            };
            let names: Vec<String> = if argv.len() > 1 {
                argv[1..].iter().map(|a| s(a)).collect()
            } else if pattern {
                c.patterns.clone()
            } else {
                c.channels.clone()
            };
            if names.is_empty() {
                encode::push(r.out, 3, c.resp);
                r.bulk(cmd);
                encode::null(r.out, c.resp);
                r.int(c.subscriptions() as i64);
            }
            for name in names {
                let list = if pattern {
                    &mut c.patterns
                } else {
                    &mut c.channels
                };
                list.retain(|x| x != &name);
                let n = c.subscriptions();
                encode::push(r.out, 3, c.resp);
                r.bulk(cmd);
                r.bulk(&name);
                r.int(n as i64);
            }
        }
        "publish" => {
            if argv[1] != crate::state::HELLO_CHANNEL.as_bytes() {
                r.err("ERR Only HELLO messages are accepted by Sentinel instances.");
                return;
            }
            srv.sentinel.process_hello(&s(&argv[2]));
            r.int(1);
        }
        "shutdown" => {
            srv.shutdown_asked = true;
            // Redis closes the connection without a reply when it exits.
        }
        "acl" => acl_command(srv, t, argv, &mut r),
        "command" => {
            if let Err(e) = crate::cmdtable::command(argv, r.resp, r.out) {
                r.err(&e);
            }
        }
        _ => r.err(&unknown_command(argv)),
    }
}

/// ACL and its subcommands over [`crate::acl`], with Redis 7.4's replies and errors.
fn acl_command(srv: &mut Server, t: Token, argv: &[Vec<u8>], r: &mut R) {
    let Some(e) = crate::cmdtable::lookup_argv(argv) else {
        let shown: String = s(&argv[1]).chars().take(128).collect();
        r.err(&format!("ERR unknown subcommand '{shown}'. Try ACL HELP."));
        return;
    };
    if !arity_ok(e.arity, argv.len()) {
        r.err(&format!(
            "ERR wrong number of arguments for '{}' command",
            e.name
        ));
        return;
    }
    let sub = s(&argv[1]).to_ascii_lowercase();
    if !common_acl::subcommand_argc_ok(&sub, argv.len()) {
        r.err(&common_acl::err_subcommand_syntax(&argv[1]));
        return;
    }
    let acl = &mut srv.sentinel.acl;
    match sub.as_str() {
        "whoami" => {
            let u = srv
                .clients
                .get(&t)
                .map(|c| c.user.clone())
                .unwrap_or_default();
            r.bulk(&u);
        }
        "users" => {
            encode::array(r.out, acl.users.len());
            for u in &acl.users {
                encode::bulk(r.out, u.name().as_bytes());
            }
        }
        "list" => {
            let lines = acl.config_lines();
            encode::array(r.out, lines.len());
            for l in lines {
                encode::bulk(r.out, l.as_bytes());
            }
        }
        "getuser" => {
            let Some(u) = acl.get(&s(&argv[2])) else {
                encode::null(r.out, r.resp);
                return;
            };
            encode::map(r.out, 6, r.resp);
            r.bulk("flags");
            let flags = u.account.flags();
            encode::array(r.out, flags.len());
            flags.iter().for_each(|f| encode::bulk(r.out, f.as_bytes()));
            r.bulk("passwords");
            encode::array(r.out, u.account.passwords.len());
            u.account
                .passwords
                .iter()
                .for_each(|p| encode::bulk(r.out, p.as_bytes()));
            r.bulk("commands");
            r.bulk(&u.commands.describe());
            r.bulk("keys");
            r.bulk(&u.describe_keys());
            r.bulk("channels");
            r.bulk(&u.describe_channels());
            r.bulk("selectors");
            encode::array(r.out, u.selectors.len());
            for sel in &u.selectors {
                encode::map(r.out, 3, r.resp);
                r.bulk("commands");
                r.bulk(&sel.commands.describe());
                r.bulk("keys");
                r.bulk(&sel.patterns.describe_keys());
                r.bulk("channels");
                r.bulk(&sel.patterns.describe_channels());
            }
        }
        "setuser" => {
            let name = s(&argv[2]);
            let mut u = acl
                .get(&name)
                .cloned()
                .unwrap_or_else(|| crate::acl::User::new(&name));
            let args: Vec<String> = argv[3..].iter().map(|a| s(a)).collect();
            match u.apply_all(&args) {
                Ok(()) => {}
                Err(crate::acl::ApplyError::Merge(m)) => return r.err(&format!("ERR {m}")),
                Err(crate::acl::ApplyError::Rule(rule, e)) => {
                    return r.err(&format!("ERR Error in ACL SETUSER modifier '{rule}': {e}"));
                }
            }
            acl.put(u);
            r.ok();
        }
        "deluser" => {
            let mut n = 0;
            for a in &argv[2..] {
                let name = s(a);
                if name == "default" {
                    r.err("ERR The 'default' user cannot be removed");
                    return;
                }
            }
            let mut gone = Vec::new();
            for a in &argv[2..] {
                let name = s(a);
                if acl.exists(&name) {
                    acl.users.retain(|u| u.name() != name);
                    gone.push(name);
                    n += 1;
                }
            }
            r.int(n);
            // Clients authenticated as a deleted user are disconnected (`ACLFreeUserAndKillClients`).
            let victims: Vec<Token> = srv
                .clients
                .iter()
                .filter(|(_, c)| gone.contains(&c.user))
                .map(|(k, _)| *k)
                .collect();
            for v in victims {
                if v == t {
                    if let Some(c) = srv.clients.get_mut(&t) {
                        c.close_after_reply = true;
                    }
                } else {
                    srv.close_client(v);
                }
            }
        }
        "cat" => {
            if argv.len() == 2 {
                encode::array(r.out, crate::acl::CATEGORIES.len());
                for c in crate::acl::CATEGORIES {
                    encode::bulk(r.out, c.as_bytes());
                }
                return;
            }
            let cat = s(&argv[2]).to_ascii_lowercase();
            if !crate::acl::CATEGORIES.contains(&cat.as_str()) {
                r.err(&common_acl::err_unknown_category(&argv[2]));
                return;
            }
            let mut names = Vec::new();
            for e in crate::cmdtable::table() {
                for x in std::iter::once(e).chain(e.subs.iter()) {
                    if x.categories.contains(&cat) {
                        names.push(x.name.clone());
                    }
                }
            }
            encode::array(r.out, names.len());
            names.iter().for_each(|n| encode::bulk(r.out, n.as_bytes()));
        }
        "genpass" => {
            let arg = argv.get(2).map(Vec::as_slice);
            let bits = match common_acl::genpass_bits(arg) {
                Ok(b) => b,
                Err(e) => {
                    r.err(e);
                    return;
                }
            };
            let chars = bits.div_ceil(4);
            let mut hex = String::new();
            while hex.len() < chars {
                hex.push_str(&crate::state::random_hex40());
            }
            hex.truncate(chars);
            r.bulk(&hex);
        }
        "dryrun" => {
            let name = s(&argv[2]);
            let Some(u) = acl.get(&name) else {
                r.err(&format!("ERR User '{name}' not found"));
                return;
            };
            let inner = &argv[3..];
            let Some(e) = crate::cmdtable::lookup_argv(inner) else {
                r.err(&format!("ERR Command '{}' not found", s(&inner[0])));
                return;
            };
            if !arity_ok(e.arity, inner.len()) {
                r.err(&format!(
                    "ERR wrong number of arguments for '{}' command",
                    e.name
                ));
                return;
            }
            if u.can_run(e) {
                r.ok();
            } else {
                r.bulk(&common_acl::noperm_command(&name, &e.name));
            }
        }
        "log" => {
            let mut count = 10i64;
            if argv.len() == 3 {
                if argv[2].eq_ignore_ascii_case(b"reset") {
                    acl.log.entries.clear();
                    r.ok();
                    return;
                }
                match pyrope_common::util::string2ll(&argv[2]) {
                    Some(n) => count = n.max(0),
                    None => {
                        r.err("ERR value is not an integer or out of range");
                        return;
                    }
                }
            }
            let now = mstime();
            let n = (count as usize).min(acl.log.entries.len());
            encode::array(r.out, n);
            for e in acl.log.entries.iter().take(n) {
                encode::map(r.out, 10, r.resp);
                r.bulk("count");
                r.int(e.count as i64);
                r.bulk("reason");
                r.bulk(e.reason);
                r.bulk("context");
                r.bulk(e.context);
                r.bulk("object");
                r.bulk(&e.object);
                r.bulk("username");
                r.bulk(&e.username);
                r.bulk("age-seconds");
                encode::double(r.out, (now - e.updated) as f64 / 1000.0, r.resp);
                r.bulk("client-info");
                r.bulk(&e.client_info);
                r.bulk("entry-id");
                r.int(e.entry_id as i64);
                r.bulk("timestamp-created");
                r.int(e.created);
                r.bulk("timestamp-last-updated");
                r.int(e.updated);
            }
        }
        "load" | "save" => r.err(common_acl::ERR_NO_ACLFILE),
        "help" => {
            let lines: Vec<&str> = ACL_HELP.lines().collect();
            encode::array(r.out, lines.len());
            for l in lines {
                encode::simple(r.out, l.as_bytes());
            }
        }
        _ => r.err(&format!(
            "ERR unknown subcommand '{}'. Try ACL HELP.",
            s(&argv[1])
        )),
    }
}

fn auth_command(srv: &mut Server, t: Token, argv: &[Vec<u8>], r: &mut R) {
    if argv.len() > 3 {
        r.err("ERR syntax error");
        return;
    }
    let (user, given) = if argv.len() == 3 {
        (s(&argv[1]), &argv[2])
    } else {
        ("default".to_string(), &argv[1])
    };
    if argv.len() == 2
        && srv
            .sentinel
            .acl
            .get("default")
            .is_some_and(|u| u.account.nopass)
    {
        r.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        return;
    }
    if srv.sentinel.acl.authenticate(&user, given) {
        if let Some(c) = srv.clients.get_mut(&t) {
            c.authenticated = true;
            c.user = user;
        }
        r.ok();
    } else {
        auth_denied(srv, t, &user);
        r.err("WRONGPASS invalid username-password pair or user is disabled.");
    }
}

/// A failed AUTH (or HELLO AUTH) for `user`: an ACL log entry with the client's info.
fn auth_denied(srv: &mut Server, t: Token, user: &str) {
    let now = mstime();
    if let Some(c) = srv.clients.get(&t) {
        let info = client_info_line(c, now);
        srv.sentinel.acl.log_denial("auth", "AUTH", user, info, now);
    }
}

/// HELLO [protover [AUTH user pass] [SETNAME name]]: in sentinel mode the map has no `role`.
fn hello_command(srv: &mut Server, t: Token, argv: &[Vec<u8>], r: &mut R) {
    let mut ver = None;
    let mut i = 1;
    if argv.len() > 1 {
        match pyrope_common::util::string2ll(&argv[1]) {
            Some(v) => ver = Some(v),
            None => {
                r.err("ERR Protocol version is not an integer or out of range");
                return;
            }
        }
        i = 2;
        if let Some(v) = ver {
            if !(2..=3).contains(&v) {
                r.err("NOPROTO unsupported protocol version");
                return;
            }
        }
    }
    let mut setname = None;
    while i < argv.len() {
        let opt = s(&argv[i]).to_ascii_lowercase();
        if opt == "auth" && i + 2 < argv.len() {
            let user = s(&argv[i + 1]);
            if !srv.sentinel.acl.authenticate(&user, &argv[i + 2]) {
                auth_denied(srv, t, &user);
                r.err("WRONGPASS invalid username-password pair or user is disabled.");
                return;
            }
            if let Some(c) = srv.clients.get_mut(&t) {
                c.authenticated = true;
                c.user = user;
            }
            i += 3;
        } else if opt == "setname" && i + 1 < argv.len() {
            setname = Some(s(&argv[i + 1]));
            i += 2;
        } else {
            r.err(&format!(
                "ERR Syntax error in HELLO option '{}'",
                s(&argv[i])
            ));
            return;
        }
    }
    let Some(c) = srv.clients.get_mut(&t) else {
        return;
    };
    if !c.authenticated {
        r.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if let Some(n) = setname {
        c.name = if n.is_empty() { None } else { Some(n) };
    }
    if let Some(v) = ver {
        c.resp = v as u8;
        r.resp = v as u8;
    }
    let id = c.id;
    encode::map(r.out, 6, r.resp);
    r.bulk("server");
    r.bulk("redis");
    r.bulk("version");
    r.bulk(crate::info::REDIS_VERSION);
    r.bulk("proto");
    r.int(r.resp as i64);
    r.bulk("id");
    r.int(id as i64);
    r.bulk("mode");
    r.bulk("sentinel");
    r.bulk("modules");
    encode::array(r.out, 0);
}

/// One CLIENT LIST / CLIENT INFO line (`getClientInfoString`) of client `c` at `now` (ms).
pub fn client_info_line(c: &crate::server::Client, now: i64) -> String {
    // Memory fields as Redis 7.4 shows them: the running client has its request in a
    // 20474-byte query buffer and a 16 KiB reply buffer; an idle one has no query buffer
    // and a reply buffer shrunk to 1 KiB (`clientsCronResizeOutputBuffer`).
    let running = c.running_qbuf > 0;
    let (qbuf, qbuf_free, argv_mem, rbs, rbp) = if running {
        let q = c.running_qbuf;
        (
            q,
            20474usize.saturating_sub(q),
            c.running_argv_mem,
            16384,
            16384,
        )
    } else {
        (0, 0, 0, 1024, 0)
    };
    let omem = c.out.len();
    let tot = 904 + qbuf + qbuf_free + argv_mem + rbs + omem + 56 * c.subscriptions();
    format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db=0 sub={} psub={} ssub=0 multi=-1 watch=0 qbuf={qbuf} qbuf-free={qbuf_free} argv-mem={argv_mem} multi-mem=0 rbs={rbs} rbp={rbp} obl=0 oll=0 omem=0 tot-mem={tot} events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
            c.id,
            c.addr,
            c.laddr.map(|a| a.to_string()).unwrap_or_default(),
            c.fd(),
            c.name.as_deref().unwrap_or(""),
            (now - c.ctime) / 1000,
            (now - c.last_interaction) / 1000,
            {
                // `getClientInfoString`'s flag letters, in its order; N for none.
                let mut f = String::new();
                if c.subscriptions() > 0 {
                    f.push('P');
                }
                if c.close_after_reply {
                    f.push('c');
                }
                if c.no_evict {
                    f.push('e');
                }
                if f.is_empty() {
                    f.push('N');
                }
                f
            },
            c.channels.len(),
            c.patterns.len(),
            c.last_cmd,
            c.user,
            c.resp,
            c.lib_name,
            c.lib_ver,
        )
}

fn client_command(srv: &mut Server, t: Token, argv: &[Vec<u8>], r: &mut R) {
    let sub = s(&argv[1]).to_ascii_lowercase();
    let now = mstime();
    let line = |c: &crate::server::Client| client_info_line(c, now);
    // Subcommand lookup and arity as `processCommand` (the full server's CLIENT table).
    let Some(e) = crate::cmdtable::lookup_argv(argv) else {
        let shown: String = s(&argv[1]).chars().take(128).collect();
        r.err(&format!(
            "ERR unknown subcommand '{shown}'. Try CLIENT HELP."
        ));
        return;
    };
    if !arity_ok(e.arity, argv.len()) {
        r.err(&format!(
            "ERR wrong number of arguments for '{}' command",
            e.name
        ));
        return;
    }
    let n = argv.len();
    match sub.as_str() {
        "id" => r.int(srv.clients.get(&t).map(|c| c.id as i64).unwrap_or(0)),
        "getname" => match srv.clients.get(&t).and_then(|c| c.name.clone()) {
            Some(n) => r.bulk(&n),
            None => encode::null(r.out, r.resp),
        },
        "setname" => {
            let name = &argv[2];
            if name.iter().any(|&b| b <= b' ' || b > b'~') {
                r.err("ERR Client names cannot contain spaces, newlines or special characters.");
                return;
            }
            if let Some(c) = srv.clients.get_mut(&t) {
                c.name = if name.is_empty() { None } else { Some(s(name)) };
            }
            r.ok();
        }
        "setinfo" => {
            let attr = s(&argv[2]).to_ascii_lowercase();
            let val = &argv[3];
            if attr != "lib-name" && attr != "lib-ver" {
                r.err(&format!("ERR Unrecognized option '{}'", s(&argv[2])));
                return;
            }
            if val.iter().any(|&b| b <= b' ' || b > b'~') {
                r.err(&format!(
                    "ERR {attr} cannot contain spaces, newlines or special characters."
                ));
                return;
            }
            if let Some(c) = srv.clients.get_mut(&t) {
                if attr == "lib-name" {
                    c.lib_name = s(val);
                } else {
                    c.lib_ver = s(val);
                }
            }
            r.ok();
        }
        "help" => {
            let lines: Vec<&str> = CLIENT_HELP.lines().collect();
            encode::array(r.out, lines.len());
            for l in lines {
                encode::simple(r.out, l.as_bytes());
            }
        }
        "info" => {
            let l = srv.clients.get(&t).map(line).unwrap_or_default();
            encode::verbatim(r.out, b"txt", format!("{l}\n").as_bytes(), r.resp);
        }
        "list" => {
            let mut cs: Vec<&crate::server::Client> = srv.clients.values().collect();
            cs.sort_by_key(|c| c.id);
            if n >= 4 && argv[2].eq_ignore_ascii_case(b"type") && n == 4 {
                let ty = s(&argv[3]).to_ascii_lowercase();
                match ty.as_str() {
                    "normal" => cs.retain(|c| c.subscriptions() == 0),
                    "pubsub" => cs.retain(|c| c.subscriptions() > 0),
                    "master" | "replica" | "slave" => cs.clear(),
                    _ => {
                        r.err(&format!("ERR Unknown client type '{}'", s(&argv[3])));
                        return;
                    }
                }
            } else if n >= 4 && argv[2].eq_ignore_ascii_case(b"id") {
                let mut ids = Vec::new();
                for a in &argv[3..] {
                    match pyrope_common::util::string2ll(a) {
                        Some(v) if v > 0 => ids.push(v as u64),
                        _ => {
                            r.err("ERR Invalid client ID");
                            return;
                        }
                    }
                }
                cs.retain(|c| ids.contains(&c.id));
            } else if n != 2 {
                r.err("ERR syntax error");
                return;
            }
            let text: String = cs.iter().map(|c| format!("{}\n", line(c))).collect();
            encode::verbatim(r.out, b"txt", text.as_bytes(), r.resp);
        }
        "kill" => {
            // CLIENT KILL addr (old form) | CLIENT KILL <filter> <value> ... (new form).
            let victims: Vec<Token>;
            if n == 3 {
                let addr = s(&argv[2]);
                victims = srv
                    .clients
                    .iter()
                    .filter(|(_, c)| c.addr.to_string() == addr)
                    .map(|(k, _)| *k)
                    .collect();
                if victims.is_empty() {
                    r.err("ERR No such client");
                    return;
                }
                r.ok();
            } else {
                let mut skipme = true;
                let mut filters: Vec<(String, String)> = Vec::new();
                let mut i = 2;
                while i < n {
                    if i + 1 >= n {
                        r.err("ERR syntax error");
                        return;
                    }
                    let k = s(&argv[i]).to_ascii_lowercase();
                    let v = s(&argv[i + 1]);
                    match k.as_str() {
                        "id" => match pyrope_common::util::string2ll(&argv[i + 1]) {
                            Some(x) if x > 0 => {}
                            _ => {
                                r.err("ERR client-id should be greater than 0");
                                return;
                            }
                        },
                        "maxage" => match pyrope_common::util::string2ll(&argv[i + 1]) {
                            Some(x) if x > 0 => {}
                            _ => {
                                r.err("ERR maxage should be greater than 0");
                                return;
                            }
                        },
                        "type" => {
                            if !matches!(
                                v.to_ascii_lowercase().as_str(),
                                "normal" | "pubsub" | "master" | "replica" | "slave"
                            ) {
                                r.err(&format!("ERR Unknown client type '{v}'"));
                                return;
                            }
                        }
                        "user" => {
                            if !srv.sentinel.acl.exists(&v) {
                                r.err(&format!("ERR No such user '{v}'"));
                                return;
                            }
                        }
                        "skipme" => match v.to_ascii_lowercase().as_str() {
                            "yes" => skipme = true,
                            "no" => skipme = false,
                            _ => {
                                r.err("ERR syntax error");
                                return;
                            }
                        },
                        "addr" | "laddr" => {}
                        _ => {
                            r.err("ERR syntax error");
                            return;
                        }
                    }
                    if k != "skipme" {
                        filters.push((k, v));
                    }
                    i += 2;
                }
                victims = srv
                    .clients
                    .iter()
                    .filter(|(k, c)| {
                        !(skipme && **k == t)
                            && filters.iter().all(|(f, v)| match f.as_str() {
                                "id" => c.id.to_string() == *v,
                                "addr" => c.addr.to_string() == *v,
                                "laddr" => c.laddr.map(|a| a.to_string()).as_deref() == Some(v),
                                "maxage" => (now - c.ctime) / 1000 >= v.parse::<i64>().unwrap_or(0),
                                "user" => c.user == *v,
                                "type" => match v.to_ascii_lowercase().as_str() {
                                    "normal" => c.subscriptions() == 0,
                                    "pubsub" => c.subscriptions() > 0,
                                    _ => false,
                                },
                                _ => false,
                            })
                    })
                    .map(|(k, _)| *k)
                    .collect();
                r.int(victims.len() as i64);
            }
            for v in victims {
                if v != t {
                    srv.close_client(v);
                } else if let Some(c) = srv.clients.get_mut(&t) {
                    c.close_after_reply = true;
                }
            }
        }
        "no-evict" => {
            let on = argv[2].eq_ignore_ascii_case(b"on");
            if on || argv[2].eq_ignore_ascii_case(b"off") {
                if let Some(c) = srv.clients.get_mut(&t) {
                    c.no_evict = on;
                }
                r.ok();
            } else {
                r.err("ERR syntax error");
            }
        }
        "getredir" => r.int(-1),
        "unpause" => r.ok(),
        "pause" => {
            if pyrope_common::util::string2ll(&argv[2]).is_none_or(|v| v < 0) {
                r.err("ERR timeout is not an integer or out of range");
            } else if n == 4
                && !argv[3].eq_ignore_ascii_case(b"write")
                && !argv[3].eq_ignore_ascii_case(b"all")
            {
                r.err("ERR CLIENT PAUSE mode must be WRITE or ALL");
            } else if n > 4 {
                r.err("ERR syntax error");
            } else {
                // The sentinel has no writes to hold back; its commands are never paused.
                r.ok();
            }
        }
        "unblock" => {
            if pyrope_common::util::string2ll(&argv[2]).is_none() {
                r.err("ERR value is not an integer or out of range");
            } else if n == 4
                && !argv[3].eq_ignore_ascii_case(b"timeout")
                && !argv[3].eq_ignore_ascii_case(b"error")
            {
                r.err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            } else if n > 4 {
                r.err("ERR syntax error");
            } else {
                // Nothing ever blocks in a sentinel.
                r.int(0);
            }
        }
        "trackinginfo" => {
            encode::map(r.out, 3, r.resp);
            r.bulk("flags");
            encode::set(r.out, 1, r.resp);
            r.bulk("off");
            r.bulk("redirect");
            r.int(-1);
            r.bulk("prefixes");
            encode::array(r.out, 0);
        }
        "reply" => {
            // OFF and SKIP are applied by `execute` once this reply is built (neither is
            // answered); ON is.
            let mode = s(&argv[2]).to_ascii_lowercase();
            let Some(c) = srv.clients.get_mut(&t) else {
                return;
            };
            match mode.as_str() {
                "on" => {
                    c.reply_off = false;
                    c.reply_skip = 0;
                    r.ok();
                }
                "off" => c.reply_off = true,
                // This command's reply and the next one's are skipped.
                "skip" => c.reply_skip = 2,
                _ => r.err("ERR syntax error"),
            }
        }
        "tracking" => {
            // The sentinel has no keys to track: ON and OFF are accepted and have no effect.
            if argv[2].eq_ignore_ascii_case(b"on") || argv[2].eq_ignore_ascii_case(b"off") {
                r.ok();
            } else {
                r.err("ERR syntax error");
            }
        }
        "caching" => r.err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"),
        _ => r.err(&format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            s(&argv[1])
        )),
    }
}

/// `addReplySentinelRedisInstance()`: the fields of one master, replica or sentinel.
fn reply_instance(m: &Master, who: Who, r: &mut R) {
    reply_instance_shared(m, who, 1, r)
}

/// [`reply_instance`] with the `link-refcount` to show.
fn reply_instance_shared(m: &Master, who: Who, refcount: usize, r: &mut R) {
    let now = mstime();
    let ri = m.get(who);
    let mut fields: Vec<(&str, String)> = vec![
        ("name", ri.name.clone()),
        ("ip", ri.addr.shown().to_string()),
        ("port", ri.addr.port.to_string()),
        ("runid", ri.runid.clone().unwrap_or_default()),
    ];
    let mut flags: Vec<&str> = Vec::new();
    let f = ri.flags;
    for (bit, name) in [
        (SRI_S_DOWN, "s_down"),
        (SRI_O_DOWN, "o_down"),
        (SRI_MASTER, "master"),
        (SRI_SLAVE, "slave"),
        (SRI_SENTINEL, "sentinel"),
    ] {
        if f & bit != 0 {
            flags.push(name);
        }
    }
    if ri.disconnected() {
        flags.push("disconnected");
    }
    for (bit, name) in [
        (SRI_MASTER_DOWN, "master_down"),
        (SRI_FAILOVER_IN_PROGRESS, "failover_in_progress"),
        (SRI_PROMOTED, "promoted"),
        (SRI_RECONF_SENT, "reconf_sent"),
        (SRI_RECONF_INPROG, "reconf_inprog"),
        (SRI_RECONF_DONE, "reconf_done"),
        (SRI_FORCE_FAILOVER, "force_failover"),
        (SRI_SCRIPT_KILL_SENT, "script_kill_sent"),
        (SRI_MASTER_REBOOT, "master_reboot"),
    ] {
        if f & bit != 0 {
            flags.push(name);
        }
    }
    fields.push(("flags", flags.join(",")));
    fields.push(("link-pending-commands", ri.pending_commands.to_string()));
    fields.push(("link-refcount", refcount.to_string()));
    if f & SRI_FAILOVER_IN_PROGRESS != 0 {
        fields.push(("failover-state", m.failover_state.as_str().into()));
    }
    fields.push((
        "last-ping-sent",
        (if ri.act_ping_time != 0 {
            now - ri.act_ping_time
        } else {
            0
        })
        .to_string(),
    ));
    fields.push(("last-ok-ping-reply", (now - ri.last_avail_time).to_string()));
    fields.push(("last-ping-reply", (now - ri.last_pong_time).to_string()));
    if f & SRI_S_DOWN != 0 {
        fields.push(("s-down-time", (now - ri.s_down_since_time).to_string()));
    }
    if f & SRI_O_DOWN != 0 {
        fields.push(("o-down-time", (now - ri.o_down_since_time).to_string()));
    }
    fields.push(("down-after-milliseconds", ri.down_after_period.to_string()));
    if f & (SRI_MASTER | SRI_SLAVE) != 0 {
        fields.push((
            "info-refresh",
            (if ri.info_refresh != 0 {
                now - ri.info_refresh
            } else {
                0
            })
            .to_string(),
        ));
        fields.push((
            "role-reported",
            if ri.role_reported == SRI_MASTER {
                "master"
            } else {
                "slave"
            }
            .into(),
        ));
        fields.push((
            "role-reported-time",
            (now - ri.role_reported_time).to_string(),
        ));
    }
    if f & SRI_MASTER != 0 {
        fields.push(("config-epoch", m.config_epoch.to_string()));
        fields.push(("num-slaves", m.replicas.len().to_string()));
        fields.push(("num-other-sentinels", m.sentinels.len().to_string()));
        fields.push(("quorum", m.quorum.to_string()));
        fields.push(("failover-timeout", m.failover_timeout.to_string()));
        fields.push(("parallel-syncs", m.parallel_syncs.to_string()));
        if let Some(sc) = &m.notification_script {
            fields.push(("notification-script", sc.clone()));
        }
        if let Some(sc) = &m.client_reconfig_script {
            fields.push(("client-reconfig-script", sc.clone()));
        }
    }
    if f & SRI_SLAVE != 0 {
        fields.push((
            "master-link-down-time",
            ri.master_link_down_time.to_string(),
        ));
        fields.push((
            "master-link-status",
            if ri.slave_master_link_up { "ok" } else { "err" }.into(),
        ));
        fields.push((
            "master-host",
            ri.slave_master_host.clone().unwrap_or_else(|| "?".into()),
        ));
        fields.push(("master-port", ri.slave_master_port.to_string()));
        fields.push(("slave-priority", ri.slave_priority.to_string()));
        fields.push(("slave-repl-offset", ri.slave_repl_offset.to_string()));
        fields.push(("replica-announced", ri.replica_announced.to_string()));
    }
    if f & SRI_SENTINEL != 0 {
        fields.push(("last-hello-message", (now - ri.last_hello_time).to_string()));
        fields.push((
            "voted-leader",
            ri.leader.clone().unwrap_or_else(|| "?".into()),
        ));
        fields.push(("voted-leader-epoch", ri.leader_epoch.to_string()));
    }
    encode::map(r.out, fields.len(), r.resp);
    for (k, v) in fields {
        r.bulk(k);
        r.bulk(&v);
    }
}

fn master_or_err(srv: &Server, name: &[u8], r: &mut R) -> Option<usize> {
    let i = srv.sentinel.master_index(&s(name));
    if i.is_none() {
        r.err("ERR No such master with that name");
    }
    i
}

/// `sentinelFlushConfigAndReply()`
fn flush_and_reply(srv: &mut Server, r: &mut R) {
    match srv.sentinel.flush_config() {
        Ok(()) => r.ok(),
        Err(_) => r.err("ERR Failed to save config"),
    }
}

fn sentinel_command(srv: &mut Server, argv: &[Vec<u8>], r: &mut R) {
    let sub = s(&argv[1]).to_ascii_lowercase();
    let Some(a) = sentinel_arity(&sub) else {
        let shown: String = s(&argv[1]).chars().take(128).collect();
        r.err(&format!(
            "ERR unknown subcommand '{shown}'. Try SENTINEL HELP."
        ));
        return;
    };
    if !arity_ok(a, argv.len()) {
        r.err(&format!(
            "ERR wrong number of arguments for 'sentinel|{sub}' command"
        ));
        return;
    }
    let st = &mut srv.sentinel;
    match sub.as_str() {
        "help" => {
            let lines: Vec<&str> = SENTINEL_HELP.lines().collect();
            encode::array(r.out, lines.len());
            for l in lines {
                encode::simple(r.out, l.as_bytes());
            }
        }
        "masters" => {
            encode::array(r.out, st.masters.len());
            for m in &st.masters {
                reply_instance(m, Who::Master, r);
            }
        }
        "master" => {
            let Some(mi) = master_or_err(srv, &argv[2], r) else {
                return;
            };
            reply_instance(&srv.sentinel.masters[mi], Who::Master, r);
        }
        "replicas" | "slaves" => {
            let Some(mi) = master_or_err(srv, &argv[2], r) else {
                return;
            };
            let m = &srv.sentinel.masters[mi];
            encode::array(r.out, m.replicas.len());
            for i in 0..m.replicas.len() {
                reply_instance(m, Who::Replica(i), r);
            }
        }
        "sentinels" => {
            let Some(mi) = master_or_err(srv, &argv[2], r) else {
                return;
            };
            let masters = &srv.sentinel.masters;
            let m = &masters[mi];
            encode::array(r.out, m.sentinels.len());
            for i in 0..m.sentinels.len() {
                // Redis shares one link between the instances of the same sentinel (by run
                // id) under several masters (`sentinelTryConnectionSharing`); its refcount
                // is how many there are. Our links are not shared; the count is reported.
                let shared = m.sentinels[i].runid.as_ref().map_or(1, |id| {
                    masters
                        .iter()
                        .filter(|x| x.sentinels.iter().any(|s| s.runid.as_ref() == Some(id)))
                        .count()
                        .max(1)
                });
                reply_instance_shared(m, Who::Sentinel(i), shared, r);
            }
        }
        "myid" => {
            let id = st.myid.clone();
            r.bulk(&id);
        }
        "get-master-addr-by-name" => match st.master_index(&s(&argv[2])) {
            None => encode::null_array(r.out, r.resp),
            Some(mi) => {
                let a = st.masters[mi].current_addr().clone();
                encode::array(r.out, 2);
                r.bulk(a.shown());
                r.bulk_i(a.port as i64);
            }
        },
        "ckquorum" => {
            let Some(mi) = master_or_err(srv, &argv[2], r) else {
                return;
            };
            let m = &srv.sentinel.masters[mi];
            let voters = m.sentinels.len() + 1;
            let usable = 1 + m
                .sentinels
                .iter()
                .filter(|x| x.flags & (SRI_S_DOWN | SRI_O_DOWN) == 0)
                .count();
            let noquorum = usable < m.quorum as usize;
            let noauth = usable < voters / 2 + 1;
            if !noquorum && !noauth {
                encode::simple(
                    r.out,
                    format!("OK {usable} usable Sentinels. Quorum and failover authorization can be reached").as_bytes(),
                );
            } else {
                let mut e = format!("NOQUORUM {usable} usable Sentinels. ");
                if noquorum {
                    e.push_str("Not enough available Sentinels to reach the specified quorum for this master");
                }
                if noauth {
                    if noquorum {
                        e.push_str(". ");
                    }
                    e.push_str("Not enough available Sentinels to reach the majority and authorize a failover");
                }
                r.err(&e);
            }
        }
        "is-master-down-by-addr" => {
            let (Some(port), Some(req_epoch)) = (
                pyrope_common::util::string2ll(&argv[3]),
                pyrope_common::util::string2ll(&argv[4]),
            ) else {
                r.err("ERR value is not an integer or out of range");
                return;
            };
            let host = s(&argv[2]);
            let mi = st
                .masters
                .iter()
                .position(|m| m.inst.addr.same_host(&host) && m.inst.addr.port as i64 == port);
            let mut isdown = false;
            let mut leader: Option<String> = None;
            let mut leader_epoch = 0u64;
            if let Some(mi) = mi {
                let f = st.masters[mi].inst.flags;
                isdown = !st.tilt && f & SRI_S_DOWN != 0 && f & SRI_MASTER != 0;
                let runid = s(&argv[5]);
                if runid != "*" {
                    // A negative or absurd epoch gets no vote (Redis would cast and follow it).
                    if req_epoch >= 0 && st.epoch_plausible(req_epoch as u64) {
                        let (l, e) = st.vote_leader(mi, req_epoch as u64, &runid);
                        leader = l;
                        leader_epoch = e;
                    }
                }
            }
            encode::array(r.out, 3);
            r.int(isdown as i64);
            r.bulk(leader.as_deref().unwrap_or("*"));
            r.int(leader_epoch as i64);
        }
        "reset" => {
            let pat = argv[2].clone();
            let mut n = 0;
            for mi in 0..st.masters.len() {
                if pyrope_common::glob::glob_match(&pat, st.masters[mi].inst.name.as_bytes(), false)
                {
                    st.reset_master(mi, false, true);
                    n += 1;
                }
            }
            if n > 0 {
                st.config_dirty = true;
            }
            r.int(n);
        }
        "failover" => {
            let Some(mi) = master_or_err(srv, &argv[2], r) else {
                return;
            };
            let st = &mut srv.sentinel;
            if st.masters[mi].inst.flags & SRI_FAILOVER_IN_PROGRESS != 0 {
                r.err("INPROG Failover already in progress");
                return;
            }
            if st.select_slave(mi).is_none() {
                r.err("NOGOODSLAVE No suitable replica to promote");
                return;
            }
            crate::log!(
                Notice,
                "Executing user requested FAILOVER of '{}'",
                st.masters[mi].inst.name
            );
            st.start_failover(mi);
            st.masters[mi].inst.flags |= SRI_FORCE_FAILOVER;
            r.ok();
        }
        "flushconfig" => flush_and_reply(srv, r),
        "monitor" => {
            let Some(quorum) = pyrope_common::util::string2ll(&argv[5]) else {
                r.err("ERR Invalid quorum");
                return;
            };
            if quorum <= 0 {
                r.err("ERR Quorum must be 1 or greater.");
                return;
            }
            let Some(port) = pyrope_common::util::string2ll(&argv[4]) else {
                r.err("ERR Invalid port");
                return;
            };
            if port <= 0 || port > 65535 {
                r.err("ERR Invalid port number.");
                return;
            }
            let host = s(&argv[3]);
            let valid_ip = host.parse::<std::net::IpAddr>().is_ok();
            let resolvable =
                st.cfg.resolve_hostnames && crate::link::resolve(&host, port as u16).is_ok();
            if !(valid_ip || resolvable) {
                r.err("ERR Invalid IP address or hostname specified");
                return;
            }
            let name = s(&argv[2]);
            if st.master_index(&name).is_some() {
                r.err("ERR Duplicate master name.");
                return;
            }
            let mc = crate::config::MasterConf::new(
                &name,
                &host,
                port as u16,
                quorum.min(u32::MAX as i64) as u32,
            );
            let mi = st.add_master(&mc);
            flush_and_reply(srv, r);
            let st = &mut srv.sentinel;
            st.event(
                Level::Warning,
                "+monitor",
                mi,
                Who::Master,
                &format!(" quorum {quorum}"),
            );
        }
        "remove" => {
            let Some(mi) = master_or_err(srv, &argv[2], r) else {
                return;
            };
            let st = &mut srv.sentinel;
            st.event(Level::Warning, "-monitor", mi, Who::Master, "");
            let mut m = st.masters.remove(mi);
            st.close_links(&mut m.inst);
            for x in m.replicas.iter_mut().chain(m.sentinels.iter_mut()) {
                st.close_links(x);
            }
            flush_and_reply(srv, r);
        }
        "set" => sentinel_set(srv, argv, r),
        "info-cache" => {
            let now = mstime();
            let names: Vec<String> = argv[2..].iter().map(|a| s(a)).collect();
            let sel: Vec<usize> = (0..st.masters.len())
                .filter(|&i| names.iter().any(|n| n == &st.masters[i].inst.name))
                .collect();
            encode::array(r.out, sel.len() * 2);
            for mi in sel {
                let m = &st.masters[mi];
                r.bulk(&m.inst.name);
                encode::array(r.out, m.replicas.len() + 1);
                for ri in std::iter::once(&m.inst).chain(m.replicas.iter()) {
                    encode::array(r.out, 2);
                    r.int(if ri.info_refresh != 0 {
                        now - ri.info_refresh
                    } else {
                        0
                    });
                    if ri.info.is_empty() {
                        encode::null(r.out, r.resp);
                    } else {
                        r.bulk(&ri.info);
                    }
                }
            }
        }
        "pending-scripts" => {
            let now = mstime();
            encode::array(r.out, st.scripts.queue.len());
            for j in &st.scripts.queue {
                encode::map(r.out, 5, r.resp);
                r.bulk("argv");
                encode::array(r.out, j.argv.len());
                for a in &j.argv {
                    encode::bulk(r.out, a.as_bytes());
                }
                r.bulk("flags");
                r.bulk(if j.child.is_some() {
                    "running"
                } else {
                    "scheduled"
                });
                r.bulk("pid");
                r.bulk_i(j.child.as_ref().map(|c| c.id() as i64).unwrap_or(0));
                if j.child.is_some() {
                    r.bulk("run-time");
                    r.bulk_i(now - j.start_time);
                } else {
                    r.bulk("run-delay");
                    r.bulk_i(if j.start_time > 0 {
                        (j.start_time - now).max(0)
                    } else {
                        0
                    });
                }
                r.bulk("retry-num");
                r.bulk_i(j.retry_num as i64);
            }
        }
        "simulate-failure" => {
            for a in &argv[2..] {
                match s(a).to_ascii_lowercase().as_str() {
                    "crash-after-election" => st.simfailure_flags |= 1,
                    "crash-after-promotion" => st.simfailure_flags |= 2,
                    "help" => {
                        encode::array(r.out, 2);
                        r.bulk("crash-after-election");
                        r.bulk("crash-after-promotion");
                        return;
                    }
                    _ => {
                        r.err("ERR Unknown failure simulation specified");
                        return;
                    }
                }
            }
            r.ok();
        }
        "debug" => {
            let params: [(&str, i64); 13] = [
                ("INFO-PERIOD", crate::monitor::INFO_PERIOD),
                ("PING-PERIOD", crate::monitor::PING_PERIOD),
                ("ASK-PERIOD", crate::monitor::ASK_PERIOD),
                ("PUBLISH-PERIOD", crate::monitor::PUBLISH_PERIOD),
                ("DEFAULT-DOWN-AFTER", crate::config::DEFAULT_DOWN_AFTER_MS),
                (
                    "DEFAULT-FAILOVER-TIMEOUT",
                    crate::config::DEFAULT_FAILOVER_TIMEOUT_MS,
                ),
                ("TILT-TRIGGER", crate::monitor::TILT_TRIGGER),
                ("TILT-PERIOD", crate::monitor::TILT_PERIOD),
                ("SLAVE-RECONF-TIMEOUT", crate::monitor::SLAVE_RECONF_TIMEOUT),
                (
                    "MIN-LINK-RECONNECT-PERIOD",
                    crate::monitor::MIN_LINK_RECONNECT_PERIOD,
                ),
                ("ELECTION-TIMEOUT", crate::monitor::ELECTION_TIMEOUT),
                ("SCRIPT-MAX-RUNTIME", crate::scripts::MAX_RUNTIME),
                ("SCRIPT-RETRY-DELAY", crate::scripts::RETRY_DELAY),
            ];
            if argv.len() > 2 {
                r.err("ERR SENTINEL DEBUG parameters are fixed in pyrope-sentinel");
                return;
            }
            encode::map(r.out, params.len(), r.resp);
            for (k, v) in params {
                r.bulk(k);
                r.bulk_i(v);
            }
        }
        "config" => sentinel_config(srv, argv, r),
        _ => r.err(&format!(
            "ERR unknown subcommand '{}'. Try SENTINEL HELP.",
            s(&argv[1])
        )),
    }
}

/// SENTINEL CONFIG GET/SET of the global options Redis exposes there.
fn sentinel_config(srv: &mut Server, argv: &[Vec<u8>], r: &mut R) {
    let st = &mut srv.sentinel;
    let sub = s(&argv[2]).to_ascii_lowercase();
    let get = |st: &crate::state::Sentinel, k: &str| -> Option<String> {
        Some(match k {
            "resolve-hostnames" => if st.cfg.resolve_hostnames {
                "yes"
            } else {
                "no"
            }
            .into(),
            "announce-hostnames" => if st.cfg.announce_hostnames {
                "yes"
            } else {
                "no"
            }
            .into(),
            "announce-ip" => st.cfg.announce_ip.clone().unwrap_or_default(),
            "announce-port" => st.cfg.announce_port.to_string(),
            "sentinel-user" => st.cfg.sentinel_user.clone().unwrap_or_default(),
            "sentinel-pass" => st.cfg.sentinel_pass.clone().unwrap_or_default(),
            "loglevel" => {
                ["debug", "verbose", "notice", "warning", "nothing"][st.cfg.loglevel.min(4)].into()
            }
            _ => return None,
        })
    };
    const KEYS: [&str; 7] = [
        "resolve-hostnames",
        "announce-hostnames",
        "announce-ip",
        "announce-port",
        "sentinel-user",
        "sentinel-pass",
        "loglevel",
    ];
    if sub == "get" {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for p in &argv[3..] {
            let p = s(p).to_ascii_lowercase();
            for k in KEYS {
                if pyrope_common::glob::glob_match(p.as_bytes(), k.as_bytes(), true)
                    && !pairs.iter().any(|(x, _)| x == k)
                {
                    pairs.push((k.to_string(), get(st, k).unwrap_or_default()));
                }
            }
        }
        encode::map(r.out, pairs.len(), r.resp);
        for (k, v) in pairs {
            r.bulk(&k);
            r.bulk(&v);
        }
    } else if sub == "set" {
        if argv.len() < 5 || !(argv.len() - 3).is_multiple_of(2) {
            r.err("ERR wrong number of arguments for 'sentinel|config' command");
            return;
        }
        for pair in argv[3..].chunks(2) {
            let k = s(&pair[0]).to_ascii_lowercase();
            let v = s(&pair[1]);
            let yn = |v: &str| match v.to_ascii_lowercase().as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            };
            let ok = match k.as_str() {
                "resolve-hostnames" => yn(&v).map(|b| st.cfg.resolve_hostnames = b).is_some(),
                "announce-hostnames" => yn(&v)
                    .map(|b| {
                        st.cfg.announce_hostnames = b;
                        crate::instance::ANNOUNCE_HOSTNAMES
                            .store(b, std::sync::atomic::Ordering::Relaxed);
                    })
                    .is_some(),
                "announce-ip" => {
                    st.cfg.announce_ip = if v.is_empty() { None } else { Some(v.clone()) };
                    true
                }
                "announce-port" => v.parse::<u16>().map(|p| st.cfg.announce_port = p).is_ok(),
                "sentinel-user" => {
                    st.cfg.sentinel_user = if v.is_empty() { None } else { Some(v.clone()) };
                    true
                }
                "sentinel-pass" => {
                    st.cfg.sentinel_pass = if v.is_empty() { None } else { Some(v.clone()) };
                    true
                }
                "loglevel" => crate::log::Level::parse_min(&v)
                    .map(|l| st.cfg.loglevel = l)
                    .is_some(),
                _ => {
                    r.err(&format!(
                        "ERR Invalid argument '{k}' to SENTINEL CONFIG SET"
                    ));
                    return;
                }
            };
            if !ok {
                r.err(&format!(
                    "ERR Invalid value '{v}' to SENTINEL CONFIG SET '{k}'"
                ));
                return;
            }
        }
        flush_and_reply(srv, r);
    } else {
        r.err(&format!(
            "ERR unknown subcommand '{}'. Try SENTINEL HELP.",
            s(&argv[2])
        ));
    }
}

/// `sentinelSetCommand()`: option/value pairs, each logged as `+set`.
fn sentinel_set(srv: &mut Server, argv: &[Vec<u8>], r: &mut R) {
    let Some(mi) = master_or_err(srv, &argv[2], r) else {
        return;
    };
    let st = &mut srv.sentinel;
    let mut j = 3;
    let mut changes = false;
    while j < argv.len() {
        let option = s(&argv[j]);
        let opt = option.to_ascii_lowercase();
        let more = argv.len() - 1 - j;
        let old_j = j;
        let mut redacted = false;
        let ll = |x: &[u8]| pyrope_common::util::string2ll(x);
        let badarg = |r: &mut R, j: usize| {
            r.err(&format!(
                "ERR Invalid argument '{}' for SENTINEL SET '{}'",
                s(&argv[j]),
                option
            ));
        };
        let m = &mut st.masters[mi];
        match opt.as_str() {
            "down-after-milliseconds" if more > 0 => {
                j += 1;
                match ll(&argv[j]).filter(|&v| v > 0) {
                    Some(v) => {
                        m.inst.down_after_period = v;
                        m.replicas.iter_mut().for_each(|x| x.down_after_period = v);
                        m.sentinels.iter_mut().for_each(|x| x.down_after_period = v);
                    }
                    None => return badarg(r, j),
                }
            }
            "failover-timeout" if more > 0 => {
                j += 1;
                match ll(&argv[j]).filter(|&v| v > 0) {
                    Some(v) => m.failover_timeout = v,
                    None => return badarg(r, j),
                }
            }
            "parallel-syncs" if more > 0 => {
                j += 1;
                match ll(&argv[j]).filter(|&v| v > 0) {
                    Some(v) => m.parallel_syncs = v,
                    None => return badarg(r, j),
                }
            }
            "quorum" if more > 0 => {
                j += 1;
                match ll(&argv[j]).filter(|&v| v > 0) {
                    Some(v) => m.quorum = v.min(u32::MAX as i64) as u32,
                    None => return badarg(r, j),
                }
            }
            "master-reboot-down-after-period" if more > 0 => {
                j += 1;
                match ll(&argv[j]).filter(|&v| v >= 0) {
                    Some(v) => m.inst.master_reboot_down_after_period = v,
                    None => return badarg(r, j),
                }
            }
            "notification-script" | "client-reconfig-script" if more > 0 => {
                j += 1;
                if st.cfg.deny_scripts_reconfig {
                    r.err("ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your Sentinel configuration");
                    return;
                }
                let v = s(&argv[j]);
                let exec_ok = v.is_empty() || {
                    let c = std::ffi::CString::new(v.clone()).unwrap_or_default();
                    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
                };
                if !exec_ok {
                    r.err(if opt == "notification-script" {
                        "ERR Notification script seems non existing or non executable"
                    } else {
                        "ERR Client reconfiguration script seems non existing or non executable"
                    });
                    return;
                }
                let val = if v.is_empty() { None } else { Some(v) };
                if opt == "notification-script" {
                    m.notification_script = val;
                } else {
                    m.client_reconfig_script = val;
                }
            }
            "auth-pass" | "auth-user" if more > 0 => {
                j += 1;
                let v = s(&argv[j]);
                let val = if v.is_empty() { None } else { Some(v) };
                if opt == "auth-pass" {
                    m.auth_pass = val;
                } else {
                    m.auth_user = val;
                }
                redacted = true;
                // New credentials: drop the links so they reconnect with them.
                let mut insts: Vec<u64> = vec![m.inst.id];
                insts.extend(m.replicas.iter().map(|x| x.id));
                for id in insts {
                    if let Some((mi2, who)) = st.locate(id) {
                        st.close_link(mi2, who, 0);
                        st.close_link(mi2, who, 1);
                    }
                }
            }
            "rename-command" if more > 1 => {
                let from = s(&argv[j + 1]);
                let to = s(&argv[j + 2]);
                j += 2;
                m.rename_commands
                    .retain(|(f, _)| !f.eq_ignore_ascii_case(&from));
                if !from.eq_ignore_ascii_case(&to) {
                    m.rename_commands.push((from, to));
                }
            }
            _ => {
                r.err(&format!(
                    "ERR Unknown option or number of arguments for SENTINEL SET '{option}'"
                ));
                if changes {
                    let _ = st.flush_config();
                }
                return;
            }
        }
        changes = true;
        let shown: Vec<String> = (old_j..=j)
            .map(|k| {
                if redacted && k > old_j {
                    "******".to_string()
                } else {
                    s(&argv[k])
                }
            })
            .collect();
        st.event(
            Level::Warning,
            "+set",
            mi,
            Who::Master,
            &format!(" {}", shown.join(" ")),
        );
        j += 1;
    }
    flush_and_reply(srv, r);
}
