//! Command help built from the server's own `COMMAND DOCS`, as redis-cli 7 does: the argument
//! synopsis of each command (`key value [NX|XX] [GET] ...`), `help <command>`, `help @<group>`,
//! and the data behind tab completion and as-you-type hints.

use pyrope_common::resp::Frame;

/// One help entry: a command or a subcommand.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Upper-case name, with the subcommand: `SET`, `CONFIG GET`.
    pub full: String,
    /// Argument synopsis.
    pub params: String,
    pub summary: String,
    /// The version that added it (absent in the docs of some module commands).
    pub since: Option<String>,
    pub group: String,
}

fn map_get<'a>(m: &'a Frame, key: &str) -> Option<&'a Frame> {
    match m {
        Frame::Map(kv) => kv
            .iter()
            .find(|(k, _)| k.as_bytes() == Some(key.as_bytes()))
            .map(|(_, v)| v),
        Frame::Array(Some(a)) => a
            .chunks(2)
            .find(|c| c[0].as_bytes() == Some(key.as_bytes()))
            .map(|c| &c[1]),
        _ => None,
    }
}

fn text(f: Option<&Frame>) -> String {
    f.and_then(Frame::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

fn or_quotes(s: &str) -> &str {
    if s.is_empty() {
        "\"\""
    } else {
        s
    }
}

/// The synopsis of one argument (redis-cli's `cliAddArgument`).
fn argument(out: &mut String, arg: &Frame) {
    let name = text(map_get(arg, "name"));
    let ty = text(map_get(arg, "type"));
    let token = map_get(arg, "token").map(|t| text(Some(t)));
    let flags: Vec<String> = map_get(arg, "flags")
        .and_then(Frame::as_array)
        .map(|a| a.iter().map(|f| text(Some(f))).collect())
        .unwrap_or_default();
    let has = |f: &str| flags.iter().any(|x| x == f);
    let (optional, multiple, multiple_token) =
        (has("optional"), has("multiple"), has("multiple_token"));
    let mut token_part = token
        .as_deref()
        .map(|t| or_quotes(t).to_string())
        .unwrap_or_default();
    let mut repeat = String::new();
    let children = map_get(arg, "arguments")
        .and_then(Frame::as_array)
        .unwrap_or(&[]);
    match ty.as_str() {
        "key" | "string" | "integer" | "double" | "pattern" | "unix-time" | "token" => {
            repeat.push_str(or_quotes(&name))
        }
        "oneof" | "block" => {
            let sep = if ty == "oneof" { "|" } else { " " };
            for (j, c) in children.iter().enumerate() {
                argument(&mut repeat, c);
                if j + 1 != children.len() {
                    repeat.push_str(sep);
                }
            }
        }
        _ => {}
    }
    if !token_part.is_empty() && ty != "pure-token" {
        token_part.push(' ');
    }
    if optional {
        out.push('[');
    }
    out.push_str(&token_part);
    out.push_str(&repeat);
    if multiple {
        out.push_str(" [");
        if multiple_token {
            out.push_str(&token_part);
        }
        out.push_str(&repeat);
        out.push_str(" ...]");
    }
    if optional {
        out.push(']');
    }
}

fn entry(full: String, doc: &Frame) -> Entry {
    let mut params = String::new();
    let args = map_get(doc, "arguments")
        .and_then(Frame::as_array)
        .unwrap_or(&[]);
    for (j, a) in args.iter().enumerate() {
        argument(&mut params, a);
        if j + 1 != args.len() {
            params.push(' ');
        }
    }
    Entry {
        full,
        params,
        summary: text(map_get(doc, "summary")),
        since: map_get(doc, "since").map(|f| text(Some(f))),
        group: text(map_get(doc, "group")),
    }
}

/// Builds the help entries from a `COMMAND DOCS` reply (RESP2 or RESP3), sorted by name.
pub fn entries_from_docs(docs: &Frame) -> Vec<Entry> {
    let pairs: Vec<(&Frame, &Frame)> = match docs {
        Frame::Map(kv) => kv.iter().map(|(k, v)| (k, v)).collect(),
        Frame::Array(Some(a)) => a
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (&c[0], &c[1]))
            .collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for (name, doc) in pairs {
        let full = text(Some(name)).to_ascii_uppercase();
        out.push(entry(full.clone(), doc));
        if let Some(subs) = map_get(doc, "subcommands") {
            for e in entries_from_docs(subs) {
                // Subcommand docs are keyed "config|get".
                out.push(Entry {
                    full: e.full.replace('|', " "),
                    ..e
                });
            }
        }
    }
    out.sort_by(|a, b| a.full.cmp(&b.full));
    out
}

/// The general help text (redis-cli's `cliOutputGenericHelp`).
pub fn general(version: &str) -> String {
    format!(
        "pyrope-cli {version}\n\
         To get help about Redis commands type:\n      \
         \"help @<group>\" to get a list of commands in <group>\n      \
         \"help <command>\" for help on <command>\n      \
         \"help <tab>\" to get a list of possible help topics\n      \
         \"quit\" to exit\n\
         \n\
         To set pyrope-cli preferences:\n      \
         \":set hints\" enable online hints\n      \
         \":set nohints\" disable online hints\n"
    )
}

/// One entry as redis-cli's `cliOutputCommandHelp` prints it: always in colour, lines ended
/// by `\r\n` (it was written for the raw-mode terminal of the prompt, and is the same off a
/// tty).
fn show(e: &Entry, with_group: bool) -> String {
    let mut s = format!(
        "\r\n  \x1b[1m{}\x1b[0m \x1b[90m{}\x1b[0m\r\n  \x1b[33msummary:\x1b[0m {}\r\n",
        e.full, e.params, e.summary
    );
    if let Some(since) = &e.since {
        s.push_str(&format!("  \x1b[33msince:\x1b[0m {since}\r\n"));
    }
    if with_group {
        s.push_str(&format!("  \x1b[33mgroup:\x1b[0m {}\r\n", e.group));
    }
    s
}

/// `help <words>` as redis-cli prints it: `@group` lists the group's commands; otherwise every
/// entry whose first words are `words` (so `help client` shows CLIENT and all its
/// subcommands). Ends with a blank line.
pub fn topic(entries: &[Entry], words: &[String]) -> String {
    let mut out = String::new();
    if let Some(group) = words.first().and_then(|w| w.strip_prefix('@')) {
        for e in entries
            .iter()
            .filter(|e| e.group.eq_ignore_ascii_case(group))
        {
            out.push_str(&show(e, false));
        }
    } else if !words.is_empty() {
        for e in entries.iter() {
            let names: Vec<&str> = e.full.split(' ').collect();
            if words.len() <= names.len()
                && words
                    .iter()
                    .zip(&names)
                    .all(|(w, n)| w.eq_ignore_ascii_case(n))
            {
                out.push_str(&show(e, true));
            }
        }
    }
    out.push_str("\r\n");
    out
}

/// Help entries for servers without COMMAND DOCS (Redis < 7), from the `COMMAND` reply as
/// redis-cli's `cliLegacyIntegrateHelp` builds them: `key arg arg ...options...` from the
/// arity and first key, "Help not available", group generic. Enough for completion and hints.
pub fn entries_from_command(reply: &Frame) -> Vec<Entry> {
    let mut out = Vec::new();
    for c in reply.as_array().unwrap_or(&[]) {
        let Some(info) = c.as_array() else { continue };
        let (Some(name), Some(arity), Some(first_key)) = (
            info.first().and_then(Frame::as_bytes),
            info.get(1).and_then(Frame::as_int),
            info.get(3).and_then(Frame::as_int),
        ) else {
            continue;
        };
        let mut params = String::new();
        let mut args = arity.abs() - 1;
        if first_key == 1 {
            params.push_str("key ");
            args -= 1;
        }
        for _ in 0..args.max(0) {
            params.push_str("arg ");
        }
        if arity < 0 {
            params.push_str("...options...");
        }
        out.push(Entry {
            full: String::from_utf8_lossy(name).to_ascii_uppercase(),
            params,
            summary: "Help not available".into(),
            since: Some("Not known".into()),
            group: "generic".into(),
        });
    }
    out.sort_by(|a, b| a.full.cmp(&b.full));
    out
}

/// The hint shown after what the user typed (redis-cli 7's `hintsCallback`): the synopsis
/// without the arguments already typed, up to the first optional one.
pub fn hint(entries: &[Entry], line: &str) -> Option<String> {
    let words = pyrope_common::conf::split_args(line.as_bytes()).ok()?;
    if words.is_empty() {
        return None;
    }
    let words: Vec<String> = words
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let endspace = line.ends_with(' ');
    // Prefer the two-word (subcommand) entry when it matches.
    let two = (words.len() >= 2).then(|| format!("{} {}", words[0], words[1]).to_ascii_uppercase());
    let (e, matched) = match two.and_then(|t| entries.iter().find(|e| e.full == t)) {
        Some(e) => (e, 2),
        None => (
            entries
                .iter()
                .find(|e| e.full.eq_ignore_ascii_case(&words[0]))?,
            1,
        ),
    };
    let mut hint: &str = &e.params;
    let mut toremove = words.len() as i64 - matched;
    while toremove > 0 && !hint.is_empty() {
        if hint.starts_with('[') {
            break;
        }
        if hint.starts_with(' ') {
            toremove -= 1;
        }
        hint = &hint[1..];
    }
    if hint.is_empty() {
        return None;
    }
    Some(if endspace {
        hint.to_string()
    } else {
        format!(" {hint}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Frame {
        Frame::Bulk(Some(s.as_bytes().to_vec()))
    }
    fn m(kv: &[(&str, Frame)]) -> Frame {
        Frame::Map(kv.iter().map(|(k, v)| (b(k), v.clone())).collect())
    }
    fn flags(f: &[&str]) -> Frame {
        Frame::Set(
            f.iter()
                .map(|x| Frame::Simple(x.as_bytes().to_vec()))
                .collect(),
        )
    }

    fn set_docs() -> Frame {
        let cond = m(&[
            ("name", b("condition")),
            ("type", b("oneof")),
            ("flags", flags(&["optional"])),
            (
                "arguments",
                Frame::Array(Some(vec![
                    m(&[
                        ("name", b("nx")),
                        ("type", b("pure-token")),
                        ("token", b("NX")),
                    ]),
                    m(&[
                        ("name", b("xx")),
                        ("type", b("pure-token")),
                        ("token", b("XX")),
                    ]),
                ])),
            ),
        ]);
        let ex = m(&[
            ("name", b("expiration")),
            ("type", b("oneof")),
            ("flags", flags(&["optional"])),
            (
                "arguments",
                Frame::Array(Some(vec![
                    m(&[
                        ("name", b("seconds")),
                        ("type", b("integer")),
                        ("token", b("EX")),
                    ]),
                    m(&[
                        ("name", b("keepttl")),
                        ("type", b("pure-token")),
                        ("token", b("KEEPTTL")),
                    ]),
                ])),
            ),
        ]);
        Frame::Map(vec![(
            b("set"),
            m(&[
                ("summary", b("Sets the string value of a key.")),
                ("since", b("1.0.0")),
                ("group", b("string")),
                (
                    "arguments",
                    Frame::Array(Some(vec![
                        m(&[("name", b("key")), ("type", b("key"))]),
                        m(&[("name", b("value")), ("type", b("string"))]),
                        cond,
                        ex,
                    ])),
                ),
            ]),
        )])
    }

    #[test]
    fn synopsis_and_hints_as_redis_cli() {
        let e = entries_from_docs(&set_docs());
        assert_eq!(e[0].full, "SET");
        assert_eq!(e[0].params, "key value [NX|XX] [EX seconds|KEEPTTL]");
        assert_eq!(
            hint(&e, "set").as_deref(),
            Some(" key value [NX|XX] [EX seconds|KEEPTTL]")
        );
        assert_eq!(
            hint(&e, "set ").as_deref(),
            Some("key value [NX|XX] [EX seconds|KEEPTTL]")
        );
        assert_eq!(
            hint(&e, "set k v").as_deref(),
            Some(" [NX|XX] [EX seconds|KEEPTTL]")
        );
        assert_eq!(
            hint(&e, "set k v EX ").as_deref(),
            Some("[NX|XX] [EX seconds|KEEPTTL]")
        );
        assert_eq!(hint(&e, "nosuch"), None);
        let t = topic(&e, &["set".into()]);
        assert_eq!(t, "\r\n  \x1b[1mSET\x1b[0m \x1b[90mkey value [NX|XX] [EX seconds|KEEPTTL]\x1b[0m\r\n  \x1b[33msummary:\x1b[0m Sets the string value of a key.\r\n  \x1b[33msince:\x1b[0m 1.0.0\r\n  \x1b[33mgroup:\x1b[0m string\r\n\r\n");
        assert_eq!(topic(&e, &["nosuch".into()]), "\r\n");
        // Servers without COMMAND DOCS: hints from COMMAND's arity.
        let cmd = Frame::Array(Some(vec![Frame::Array(Some(vec![
            b("get"),
            Frame::Integer(2),
            Frame::Set(vec![]),
            Frame::Integer(1),
        ]))]));
        let legacy = entries_from_command(&cmd);
        assert_eq!(legacy[0].full, "GET");
        assert_eq!(hint(&legacy, "get").as_deref(), Some(" key "));
    }
}
