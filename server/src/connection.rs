//! The connection commands (Redis networking.c / server.c): PING, ECHO, QUIT, RESET, HELLO,
//! AUTH and the CLIENT family (ID, SETNAME, GETNAME, LIST, INFO, KILL, PAUSE, UNPAUSE, REPLY,
//! NO-EVICT, NO-TOUCH, SETINFO, HELP), with Redis 7.4's replies and error texts. The client
//! state they act on is `client::Client`.

use crate::client::{flags, unpause};
use crate::command::{Ctx, Handler};

/// True if a name (client name, lib-name, lib-ver) is acceptable: printable ASCII without
/// spaces (Redis `validateClientAttr`).
fn valid_attr(b: &[u8]) -> bool {
    // Redis walks the name as a C string: bytes after a NUL are not checked.
    crate::command::cstr(b)
        .iter()
        .all(|&c| (b'!'..=b'~').contains(&c))
}

fn ping(c: &mut Ctx) {
    if c.argc() > 2 {
        c.out
            .error("ERR wrong number of arguments for 'ping' command");
        return;
    }
    // A RESP2 client in subscribed mode gets a pub/sub-shaped pong (Redis pingCommand).
    if c.out.resp == 2 && c.srv.clients[c.cid].subs.any() {
        c.out.array(2);
        c.out.bulk(b"pong");
        c.out.bulk(c.argv.get(1).unwrap_or(b""));
        return;
    }
    match c.argv.get(1) {
        Some(m) => c.out.bulk(m),
        None => c.out.raw(b"+PONG\r\n"),
    }
}

fn echo(c: &mut Ctx) {
    c.out.bulk(c.arg(1));
}

fn quit(c: &mut Ctx) {
    c.out.ok();
    c.srv.clients[c.cid].flags |= flags::CLOSE_AFTER_REPLY;
}

fn reset(c: &mut Ctx) {
    crate::multi::discard_transaction(c.srv, c.cid);
    crate::pubsub::unsubscribe_all(c.srv, c.cid);
    crate::tracking::disable(c.srv, c.cid);
    crate::monitor::stop(c.srv, c.cid);
    let cl = &mut c.srv.clients[c.cid];
    cl.db = 0;
    cl.name = None;
    cl.flags &= !(flags::NO_EVICT | flags::NO_TOUCH | flags::REPLY_OFF | flags::REPLY_SKIP_NEXT);
    cl.acl_user = crate::acl::DEFAULT_USER;
    cl.user = "default".into();
    cl.authenticated = !c.srv.acl.default_needs_auth();
    c.db = 0;
    c.out.resp = 2;
    c.out.raw(b"+RESET\r\n");
}

fn auth(c: &mut Ctx) {
    for j in 1..c.argc() {
        c.redact_arg(j);
    }
    if c.argc() > 3 {
        c.out.syntax_error();
        return;
    }
    let (user, pass) = if c.argc() == 2 {
        (&b"default"[..], c.arg(1))
    } else {
        (c.arg(1), c.arg(2))
    };
    // Redis's `authCommand`: the one-argument form needs the default user to have a
    // password.
    if c.argc() == 2
        && c.srv
            .acl
            .user(crate::acl::DEFAULT_USER)
            .is_some_and(|u| u.account.nopass)
    {
        c.out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        return;
    }
    if crate::acl::authenticate(c.srv, c.cid, user, pass, "AUTH") {
        c.out.ok();
    } else {
        c.out
            .error("WRONGPASS invalid username-password pair or user is disabled.");
    }
}

