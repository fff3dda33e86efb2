//! The sentinel's command table as redis-sentinel 7.4.1 reports it, and the COMMAND command
//! over it (COMMAND, COUNT, LIST [FILTERBY], INFO, DOCS, GETKEYS, GETKEYSANDFLAGS, HELP).
//!
//! The metadata is not typed in: `sentinel-commands.resp` holds the RESP3 replies of
//! `COMMAND INFO` and `COMMAND DOCS` (no arguments) captured from
//! `redis-server sentinel.conf --sentinel` 7.4.1, back to back. Redis's sentinel table is the
//! 15 commands `sentinel.c` registers, each with the subcommands of the full server's table
//! (so `client|setinfo` is listed even though the sentinel's CLIENT answers fewer), in its
//! dict order, which the capture keeps. The ACL categories come from the same capture.

use pyrope_common::glob::glob_match;
use pyrope_common::resp::{encode, parse_frame, Frame};
use std::sync::OnceLock;

/// `COMMAND INFO` + `COMMAND DOCS` of redis-sentinel 7.4.1 (RESP3), back to back.
static META: &[u8] = include_bytes!("sentinel-commands.resp");

/// The text of `COMMAND HELP`, captured from Redis 7.4.1.
const COMMAND_HELP: &str = include_str!("command_help.txt");

/// One command or subcommand of the table.
pub struct Entry {
    /// Full lower-case name: `ping`, `sentinel|master`.
    pub name: String,
    /// Arity as COMMAND INFO gives it (negative: at least).
    pub arity: i64,
    /// ACL categories without the `@`: `admin`, `slow`...
    pub categories: Vec<String>,
    /// Command flags (`no_auth`, `admin`...).
    pub flags: Vec<String>,
    /// The COMMAND INFO element.
    pub info: Frame,
    /// The COMMAND DOCS value (a map).
    pub docs: Frame,
    /// Subcommands, in the table's order.
    pub subs: Vec<Entry>,
}

fn text(f: &Frame) -> String {
    String::from_utf8_lossy(f.as_bytes().unwrap_or_default()).to_ascii_lowercase()
}

fn map_get<'a>(m: &'a Frame, key: &str) -> Option<&'a Frame> {
    match m {
        Frame::Map(kv) => kv
            .iter()
            .find(|(k, _)| k.as_bytes() == Some(key.as_bytes()))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn entry(info: &Frame, docs_of: &dyn Fn(&str) -> Frame) -> Entry {
    let a = info.as_array().unwrap_or_default();
    let name = a.first().map(text).unwrap_or_default();
    let docs = docs_of(&name);
    let subs = a
        .get(9)
        .and_then(Frame::as_array)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let sub_docs = |n: &str| {
                map_get(&docs, "subcommands")
                    .and_then(|m| map_get(m, n))
                    .cloned()
                    .unwrap_or(Frame::Map(Vec::new()))
            };
            entry(s, &sub_docs)
        })
        .collect();
    Entry {
        arity: a.get(1).and_then(Frame::as_int).unwrap_or(0),
        categories: a
            .get(6)
            .and_then(Frame::as_array)
            .unwrap_or_default()
            .iter()
            .map(|c| text(c).trim_start_matches('@').to_string())
            .collect(),
        flags: a
            .get(2)
            .and_then(Frame::as_array)
            .unwrap_or_default()
            .iter()
            .map(text)
            .collect(),
        info: info.clone(),
        docs,
        subs,
        name,
    }
}

/// The table, parsed once from the capture.
pub fn table() -> &'static [Entry] {
    static T: OnceLock<Vec<Entry>> = OnceLock::new();
    T.get_or_init(|| {
        let (info, n) = parse_frame(META)
            .ok()
            .flatten()
            .expect("sentinel-commands.resp: COMMAND INFO");
        let (docs, _) = parse_frame(&META[n..])
            .ok()
            .flatten()
            .expect("sentinel-commands.resp: COMMAND DOCS");
        let docs_of = |name: &str| {
            map_get(&docs, name)
                .cloned()
                .unwrap_or(Frame::Map(Vec::new()))
        };
        info.as_array()
            .unwrap_or_default()
            .iter()
            .map(|i| entry(i, &docs_of))
            .collect()
    })
}

/// Looks a command up by full name (`ping`, `SENTINEL|master`), case-insensitively.
pub fn lookup(fullname: &str) -> Option<&'static Entry> {
    let lower = fullname.to_ascii_lowercase();
    let (top, sub) = match lower.split_once('|') {
        Some((t, s)) => (t.to_string(), Some(s.to_string())),
        None => (lower, None),
    };
    let e = table().iter().find(|e| e.name == top)?;
    match sub {
        None => Some(e),
        Some(s) => e.subs.iter().find(|x| x.name == format!("{top}|{s}")),
    }
}

