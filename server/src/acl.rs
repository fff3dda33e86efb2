//! Access control lists, as Redis 7.4's `acl.c`: users (passwords as SHA-256 hex, `on`/`off`,
//! `nopass`), selectors (key patterns with read/write permissions, channel patterns, command
//! and category rules, first-argument rules), the permission check `processCommand` and
//! scripts run before each command (`ACLCheckAllPerm`), the ACL LOG, the `aclfile`, and the
//! ACL command family (SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT GENPASS LOG LOAD SAVE
//! DRYRUN HELP).
//!
//! Command permissions are a bitmap over the command table's ids (a container's rule sets
//! its subcommands' bits), kept with the rules string Redis shows (`ACLUpdateCommandRules`:
//! a rule replaces an earlier rule for the same command or category). Categories and key
//! specs come from the one command table (`Command::acl_categories`, `Command::key_specs`).
//!
//! Users live in slots that never move (`Client::acl_user` is a slot index); a deleted
//! user's slot stays empty, and its clients are closed.

use crate::command::keyspec::{self, KeySpec};
use crate::command::{Argv, CommandTable, Ctx, Handler, Lookup};
use crate::server::Server;
use pyrope_common::acl::{
    describe_selector, err_unknown_category, genpass_bits, merge_selector_args, noperm_command,
    subcommand_argc_ok, Account, CommandRule, CommandRules, Log, PasswordRule, Patterns, RuleError,
    ERR_NO_ACLFILE, ERR_SYNTAX, ERR_UNKNOWN, READ, WRITE,
};
use pyrope_common::glob::glob_match;
use std::collections::{BTreeMap, HashMap};

pub use pyrope_common::acl::CATEGORIES;

/// Why a command was denied (Redis's `ACL_DENIED_*`, ordered by relevance as Redis ranks
/// them when no selector allows a command).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Cmd = 1,
    Key = 2,
    Auth = 3,
    Channel = 4,
}

impl Denied {
    /// The ACL LOG `reason`.
    fn reason(self) -> &'static str {
        match self {
            Denied::Cmd => "command",
            Denied::Key => "key",
            Denied::Auth => "auth",
            Denied::Channel => "channel",
        }
    }
}

/// A selector (`aclSelector`): the root one of a user, or one in parentheses.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Selector {
    /// Key and channel patterns (`common::acl::Patterns`, shared with the sentinel).
    pub pat: Patterns,
    /// Every command bit set (`SELECTOR_FLAG_ALLCOMMANDS`).
    allcommands: bool,
    /// Allowed command ids.
    allowed: Vec<bool>,
    /// Allowed first arguments of commands otherwise denied (`+select|0`), by command id.
    first_args: HashMap<usize, Vec<Vec<u8>>>,
    /// The rules as shown: the base (`+@all` when future commands are allowed) and the
    /// rules after it (`+@read -get`).
    rules: CommandRules,
}

