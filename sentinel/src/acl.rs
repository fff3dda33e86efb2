//! The sentinel's ACL users, as redis-sentinel 7.4 keeps them (`acl.c` over the sentinel's
//! command table): `user` lines of sentinel.conf, `requirepass` (the default user's
//! password), ACL SETUSER / GETUSER / DELUSER / LIST / USERS / WHOAMI / CAT / GENPASS /
//! DRYRUN / LOG / HELP, AUTH with a user name, and the permission check before each command
//! (`NOPERM User <u> has no permissions to run the '<cmd>' command`).
//!
//! A user's command permissions are kept as Redis describes them: a base (`+@all` or
//! `-@all`) and the rules added since, in order; a command rule replaces an earlier rule for
//! the same command (`ACLUpdateCommandRules`). Whether a command may run is the base then
//! each rule that names it or one of its categories, the last one winning. Passwords, key
//! and channel patterns follow the same rules as the server's (`pyrope_common::acl`'s
//! `Account` and `Patterns`): they are kept and shown, but the sentinel has no keys, and its channels are the event
//! channels, which Redis's sentinel does not check either. Selectors (`(...)`, Redis 7's
//! `ACLSetSelector`) are kept beside the user's own (root) rules: a command runs when the root
//! rules or any selector allow it; they are shown by ACL LIST, GETUSER and the rewritten
//! config, and removed by `clearselectors` and `reset`.

use crate::cmdtable;
use pyrope_common::acl::{
    describe_selector, merge_selector_args, Account, CommandRule, CommandRules, PasswordRule,
    Patterns, RuleError, ERR_SYNTAX, ERR_UNKNOWN,
};

pub use pyrope_common::acl::{Log, CATEGORIES};

/// One ACL user.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// Name, on/off, nopass, sanitize-payload, password digests.
    pub account: Account,
    /// The command rules (`+@all` / `-@all` base and the rules after it).
    pub commands: CommandRules,
    /// Key and channel patterns, kept and shown as the server's selectors keep them
    /// (`common::acl::Patterns`).
    pub patterns: Patterns,
    /// The selectors added with `(...)` rules, in order.
    pub selectors: Vec<Selector>,
}

/// A selector of a user (`aclSelector`, added by a `(...)` rule): command rules and key and
/// channel patterns, with no account flags or passwords.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selector {
    /// The command rules.
    pub commands: CommandRules,
    /// The key and channel patterns.
    pub patterns: Patterns,
}

impl Selector {
    /// The selector as a `(...)` rule shows it, without the parentheses
    /// (`ACLDescribeSelector`).
    pub fn describe(&self) -> String {
        describe_selector(
            &self.patterns.describe_keys(),
            self.patterns.allchannels,
            &self.patterns.describe_channels(),
            &self.commands.describe(),
        )
    }
}

/// Applies one selector rule (`ACLSetSelector`): a key or channel pattern rule,
/// `allcommands`/`nocommands`, or a command or category rule; anything else is a syntax
/// error.
fn apply_selector_rule(
    commands: &mut CommandRules,
    patterns: &mut Patterns,
    rule: &str,
) -> Result<(), RuleError> {
    if let Some(r) = patterns.apply(rule) {
        return r;
    }
    let lower = rule.to_ascii_lowercase();
    match lower.as_str() {
        "allcommands" | "+@all" => commands.reset(true),
        "nocommands" | "-@all" => commands.reset(false),
        _ => match CommandRule::parse(&lower) {
            Some(c) => match c? {
                CommandRule::Category { allow, cat } => {
                    commands.update(&format!("@{cat}"), allow);
                }
                CommandRule::Command { allow, name } => {
                    // `cmd|first-arg` rules are allowed for commands without subcommands
                    // (kept and shown; the sentinel's commands never match them).
                    let first_arg = name.split_once('|').is_some_and(|(base, _)| {
                        cmdtable::lookup(base).is_some_and(|e| e.subs.is_empty())
                    });
                    if cmdtable::lookup(name).is_none() && !first_arg {
                        return Err(ERR_UNKNOWN);
                    }
                    commands.update(name, allow);
                }
            },
            None => return Err(ERR_SYNTAX),
        },
    }
    Ok(())
}