/// The entry `argv` (a whole command line) runs, as `lookupCommand`: a container's
/// subcommand when there is a second argument, `None` for an unknown name or subcommand.
pub fn lookup_argv(argv: &[Vec<u8>]) -> Option<&'static Entry> {
    let top = String::from_utf8_lossy(argv.first()?).to_ascii_lowercase();
    let e = table().iter().find(|e| e.name == top)?;
    if e.subs.is_empty() || argv.len() == 1 {
        return Some(e);
    }
    let sub = format!(
        "{top}|{}",
        String::from_utf8_lossy(&argv[1]).to_ascii_lowercase()
    );
    e.subs.iter().find(|x| x.name == sub)
}

/// Every ACL category some command of the table is in, in first-seen order.
pub fn categories() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |e: &Entry| {
        for c in &e.categories {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
    };
    for e in table() {
        add(e);
        e.subs.iter().for_each(&mut add);
    }
    out
}

/// Runs `COMMAND ...` into `out` for a client speaking `resp`; `Err(text)` is an error reply
/// for the caller to send (and count).
pub fn command(argv: &[Vec<u8>], resp: u8, out: &mut Vec<u8>) -> Result<(), String> {
    if argv.len() == 1 {
        encode::array(out, table().len());
        table().iter().for_each(|e| e.info.encode_resp(out, resp));
        return Ok(());
    }
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let Some(e) = lookup(&format!("command|{sub}")) else {
        return Err(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(&argv[1])
        ));
    };
    let n = argv.len() as i64;
    if (e.arity > 0 && n != e.arity) || (e.arity < 0 && n < -e.arity) {
        return Err(format!(
            "ERR wrong number of arguments for 'command|{sub}' command"
        ));
    }
    match sub.as_str() {
        "count" => encode::integer(out, table().len() as i64),
        "help" => {
            let lines: Vec<&str> = COMMAND_HELP.lines().collect();
            encode::array(out, lines.len());
            for l in lines {
                encode::simple(out, l.as_bytes());
            }
        }
        "list" => {
            let filter = match argv.len() {
                2 => None,
                5 if argv[2].eq_ignore_ascii_case(b"filterby") => {
                    let kind = String::from_utf8_lossy(&argv[3]).to_ascii_lowercase();
                    if !matches!(kind.as_str(), "module" | "aclcat" | "pattern") {
                        return Err("ERR syntax error".into());
                    }
                    Some((kind, argv[4].clone()))
                }
                _ => return Err("ERR syntax error".into()),
            };
            let keep = |e: &Entry| match &filter {
                None => true,
                Some((k, v)) if k == "aclcat" => e
                    .categories
                    .iter()
                    .any(|c| c.as_bytes().eq_ignore_ascii_case(v)),
                Some((k, v)) if k == "pattern" => glob_match(v, e.name.as_bytes(), true),
                Some(_) => false, // module: the sentinel has none
            };
            let mut names = Vec::new();
            for e in table() {
                if keep(e) {
                    names.push(&e.name);
                }
                names.extend(e.subs.iter().filter(|s| keep(s)).map(|s| &s.name));
            }
            encode::array(out, names.len());
            names.iter().for_each(|n| encode::bulk(out, n.as_bytes()));
        }
        "info" => {
            if argv.len() == 2 {
                encode::array(out, table().len());
                table().iter().for_each(|e| e.info.encode_resp(out, resp));
            } else {
                encode::array(out, argv.len() - 2);
                for a in &argv[2..] {
                    match lookup(&String::from_utf8_lossy(a)) {
                        Some(e) => e.info.encode_resp(out, resp),
                        None => encode::null(out, resp),
                    }
                }
            }
        }
        "docs" => {
            let found: Vec<&Entry> = if argv.len() == 2 {
                table().iter().collect()
            } else {
                argv[2..]
                    .iter()
                    .filter_map(|a| lookup(&String::from_utf8_lossy(a)))
                    .collect()
            };
            encode::map(out, found.len(), resp);
            for e in found {
                encode::bulk(out, e.name.as_bytes());
                e.docs.encode_resp(out, resp);
            }
        }
        "getkeys" | "getkeysandflags" => {
            // No command of the sentinel's table has key arguments.
            return Err(match lookup_argv(&argv[2..]) {
                None => "ERR Invalid command specified".into(),
                Some(_) => "ERR The command has no key arguments".into(),
            });
        }
        _ => {
            return Err(format!(
                "ERR unknown subcommand '{}'. Try COMMAND HELP.",
                String::from_utf8_lossy(&argv[1])
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capture_parses_into_fifteen_commands_with_subcommands() {
        assert_eq!(table().len(), 15);
        let m = lookup("SENTINEL|Master").unwrap();
        assert_eq!(m.arity, 3);
        assert!(m.categories.contains(&"admin".to_string()));
        assert!(map_get(&m.docs, "summary").is_some());
        assert_eq!(lookup("client|list").unwrap().arity, -2);
        assert!(lookup("get").is_none());
        assert!(categories().contains(&"connection".to_string()));
    }
}