/// `acl-pubsub-default allchannels`: new users, new selectors and `reset` get `&*` (Redis
/// ORs `server.acl_pubsub_default` into every selector it creates). Set by
/// `Server::apply_config`.
pub static PUBSUB_DEFAULT_ALL: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl Selector {
    fn new(n: usize) -> Selector {
        let mut s = Selector {
            allowed: vec![false; n],
            ..Default::default()
        };
        s.pat.allchannels = PUBSUB_DEFAULT_ALL.load(std::sync::atomic::Ordering::Relaxed);
        s
    }

    fn set_all(&mut self, v: bool) {
        self.allowed.iter_mut().for_each(|b| *b = v);
        self.allcommands = v;
        self.rules.reset(v);
        self.first_args.clear();
    }

    /// Sets command `id`'s bit, and its subcommands' (`ACLChangeSelectorPerm`).
    fn set_cmd(&mut self, t: &CommandTable, id: usize, v: bool) {
        self.allowed[id] = v;
        self.first_args.remove(&id);
        for &s in t.cmds[id].subcommands.values() {
            self.allowed[s] = v;
            self.first_args.remove(&s);
        }
        if !v {
            self.allcommands = false;
        }
    }

    /// Applies one selector rule (`ACLSetSelector`).
    fn apply(&mut self, t: &CommandTable, op: &str) -> Result<(), RuleError> {
        if let Some(r) = self.pat.apply(op) {
            return r;
        }
        let lower = op.to_ascii_lowercase();
        match lower.as_str() {
            "allcommands" | "+@all" => {
                self.set_all(true);
                return Ok(());
            }
            "nocommands" | "-@all" => {
                self.set_all(false);
                return Ok(());
            }
            _ => {}
        }
        match op.as_bytes().first().copied().unwrap_or(0) {
            b'+' | b'-' => match CommandRule::parse(&lower).expect("command rule")? {
                CommandRule::Category { allow, cat } => self.apply_category(t, cat, allow),
                CommandRule::Command { allow: true, name } => self.allow_command(t, name)?,
                CommandRule::Command { allow: false, name } => {
                    let id = lookup_name(t, name).ok_or(ERR_UNKNOWN)?;
                    self.set_cmd(t, id, false);
                    self.rules.update(&t.cmds[id].fullname.clone(), false);
                }
            },
            _ => return Err(ERR_SYNTAX),
        }
        Ok(())
    }

    /// `+@cat` / `-@cat`: sets the bit of every command in category `cat`.
    fn apply_category(&mut self, t: &CommandTable, cat: &str, allow: bool) {
        self.rules.update(&format!("@{cat}"), allow);
        for id in 0..t.cmds.len() {
            if t.cmds[id]
                .acl_categories
                .iter()
                .any(|x| x.strip_prefix('@').unwrap_or(x) == cat)
            {
                self.allowed[id] = allow;
                if !allow {
                    self.allcommands = false;
                }
            }
        }
    }

    /// `+name`: a command, a `container|sub`, or a `command|first-arg`.
    fn allow_command(&mut self, t: &CommandTable, name: &str) -> Result<(), RuleError> {
        match name.split_once('|') {
            None => {
                let id = lookup_name(t, name).ok_or(ERR_UNKNOWN)?;
                self.set_cmd(t, id, true);
                self.rules.update(&t.cmds[id].fullname.clone(), true);
            }
            Some((base, sub)) => {
                let id = lookup_name(t, base).ok_or(ERR_UNKNOWN)?;
                if t.cmds[id].parent.is_some() {
                    return Err("Allowing first-arg of a subcommand is not supported");
                }
                if sub.is_empty() {
                    return Err(ERR_SYNTAX);
                }
                if sub.contains('|') {
                    return Err("Allowing first-arg of a subcommand is not supported");
                }
                if !t.cmds[id].subcommands.is_empty() {
                    let sid = *t.cmds[id].subcommands.get(sub).ok_or(ERR_UNKNOWN)?;
                    self.set_cmd(t, sid, true);
                } else {
                    let v = self.first_args.entry(id).or_default();
                    if !v.iter().any(|a| a == sub.as_bytes()) {
                        v.push(sub.as_bytes().to_vec());
                    }
                }
                self.rules.update(name, true);
            }
        }
        Ok(())
    }

    /// The command rules as shown (`ACLDescribeSelectorCommandRules`).
    fn describe_commands(&self) -> String {
        self.rules.describe()
    }

    fn describe_keys(&self) -> String {
        self.pat.describe_keys()
    }

    fn describe_channels(&self) -> String {
        self.pat.describe_channels()
    }

    /// `ACLDescribeSelector`: keys, channels (with `resetchannels`), commands.
    fn describe(&self) -> String {
        describe_selector(
            &self.describe_keys(),
            self.pat.allchannels,
            &self.describe_channels(),
            &self.describe_commands(),
        )
    }

    /// Everything allowed: no check needed.
    fn all_permissions(&self) -> bool {
        self.pat.allkeys && self.pat.allchannels && self.allcommands
    }

    /// `ACLSelectorCheckCmd`: the command, then its keys, then its channels. On a key or
    /// channel denial returns the argv index at fault.
    fn check(
        &self,
        t: &CommandTable,
        perms: &[Vec<u8>],
        id: usize,
        argv: &Argv,
    ) -> Result<(), (Denied, usize)> {
        let cmd = &t.cmds[id];
        if !self.allcommands && cmd.flags & crate::command::flags::NO_AUTH == 0 && !self.allowed[id]
        {
            let ok = argv.len() > 1
                && self.first_args.get(&id).is_some_and(|v| {
                    v.iter()
                        .any(|a| a.eq_ignore_ascii_case(&argv[1].to_ascii_lowercase()))
                });
            if !ok {
                return Err((Denied::Cmd, 0));
            }
        }
        if !self.pat.allkeys && !cmd.key_specs.is_empty() {
            // Incomplete or variable-flags specs: Redis's getkeys procedure decides.
            if let Some((keys, n)) = proc_keys(&cmd.fullname, argv) {
                for &(i, need) in &keys[..n] {
                    if !self.key_ok(&argv[i], need) {
                        return Err((Denied::Key, i));
                    }
                }
                return self.check_channels(cmd, argv);
            }
            for (spec, &need) in cmd.key_specs.iter().zip(&perms[id]) {
                let Ok(idx) = keyspec::get_keys(std::slice::from_ref::<KeySpec>(spec), argv) else {
                    continue;
                };
                for i in idx {
                    if !self.key_ok(&argv[i], need) {
                        return Err((Denied::Key, i));
                    }
                }
            }
        }
        self.check_channels(cmd, argv)
    }

    /// `ACLSelectorCheckKey`: a key pattern with at least the `need` permissions matches.
    fn key_ok(&self, key: &[u8], need: u8) -> bool {
        self.pat.allkeys
            || self
                .pat
                .keys
                .iter()
                .any(|p| p.flags & need == need && glob_match(&p.pat, key, false))
    }

    /// The channel part of `ACLSelectorCheckCmd`.
    fn check_channels(
        &self,
        cmd: &crate::command::Command,
        argv: &Argv,
    ) -> Result<(), (Denied, usize)> {
        if !self.pat.allchannels {
            let (range, pattern) = channel_args(&cmd.fullname, argv.len());
            for i in range {
                if !self.channel_ok(&argv[i], pattern) {
                    return Err((Denied::Channel, i));
                }
            }
        }
        Ok(())
    }

    /// `ACLCheckChannelAgainstList`: a pattern subscription must name an allowed pattern
    /// literally; a channel must match one.
    fn channel_ok(&self, ch: &[u8], is_pattern: bool) -> bool {
        self.pat.allchannels
            || self.pat.channels.iter().any(|p| {
                if is_pattern {
                    p == ch
                } else {
                    glob_match(p, ch, false)
                }
            })
    }
}

