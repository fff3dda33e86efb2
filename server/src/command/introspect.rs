//! COMMAND and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS, GETKEYSANDFLAGS, HELP),
//! answered from the table's Redis 7.4 metadata.

use super::{keyspec, Ctx, Handler};
use pyrope_common::glob::glob_match;

fn command_all(c: &mut Ctx) {
    let ids = c.srv.commands.top_level_ids();
    c.out.array(ids.len());
    for id in ids {
        c.srv.commands.cmds[id]
            .info
            .encode_resp(&mut c.out.buf, c.out.resp);
    }
}

fn command_count(c: &mut Ctx) {
    let n = c
        .srv
        .commands
        .cmds
        .iter()
        .filter(|x| x.parent.is_none())
        .count();
    c.out.int(n as i64);
}

fn command_info(c: &mut Ctx) {
    if c.argc() == 2 {
        return command_all(c);
    }
    c.out.array(c.argc() - 2);
    for i in 2..c.argc() {
        let name = String::from_utf8_lossy(c.arg(i)).into_owned();
        match c.srv.commands.find_fullname(&name) {
            Some(id) => c.srv.commands.cmds[id]
                .info
                .encode_resp(&mut c.out.buf, c.out.resp),
            None => c.out.null(),
        }
    }
}

fn command_docs(c: &mut Ctx) {
    let ids: Vec<usize> = if c.argc() == 2 {
        c.srv.commands.top_level_ids()
    } else {
        (2..c.argc())
            .filter_map(|i| {
                c.srv
                    .commands
                    .find_fullname(&String::from_utf8_lossy(c.arg(i)))
            })
            .collect()
    };
    c.out.map(ids.len());
    for id in ids {
        let cmd = &c.srv.commands.cmds[id];
        pyrope_common::resp::encode::bulk(&mut c.out.buf, cmd.fullname.as_bytes());
        cmd.docs.encode_resp(&mut c.out.buf, c.out.resp);
    }
}

fn command_list(c: &mut Ctx) {
    enum Filter {
        None,
        Module,
        AclCat(String),
        Pattern(Vec<u8>),
    }
    let filter = match c.argc() {
        2 => Filter::None,
        5 if c.arg(2).eq_ignore_ascii_case(b"filterby") => {
            let v = c.arg(4);
            match crate::command::opt(c.arg(3)).as_slice() {
                b"module" => Filter::Module,
                b"aclcat" => Filter::AclCat(format!(
                    "@{}",
                    String::from_utf8_lossy(v).to_ascii_lowercase()
                )),
                b"pattern" => Filter::Pattern(v.to_vec()),
                _ => return c.out.syntax_error(),
            }
        }
        _ => return c.out.syntax_error(),
    };
    let names: Vec<String> = c
        .srv
        .commands
        .cmds
        .iter()
        .filter(|x| match &filter {
            Filter::None => true,
            Filter::Module => false,
            Filter::AclCat(cat) => x.acl_categories.iter().any(|a| a == cat),
            Filter::Pattern(p) => glob_match(p, x.fullname.as_bytes(), true),
        })
        .map(|x| x.fullname.clone())
        .collect();
    c.out.array(names.len());
    for n in names {
        c.out.bulk(n.as_bytes());
    }
}

/// The command line given to GETKEYS (argv[2..]) as its own argv.
fn inner_args(c: &Ctx) -> super::OwnedArgv {
    let v: Vec<&[u8]> = (2..c.argc()).map(|i| c.arg(i)).collect();
    super::OwnedArgv::from_args(&v)
}