/// Whether `commands` allow the command `e`: the base, then each rule naming it or one of its
/// categories, the last one winning.
fn rules_allow(commands: &CommandRules, e: &cmdtable::Entry) -> bool {
    let parent = e.name.split('|').next().unwrap_or("");
    let mut ok = commands.all;
    for (allow, r) in &commands.rules {
        let hit = match r.strip_prefix('@') {
            Some(cat) => e.categories.iter().any(|c| c == cat),
            None => *r == e.name || (*r == parent && e.name.contains('|')),
        };
        if hit {
            ok = *allow;
        }
    }
    ok
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no passwords, no commands, no keys, no
    /// channels (`acl-pubsub-default resetchannels`), no selectors.
    pub fn new(name: &str) -> User {
        User {
            account: Account::new(name),
            commands: CommandRules::default(),
            patterns: Patterns::default(),
            selectors: Vec::new(),
        }
    }

    /// The default user: on, nopass, all keys, channels and commands.
    pub fn default_user() -> User {
        let mut u = User::new("default");
        u.account.enabled = true;
        u.account.nopass = true;
        u.commands.all = true;
        u.patterns.allkeys = true;
        u.patterns.allchannels = true;
        u
    }

    /// The user's name.
    pub fn name(&self) -> &str {
        &self.account.name
    }

    /// Applies one ACL SETUSER rule (a whole `(...)` selector is one rule: callers join the
    /// arguments of a split one with [`merge_selector_args`]); the error text is what
    /// follows `Error in ACL SETUSER modifier '<rule>': `.
    pub fn apply(&mut self, rule: &str) -> Result<(), RuleError> {
        let lower = rule.to_ascii_lowercase();
        if self.account.apply_flag(&lower) {
            return Ok(());
        }
        match lower.as_str() {
            "clearselectors" => self.selectors.clear(),
            "reset" => *self = User::new(self.name()),
            _ => match PasswordRule::parse(rule) {
                Some(p) => match p? {
                    PasswordRule::Add(h) => self.account.add_password(h),
                    PasswordRule::Remove(h) => self.account.remove_password(&h)?,
                },
                None if rule.starts_with('(') && rule.ends_with(')') => {
                    let mut s = Selector::default();
                    for r in rule[1..rule.len() - 1].split_whitespace() {
                        apply_selector_rule(&mut s.commands, &mut s.patterns, r)?;
                    }
                    self.selectors.push(s);
                }
                None => apply_selector_rule(&mut self.commands, &mut self.patterns, rule)?,
            },
        }
        Ok(())
    }

    /// Applies the rules of one ACL SETUSER or `user` line, the arguments of a selector
    /// split by spaces joined first (`ACLMergeSelectorArguments`). The error is the whole
    /// text after `ERR ` (an unmatched parenthesis), or the failing rule and its error.
    pub fn apply_all(&mut self, args: &[String]) -> Result<(), ApplyError> {
        let rules = merge_selector_args(args).map_err(ApplyError::Merge)?;
        for r in rules {
            if let Err(e) = self.apply(&r) {
                return Err(ApplyError::Rule(r, e));
            }
        }
        Ok(())
    }

    /// May this user run the command `e` (a command or subcommand entry)? Its own rules or
    /// any selector's may allow it (`ACLCheckAllUserCommandPerm`). Commands flagged `no_auth`
    /// (AUTH, HELLO) are always allowed, as in `ACLSelectorCheckCmd`.
    pub fn can_run(&self, e: &cmdtable::Entry) -> bool {
        if e.flags.iter().any(|f| f == "no_auth") {
            return true;
        }
        rules_allow(&self.commands, e) || self.selectors.iter().any(|s| rules_allow(&s.commands, e))
    }

    /// The key patterns as GETUSER shows them (space separated, empty for none).
    pub fn describe_keys(&self) -> String {
        self.patterns.describe_keys()
    }

    /// The channel patterns as GETUSER shows them.
    pub fn describe_channels(&self) -> String {
        self.patterns.describe_channels()
    }

    /// The `user ...` line of ACL LIST and of the rewritten config (`ACLDescribeUser`).
    pub fn describe(&self) -> String {
        let mut parts = self.account.describe_head();
        parts.push(describe_selector(
            &self.describe_keys(),
            self.patterns.allchannels,
            &self.describe_channels(),
            &self.commands.describe(),
        ));
        for s in &self.selectors {
            parts.push(format!("({})", s.describe()));
        }
        parts.join(" ")
    }
}