/// The keys of the commands whose key specs Redis 7.4 marks `incomplete` (SORT) or
/// `variable_flags` (SET, BITFIELD), with the permissions each needs, as Redis's getkeys
/// procedures find them (`sortGetKeys`, `setGetKeys`, `bitfieldGetKeys` in db.c): SORT reads
/// its key and overwrites the last STORE key; SET only writes unless GET is given;
/// BITFIELD only reads when every subcommand is a GET (OVERFLOW aside). Returns up to two
/// (argv index, permission) pairs and how many are used (no allocation: this runs for every
/// SET of a user without `allkeys`).
fn proc_keys(fullname: &str, argv: &Argv) -> Option<([(usize, u8); 2], usize)> {
    if argv.len() < 2 {
        return None;
    }
    let is = |i: usize, w: &str| argv[i].eq_ignore_ascii_case(w.as_bytes());
    match fullname {
        "sort" => {
            let mut keys = [(1, READ), (0, 0)];
            let mut store = None;
            let mut i = 2;
            while i < argv.len() {
                if is(i, "limit") {
                    i += 2;
                } else if is(i, "get") || is(i, "by") {
                    i += 1;
                } else if is(i, "store") && i + 1 < argv.len() {
                    store = Some(i + 1);
                }
                i += 1;
            }
            match store {
                Some(s) => {
                    keys[1] = (s, WRITE);
                    Some((keys, 2))
                }
                None => Some((keys, 1)),
            }
        }
        "set" => {
            let get = (3..argv.len()).any(|i| is(i, "get"));
            Some(([(1, if get { READ | WRITE } else { WRITE }), (0, 0)], 1))
        }
        "bitfield" => {
            let mut readonly = true;
            let mut i = 2;
            while i < argv.len() {
                let rem = argv.len() - i - 1;
                if is(i, "get") && rem >= 2 {
                    i += 2;
                } else if (is(i, "set") || is(i, "incrby")) && rem >= 3 {
                    readonly = false;
                    break;
                } else if is(i, "overflow") && rem >= 1 {
                    i += 1;
                } else {
                    readonly = false;
                    break;
                }
                i += 1;
            }
            Some(([(1, if readonly { READ } else { READ | WRITE }), (0, 0)], 1))
        }
        _ => None,
    }
}

/// True when user `slot` may read every key (Redis's `ACLUserCheckKeyPerm(user, "*", ...)`
/// in sort.c: the literal key `*` is readable through some selector), as SORT's BY and GET
/// patterns need. Internal clients (no user slot) may.
pub fn full_key_access(srv: &Server, slot: usize) -> bool {
    match srv.acl.user(slot) {
        None => true,
        Some(u) => std::iter::once(&u.root)
            .chain(&u.selectors)
            .any(|s| s.key_ok(b"*", READ)),
    }
}

/// The argv indexes of a command's channels and whether they are patterns (Redis's
/// `getChannelsFromCommand` for the publish and subscribe commands).
fn channel_args(fullname: &str, argc: usize) -> (std::ops::Range<usize>, bool) {
    match fullname {
        "subscribe" | "ssubscribe" => (1..argc, false),
        "psubscribe" => (1..argc, true),
        "publish" | "spublish" => (1..2.min(argc), false),
        _ => (0..0, false),
    }
}

/// A top-level or `container|sub` name in the table (renames ignored, as Redis's
/// `ACLLookupCommand` uses the original table).
fn lookup_name(t: &CommandTable, name: &str) -> Option<usize> {
    match name.split_once('|') {
        None => t
            .cmds
            .iter()
            .position(|c| c.parent.is_none() && c.fullname == name),
        Some((a, b)) => lookup_name(t, a).and_then(|id| t.cmds[id].subcommands.get(b).copied()),
    }
}

/// One user.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// Name, on/off, nopass, sanitize-payload, password digests.
    pub account: Account,
    pub root: Selector,
    pub selectors: Vec<Selector>,
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no passwords, commands, keys or channels.
    pub fn new(name: &str, t: &CommandTable) -> User {
        User {
            account: Account::new(name),
            root: Selector::new(t.cmds.len()),
            selectors: Vec::new(),
        }
    }

    /// The default user: on, nopass, all keys, channels and commands.
    pub fn default_user(t: &CommandTable) -> User {
        let mut u = User::new("default", t);
        for r in ["on", "nopass", "~*", "&*", "+@all"] {
            u.apply(t, r).expect("valid rule");
        }
        u
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.account.name
    }

    /// Applies one ACL SETUSER rule (`ACLSetUser`). Errors as
    /// `Error in ACL SETUSER modifier '<rule>': <error>` completes them.
    pub fn apply(&mut self, t: &CommandTable, op: &str) -> Result<(), RuleError> {
        let lower = op.to_ascii_lowercase();
        if self.account.apply_flag(&lower) {
            return Ok(());
        }
        match lower.as_str() {
            "clearselectors" => self.selectors.clear(),
            // resetpass resetkeys resetchannels [allchannels per acl-pubsub-default] off
            // sanitize-payload clearselectors -@all: a new user's state.
            "reset" => *self = User::new(self.name(), t),
            _ => match PasswordRule::parse(op) {
                Some(p) => match p? {
                    PasswordRule::Add(h) => self.account.add_password(h),
                    PasswordRule::Remove(h) => self.account.remove_password(&h)?,
                },
                None if op.starts_with('(') && op.ends_with(')') => {
                    let mut s = Selector::new(t.cmds.len());
                    for r in op[1..op.len() - 1].split_whitespace() {
                        s.apply(t, r)?;
                    }
                    self.selectors.push(s);
                }
                None => self.root.apply(t, op)?,
            },
        }
        Ok(())
    }

    /// The `user ...` line of ACL LIST and of the ACL file (`ACLDescribeUser`).
    pub fn describe(&self) -> String {
        let mut parts = self.account.describe_head();
        parts.push(self.root.describe());
        for s in &self.selectors {
            parts.push(format!("({})", s.describe()));
        }
        parts.join(" ")
    }

    /// Everything allowed (the root selector has all keys, channels and commands).
    fn superuser(&self) -> bool {
        self.root.all_permissions()
    }

    /// `ACLCheckAllUserCommandPerm`: the root selector, then the others; on denial the most
    /// relevant error and the argv index at fault.
    fn check(
        &self,
        t: &CommandTable,
        perms: &[Vec<u8>],
        id: usize,
        argv: &Argv,
    ) -> Result<(), (Denied, usize)> {
        if self.superuser() {
            return Ok(());
        }
        let mut worst = (Denied::Cmd, 0);
        for s in std::iter::once(&self.root).chain(&self.selectors) {
            match s.check(t, perms, id, argv) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if e.0 > worst.0 || (e.0 == worst.0 && e.1 > worst.1) {
                        worst = e;
                    }
                }
            }
        }
        Err(worst)
    }
}

