//! Metadata of the commands Pyrope implements beyond the oracle's table: Redis 8.0's hash
//! commands HGETDEL, HGETEX and HSETEX (the 7.4.1 oracle has no `COMMAND INFO` for them).
//!
//! Each is described here once, from Redis 8.0's command definitions (`src/commands/
//! hgetdel.json`, `hgetex.json`, `hsetex.json`: arity, flags, ACL categories, key specs,
//! arguments), and rendered into the very shapes Redis's `COMMAND INFO` and `COMMAND DOCS`
//! reply with (`addReplyCommandInfo`, `addReplyCommandDocs`: ACL categories derived from the
//! flags plus the group's category, argument maps in Redis's key order). [`super::meta::build`]
//! appends them to the oracle's metadata, so the rest of the table code cannot tell them
//! apart. To add a command of a later Redis: add one [`Extra`] to [`EXTRA`].

use pyrope_common::resp::Frame;

/// One argument of a command's docs (`redisCommandArg`).
pub struct Arg {
    /// Argument name.
    pub name: &'static str,
    /// `key`, `string`, `integer`, `unix-time`, `pure-token`, `oneof`, `block`.
    pub ty: &'static str,
    /// Its key spec index (for `key` arguments).
    pub key_spec: Option<i64>,
    /// The token that introduces it (`EX`, `FIELDS`).
    pub token: Option<&'static str>,
    /// `optional`, `multiple`.
    pub flags: &'static [&'static str],
    /// Nested arguments of `oneof` / `block`.
    pub args: &'static [Arg],
}

/// One key spec with a fixed position (`begin_search` index, `find_keys` range).
pub struct Spec {
    /// Redis's free-text note, if any.
    pub notes: Option<&'static str>,
    /// Key flags (`RW`, `access`, `update`, `delete`).
    pub flags: &'static [&'static str],
    /// `begin_search` index.
    pub index: i64,
}

/// One command: what `COMMAND INFO` and `COMMAND DOCS` say about it.
pub struct Extra {
    pub name: &'static str,
    pub arity: i64,
    /// Command flags, lowercase as COMMAND INFO prints them.
    pub flags: &'static [&'static str],
    /// ACL categories as COMMAND INFO prints them (flag-derived ones included).
    pub acl: &'static [&'static str],
    pub specs: &'static [Spec],
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: &'static str,
    pub args: &'static [Arg],
}

const fn arg(name: &'static str, ty: &'static str) -> Arg {
    Arg {
        name,
        ty,
        key_spec: None,
        token: None,
        flags: &[],
        args: &[],
    }
}

const fn tok(name: &'static str, ty: &'static str, token: &'static str) -> Arg {
    Arg {
        token: Some(token),
        ..arg(name, ty)
    }
}

const KEY: Arg = Arg {
    key_spec: Some(0),
    ..arg("key", "key")
};

const FIELD_LIST: Arg = Arg {
    args: &[
        arg("numfields", "integer"),
        Arg {
            flags: &["multiple"],
            ..arg("field", "string")
        },
    ],
    ..tok("fields", "block", "FIELDS")
};

/// The metadata of every extra command.
pub static EXTRA: &[Extra] = &[
    Extra {
        name: "hgetdel",
        arity: -5,
        flags: &["write", "fast"],
        acl: &["@write", "@hash", "@fast"],
        specs: &[Spec {
            notes: None,
            flags: &["RW", "access", "delete"],
            index: 1,
        }],
        summary: "Returns the value of a field and deletes it from the hash.",
        since: "8.0.0",
        group: "hash",
        complexity: "O(N) where N is the number of specified fields",
        args: &[KEY, FIELD_LIST],
    },
    Extra {
        name: "hgetex",
        arity: -5,
        flags: &["write", "fast"],
        acl: &["@write", "@hash", "@fast"],
        specs: &[Spec {
            notes: Some("RW and UPDATE because it changes the TTL"),
            flags: &["RW", "access", "update"],
            index: 1,
        }],
        summary: "Get the value of one or more fields of a given hash key, and optionally set \
                  their expiration.",
        since: "8.0.0",
        group: "hash",
        complexity: "O(N) where N is the number of specified fields",
        args: &[
            KEY,
            Arg {
                flags: &["optional"],
                args: &[
                    tok("seconds", "integer", "EX"),
                    tok("milliseconds", "integer", "PX"),
                    tok("unix-time-seconds", "unix-time", "EXAT"),
                    tok("unix-time-milliseconds", "unix-time", "PXAT"),
                    tok("persist", "pure-token", "PERSIST"),
                ],
                ..arg("expiration", "oneof")
            },
            FIELD_LIST,
        ],
    },
    Extra {
        name: "hsetex",
        arity: -6,
        flags: &["write", "denyoom", "fast"],
        acl: &["@write", "@hash", "@fast"],
        specs: &[Spec {
            notes: None,
            flags: &["RW", "update"],
            index: 1,
        }],
        summary: "Set the value of one or more fields of a given hash key, and optionally set \
                  their expiration.",
        since: "8.0.0",
        group: "hash",
        complexity: "O(N) where N is the number of fields being set.",
        args: &[
            KEY,
            Arg {
                flags: &["optional"],
                args: &[
                    tok("fnx", "pure-token", "FNX"),
                    tok("fxx", "pure-token", "FXX"),
                ],
                ..arg("condition", "oneof")
            },
            Arg {
                flags: &["optional"],
                args: &[
                    tok("seconds", "integer", "EX"),
                    tok("milliseconds", "integer", "PX"),
                    tok("unix-time-seconds", "unix-time", "EXAT"),
                    tok("unix-time-milliseconds", "unix-time", "PXAT"),
                    tok("keepttl", "pure-token", "KEEPTTL"),
                ],
                ..arg("expiration", "oneof")
            },
            Arg {
                args: &[
                    arg("numfields", "integer"),
                    Arg {
                        flags: &["multiple"],
                        args: &[arg("field", "string"), arg("value", "string")],
                        ..arg("data", "block")
                    },
                ],
                ..tok("fields", "block", "FIELDS")
            },
        ],
    },
];