fn hello(c: &mut Ctx) {
    let mut ver = 0;
    let mut i = 1;
    if c.argc() >= 2 {
        match pyrope_common::util::string2ll(c.arg(1)) {
            Some(v) => {
                if !(2..=3).contains(&v) {
                    c.out.error("NOPROTO unsupported protocol version");
                    return;
                }
                ver = v as u8;
            }
            None => {
                c.out
                    .error("ERR Protocol version is not an integer or out of range");
                return;
            }
        }
        i = 2;
    }
    let mut setname: Option<Vec<u8>> = None;
    let mut creds: Option<(Vec<u8>, Vec<u8>)> = None;
    while i < c.argc() {
        let more = c.argc() - i - 1;
        let opt = crate::command::opt(c.arg(i));
        if opt == b"auth" && more >= 2 {
            c.redact_arg(i + 1);
            c.redact_arg(i + 2);
            creds = Some((c.arg(i + 1).to_vec(), c.arg(i + 2).to_vec()));
            i += 3;
        } else if opt == b"setname" && more >= 1 {
            setname = Some(c.arg(i + 1).to_vec());
            i += 2;
        } else {
            c.out.error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                crate::command::trunc(c.arg(i), 128)
            ));
            return;
        }
    }
    if let Some((u, p)) = &creds {
        if !crate::acl::authenticate(c.srv, c.cid, u, p, "HELLO") {
            c.out
                .error("WRONGPASS invalid username-password pair or user is disabled.");
            return;
        }
    }
    if c.srv.auth_required(c.cid) {
        c.out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if let Some(n) = &setname {
        if !valid_attr(n) {
            c.out
                .error("ERR Client names cannot contain spaces, newlines or special characters.");
            return;
        }
        c.srv.clients[c.cid].name = if n.is_empty() { None } else { Some(n.clone()) };
    }
    if ver != 0 {
        c.out.resp = ver;
    }
    let id = c.srv.clients[c.cid].id;
    c.out.map(7);
    c.out.bulk(b"server");
    c.out.bulk(b"redis");
    c.out.bulk(b"version");
    c.out.bulk(crate::server::REDIS_VERSION_REPORTED.as_bytes());
    c.out.bulk(b"proto");
    c.out.int(c.out.resp as i64);
    c.out.bulk(b"id");
    c.out.int(id as i64);
    c.out.bulk(b"mode");
    c.out.bulk(b"standalone");
    c.out.bulk(b"role");
    c.out.bulk(b"master");
    c.out.bulk(b"modules");
    c.out.array(0);
}

fn client_id(c: &mut Ctx) {
    let id = c.srv.clients[c.cid].id;
    c.out.int(id as i64);
}

fn client_setname(c: &mut Ctx) {
    let n = c.arg(2);
    if !valid_attr(n) {
        c.out
            .error("ERR Client names cannot contain spaces, newlines or special characters.");
        return;
    }
    c.srv.clients[c.cid].name = if n.is_empty() { None } else { Some(n.to_vec()) };
    c.out.ok();
}

fn client_getname(c: &mut Ctx) {
    match c.srv.clients[c.cid].name.clone() {
        Some(n) => c.out.bulk(&n),
        None => c.out.null(),
    }
}

fn client_list(c: &mut Ctx) {
    let mut ids: Option<Vec<u64>> = None;
    let mut kind: Option<ClientType> = None;
    let mut i = 2;
    while i < c.argc() {
        let opt = crate::command::opt(c.arg(i));
        // As Redis: either exactly `TYPE <type>`, or `ID <id> [<id> ...]`.
        if opt == b"type" && c.argc() == 4 {
            let t = crate::command::opt(c.arg(i + 1));
            match parse_client_type(&t) {
                Some(t) => kind = Some(t),
                None => {
                    c.out.error(&format!(
                        "ERR Unknown client type '{}'",
                        crate::command::trunc(c.arg(i + 1), usize::MAX)
                    ));
                    return;
                }
            }
            i += 2;
        } else if opt == b"id" && i + 1 < c.argc() {
            let mut v = Vec::new();
            for j in i + 1..c.argc() {
                match pyrope_common::util::string2ll(c.arg(j)) {
                    Some(n) => v.push(n as u64),
                    _ => {
                        c.out.error("ERR Invalid client ID");
                        return;
                    }
                }
            }
            ids = Some(v);
            i = c.argc();
        } else {
            c.out.syntax_error();
            return;
        }
    }
    let mut text = String::new();
    // Socketless clients (scripting, loaders) are not connections: Redis lists only real ones.
    let mut keys: Vec<usize> = c
        .srv
        .clients
        .iter()
        .filter(|(_, cl)| cl.conn.is_some())
        .map(|(k, _)| k)
        .collect();
    keys.sort_by_key(|k| c.srv.clients[*k].id);
    for k in keys {
        let cl = &c.srv.clients[k];
        if let Some(f) = &ids {
            if !f.contains(&cl.id) {
                continue;
            }
        }
        if kind.is_some_and(|t| client_type(cl) != t) {
            continue;
        }
        text.push_str(&c.srv.client_info_line(k));
        text.push('\n');
    }
    c.out.verbatim(text.as_bytes());
}