/// The users, the ACL log and the denial counters.
pub struct Acl {
    /// User slots (`Client::acl_user` indexes them); `None` once deleted.
    pub slots: Vec<Option<User>>,
    /// Name to slot, sorted (ACL USERS / LIST order).
    pub by_name: BTreeMap<String, usize>,
    /// Per command id, the permission each key spec needs (READ / WRITE bits).
    perms: Vec<Vec<u8>>,
    pub log: Log,
    /// INFO `acl_access_denied_auth` / `_cmd` / `_key` / `_channel` (not reset by CONFIG
    /// RESETSTAT, as Redis 7.4.1).
    pub denied_auth: u64,
    pub denied_cmd: u64,
    pub denied_key: u64,
    pub denied_channel: u64,
}

/// The slot of the default user.
pub const DEFAULT_USER: usize = 0;

/// The "slot" of internal socketless clients (the AOF loader, the master link, the
/// harness): no user, every permission (Redis's `c->user == NULL`).
pub const SUPERUSER: usize = usize::MAX;

/// The permission a key spec's flags need (`ACLSelectorCheckKey`).
fn spec_perm(s: &KeySpec) -> u8 {
    let mut f = 0;
    for x in &s.flags {
        match x.as_str() {
            "access" => f |= READ,
            "insert" | "delete" | "update" => f |= WRITE,
            _ => {}
        }
    }
    f
}

impl Acl {
    /// Only the default user (on, nopass, everything allowed).
    pub fn new(t: &CommandTable) -> Acl {
        let mut by_name = BTreeMap::new();
        by_name.insert("default".to_string(), DEFAULT_USER);
        Acl {
            slots: vec![Some(User::default_user(t))],
            by_name,
            perms: t
                .cmds
                .iter()
                .map(|c| c.key_specs.iter().map(spec_perm).collect())
                .collect(),
            log: Log::default(),
            denied_auth: 0,
            denied_cmd: 0,
            denied_key: 0,
            denied_channel: 0,
        }
    }

