//! Builds the command table from Redis 7.4's metadata and our handlers. Commands newer than
//! the oracle (Redis 8.0's HGETDEL HGETEX HSETEX) get theirs from [`super::meta_extra`],
//! appended to the oracle's before the join.

use super::{flags, keyspec::KeySpec, CmdStats, Command, CommandTable, Handler};
use pyrope_common::resp::{parse_frame, Frame};
use std::collections::HashMap;

/// `COMMAND INFO` + `COMMAND DOCS` replies of Redis 7.4.1 (RESP3), back to back.
static META: &[u8] = include_bytes!("redis-7.4-commands.resp");

fn name_of(info: &Frame) -> String {
    info.as_array()
        .and_then(|a| a.first())
        .and_then(Frame::as_bytes)
        .map(|b| String::from_utf8_lossy(b).to_ascii_lowercase())
        .unwrap_or_default()
}

fn map_entry<'a>(m: &'a mut Frame, key: &str) -> Option<&'a mut Frame> {
    match m {
        Frame::Map(kv) => kv
            .iter_mut()
            .find(|(k, _)| k.as_bytes() == Some(key.as_bytes()))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn command_from(
    info: &Frame,
    docs: Frame,
    handler: Option<Handler>,
    parent: Option<usize>,
) -> Command {
    let a = info.as_array().expect("COMMAND INFO element is an array");
    let fullname = name_of(info);
    let name = fullname.rsplit('|').next().unwrap_or(&fullname).to_string();
    let arity = a[1].as_int().unwrap_or(0) as i32;
    let flags = a[2]
        .as_array()
        .unwrap_or(&[])
        .iter()
        .filter_map(Frame::as_bytes)
        .map(flags::from_name)
        .fold(0, |x, y| x | y)
        | if MAY_REPLICATE.contains(&fullname.as_str()) {
            flags::MAY_REPLICATE
        } else {
            0
        };
    let acl_categories = a[6]
        .as_array()
        .unwrap_or(&[])
        .iter()
        .filter_map(Frame::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let key_specs = a[8]
        .as_array()
        .unwrap_or(&[])
        .iter()
        .map(KeySpec::from_frame)
        .collect();
    Command {
        name,
        fullname,
        arity,
        flags,
        acl_categories,
        key_specs,
        handler,
        subcommands: HashMap::new(),
        parent,
        info: info.clone(),
        docs,
        stats: CmdStats::default(),
    }
}

/// Commands with Redis's `CMD_MAY_REPLICATE`, a flag `COMMAND INFO` does not show (from
/// Redis 7.4's command definitions): refused in read-only scripts, held by CLIENT PAUSE WRITE.
const MAY_REPLICATE: &[&str] = &[
    "publish",
    "spublish",
    "pfcount",
    "eval",
    "evalsha",
    "fcall",
    "script|flush",
    "script|load",
];

/// Builds the table: every metadata command that has a handler in `handlers` (by full name,
/// `get` / `config|get`), and every container with at least one handled subcommand.
///
/// Panics if a handler names a command that the metadata does not know (a programming error,
/// caught by the unit tests).
/// The names of Redis 7.4's top-level commands (lowercase), implemented or not: what
/// `rename-command` may name.
pub fn redis_command_names() -> &'static std::collections::HashSet<String> {
    static NAMES: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let (info, _) = parse_frame(META)
            .expect("command metadata")
            .expect("complete");
        info.as_array()
            .unwrap_or(&[])
            .iter()
            .map(name_of)
            .chain(super::meta_extra::EXTRA.iter().map(|e| e.name.to_string()))
            .collect()
    })
}

pub fn build(handlers: &[(&'static str, Handler)]) -> CommandTable {
    let (info, n) = parse_frame(META)
        .expect("command metadata")
        .expect("complete");
    let (docs, _) = parse_frame(&META[n..])
        .expect("command docs")
        .expect("complete");
    let mut docs_by_name: HashMap<String, Frame> = match docs {
        Frame::Map(kv) => kv
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k.as_bytes().unwrap_or_default()).to_ascii_lowercase(),
                    v,
                )
            })
            .collect(),
        _ => HashMap::new(),
    };
    let handler_of: HashMap<&str, Handler> = handlers.iter().map(|(n, h)| (*n, *h)).collect();
    let mut known = std::collections::HashSet::new();
    let mut table = CommandTable {
        cmds: Vec::new(),
        by_name: Default::default(),
    };
    let mut infos: Vec<Frame> = info.as_array().unwrap_or(&[]).to_vec();
    for e in super::meta_extra::EXTRA {
        infos.push(e.info());
        docs_by_name.insert(e.name.to_string(), e.docs());
    }
    infos.sort_by_key(name_of);
    for mut el in infos {
        let name = name_of(&el);
        known.insert(name.clone());
        let subs: Vec<Frame> = el
            .as_array()
            .and_then(|a| a.get(9))
            .and_then(Frame::as_array)
            .unwrap_or(&[])
            .to_vec();
        for s in &subs {
            known.insert(name_of(s));
        }
        let kept: Vec<Frame> = subs
            .into_iter()
            .filter(|s| handler_of.contains_key(name_of(s).as_str()))
            .collect();
        let handler = handler_of.get(name.as_str()).copied();
        if handler.is_none() && kept.is_empty() {
            continue;
        }
        let mut doc = docs_by_name.remove(&name).unwrap_or(Frame::Map(Vec::new()));
        let mut sub_docs: HashMap<String, Frame> = HashMap::new();
        if let Some(Frame::Map(kv)) = map_entry(&mut doc, "subcommands") {
            let kept_names: Vec<String> = kept.iter().map(name_of).collect();
            kv.retain(|(k, _)| {
                kept_names.iter().any(|n| {
                    Some(n.as_bytes()) == k.as_bytes().map(|b| b.to_ascii_lowercase()).as_deref()
                })
            });
            for (k, v) in kv.iter() {
                sub_docs.insert(
                    String::from_utf8_lossy(k.as_bytes().unwrap_or_default()).to_ascii_lowercase(),
                    v.clone(),
                );
            }
        }
        if let Frame::Array(Some(a)) = &mut el {
            if a.len() > 9 {
                // Keep the RESP3 type Redis used (a set when empty, an array otherwise).
                a[9] = match a[9] {
                    Frame::Set(_) => Frame::Set(kept.clone()),
                    _ => Frame::Array(Some(kept.clone())),
                };
            }
        }
        let id = table.cmds.len();
        table.cmds.push(command_from(&el, doc, handler, None));
        table.by_name.insert(name.clone().into_bytes(), id);
        for s in kept {
            let sname = name_of(&s);
            let sid = table.cmds.len();
            let sdoc = sub_docs.remove(&sname).unwrap_or(Frame::Map(Vec::new()));
            let h = handler_of.get(sname.as_str()).copied();
            let cmd = command_from(&s, sdoc, h, Some(id));
            table.cmds[id].subcommands.insert(cmd.name.clone(), sid);
            table.cmds.push(cmd);
        }
    }
    for (n, _) in handlers {
        assert!(known.contains(*n), "handler for unknown command {n}");
    }
    table
}