fn client_info(c: &mut Ctx) {
    let mut line = c.srv.client_info_line(c.cid);
    line.push('\n');
    c.out.verbatim(line.as_bytes());
}

/// The client types of CLIENT LIST / CLIENT KILL `TYPE` (Redis `getClientType`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ClientType {
    Normal,
    Replica,
    Master,
    Pubsub,
}

/// `normal`, `master`, `replica` (`slave`), `pubsub` (lowercased); None for another name.
fn parse_client_type(t: &[u8]) -> Option<ClientType> {
    match t {
        b"normal" => Some(ClientType::Normal),
        b"master" => Some(ClientType::Master),
        b"replica" | b"slave" => Some(ClientType::Replica),
        b"pubsub" => Some(ClientType::Pubsub),
        _ => None,
    }
}

/// A client's type: pub/sub when it has subscriptions, otherwise normal (no replication
/// links yet; a MONITOR client is normal, as Redis shows it).
fn client_type(cl: &crate::client::Client) -> ClientType {
    if cl.subs.any() {
        ClientType::Pubsub
    } else {
        ClientType::Normal
    }
}

/// True for a client CLIENT KILL may see: a connection, or the caller itself. Internal
/// socketless clients (the Lua client, the AOF loader) are not in Redis's client list.
fn is_listed(cl: &crate::client::Client, k: usize, me: usize) -> bool {
    cl.conn.is_some() || k == me
}