    /// The user in `slot`, if it exists.
    pub fn user(&self, slot: usize) -> Option<&User> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// The slot of user `name`.
    pub fn slot(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Inserts or replaces user `u` by name; returns its slot.
    pub fn put(&mut self, u: User) -> usize {
        match self.by_name.get(u.name()) {
            Some(&s) => {
                self.slots[s] = Some(u);
                s
            }
            None => {
                let s = self.slots.len();
                self.by_name.insert(u.name().to_string(), s);
                self.slots.push(Some(u));
                s
            }
        }
    }

    /// Does a new connection need AUTH (the default user has a password or is off,
    /// `authRequired`)?
    pub fn default_needs_auth(&self) -> bool {
        self.user(DEFAULT_USER)
            .is_none_or(|u| !u.account.nopass || !u.account.enabled)
    }

    /// Sets the default user's password from `requirepass` (empty: nopass), as
    /// `ACLUpdateDefaultUserPassword`.
    pub fn set_requirepass(&mut self, t: &CommandTable, pass: &str) {
        if let Some(Some(d)) = self.slots.get_mut(DEFAULT_USER) {
            d.apply(t, "resetpass").ok();
            if pass.is_empty() {
                d.apply(t, "nopass").ok();
            } else {
                d.apply(t, &format!(">{pass}")).ok();
            }
        }
    }

    /// Checks whether user `slot` may run command `id` with `argv`.
    #[inline]
    pub fn check(
        &self,
        t: &CommandTable,
        slot: usize,
        id: usize,
        argv: &Argv,
    ) -> Result<(), (Denied, usize)> {
        match self.user(slot) {
            Some(u) => u.check(t, &self.perms, id, argv),
            None if slot == SUPERUSER => Ok(()),
            None => Err((Denied::Cmd, 0)),
        }
    }

    /// Records a denial (`addACLLogEntry`) in the INFO counters and the ACL LOG
    /// (`common::acl::Log::record`: a repeat of one of the 10 newest entries last updated
    /// less than 60 s ago counts in it and moves it to the head).
    #[allow(clippy::too_many_arguments)]
    pub fn log_denial(
        &mut self,
        reason: Denied,
        context: &'static str,
        object: &str,
        username: &str,
        client_info: String,
        now: i64,
        max_len: usize,
    ) {
        match reason {
            Denied::Cmd => self.denied_cmd += 1,
            Denied::Key => self.denied_key += 1,
            Denied::Channel => self.denied_channel += 1,
            Denied::Auth => {}
        }
        self.log.record(
            reason.reason(),
            context,
            object,
            username,
            client_info,
            now,
            max_len,
        );
    }
}

/// The NOPERM message (`getAclErrorMessage`, not verbose), without the `-NOPERM ` prefix.
pub fn error_message(d: Denied, user: &str, cmd: &str) -> String {
    match d {
        Denied::Cmd | Denied::Auth => noperm_command(user, cmd),
        Denied::Key => "No permissions to access a key".into(),
        Denied::Channel => "No permissions to access a channel".into(),
    }
}

/// The ACL log's `acllog-max-len`.
fn log_max_len(srv: &Server) -> usize {
    srv.config
        .get("acllog-max-len")
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

/// The permission check of `processCommand` / `scriptVerifyACL` for client `k` running
/// command `id`: on denial logs it (context `toplevel`, `multi` or `lua`) and returns the
/// NOPERM message (without the `-NOPERM ` prefix). The log shows client `shown`'s
/// CLIENT LIST line (a script's caller rather than the Lua client, as Redis's
/// `server.current_client`).
pub fn check_command(
    srv: &mut Server,
    k: usize,
    shown: usize,
    id: usize,
    argv: &Argv,
    context: &'static str,
) -> Result<(), String> {
    let slot = srv.clients[k].acl_user;
    let Err((d, idx)) = srv.acl.check(&srv.commands, slot, id, argv) else {
        return Ok(());
    };
    let user = srv.clients[k].user.clone();
    let fullname = srv.commands.cmds[id].fullname.clone();
    let object = match d {
        Denied::Cmd => fullname.clone(),
        _ => String::from_utf8_lossy(&argv[idx]).into_owned(),
    };
    let info = srv.client_info_line(shown);
    let max = log_max_len(srv);
    let now = srv.now_ms;
    srv.acl
        .log_denial(d, context, &object, &user, info, now, max);
    Err(error_message(d, &user, &fullname))
}

/// EXEC's re-check of a queued command (permissions may have changed since it was
/// queued): the error Redis's `execCommand` replies with instead of running it.
pub fn exec_check(srv: &mut Server, k: usize, id: usize, argv: &Argv) -> Option<String> {
    let slot = srv.clients[k].acl_user;
    let (d, _) = srv.acl.check(&srv.commands, slot, id, argv).err()?;
    let _ = check_command(srv, k, k, id, argv, "multi");
    let reason = match d {
        Denied::Cmd => "no permission to execute the command or subcommand",
        Denied::Key => "no permission to touch the specified keys",
        Denied::Channel => "no permission to access one of the channels used as arguments",
        Denied::Auth => "no permission",
    };
    Some(format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}"))
}

/// Authenticates client `k` as `name` with `pass` (`ACLAuthenticateUser`): on success binds
/// the client to the user; on failure logs an `auth` entry and counts it.
/// `object` is the ACL LOG entry's object: `AUTH` or `HELLO`.
pub fn authenticate(srv: &mut Server, k: usize, name: &[u8], pass: &[u8], object: &str) -> bool {
    let name_s = String::from_utf8_lossy(name).into_owned();
    let ok = srv.acl.slot(&name_s).filter(|&s| {
        srv.acl
            .user(s)
            .is_some_and(|u| u.account.check_password(pass))
    });
    match ok {
        Some(slot) => {
            let c = &mut srv.clients[k];
            c.acl_user = slot;
            c.user = name_s;
            c.authenticated = true;
            true
        }
        None => {
            srv.acl.denied_auth += 1;
            let info = srv.client_info_line(k);
            let max = log_max_len(srv);
            let now = srv.now_ms;
            srv.acl
                .log_denial(Denied::Auth, "toplevel", object, &name_s, info, now, max);
            false
        }
    }
}

/// Closes the clients authenticated as user `slot` (a deleted or reloaded user), except
/// `except` (Redis frees the caller after its reply).
fn kill_clients_of(srv: &mut Server, slot: usize, except: usize) {
    let ks: Vec<usize> = srv
        .clients
        .iter()
        .filter(|(k, c)| c.acl_user == slot && c.authenticated && c.conn.is_some() && *k != except)
        .map(|(k, _)| k)
        .collect();
    for k in ks {
        crate::net::close_async(srv, k);
    }
    if srv.clients.get(except).is_some_and(|c| c.acl_user == slot) {
        srv.clients[except].flags |= crate::client::flags::CLOSE_AFTER_REPLY;
    }
}

/// Closes the clients of user `slot` subscribed to channels it may no longer use
/// (`ACLKillPubsubClientsIfNeeded`).
fn kill_pubsub_clients(srv: &mut Server, slot: usize) {
    let Some(u) = srv.acl.user(slot) else { return };
    let allowed = |ch: &[u8], pattern: bool| {
        std::iter::once(&u.root)
            .chain(&u.selectors)
            .any(|s| s.channel_ok(ch, pattern))
    };
    let ks: Vec<usize> = srv
        .clients
        .iter()
        .filter(|(_, c)| c.acl_user == slot && c.authenticated && c.subs.any())
        .filter(|(_, c)| {
            c.subs.channels.iter().any(|ch| !allowed(ch, false))
                || c.subs.shard.iter().any(|ch| !allowed(ch, false))
                || c.subs.patterns.iter().any(|p| !allowed(p, true))
        })
        .map(|(k, _)| k)
        .collect();
    for k in ks {
        crate::net::close_async(srv, k);
    }
}

/// Builds users from the `user` lines of the config (each `[name, rules...]`) and
/// `requirepass`; with `aclfile` set, loads it instead of `user` lines. Errors as the log
/// line Redis prints before exiting.
pub fn load_at_startup(srv: &mut Server) -> Result<(), String> {
    let lines = srv.config.user_lines.clone();
    let aclfile = srv.config.get("aclfile").unwrap_or("").to_string();
    if !lines.is_empty() && !aclfile.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    let pass = srv.settings.requirepass.clone();
    if !pass.is_empty() {
        srv.acl.set_requirepass(&srv.commands, &pass);
    }
    for l in &lines {
        let Some(name) = l.first() else { continue };
        let mut u = User::new(name, &srv.commands);
        u.apply(&srv.commands, "reset").ok();
        for r in merge_selector_args(&l[1..]).map_err(|e| e.to_string())? {
            u.apply(&srv.commands, &r)
                .map_err(|e| format!("Error in user declaration '{name}': {e}"))?;
        }
        srv.acl.put(u);
    }
    if !aclfile.is_empty() {
        load_file(srv, &aclfile, usize::MAX)?;
    }
    Ok(())
}

/// Loads the ACL file (`ACLLoadFromFile`): all or nothing. Users that are gone or changed
/// have their clients closed (except `caller`, closed after its reply).
fn load_file(srv: &mut Server, path: &str, caller: usize) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            crate::os_text(&e)
        )
    })?;
    let t = &srv.commands;
    let mut users: BTreeMap<String, User> = BTreeMap::new();
    let mut errors = String::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let args: Vec<String> = match pyrope_common::conf::parse_config_text(line) {
            Ok(d) if !d.is_empty() => std::iter::once(d[0].name.clone())
                .chain(
                    d[0].args
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned()),
                )
                .collect(),
            _ => {
                errors.push_str(&format!(
                    "{path}:{}: unbalanced quotes in acl line. ",
                    n + 1
                ));
                continue;
            }
        };
        if args[0] != "user" || args.len() < 2 {
            errors.push_str(&format!(
                "{path}:{}: should start with user keyword. ",
                n + 1
            ));
            continue;
        }
        let name = &args[1];
        if users.contains_key(name) {
            errors.push_str(&format!(
                "{path}:{}: Duplicate user '{name}' found. ",
                n + 1
            ));
            continue;
        }
        let mut u = User::new(name, t);
        u.apply(t, "reset").ok();
        let rules = match merge_selector_args(&args[2..]) {
            Ok(r) => r,
            Err(e) => {
                errors.push_str(&format!("{path}:{}: {e}. ", n + 1));
                continue;
            }
        };
        for r in rules {
            if let Err(e) = u.apply(t, &r) {
                errors.push_str(&format!("{path}:{}: {e}. ", n + 1));
                break;
            }
        }
        users.insert(name.clone(), u);
    }
    if !errors.is_empty() {
        return Err(format!(
            "{}WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
            errors
        ));
    }
    if !users.contains_key("default") {
        users.insert("default".into(), User::default_user(t));
    }
    let old: Vec<(String, usize)> = srv
        .acl
        .by_name
        .iter()
        .map(|(n, s)| (n.clone(), *s))
        .collect();
    for (name, slot) in old {
        let changed = users
            .get(&name)
            .is_none_or(|u| Some(u) != srv.acl.user(slot));
        if changed {
            kill_clients_of(srv, slot, caller);
        }
        if !users.contains_key(&name) {
            srv.acl.slots[slot] = None;
            srv.acl.by_name.remove(&name);
        }
    }
    for (_, u) in users {
        srv.acl.put(u);
    }
    Ok(())
}