/// Resolves the command named by argv[2..] for GETKEYS; replies Redis's errors. Returns the
/// command id and the argv indexes (into the inner command line) of its keys.
fn getkeys_target(c: &mut Ctx) -> Option<(usize, Vec<usize>)> {
    let args = inner_args(c);
    let argv = args.argv();
    let id = match c.srv.commands.lookup(&argv) {
        super::Lookup::Found(id) => id,
        _ => {
            c.out.error("ERR Invalid command specified");
            return None;
        }
    };
    let cmd = &c.srv.commands.cmds[id];
    if !cmd.arity_ok(argv.len()) {
        c.out
            .error("ERR Invalid number of arguments specified for command");
        return None;
    }
    let found = match proc_keys(&cmd.fullname, &argv) {
        Some(k) => Ok(k.into_iter().map(|(i, _)| i).collect()),
        None => keyspec::get_keys(&cmd.key_specs, &argv),
    };
    match found {
        Ok(k) if !k.is_empty() => Some((id, k)),
        Ok(_) => {
            c.out.error("ERR The command has no key arguments");
            None
        }
        Err(_) => {
            c.out.error("ERR Invalid arguments specified for command");
            None
        }
    }
}

fn command_getkeys(c: &mut Ctx) {
    let Some((_, keys)) = getkeys_target(c) else {
        return;
    };
    c.out.array(keys.len());
    for k in keys {
        c.out.bulk(c.arg(k + 2));
    }
}

fn command_getkeysandflags(c: &mut Ctx) {
    let Some((id, _)) = getkeys_target(c) else {
        return;
    };
    let args = inner_args(c);
    let mut pairs: Vec<(usize, Vec<String>)> = Vec::new();
    let fullname = c.srv.commands.cmds[id].fullname.clone();
    let by_proc = proc_keys(&fullname, &args.argv());
    let specs: &[keyspec::KeySpec] = match by_proc {
        Some(_) => &[],
        None => &c.srv.commands.cmds[id].key_specs,
    };
    for s in specs {
        if let Ok(ks) = keyspec::get_keys(std::slice::from_ref(s), &args.argv()) {
            let flags = variable_flags(&fullname, &args.argv()).unwrap_or_else(|| s.flags.clone());
            pairs.extend(ks.into_iter().map(|k| (k + 2, flags.clone())));
        }
    }
    if let Some(keys) = by_proc {
        pairs.extend(keys.into_iter().map(|(k, f)| (k + 2, f)));
    }
    c.out.array(pairs.len());
    for (k, flags) in pairs {
        c.out.array(2);
        c.out.bulk(c.arg(k));
        c.out.set(flags.len());
        for f in flags {
            c.out.simple(&f);
        }
    }
}

/// Keys of commands whose specs cannot describe them (Redis's `getkeys_proc`), with their
/// flags; None for the others. SORT: `sortGetKeys` (db.c) — the sorted key, and the
/// argument after the last STORE, skipping LIMIT's two arguments and GET's and BY's one.
fn proc_keys(fullname: &str, argv: &super::Argv) -> Option<Vec<(usize, Vec<String>)>> {
    let flags = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match fullname {
        "sort" => {
            let mut keys = vec![(1, flags(&["RO", "access"]))];
            let mut store = None;
            let mut i = 2;
            while i < argv.len() {
                match super::opt(&argv[i]).as_slice() {
                    b"limit" => i += 2,
                    b"get" | b"by" => i += 1,
                    b"store" if i + 1 < argv.len() => store = Some(i + 1),
                    _ => {}
                }
                i += 1;
            }
            if let Some(k) = store {
                keys.push((k, flags(&["OW", "update"])));
            }
            Some(keys)
        }
        _ => None,
    }
}

/// The actual key flags of commands whose spec says `variable_flags` (Redis's per-command
/// `getkeys_proc`): SET is RW+access only with GET, otherwise an overwrite.
fn variable_flags(fullname: &str, argv: &super::Argv) -> Option<Vec<String>> {
    match fullname {
        "set" => {
            let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            let f: &[&str] = if get {
                &["RW", "access", "update"]
            } else {
                &["OW", "update"]
            };
            Some(f.iter().map(|s| s.to_string()).collect())
        }
        _ => None,
    }
}

fn command_help(c: &mut Ctx) {
    c.out.help_lines(crate::help::COMMAND);
}

/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("command", command_all),
    ("command|count", command_count),
    ("command|info", command_info),
    ("command|docs", command_docs),
    ("command|list", command_list),
    ("command|getkeys", command_getkeys),
    ("command|getkeysandflags", command_getkeysandflags),
    ("command|help", command_help),
];
