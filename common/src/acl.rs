//! The parts of Redis 7.4's `acl.c` that do not depend on a command table, shared by
//! `pyrope-server` (whose users have selectors and key/channel checks against its command
//! table) and `pyrope-sentinel` (whose users run the sentinel's command table and refuse
//! selectors): the category list, the error texts of `ACLSetUser` / `ACLSetSelector`, the
//! parsing of password, key-pattern and command/category rules, the user-level flags and
//! passwords ([`Account`]), the command-rule string Redis shows and compacts
//! ([`CommandRules`], `ACLUpdateCommandRules`), the pieces of `ACLDescribeUser`, the ACL LOG
//! with its grouping of repeats ([`Log`], `addACLLogEntry`), ACL GENPASS's argument, and the
//! password hash (SHA-256 hex, `ACLHashPassword`).
//!
//! Invariant: nothing here knows a command table, a client or a reply encoder; each binary
//! applies what these parse to its own user representation and writes its own replies.

use sha2::{Digest, Sha256};
use std::collections::VecDeque;

/// Redis's ACL categories, in `ACLCommandCategories` order (ACL CAT with no argument).
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Is `name` (lower case, without `@`) one of [`CATEGORIES`] (`ACLGetCommandCategoryFlagByName`)?
pub fn is_category(name: &str) -> bool {
    CATEGORIES.contains(&name)
}

/// Key permission bit `ACL_READ_PERMISSION` (`%R~`).
pub const READ: u8 = 1;
/// Key permission bit `ACL_WRITE_PERMISSION` (`%W~`).
pub const WRITE: u8 = 2;

/// An `ACL SETUSER` rule error: the text after `Error in ACL SETUSER modifier '<rule>': `
/// (or after `Error in user declaration '<name>': ` when loading), as `ACLSetUserStringError`
/// words each `errno`.
pub type RuleError = &'static str;

/// `ENOENT` of `ACLSetUser`: an unknown command, subcommand or category.
pub const ERR_UNKNOWN: RuleError = "Unknown command or category name in ACL";
/// `EINVAL` of `ACLSetUser`: a rule of no known form.
pub const ERR_SYNTAX: RuleError = "Syntax error";
/// `EBADMSG` of `ACLSetUser`: a `#` / `!` hash that is not 64 lower-case hex digits.
pub const ERR_BAD_HASH: RuleError = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
/// `ENODEV` of `ACLSetUser`: `<pass` / `!hash` naming a password the user does not have.
pub const ERR_NO_SUCH_PASSWORD: RuleError =
    "The password you are trying to remove from the user does not exist";
/// `EEXIST` of `ACLSetSelector` for keys: a pattern after `~*` / `allkeys`.
pub const ERR_KEY_AFTER_ALL: RuleError = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
/// `EISDIR` of `ACLSetSelector` for channels: a pattern after `&*` / `allchannels`.
pub const ERR_CHANNEL_AFTER_ALL: RuleError = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels";

/// ACL LOAD / ACL SAVE without an `aclfile` (the whole error reply, `ERR` included).
pub const ERR_NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// ACL GENPASS with a bit count outside 1..=4096 (the whole error reply).
pub const ERR_GENPASS_BITS: &str = "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096";

/// Does `aclCommand` take ACL `sub` (lower case) with `argc` arguments (ACL and the
/// subcommand included)? CAT, GENPASS and LOG take at most one argument: their table
/// arity is -2, but `aclCommand` answers any longer form with [`err_subcommand_syntax`]
/// (Redis 7.4.1: `ACL GENPASS 32 x` is that error, not a password).
pub fn subcommand_argc_ok(sub: &str, argc: usize) -> bool {
    match sub {
        "cat" | "genpass" | "log" => argc <= 3,
        _ => true,
    }
}

/// `addReplySubcommandSyntaxError` for ACL: the subcommand as given, cut at a NUL and at
/// 128 bytes (the whole error reply).
pub fn err_subcommand_syntax(sub: &[u8]) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
        trunc128(sub)
    )
}

/// ACL CAT's reply for an unknown category: the argument cut at a NUL and at 128 bytes
/// (`"Unknown category '%.128s'"`), the whole error reply.
pub fn err_unknown_category(arg: &[u8]) -> String {
    format!("ERR Unknown category '{}'", trunc128(arg))
}