/// Writes the users to the ACL file, one `user` line each (`ACLSaveToFile`), through a
/// temporary file renamed over it.
fn save_file(srv: &Server, path: &str) -> std::io::Result<()> {
    let mut text = String::new();
    for &slot in srv.acl.by_name.values() {
        if let Some(u) = srv.acl.user(slot) {
            text.push_str(&u.describe());
            text.push('\n');
        }
    }
    let tmp = format!("{path}.tmp-{}", std::process::id());
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn acl_setuser(c: &mut Ctx) {
    // The user and its rules (passwords among them) never reach MONITOR or the slowlog.
    for j in 2..c.argc() {
        c.redact_arg(j);
    }
    let name = String::from_utf8_lossy(c.arg(2)).into_owned();
    let args: Vec<String> = (3..c.argc())
        .map(|i| String::from_utf8_lossy(c.arg(i)).into_owned())
        .collect();
    let rules = match merge_selector_args(&args) {
        Ok(r) => r,
        Err(e) => return c.out.error(&format!("ERR {e}")),
    };
    let t = &c.srv.commands;
    let slot = c.srv.acl.slot(&name);
    let mut u = match slot.and_then(|s| c.srv.acl.user(s)) {
        Some(u) => u.clone(),
        // Channels as `acl-pubsub-default` says (`ACLCreateUser`).
        None => User::new(&name, t),
    };
    for r in &rules {
        if let Err(e) = u.apply(t, r) {
            return c.out.error(&format!(
                "ERR Error in ACL SETUSER modifier '{}': {e}",
                crate::command::trunc(r.as_bytes(), 128)
            ));
        }
    }
    let channels_changed = slot.and_then(|s| c.srv.acl.user(s)).is_some_and(|old| {
        old.root.pat.channels != u.root.pat.channels
            || old.root.pat.allchannels != u.root.pat.allchannels
            || old.selectors != u.selectors
    });
    let s = c.srv.acl.put(u);
    if channels_changed {
        kill_pubsub_clients(c.srv, s);
    }
    c.out.ok();
}

fn acl_getuser(c: &mut Ctx) {
    let name = String::from_utf8_lossy(c.arg(2)).into_owned();
    let Some(u) = c.srv.acl.slot(&name).and_then(|s| c.srv.acl.user(s)) else {
        return c.out.null();
    };
    let u = u.clone();
    c.out.map(6);
    c.out.bulk(b"flags");
    let f = u.account.flags();
    c.out.set(f.len());
    for x in f {
        c.out.bulk(x.as_bytes());
    }
    c.out.bulk(b"passwords");
    c.out.array(u.account.passwords.len());
    for p in &u.account.passwords {
        c.out.bulk(p.as_bytes());
    }
    c.out.bulk(b"commands");
    c.out.bulk(u.root.describe_commands().as_bytes());
    c.out.bulk(b"keys");
    c.out.bulk(u.root.describe_keys().as_bytes());
    c.out.bulk(b"channels");
    c.out.bulk(u.root.describe_channels().as_bytes());
    c.out.bulk(b"selectors");
    c.out.array(u.selectors.len());
    for s in &u.selectors {
        c.out.map(3);
        c.out.bulk(b"commands");
        c.out.bulk(s.describe_commands().as_bytes());
        c.out.bulk(b"keys");
        c.out.bulk(s.describe_keys().as_bytes());
        c.out.bulk(b"channels");
        c.out.bulk(s.describe_channels().as_bytes());
    }
}

fn acl_deluser(c: &mut Ctx) {
    let mut n = 0;
    for i in 2..c.argc() {
        if c.arg(i) == b"default" {
            return c.out.error("ERR The 'default' user cannot be removed");
        }
    }
    for i in 2..c.argc() {
        let name = String::from_utf8_lossy(c.arg(i)).into_owned();
        if let Some(slot) = c.srv.acl.by_name.remove(&name) {
            c.srv.acl.slots[slot] = None;
            kill_clients_of(c.srv, slot, c.cid);
            n += 1;
        }
    }
    c.out.int(n);
}

/// ACL LIST's lines (`user <name> <rules>`), users in name order.
pub fn list_lines(srv: &Server) -> Vec<String> {
    srv.acl
        .by_name
        .values()
        .filter_map(|&s| srv.acl.user(s).map(User::describe))
        .collect()
}

fn acl_list(c: &mut Ctx) {
    let lines = list_lines(c.srv);
    c.out.array(lines.len());
    for l in lines {
        c.out.bulk(l.as_bytes());
    }
}

fn acl_users(c: &mut Ctx) {
    let names: Vec<String> = c.srv.acl.by_name.keys().cloned().collect();
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n.as_bytes());
    }
}

