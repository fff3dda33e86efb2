//! Key specifications (Redis 7 "key specs"): where a command's key names are in argv, and the
//! generic key extraction built on them (`getKeysUsingKeySpecs()` in db.c). Used by
//! COMMAND GETKEYS and, later, cluster slot checks and ACL key patterns.

use super::Argv;
use pyrope_common::resp::Frame;

/// How to find the first key.
#[derive(Debug, Clone, PartialEq)]
pub enum BeginSearch {
    /// At a fixed argv index.
    Index(usize),
    /// After a keyword, searched from `startfrom` (negative: from the end, backwards).
    Keyword { keyword: Vec<u8>, startfrom: i64 },
    /// Not describable (the command extracts keys itself).
    Unknown,
}

/// How to find the keys after the first.
#[derive(Debug, Clone, PartialEq)]
pub enum FindKeys {
    /// `lastkey` relative to the first key (negative: relative to argc), every `keystep`;
    /// `limit` divides the remaining args (e.g. 2 for half of them).
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    /// The number of keys is at `keynumidx` (relative to the begin-search result), keys start
    /// at `firstkey` after it.
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    /// Not describable.
    Unknown,
}

/// One key spec.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySpec {
    /// Flag names (RW, access, delete, ...).
    pub flags: Vec<String>,
    pub begin: BeginSearch,
    pub find: FindKeys,
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

fn int(m: &Frame, key: &str) -> i64 {
    map_get(m, key).and_then(Frame::as_int).unwrap_or(0)
}

impl KeySpec {
    /// Parses one spec map of COMMAND INFO's 9th element.
    pub fn from_frame(f: &Frame) -> KeySpec {
        let flags = map_get(f, "flags")
            .and_then(Frame::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_bytes())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let bs = map_get(f, "begin_search");
        let begin = match bs
            .and_then(|b| map_get(b, "type"))
            .and_then(Frame::as_bytes)
        {
            Some(b"index") => {
                BeginSearch::Index(int(map_get(bs.unwrap(), "spec").unwrap(), "index") as usize)
            }
            Some(b"keyword") => {
                let spec = map_get(bs.unwrap(), "spec").unwrap();
                BeginSearch::Keyword {
                    keyword: map_get(spec, "keyword")
                        .and_then(Frame::as_bytes)
                        .unwrap_or_default()
                        .to_vec(),
                    startfrom: int(spec, "startfrom"),
                }
            }
            _ => BeginSearch::Unknown,
        };
        let fk = map_get(f, "find_keys");
        let find = match fk
            .and_then(|b| map_get(b, "type"))
            .and_then(Frame::as_bytes)
        {
            Some(b"range") => {
                let s = map_get(fk.unwrap(), "spec").unwrap();
                FindKeys::Range {
                    lastkey: int(s, "lastkey"),
                    keystep: int(s, "keystep"),
                    limit: int(s, "limit"),
                }
            }
            Some(b"keynum") => {
                let s = map_get(fk.unwrap(), "spec").unwrap();
                FindKeys::Keynum {
                    keynumidx: int(s, "keynumidx"),
                    firstkey: int(s, "firstkey"),
                    keystep: int(s, "keystep"),
                }
            }
            _ => FindKeys::Unknown,
        };
        KeySpec { flags, begin, find }
    }
}

/// Why keys could not be extracted.
#[derive(Debug, PartialEq, Eq)]
pub enum KeysError {
    /// A keynum argument is not a valid count, or the keys run past argv.
    Invalid,
}

/// Extracts the argv indexes of the keys of a command, following its key specs. Returns the
/// indexes in spec order (duplicates possible, as Redis).
pub fn get_keys(specs: &[KeySpec], argv: &Argv) -> Result<Vec<usize>, KeysError> {
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in specs {
        let first = match &spec.begin {
            BeginSearch::Index(i) => *i as i64,
            BeginSearch::Keyword { keyword, startfrom } => {
                let (start, end, step): (i64, i64, i64) = if *startfrom >= 0 {
                    (*startfrom, argc - 1, 1)
                } else {
                    (argc + startfrom, 1, -1)
                };
                let mut found = None;
                let mut i = start;
                while (step > 0 && i <= end) || (step < 0 && i >= end) {
                    if i >= 1 && i < argc && argv[i as usize].eq_ignore_ascii_case(keyword) {
                        found = Some(i + 1);
                        break;
                    }
                    i += step;
                }
                match found {
                    Some(f) => f,
                    None => continue,
                }
            }
            BeginSearch::Unknown => continue,
        };
        if first >= argc {
            continue;
        }
        let (first, last, step) = match &spec.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if *lastkey >= 0 {
                    first + lastkey
                } else if *limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, *keystep)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let idx = first + keynumidx;
                if idx >= argc {
                    return Err(KeysError::Invalid);
                }
                let n = pyrope_common::util::string2ll(&argv[idx as usize])
                    .filter(|n| *n >= 0)
                    .ok_or(KeysError::Invalid)?;
                let f = first + firstkey;
                (f, f + (n - 1) * keystep, *keystep)
            }
            FindKeys::Unknown => continue,
        };
        if step <= 0 {
            continue;
        }
        let mut i = first;
        while i <= last {
            if i >= argc || i < 0 {
                return Err(KeysError::Invalid);
            }
            keys.push(i as usize);
            i += step;
        }
    }
    Ok(keys)
}