/// `arg` as C's `%.128s` prints it: up to the first NUL, at most 128 bytes.
fn trunc128(arg: &[u8]) -> String {
    let a = arg.split(|&b| b == 0).next().unwrap_or(arg);
    String::from_utf8_lossy(&a[..a.len().min(128)]).into_owned()
}

/// ACL GENPASS's bit count: 256 without an argument, else the argument as `string2ll`
/// reads it, in 1..=4096. The error is the whole error reply (`ERR value is not an integer
/// or out of range` or [`ERR_GENPASS_BITS`]), as `aclCommand`'s `genpass` branch.
pub fn genpass_bits(arg: Option<&[u8]>) -> Result<usize, &'static str> {
    let Some(a) = arg else { return Ok(256) };
    match crate::util::string2ll(a) {
        Some(b) if (1..=4096).contains(&b) => Ok(b as usize),
        Some(_) => Err(ERR_GENPASS_BITS),
        None => Err("ERR value is not an integer or out of range"),
    }
}

/// The NOPERM text for a command the user may not run (`getAclErrorMessage` for
/// `ACL_DENIED_CMD`, without the `-NOPERM ` prefix); also ACL DRYRUN's answer.
pub fn noperm_command(user: &str, cmd: &str) -> String {
    format!("User {user} has no permissions to run the '{cmd}' command")
}

/// SHA-256 of `data` as 64 lower-case hex digits, Redis's password hash (`ACLHashPassword`).
pub fn sha256_hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Is `s` a password hash as `ACLCheckPasswordHash` accepts it: exactly 64 characters of
/// `0-9a-f`?
pub fn is_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Constant-time equality (the length is not secret), as `time_independent_strcmp`.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut d = 0u8;
    for (x, y) in a.iter().zip(b) {
        d |= x ^ y;
    }
    std::hint::black_box(d) == 0
}

/// A password rule of `ACLSetUser`, with the password already hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordRule {
    /// `>pass` or `#hash`: add this SHA-256 hex digest.
    Add(String),
    /// `<pass` or `!hash`: remove this digest (an error if the user lacks it).
    Remove(String),
}

impl PasswordRule {
    /// Parses `op` (as given, not lower-cased): `None` if it is not a password rule;
    /// `Err(`[`ERR_BAD_HASH`]`)` for a `#` / `!` rule whose hash is malformed.
    pub fn parse(op: &str) -> Option<Result<PasswordRule, RuleError>> {
        let first = *op.as_bytes().first()?;
        let rest = op.get(1..).unwrap_or("");
        let hash = |rest: &str| -> Result<String, RuleError> {
            if is_hash(rest) {
                Ok(rest.to_string())
            } else {
                Err(ERR_BAD_HASH)
            }
        };
        Some(match first {
            b'>' => Ok(PasswordRule::Add(sha256_hex(rest.as_bytes()))),
            b'#' => hash(rest).map(PasswordRule::Add),
            b'<' => Ok(PasswordRule::Remove(sha256_hex(rest.as_bytes()))),
            b'!' => hash(rest).map(PasswordRule::Remove),
            _ => return None,
        })
    }
}

/// The user-level part of a Redis user (`struct user` less its selectors): name, `on`/`off`,
/// `nopass`, `(skip-)sanitize-payload` and the password digests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    pub sanitize_payload: bool,
    /// SHA-256 hex digests, in the order added.
    pub passwords: Vec<String>,
}

impl Account {
    /// A user as `ACLCreateUser` makes it: off, no passwords, sanitize-payload.
    pub fn new(name: &str) -> Account {
        Account {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize_payload: true,
            passwords: Vec::new(),
        }
    }

    /// Applies `lower` (a lower-cased rule) if it is one of the user-level flag rules of
    /// `ACLSetUser` (`on`, `off`, `nopass`, `resetpass`, `sanitize-payload`,
    /// `skip-sanitize-payload`); returns whether it was one.
    pub fn apply_flag(&mut self, lower: &str) -> bool {
        match lower {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "sanitize-payload" => self.sanitize_payload = true,
            "skip-sanitize-payload" => self.sanitize_payload = false,
            _ => return false,
        }
        true
    }

    /// Adds digest `h` at the end unless the user has it already (`ACLSetUser`'s `>` / `#`:
    /// "avoid re-adding the same password"), and clears `nopass`.
    pub fn add_password(&mut self, h: String) {
        if !self.passwords.contains(&h) {
            self.passwords.push(h);
        }
        self.nopass = false;
    }