fn acl_whoami(c: &mut Ctx) {
    let u = c.srv.clients[c.cid].user.clone();
    c.out.bulk(u.as_bytes());
}

/// `aclCommand`'s argument count check for CAT, GENPASS and LOG (at most one argument,
/// `common::acl::subcommand_argc_ok`): false, after replying the subcommand syntax error,
/// when there are more.
fn argc_ok(c: &mut Ctx) -> bool {
    let sub = String::from_utf8_lossy(c.arg(1)).to_ascii_lowercase();
    if subcommand_argc_ok(&sub, c.argc()) {
        return true;
    }
    c.subcommand_syntax_error();
    false
}

fn acl_cat(c: &mut Ctx) {
    if !argc_ok(c) {
        return;
    }
    if c.argc() == 2 {
        c.out.array(CATEGORIES.len());
        for cat in CATEGORIES {
            c.out.bulk(cat.as_bytes());
        }
        return;
    }
    let cat = String::from_utf8_lossy(c.arg(2)).to_ascii_lowercase();
    if !CATEGORIES.contains(&cat.as_str()) {
        return c.out.error(&err_unknown_category(c.arg(2)));
    }
    let names: Vec<String> = c
        .srv
        .commands
        .cmds
        .iter()
        .filter(|cmd| {
            cmd.acl_categories
                .iter()
                .any(|x| x.strip_prefix('@').unwrap_or(x) == cat)
        })
        .filter(|cmd| cmd.parent.is_none() || cmd.handler.is_some())
        .map(|cmd| cmd.fullname.clone())
        .collect();
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n.as_bytes());
    }
}

fn acl_genpass(c: &mut Ctx) {
    if !argc_ok(c) {
        return;
    }
    let arg = (c.argc() > 2).then(|| c.arg(2));
    let bits = match genpass_bits(arg) {
        Ok(b) => b,
        Err(e) => return c.out.error(e),
    };
    let chars = bits.div_ceil(4);
    let mut s = String::with_capacity(chars);
    let mut buf = [0u8; 1];
    for _ in 0..chars {
        getrandom_byte(&mut buf);
        s.push(char::from_digit((buf[0] & 15) as u32, 16).expect("hex"));
    }
    c.out.bulk(s.as_bytes());
}

/// One random byte from the OS (`/dev/urandom`, as Redis's `getRandomHexChars`), falling
/// back to fastrand.
fn getrandom_byte(buf: &mut [u8; 1]) {
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), 1, 0) };
    if n != 1 {
        buf[0] = fastrand::u8(..);
    }
}