fn client_kill(c: &mut Ctx) {
    let me_id = c.srv.clients[c.cid].id;
    let me = c.cid;
    // Old form: CLIENT KILL addr
    if c.argc() == 3 {
        let addr = c.arg(2);
        let found = c
            .srv
            .clients
            .iter()
            .find(|(k, cl)| is_listed(cl, *k, me) && cl.addr.as_bytes() == addr)
            .map(|(k, _)| k);
        match found {
            Some(k) => {
                kill(c, k);
                c.out.ok();
            }
            None => c.out.error("ERR No such client"),
        }
        return;
    }
    if (c.argc() - 2) % 2 != 0 {
        c.out.syntax_error();
        return;
    }
    let mut id: Option<u64> = None;
    let mut addr: Option<Vec<u8>> = None;
    let mut laddr: Option<Vec<u8>> = None;
    let mut user: Option<Vec<u8>> = None;
    let mut maxage: Option<i64> = None;
    let mut kind: Option<ClientType> = None;
    let mut skipme = true;
    let mut i = 2;
    while i + 1 < c.argc() {
        let opt = crate::command::opt(c.arg(i));
        let v = c.arg(i + 1);
        match opt.as_slice() {
            b"id" => match pyrope_common::util::string2ll(v) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => {
                    c.out.error("ERR client-id should be greater than 0");
                    return;
                }
            },
            b"type" => match parse_client_type(&crate::command::opt(v)) {
                Some(t) => kind = Some(t),
                None => {
                    c.out.error(&format!(
                        "ERR Unknown client type '{}'",
                        crate::command::trunc(v, usize::MAX)
                    ));
                    return;
                }
            },
            b"addr" => addr = Some(v.to_vec()),
            b"laddr" => laddr = Some(v.to_vec()),
            b"user" => {
                if c.srv.acl.slot(&String::from_utf8_lossy(v)).is_none() {
                    c.out.error(&format!(
                        "ERR No such user '{}'",
                        crate::command::trunc(v, usize::MAX)
                    ));
                    return;
                }
                user = Some(v.to_vec());
            }
            b"skipme" => match crate::command::opt(v).as_slice() {
                b"yes" => skipme = true,
                b"no" => skipme = false,
                _ => {
                    c.out.syntax_error();
                    return;
                }
            },
            b"maxage" => match pyrope_common::util::string2ll(v) {
                Some(n) if n > 0 => maxage = Some(n),
                Some(_) => return c.out.error("ERR maxage should be greater than 0"),
                None => return c.out.error("ERR maxage is not an integer or out of range"),
            },
            _ => {
                c.out.syntax_error();
                return;
            }
        }
        i += 2;
    }
    let now = c.srv.now_ms;
    let victims: Vec<usize> = c
        .srv
        .clients
        .iter()
        .filter(|(k, cl)| {
            kind.is_none_or(|t| client_type(cl) == t)
                && is_listed(cl, *k, me)
                && id.is_none_or(|x| cl.id == x)
                && addr.as_ref().is_none_or(|a| cl.addr.as_bytes() == &a[..])
                && laddr.as_ref().is_none_or(|a| cl.laddr.as_bytes() == &a[..])
                && user.as_ref().is_none_or(|u| cl.user.as_bytes() == &u[..])
                && maxage.is_none_or(|m| (now - cl.ctime_ms) / 1000 >= m)
                && !(skipme && cl.id == me_id)
        })
        .map(|(k, _)| k)
        .collect();
    for &k in &victims {
        kill(c, k);
    }
    c.out.int(victims.len() as i64);
}

fn kill(c: &mut Ctx, k: usize) {
    if k == c.cid {
        c.srv.clients[k].flags |= flags::CLOSE_AFTER_REPLY;
    } else {
        crate::net::close_async(c.srv, k);
    }
}