    /// Removes digest `h` (`ACLSetUser`'s `<` / `!`); [`ERR_NO_SUCH_PASSWORD`] if absent.
    pub fn remove_password(&mut self, h: &str) -> Result<(), RuleError> {
        if !self.passwords.iter().any(|p| p == h) {
            return Err(ERR_NO_SUCH_PASSWORD);
        }
        self.passwords.retain(|p| p != h);
        Ok(())
    }

    /// The flags ACL GETUSER lists and `ACLDescribeUser` starts with: `on`/`off`, `nopass`
    /// when set, `sanitize-payload` or `skip-sanitize-payload`.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        f.push(if self.sanitize_payload {
            "sanitize-payload"
        } else {
            "skip-sanitize-payload"
        });
        f
    }

    /// The head of the `user ...` line of ACL LIST and the ACL file (`ACLDescribeUser` up to
    /// the selectors): `user`, the name, the flags, then `#<digest>` per password.
    pub fn describe_head(&self) -> Vec<String> {
        let mut parts: Vec<String> = vec!["user".into(), self.name.clone()];
        parts.extend(self.flags().iter().map(|f| f.to_string()));
        parts.extend(self.passwords.iter().map(|p| format!("#{p}")));
        parts
    }

    /// Does `pass` authenticate this user (enabled, and nopass or a matching password,
    /// `ACLCheckUserCredentials`)? Digests are compared in constant time.
    pub fn check_password(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = sha256_hex(pass);
        let mut ok = false;
        for p in &self.passwords {
            ok |= ct_eq(p.as_bytes(), h.as_bytes());
        }
        ok
    }
}

/// Parses a key-pattern rule `op` (as given) starting with `~` or `%` into its permission
/// bits ([`READ`] | [`WRITE`]) and pattern: `~pat` is both, `%R~pat`, `%W~pat`, `%RW~pat`
/// (letters in any case and order) as `ACLSetSelector` reads them. `None` if `op` starts
/// otherwise. Each letter may appear once; Redis 7.4.1 takes a `%` rule that ends after its
/// letters as an empty pattern (`%R` is `%R~`). [`ERR_SYNTAX`] for a repeated letter,
/// another character before `~`, or no letter (`%~k`; a bare `%` crashes Redis 7.4.1, we
/// refuse it).
pub fn parse_key_rule(op: &str) -> Option<Result<(u8, &str), RuleError>> {
    match *op.as_bytes().first()? {
        b'~' => Some(Ok((READ | WRITE, &op[1..]))),
        b'%' => {
            let b = op.as_bytes();
            let mut f = 0;
            let mut i = 1;
            while i < b.len() {
                match b[i].to_ascii_uppercase() {
                    b'R' if f & READ == 0 => f |= READ,
                    b'W' if f & WRITE == 0 => f |= WRITE,
                    b'~' => break,
                    _ => return Some(Err(ERR_SYNTAX)),
                }
                i += 1;
            }
            if f == 0 {
                return Some(Err(ERR_SYNTAX));
            }
            Some(Ok((f, op.get(i + 1..).unwrap_or(""))))
        }
        _ => None,
    }
}

/// One key pattern of a selector with its permissions (`keyPattern`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pat: Vec<u8>,
    /// [`READ`] | [`WRITE`] bits.
    pub flags: u8,
}

/// The key and channel permissions of a selector (`aclSelector`'s `patterns`, `channels`
/// and its `SELECTOR_FLAG_ALLKEYS` / `SELECTOR_FLAG_ALLCHANNELS` flags), changed by the key
/// and channel rules of `ACLSetSelector`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Patterns {
    /// `allkeys` / `~*`: every key, no patterns kept.
    pub allkeys: bool,
    /// Patterns in the order added, one entry per distinct pattern.
    pub keys: Vec<KeyPattern>,
    /// `allchannels` / `&*`: every channel, no patterns kept.
    pub allchannels: bool,
    /// Channel patterns (without `&`), in the order added, no duplicates.
    pub channels: Vec<Vec<u8>>,
}