fn bulk(s: &str) -> Frame {
    Frame::Bulk(Some(s.as_bytes().to_vec()))
}

fn simple_set(items: &[&str]) -> Frame {
    Frame::Set(
        items
            .iter()
            .map(|s| Frame::Simple(s.as_bytes().to_vec()))
            .collect(),
    )
}

fn pair(k: &str, v: Frame) -> (Frame, Frame) {
    (bulk(k), v)
}

impl Extra {
    /// The `COMMAND INFO` element (`addReplyCommandInfo`).
    pub fn info(&self) -> Frame {
        let specs = self
            .specs
            .iter()
            .map(|s| {
                let mut m = Vec::new();
                if let Some(n) = s.notes {
                    m.push(pair("notes", bulk(n)));
                }
                m.push(pair("flags", simple_set(s.flags)));
                m.push(pair(
                    "begin_search",
                    Frame::Map(vec![
                        pair("type", bulk("index")),
                        pair(
                            "spec",
                            Frame::Map(vec![pair("index", Frame::Integer(s.index))]),
                        ),
                    ]),
                ));
                m.push(pair(
                    "find_keys",
                    Frame::Map(vec![
                        pair("type", bulk("range")),
                        pair(
                            "spec",
                            Frame::Map(vec![
                                pair("lastkey", Frame::Integer(0)),
                                pair("keystep", Frame::Integer(1)),
                                pair("limit", Frame::Integer(0)),
                            ]),
                        ),
                    ]),
                ));
                Frame::Map(m)
            })
            .collect();
        Frame::Array(Some(vec![
            bulk(self.name),
            Frame::Integer(self.arity),
            simple_set(self.flags),
            Frame::Integer(1),
            Frame::Integer(1),
            Frame::Integer(1),
            simple_set(self.acl),
            Frame::Set(Vec::new()),
            Frame::Array(Some(specs)),
            Frame::Set(Vec::new()),
        ]))
    }

    /// The `COMMAND DOCS` value (a map: summary, since, group, complexity, arguments).
    pub fn docs(&self) -> Frame {
        Frame::Map(vec![
            pair("summary", bulk(self.summary)),
            pair("since", bulk(self.since)),
            pair("group", bulk(self.group)),
            pair("complexity", bulk(self.complexity)),
            pair("arguments", args_frame(self.args)),
        ])
    }
}

/// `addReplyCommandArgList`: name, type, display_text (not for oneof/block), key_spec_index,
/// token, flags, arguments — in Redis's order.
fn args_frame(args: &[Arg]) -> Frame {
    Frame::Array(Some(
        args.iter()
            .map(|a| {
                let mut m = vec![pair("name", bulk(a.name)), pair("type", bulk(a.ty))];
                if a.ty != "oneof" && a.ty != "block" {
                    m.push(pair("display_text", bulk(a.name)));
                }
                if let Some(k) = a.key_spec {
                    m.push(pair("key_spec_index", Frame::Integer(k)));
                }
                if let Some(t) = a.token {
                    m.push(pair("token", bulk(t)));
                }
                if !a.flags.is_empty() {
                    m.push(pair("flags", simple_set(a.flags)));
                }
                if !a.args.is_empty() {
                    m.push(pair("arguments", args_frame(a.args)));
                }
                Frame::Map(m)
            })
            .collect(),
    ))
}