fn client_pause(c: &mut Ctx) {
    if c.argc() > 4 {
        return c.subcommand_syntax_error();
    }
    let Some(ms) = pyrope_common::util::string2ll(c.arg(2)) else {
        c.out.error("ERR timeout is not an integer or out of range");
        return;
    };
    if ms < 0 {
        c.out.error("ERR timeout is negative");
        return;
    }
    if ms > 0 && ms > i64::MAX - c.srv.now_ms {
        c.out.error("ERR timeout is out of range");
        return;
    }
    let mut write_only = false;
    if c.argc() == 4 {
        match crate::command::opt(c.arg(3)).as_slice() {
            b"write" => write_only = true,
            b"all" => {}
            _ => {
                c.out.error("ERR CLIENT PAUSE mode must be WRITE or ALL");
                return;
            }
        }
    }
    let until = c.srv.now_ms.saturating_add(ms);
    // A later pause can only extend the time or widen the mode (as Redis's pauseActions).
    let p = &mut c.srv.pause;
    if p.until_ms > c.srv.now_ms {
        p.until_ms = p.until_ms.max(until);
        p.write_only = p.write_only && write_only;
    } else {
        p.until_ms = until;
        p.write_only = write_only;
    }
    c.out.ok();
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: a client blocked on keys answers now, with its
/// command's timeout reply or the `-UNBLOCKED` error. A client postponed by CLIENT PAUSE is
/// not unblockable here (`:0`; Redis 7.4.1 crashes on it: "Unknown btype in
/// replyToBlockedClientTimedOut").
fn client_unblock(c: &mut Ctx) {
    if c.argc() > 4 {
        return c.subcommand_syntax_error();
    }
    let mut error = false;
    if c.argc() == 4 {
        match crate::command::opt(c.arg(3)).as_slice() {
            b"timeout" => {}
            b"error" => error = true,
            _ => {
                return c
                    .out
                    .error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            }
        }
    }
    let Some(id) = pyrope_common::util::string2ll(c.arg(2)) else {
        return c.out.error("ERR value is not an integer or out of range");
    };
    let target = c
        .srv
        .clients
        .iter()
        .find(|(_, cl)| cl.id as i64 == id)
        .map(|(k, cl)| (k, cl.block.as_ref().map(|b| b.kind)));
    let Some((k, Some(kind))) = target else {
        return c.out.int(0);
    };
    if kind == crate::blocking::BlockKind::Postpone {
        return c.out.int(0);
    }
    let how = if error {
        crate::blocking::Resume::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    } else {
        crate::blocking::Resume::TimedOut(kind)
    };
    crate::blocking::resume(c.srv, k, how);
    c.out.int(1);
}

fn client_unpause(c: &mut Ctx) {
    unpause(c.srv);
    c.out.ok();
}

fn client_reply(c: &mut Ctx) {
    let arg = crate::command::opt(c.arg(2));
    let cl = &mut c.srv.clients[c.cid];
    match arg.as_slice() {
        b"on" => {
            cl.flags &= !(flags::REPLY_OFF | flags::REPLY_SKIP_NEXT);
            c.out.ok();
        }
        b"off" => cl.flags |= flags::REPLY_OFF,
        b"skip" => {
            if cl.flags & flags::REPLY_OFF == 0 {
                cl.flags |= flags::REPLY_SKIP_NEXT;
            }
        }
        _ => c.out.syntax_error(),
    }
}

fn on_off_flag(c: &mut Ctx, flag: u32) {
    let arg = crate::command::opt(c.arg(2));
    let cl = &mut c.srv.clients[c.cid];
    match arg.as_slice() {
        b"on" => {
            cl.flags |= flag;
            c.out.ok();
        }
        b"off" => {
            cl.flags &= !flag;
            c.out.ok();
        }
        _ => c.out.syntax_error(),
    }
}

fn client_no_evict(c: &mut Ctx) {
    on_off_flag(c, flags::NO_EVICT);
}

fn client_no_touch(c: &mut Ctx) {
    on_off_flag(c, flags::NO_TOUCH);
}

fn client_setinfo(c: &mut Ctx) {
    let attr = crate::command::opt(c.arg(2));
    let v = c.arg(3);
    let which = match attr.as_slice() {
        b"lib-name" => "lib-name",
        b"lib-ver" => "lib-ver",
        _ => {
            c.out.error(&format!(
                "ERR Unrecognized option '{}'",
                crate::command::trunc(c.arg(2), usize::MAX)
            ));
            return;
        }
    };
    if !valid_attr(v) {
        c.out.error(&format!(
            "ERR {which} cannot contain spaces, newlines or special characters."
        ));
        return;
    }
    let val = if v.is_empty() { None } else { Some(v.to_vec()) };
    let cl = &mut c.srv.clients[c.cid];
    if which == "lib-name" {
        cl.lib_name = val;
    } else {
        cl.lib_ver = val;
    }
    c.out.ok();
}

fn client_help(c: &mut Ctx) {
    c.out.help_lines(crate::help::CLIENT);
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("ping", ping),
    ("echo", echo),
    ("quit", quit),
    ("reset", reset),
    ("auth", auth),
    ("hello", hello),
    ("client|id", client_id),
    ("client|setname", client_setname),
    ("client|getname", client_getname),
    ("client|list", client_list),
    ("client|info", client_info),
    ("client|kill", client_kill),
    ("client|pause", client_pause),
    ("client|unpause", client_unpause),
    ("client|unblock", client_unblock),
    ("client|reply", client_reply),
    ("client|no-evict", client_no_evict),
    ("client|no-touch", client_no_touch),
    ("client|setinfo", client_setinfo),
    ("client|help", client_help),
];