impl Patterns {
    /// Applies `op` (as given) if it is a key or channel rule of `ACLSetSelector`; `None`
    /// otherwise. As Redis 7.4.1:
    /// - `allkeys` (any case) and `~*` set all keys and drop the patterns, whatever came
    ///   before (so `~*` after `~*` is fine); `resetkeys` clears both. Likewise
    ///   `allchannels` / `&*` / `resetchannels`.
    /// - any other `~` / `%` rule after all keys is [`ERR_KEY_AFTER_ALL`] (`%RW~*` and
    ///   `%R~*` included); otherwise its pattern is added at the end, or its permission
    ///   bits are ORed into the same pattern already there. `%RW~*` is such a pattern: it
    ///   does not set all keys and keeps the earlier patterns (ACL LIST shows
    ///   `~a ~*`).
    /// - any other `&` rule after all channels is [`ERR_CHANNEL_AFTER_ALL`]; otherwise the
    ///   channel is added unless present.
    pub fn apply(&mut self, op: &str) -> Option<Result<(), RuleError>> {
        if op.eq_ignore_ascii_case("allkeys") || op == "~*" {
            self.allkeys = true;
            self.keys.clear();
            return Some(Ok(()));
        }
        if op.eq_ignore_ascii_case("resetkeys") {
            self.allkeys = false;
            self.keys.clear();
            return Some(Ok(()));
        }
        if op.eq_ignore_ascii_case("allchannels") || op == "&*" {
            self.allchannels = true;
            self.channels.clear();
            return Some(Ok(()));
        }
        if op.eq_ignore_ascii_case("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
            return Some(Ok(()));
        }
        if let Some(ch) = op.strip_prefix('&') {
            if self.allchannels {
                return Some(Err(ERR_CHANNEL_AFTER_ALL));
            }
            let ch = ch.as_bytes();
            if !self.channels.iter().any(|c| c == ch) {
                self.channels.push(ch.to_vec());
            }
            return Some(Ok(()));
        }
        let rule = parse_key_rule(op)?;
        if self.allkeys {
            return Some(Err(ERR_KEY_AFTER_ALL));
        }
        let (flags, pat) = match rule {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        match self.keys.iter_mut().find(|k| k.pat == pat.as_bytes()) {
            Some(k) => k.flags |= flags,
            None => self.keys.push(KeyPattern {
                pat: pat.as_bytes().to_vec(),
                flags,
            }),
        }
        Some(Ok(()))
    }

    /// The key patterns as ACL GETUSER and ACL LIST show them: `~*` for all keys, else
    /// each pattern as [`describe_key`], space separated (empty for none).
    pub fn describe_keys(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        self.keys
            .iter()
            .map(|k| describe_key(k.flags, &String::from_utf8_lossy(&k.pat)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The channel patterns as ACL GETUSER shows them ([`describe_channels`]).
    pub fn describe_channels(&self) -> String {
        describe_channels(self.allchannels, self.channels.iter().map(Vec::as_slice))
    }
}

/// One key pattern as `ACLDescribeSelector` shows it: `%R~pat`, `%W~pat`, or `~pat` (both).
pub fn describe_key(flags: u8, pat: &str) -> String {
    match flags {
        READ => format!("%R~{pat}"),
        WRITE => format!("%W~{pat}"),
        _ => format!("~{pat}"),
    }
}

/// The channel patterns as ACL GETUSER shows them: `&*` for all channels, else `&pat` each,
/// space separated (empty for none).
pub fn describe_channels<'a>(all: bool, channels: impl IntoIterator<Item = &'a [u8]>) -> String {
    if all {
        return "&*".into();
    }
    channels
        .into_iter()
        .map(|c| format!("&{}", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A command or category rule of `ACLSetSelector` (`+name`, `-name`, `+@cat`, `-@cat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandRule<'a> {
    /// `+@cat` / `-@cat` with a known category (`cat` without the `@`).
    Category { allow: bool, cat: &'a str },
    /// `+name` / `-name`: a command, `container|sub` or `command|first-arg`, not yet looked
    /// up (each binary checks it against its own command table).
    Command { allow: bool, name: &'a str },
}

impl<'a> CommandRule<'a> {
    /// Parses `lower` (the rule lower-cased): `None` if it does not start with `+` or `-`;
    /// [`ERR_UNKNOWN`] for an unknown category. `+@all` / `-@all` must have been taken
    /// before (they reset the rules, see [`CommandRules::reset`]).
    pub fn parse(lower: &'a str) -> Option<Result<CommandRule<'a>, RuleError>> {
        let allow = match *lower.as_bytes().first()? {
            b'+' => true,
            b'-' => false,
            _ => return None,
        };
        let name = &lower[1..];
        Some(match name.strip_prefix('@') {
            Some(cat) if is_category(cat) => Ok(CommandRule::Category { allow, cat }),
            Some(_) => Err(ERR_UNKNOWN),
            None => Ok(CommandRule::Command { allow, name }),
        })
    }
}

/// A selector's command rules as Redis shows them: a base (`+@all` or `-@all`) and the
/// rules added since, in order, each `(allow, name)` with `name` a command, `cmd|sub`,
/// `cmd|first-arg` or `@category`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandRules {
    /// The base: `+@all` (true) or `-@all`.
    pub all: bool,
    pub rules: Vec<(bool, String)>,
}

impl CommandRules {
    /// `allcommands` / `+@all` (true) or `nocommands` / `-@all`: a new base, no rules.
    pub fn reset(&mut self, all: bool) {
        self.all = all;
        self.rules.clear();
    }

    /// Records a rule, as `ACLUpdateCommandRules`: an earlier rule for the same name, and
    /// for a whole command the rules of its subcommands / first arguments (`name|...`),
    /// are dropped, then this one is appended.
    pub fn update(&mut self, name: &str, allow: bool) {
        let sub = format!("{name}|");
        self.rules
            .retain(|(_, r)| r != name && !r.starts_with(&sub));
        self.rules.push((allow, name.to_string()));
    }

    /// The rules as ACL LIST / GETUSER show them (`-@all +@read -get`,
    /// `ACLDescribeSelectorCommandRules`).
    pub fn describe(&self) -> String {
        let mut s = String::from(if self.all { "+@all" } else { "-@all" });
        for (allow, r) in &self.rules {
            s.push(' ');
            s.push(if *allow { '+' } else { '-' });
            s.push_str(r);
        }
        s
    }
}

/// Joins the arguments of a selector split by spaces (`(~x +get)` given as `(~x`, `+get)`)
/// back into one rule (`ACLMergeSelectorArguments`).
pub fn merge_selector_args(args: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    for a in args {
        match open.as_mut() {
            Some(s) => {
                s.push(' ');
                s.push_str(a);
                if a.ends_with(')') {
                    out.push(open.take().expect("open"));
                }
            }
            None if a.starts_with('(') && !a.ends_with(')') => open = Some(a.clone()),
            None => out.push(a.clone()),
        }
    }
    if let Some(s) = open {
        return Err(format!(
            "Unmatched parenthesis in acl selector starting at '{s}'."
        ));
    }
    Ok(out)
}

/// Joins the parts of a `user` line after the head: keys (if any), then `&*` or
/// `resetchannels` followed by the channels (if any), then the command rules, as
/// `ACLDescribeSelector` orders them. `keys` and `channels` are the already described
/// (space separated) lists, possibly empty.
pub fn describe_selector(keys: &str, all_channels: bool, channels: &str, commands: &str) -> String {
    let mut s = String::new();
    if !keys.is_empty() {
        s.push_str(keys);
        s.push(' ');
    }
    if all_channels {
        s.push_str("&* ");
    } else {
        s.push_str("resetchannels ");
        if !channels.is_empty() {
            s.push_str(channels);
            s.push(' ');
        }
    }
    s.push_str(commands);
    s
}

/// One ACL LOG entry (`ACLLogEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub count: u64,
    /// `auth`, `command`, `key` or `channel`.
    pub reason: &'static str,
    /// `toplevel`, `multi`, `lua`.
    pub context: &'static str,
    /// The command's full name, the key or channel, or `AUTH` / `HELLO`.
    pub object: String,
    pub username: String,
    /// CLIENT LIST line of the client when it last happened.
    pub client_info: String,
    pub entry_id: u64,
    /// Unix ms.
    pub created: i64,
    /// Unix ms of the last repeat (Redis's `ctime`: ACL LOG's `age-seconds` and
    /// `timestamp-last-updated` are measured from it).
    pub updated: i64,
}

/// How long after an entry's last update a repeat still joins it (ms,
/// `ACL_LOG_GROUPING_MAX_TIME_DELTA`).
pub const LOG_GROUPING_MS: i64 = 60_000;

/// How many of the newest entries a denial is compared with (`toscan` in
/// `addACLLogEntry`).
pub const LOG_GROUPING_SCAN: usize = 10;

/// The ACL LOG: entries newest first, and the next entry id (ACL LOG RESET keeps counting).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Log {
    /// Newest first.
    pub entries: VecDeque<LogEntry>,
    next_entry_id: u64,
}

impl Log {
    /// Records a denial (`addACLLogEntry`): a repeat of one of the [`LOG_GROUPING_SCAN`]
    /// newest entries (same reason, context, object and user) last updated at most
    /// [`LOG_GROUPING_MS`] before `now` (`ACLLogMatchEntry` compares the entry's `ctime`,
    /// its last update) counts in it, takes `client_info` and `now` as its update time and
    /// moves to the head; else a new entry goes first and the oldest beyond `max_len`
    /// (`acllog-max-len`) are dropped.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        reason: &'static str,
        context: &'static str,
        object: &str,
        username: &str,
        client_info: String,
        now: i64,
        max_len: usize,
    ) {
        let hit = self.entries.iter().take(LOG_GROUPING_SCAN).position(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && (now - e.updated).abs() <= LOG_GROUPING_MS
        });
        if let Some(i) = hit {
            let mut e = self.entries.remove(i).expect("entry");
            e.count += 1;
            e.updated = now;
            e.client_info = client_info;
            self.entries.push_front(e);
            return;
        }
        self.entries.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object: object.to_string(),
            username: username.to_string(),
            client_info,
            entry_id: self.next_entry_id,
            created: now,
            updated: now,
        });
        self.next_entry_id += 1;
        self.entries.truncate(max_len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_known_digests() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Redis 7.4.1: ACL SETUSER alice >pw shows this hash.
        assert_eq!(
            sha256_hex(b"pw"),
            "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"
        );
        assert_eq!(sha256_hex(&[b'a'; 200]).len(), 64);
    }

    #[test]
    fn rules_parse_as_acl_c() {
        assert_eq!(
            PasswordRule::parse(">pw"),
            Some(Ok(PasswordRule::Add(sha256_hex(b"pw"))))
        );
        assert_eq!(PasswordRule::parse("!abc"), Some(Err(ERR_BAD_HASH)));
        assert_eq!(PasswordRule::parse("on"), None);
        assert_eq!(parse_key_rule("%rw~k*"), Some(Ok((READ | WRITE, "k*"))));
        assert_eq!(parse_key_rule("%~k"), Some(Err(ERR_SYNTAX)));
        assert_eq!(parse_key_rule("%x~k"), Some(Err(ERR_SYNTAX)));
        // Redis 7.4.1: `%R` is `%R~` (an empty pattern), `%RW` is `~`; a letter twice
        // is a syntax error.
        assert_eq!(parse_key_rule("%R"), Some(Ok((READ, ""))));
        assert_eq!(parse_key_rule("%rW"), Some(Ok((READ | WRITE, ""))));
        assert_eq!(parse_key_rule("%RR~a"), Some(Err(ERR_SYNTAX)));
        assert_eq!(parse_key_rule("%WRW~a"), Some(Err(ERR_SYNTAX)));
        assert_eq!(parse_key_rule("%Rx"), Some(Err(ERR_SYNTAX)));
        assert_eq!(parse_key_rule("%"), Some(Err(ERR_SYNTAX)));
        assert_eq!(
            CommandRule::parse("-@read"),
            Some(Ok(CommandRule::Category {
                allow: false,
                cat: "read"
            }))
        );
        assert_eq!(CommandRule::parse("+@nope"), Some(Err(ERR_UNKNOWN)));
        assert_eq!(genpass_bits(Some(b"0")), Err(ERR_GENPASS_BITS));
        assert_eq!(genpass_bits(None), Ok(256));
        assert!(subcommand_argc_ok("genpass", 3) && !subcommand_argc_ok("genpass", 4));
        assert!(!subcommand_argc_ok("cat", 4) && !subcommand_argc_ok("log", 4));
        assert!(subcommand_argc_ok("dryrun", 9));
        let long = [b'x'; 200];
        assert_eq!(
            err_unknown_category(&long),
            format!("ERR Unknown category '{}'", "x".repeat(128))
        );
        assert_eq!(err_unknown_category(b"a\0b"), "ERR Unknown category 'a'");
    }

    fn apply_all(p: &mut Patterns, rules: &[&str]) -> Result<(), RuleError> {
        rules
            .iter()
            .try_for_each(|r| p.apply(r).expect("pattern rule"))
    }

    #[test]
    fn patterns_as_redis_7_4_1() {
        // `~*` and `&*` after themselves are fine (they are `allkeys` / `allchannels`).
        let mut p = Patterns::default();
        apply_all(&mut p, &["~a", "~*", "~*", "&a", "&*", "&*"]).unwrap();
        assert_eq!(
            (p.describe_keys().as_str(), p.describe_channels().as_str()),
            ("~*", "&*")
        );
        assert_eq!(p.apply("~b"), Some(Err(ERR_KEY_AFTER_ALL)));
        assert_eq!(p.apply("%RW~*"), Some(Err(ERR_KEY_AFTER_ALL)));
        assert_eq!(p.apply("%RR~*"), Some(Err(ERR_KEY_AFTER_ALL)));
        assert_eq!(p.apply("&b"), Some(Err(ERR_CHANNEL_AFTER_ALL)));
        // `%RW~*` is a pattern like any other: earlier ones stay, later ones may follow.
        let mut p = Patterns::default();
        apply_all(&mut p, &["~a", "%R~b", "%RW~*", "~c", "%W~b"]).unwrap();
        assert!(!p.allkeys);
        assert_eq!(p.describe_keys(), "~a ~b ~* ~c");
        let mut p = Patterns::default();
        apply_all(&mut p, &["%R~*", "%W~*", "~x", "&a", "&a", "resetkeys"]).unwrap();
        assert_eq!(
            (p.describe_keys().as_str(), p.describe_channels().as_str()),
            ("", "&a")
        );
        assert_eq!(p.apply("+get"), None);
        assert_eq!(p.apply("on"), None);
    }

    #[test]
    fn command_rules_compact_as_redis() {
        let mut r = CommandRules::default();
        r.update("config|get", true);
        r.update("@read", true);
        r.update("config", false);
        r.update("@read", false);
        assert_eq!(r.describe(), "-@all -config -@read");
        r.reset(true);
        assert_eq!(r.describe(), "+@all");
    }

    #[test]
    fn log_groups_repeats() {
        let mut l = Log::default();
        l.record("auth", "toplevel", "AUTH", "u", "a".into(), 1000, 128);
        l.record("command", "toplevel", "get", "u", "b".into(), 2000, 128);
        l.record("auth", "toplevel", "AUTH", "u", "c".into(), 3000, 128);
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.entries[0].count, 2);
        assert_eq!(l.entries[0].client_info, "c");
        assert_eq!(l.entries[0].entry_id, 0);
        // The window runs from the last repeat (3000), not from the creation (1000):
        // Redis 7.4.1's ACLLogMatchEntry compares ctime, the time of the last update,
        // and a delta of exactly 60 s still matches.
        let at = |l: &mut Log, who: &str, now: i64| {
            l.record("auth", "toplevel", "AUTH", who, "x".into(), now, 128)
        };
        at(&mut l, "u", 3000 + LOG_GROUPING_MS);
        assert_eq!(l.entries.len(), 2);
        assert_eq!(l.entries[0].count, 3);
        assert_eq!(l.entries[0].created, 1000);
        assert_eq!(l.entries[0].updated, 3000 + LOG_GROUPING_MS);
        at(&mut l, "u", 3001 + 2 * LOG_GROUPING_MS);
        assert_eq!(l.entries.len(), 3);
        assert_eq!(l.entries[0].entry_id, 2);
        // Only the 10 newest entries are compared with (`toscan`).
        let now = 3001 + 2 * LOG_GROUPING_MS;
        for i in 0..LOG_GROUPING_SCAN {
            at(&mut l, &format!("v{i}"), now);
        }
        at(&mut l, "u", now);
        assert_eq!(l.entries[0].entry_id, 3 + LOG_GROUPING_SCAN as u64);
        assert_eq!(l.entries[0].count, 1);
        // A new entry drops the oldest beyond max_len.
        at(&mut l, "w", now);
        at(&mut l, "y", now);
        l.record("auth", "toplevel", "AUTH", "z", "x".into(), now, 1);
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.entries[0].username, "z");
    }
}