/// Why [`User::apply_all`] failed.
#[derive(Debug)]
pub enum ApplyError {
    /// A selector's opening parenthesis was never closed: the message after `ERR `.
    Merge(String),
    /// This rule failed with this error.
    Rule(String, RuleError),
}

/// Entries kept (`acllog-max-len` default).
const LOG_MAX_LEN: usize = 128;

/// The users, sorted by name (Redis keeps them in a radix tree), the default user always
/// present; the ACL log and the INFO `acl_access_denied_*` counters.
#[derive(Clone, Debug, PartialEq)]
pub struct Acl {
    pub users: Vec<User>,
    pub log: Log,
    pub denied_auth: u64,
    pub denied_cmd: u64,
}

impl Default for Acl {
    fn default() -> Acl {
        Acl {
            users: vec![User::default_user()],
            log: Log::default(),
            denied_auth: 0,
            denied_cmd: 0,
        }
    }
}

impl Acl {
    /// Users from `requirepass` and the `user` lines of the config (each `[name, rules...]`).
    /// The error names the offending rule as Redis's loader does.
    pub fn from_config(requirepass: Option<&str>, users: &[Vec<String>]) -> Result<Acl, String> {
        let mut acl = Acl::default();
        for u in users {
            let Some(name) = u.first() else { continue };
            let mut user = acl.get(name).cloned().unwrap_or_else(|| User::new(name));
            // A `user` line describes the user from scratch (`ACLSetUser(u,"reset",-1)`).
            user.apply("reset").ok();
            user.apply_all(&u[1..]).map_err(|e| match e {
                ApplyError::Merge(m) => format!("Error in user declaration '{name}': {m}"),
                ApplyError::Rule(_, e) => format!("Error in user declaration '{name}': {e}"),
            })?;
            acl.put(user);
        }
        if let Some(p) = requirepass {
            let d = acl.get_mut("default").expect("default user");
            d.apply("resetpass").ok();
            d.apply(&format!(">{p}")).ok();
        }
        Ok(acl)
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name() == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.name() == name)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Inserts or replaces a user, keeping the list sorted by name.
    pub fn put(&mut self, u: User) {
        match self.users.binary_search_by(|x| x.name().cmp(u.name())) {
            Ok(i) => self.users[i] = u,
            Err(i) => self.users.insert(i, u),
        }
    }

    /// Is a new connection authenticated as `default` at once (the default user on and
    /// nopass)?
    pub fn default_auto_auth(&self) -> bool {
        self.get("default")
            .is_some_and(|u| u.account.enabled && u.account.nopass)
    }

    /// The user `name` if `pass` authenticates it.
    pub fn authenticate(&self, name: &str, pass: &[u8]) -> bool {
        self.get(name)
            .is_some_and(|u| u.account.check_password(pass))
    }

    /// Records a denial (`addACLLogEntry`, context `toplevel`, at most 128 entries) and
    /// counts it (`reason` `auth` or `command`).
    pub fn log_denial(
        &mut self,
        reason: &'static str,
        object: &str,
        username: &str,
        client_info: String,
        now: i64,
    ) {
        match reason {
            "auth" => self.denied_auth += 1,
            _ => self.denied_cmd += 1,
        }
        self.log.record(
            reason,
            "toplevel",
            object,
            username,
            client_info,
            now,
            LOG_MAX_LEN,
        );
    }

    /// The `user ...` lines of the config rewrite, one per user.
    pub fn config_lines(&self) -> Vec<String> {
        self.users.iter().map(User::describe).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_describe_as_redis() {
        let mut u = User::new("bob");
        for r in [
            "+ping",
            "+ping",
            "-ping",
            "+@connection",
            "-hello",
            "~foo*",
            "&ch",
        ] {
            u.apply(r).unwrap();
        }
        assert_eq!(
            u.describe(),
            "user bob off sanitize-payload ~foo* resetchannels &ch -@all -ping +@connection -hello"
        );
        assert_eq!(
            User::default_user().describe(),
            "user default on nopass sanitize-payload ~* &* +@all"
        );
        assert_eq!(
            u.apply("+nope"),
            Err("Unknown command or category name in ACL")
        );
        assert_eq!(u.apply("foo"), Err("Syntax error"));
    }
}