fn acl_log(c: &mut Ctx) {
    if !argc_ok(c) {
        return;
    }
    let mut count = 10usize;
    if c.argc() > 2 {
        if c.arg(2).eq_ignore_ascii_case(b"reset") {
            c.srv.acl.log.entries.clear();
            return c.out.ok();
        }
        match pyrope_common::util::string2ll(c.arg(2)) {
            Some(n) => count = n.max(0) as usize,
            None => return c.out.error("ERR value is not an integer or out of range"),
        }
    }
    let now = c.srv.now_ms;
    let entries: Vec<_> = c.srv.acl.log.entries.iter().take(count).cloned().collect();
    c.out.array(entries.len());
    for e in entries {
        c.out.map(10);
        c.out.bulk(b"count");
        c.out.int(e.count as i64);
        c.out.bulk(b"reason");
        c.out.bulk(e.reason.as_bytes());
        c.out.bulk(b"context");
        c.out.bulk(e.context.as_bytes());
        c.out.bulk(b"object");
        c.out.bulk(e.object.as_bytes());
        c.out.bulk(b"username");
        c.out.bulk(e.username.as_bytes());
        // From the last repeat (`ctime` in acl.c), as Redis 7.4.1 answers.
        c.out.bulk(b"age-seconds");
        c.out.double((now - e.updated) as f64 / 1000.0);
        c.out.bulk(b"client-info");
        c.out.bulk(e.client_info.as_bytes());
        c.out.bulk(b"entry-id");
        c.out.int(e.entry_id as i64);
        c.out.bulk(b"timestamp-created");
        c.out.int(e.created);
        c.out.bulk(b"timestamp-last-updated");
        c.out.int(e.updated);
    }
}

fn acl_load(c: &mut Ctx) {
    let path = c.srv.config.get("aclfile").unwrap_or("").to_string();
    if path.is_empty() {
        return c.out.error(ERR_NO_ACLFILE);
    }
    match load_file(c.srv, &path, c.cid) {
        Ok(()) => {
            // The caller keeps its user if it still exists (else it is closed after this).
            c.out.ok()
        }
        Err(e) => c.out.error(&format!("ERR {e}")),
    }
}

fn acl_save(c: &mut Ctx) {
    let path = c.srv.config.get("aclfile").unwrap_or("").to_string();
    if path.is_empty() {
        return c.out.error(ERR_NO_ACLFILE);
    }
    match save_file(c.srv, &path) {
        Ok(()) => c.out.ok(),
        Err(e) => {
            crate::log!(Warning, "Error saving ACLs: {e}");
            c.out.error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
        }
    }
}

fn acl_dryrun(c: &mut Ctx) {
    let name = String::from_utf8_lossy(c.arg(2)).into_owned();
    let Some(slot) = c.srv.acl.slot(&name) else {
        return c.out.error(&format!(
            "ERR User '{}' not found",
            crate::command::trunc(c.arg(2), 128)
        ));
    };
    let ranges: Vec<std::ops::Range<usize>> = (3..c.argc()).map(|i| c.argv.range(i)).collect();
    let argv = Argv::new(c.argv.base(), &ranges);
    let id = match c.srv.commands.lookup(&argv) {
        Lookup::Found(id) => id,
        _ => {
            return c.out.error(&format!(
                "ERR Command '{}' not found",
                crate::command::trunc(c.arg(3), 128)
            ))
        }
    };
    let cmd = &c.srv.commands.cmds[id];
    if !cmd.arity_ok(argv.len()) {
        return c.out.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            cmd.fullname
        ));
    }
    match c.srv.acl.check(&c.srv.commands, slot, id, &argv) {
        Ok(()) => c.out.ok(),
        Err((d, i)) => {
            let msg = match d {
                Denied::Key => format!(
                    "User {name} has no permissions to access the '{}' key",
                    String::from_utf8_lossy(&argv[i])
                ),
                Denied::Channel => format!(
                    "User {name} has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(&argv[i])
                ),
                _ => error_message(d, &name, &cmd.fullname),
            };
            c.out.bulk(msg.as_bytes());
        }
    }
}

fn acl_help(c: &mut Ctx) {
    c.out.help(
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
}

/// The ACL command family.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("acl|setuser", acl_setuser),
    ("acl|getuser", acl_getuser),
    ("acl|deluser", acl_deluser),
    ("acl|list", acl_list),
    ("acl|users", acl_users),
    ("acl|whoami", acl_whoami),
    ("acl|cat", acl_cat),
    ("acl|genpass", acl_genpass),
    ("acl|log", acl_log),
    ("acl|load", acl_load),
    ("acl|save", acl_save),
    ("acl|dryrun", acl_dryrun),
    ("acl|help", acl_help),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> CommandTable {
        crate::command::meta::build(&crate::handlers())
    }

    #[test]
    fn describe_as_redis() {
        let t = table();
        let mut u = User::new("alice", &t);
        u.apply(&t, "resetchannels").unwrap();
        for r in [
            "on",
            ">pw",
            "~app:*",
            "%R~r:*",
            "&ch*",
            "+@read",
            "-get",
            "+config|get",
            "+select|0",
            "(~x* +set)",
        ] {
            u.apply(&t, r).unwrap();
        }
        assert_eq!(u.describe(), "user alice on sanitize-payload #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~app:* %R~r:* resetchannels &ch* -@all +@read -get +config|get +select|0 (~x* resetchannels -@all +set)");
        assert_eq!(
            User::default_user(&t).describe(),
            "user default on nopass sanitize-payload ~* &* +@all"
        );
        assert!(u.account.check_password(b"pw"));
        assert!(!u.account.check_password(b"px"));
    }
}
