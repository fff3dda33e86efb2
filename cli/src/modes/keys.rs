//! The SCAN-based modes: --scan, --bigkeys / --memkeys (sizes per type), --hotkeys (LFU
//! counters). Output as redis-cli 7.0 prints it when stdout is a file; on a terminal a
//! progress bar (stderr) runs below the same lines.

use super::typedict::TypeDict;
use super::{interval, percent, request, Progress};
use crate::conn::{cstr, Conn};
use crate::format::{repr, Mode};
use crate::Ctx;
use pyrope_common::resp::Frame;
use std::io::{BufWriter, Write};
use std::os::unix::ffi::OsStrExt;

/// The --pattern / --quoted-pattern bytes. A quoted pattern must be one quoted string.
pub fn pattern(ctx: &Ctx) -> Result<Option<Vec<u8>>, String> {
    match (&ctx.args.quoted_pattern, &ctx.args.pattern) {
        (Some(q), _) => crate::unquote(q.as_bytes())
            .map(Some)
            .ok_or_else(|| "Invalid quoted string specified for --quoted-pattern.".into()),
        (None, Some(p)) => Ok(Some(p.as_bytes().to_vec())),
        _ => Ok(None),
    }
}

/// DBSIZE, with redis-cli's message when it fails.
pub fn dbsize(conn: &mut Conn) -> Result<u64, String> {
    match request(conn, &["DBSIZE"])? {
        Frame::Integer(n) => Ok(n.max(0) as u64),
        Frame::Error(e) => Err(format!("Couldn't determine DBSIZE: {}", cstr(&e))),
        _ => Err("Non INTEGER response from DBSIZE!".into()),
    }
}

/// `SCAN <cursor> [MATCH pattern] COUNT n` with the cursor left empty (index 1).
fn scan_command(ctx: &Ctx) -> Result<Vec<Vec<u8>>, String> {
    let mut args: Vec<Vec<u8>> = vec![b"SCAN".to_vec(), Vec::new()];
    if let Some(p) = pattern(ctx)? {
        args.push(b"MATCH".to_vec());
        args.push(p);
    }
    args.push(b"COUNT".to_vec());
    args.push(ctx.args.count.unwrap_or(10).to_string().into_bytes());
    Ok(args)
}

/// A SCAN reply: the next cursor and the keys, or redis-cli's message for a bad reply.
fn scan_reply(r: Frame) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let mut parts = match r {
        Frame::Error(e) => return Err(format!("SCAN error: {}", cstr(&e))),
        Frame::Array(Some(parts)) if parts.len() == 2 => parts,
        Frame::Array(Some(_)) => return Err("Invalid element count from SCAN!".into()),
        _ => return Err("Non ARRAY response from SCAN!".into()),
    };
    let keys: Vec<Vec<u8>> = match parts.pop() {
        Some(Frame::Array(Some(v))) | Some(Frame::Set(v)) => v
            .into_iter()
            .filter_map(|k| match k {
                Frame::Bulk(Some(b)) | Frame::Simple(b) => Some(b),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let cursor = match parts.pop() {
        Some(Frame::Bulk(Some(c))) => c,
        _ => b"0".to_vec(),
    };
    Ok((cursor, keys))
}

/// The `SCAN` loop shared by --bigkeys, --memkeys, --keystats and --hotkeys, from `cursor`
/// until the cursor is back to 0 or `each` returns false. Returns the cursor it stopped at
/// (0: the scan is complete). `-i` sleeps after every 100 SCANs (as redis-cli).
pub fn scan_keys(
    ctx: &Ctx,
    conn: &mut Conn,
    cursor: u64,
    mut each: impl FnMut(&mut Conn, &[Vec<u8>]) -> Result<bool, String>,
) -> Result<u64, String> {
    let mut args = scan_command(ctx)?;
    let mut cursor = cursor.to_string().into_bytes();
    let mut rounds = 0u64;
    loop {
        args[1] = std::mem::take(&mut cursor);
        let (next, keys) = scan_reply(request(conn, &args)?)?;
        cursor = next;
        let go_on = each(conn, &keys)?;
        rounds += 1;
        if let Some(i) = interval(ctx) {
            if rounds % 100 == 0 {
                std::thread::sleep(i);
            }
        }
        if cursor == b"0" || !go_on {
            return Ok(std::str::from_utf8(&cursor)
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0));
        }
    }
}

/// The cursor and keys of a SCAN reply in its usual shape (`*2 $cursor *n $key...`), as
/// slices of the raw reply; None for anything else (errors, RESP3 sets...).
fn scan_reply_raw(raw: &[u8]) -> Option<(&[u8], Vec<&[u8]>)> {
    fn line(raw: &[u8], at: &mut usize) -> Option<(u8, i64)> {
        let rest = raw.get(*at..)?;
        let cr = rest.iter().position(|&c| c == b'\r')?;
        let kind = *rest.first()?;
        let n = std::str::from_utf8(&rest[1..cr]).ok()?.parse().ok()?;
        *at += cr + 2;
        Some((kind, n))
    }
    fn bulk<'a>(raw: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
        let (kind, n) = line(raw, at)?;
        if kind != b'$' || n < 0 {
            return None;
        }
        let b = raw.get(*at..*at + n as usize)?;
        *at += n as usize + 2;
        Some(b)
    }
    let mut at = 0;
    if line(raw, &mut at)? != (b'*', 2) {
        return None;
    }
    let cursor = bulk(raw, &mut at)?;
    let (kind, n) = line(raw, &mut at)?;
    if kind != b'*' || n < 0 {
        return None;
    }
    let mut keys = Vec::with_capacity(n as usize);
    for _ in 0..n {
        keys.push(bulk(raw, &mut at)?);
    }
    (at == raw.len()).then_some((cursor, keys))
}

/// --scan: every key matching --pattern, one per line (quoted on a tty). The replies are
/// read in place, and each SCAN is sent as soon as the previous reply's cursor is known,
/// before that reply's keys are printed, so printing overlaps the server's work (not with
/// -i, which spaces the SCANs out).
pub fn scan(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    let mut args = scan_command(ctx)?;
    conn.connect_strict()?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let quote = ctx.mode == Mode::Standard;
    let pause = interval(ctx);
    args[1] = b"0".to_vec();
    conn.send(&args)
        .map_err(crate::conn::RequestError::message)?;
    loop {
        let mut cursor: Vec<u8> = Vec::new();
        let mut odd: Option<Frame> = None;
        let written = conn
            .read_raw(
                |raw| {
                    let (c, _) = scan_reply_raw(raw)?;
                    cursor = c.to_vec();
                    if c == b"0" || pause.is_some() {
                        return None;
                    }
                    args[1] = cursor.clone();
                    Some(crate::conn::encode_command(&args))
                },
                |raw| -> std::io::Result<()> {
                    let Some((_, keys)) = scan_reply_raw(raw) else {
                        // Not the usual shape: the general parser words the problem.
                        odd = pyrope_common::resp::parse_frame(raw)
                            .ok()
                            .flatten()
                            .map(|(f, _)| f);
                        return Ok(());
                    };
                    for k in keys {
                        if quote {
                            out.write_all(repr(k).as_bytes())?;
                        } else {
                            out.write_all(k)?;
                        }
                        out.write_all(b"\n")?;
                    }
                    Ok(())
                },
            )
            .map_err(crate::conn::RequestError::message)?;
        written.map_err(|e| e.to_string())?;
        if let Some(f) = odd {
            // An error reply, or a shape the fast path does not take (e.g. a RESP3 set).
            let (c, keys) = scan_reply(f)?;
            for k in keys {
                if quote {
                    out.write_all(repr(&k).as_bytes())
                        .map_err(|e| e.to_string())?;
                } else {
                    out.write_all(&k).map_err(|e| e.to_string())?;
                }
                out.write_all(b"\n").map_err(|e| e.to_string())?;
            }
            cursor = c;
            if cursor != b"0" && pause.is_none() {
                args[1] = cursor.clone();
                conn.send(&args)
                    .map_err(crate::conn::RequestError::message)?;
            }
        }
        if cursor == b"0" {
            break;
        }
        if let Some(i) = pause {
            out.flush().map_err(|e| e.to_string())?;
            std::thread::sleep(i);
            args[1] = cursor;
            conn.send(&args)
                .map_err(crate::conn::RequestError::message)?;
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(0)
}

/// The size command and unit of a key type (redis-cli's `typeinfo` templates); types it
/// does not know (modules) have no size command and the unit `?`.
pub fn size_command(ty: &str) -> (Option<&'static str>, &'static str) {
    match ty {
        "string" => (Some("STRLEN"), "bytes"),
        "list" => (Some("LLEN"), "items"),
        "set" => (Some("SCARD"), "members"),
        "hash" => (Some("HLEN"), "fields"),
        "zset" => (Some("ZCARD"), "members"),
        "stream" => (Some("XLEN"), "entries"),
        _ => (None, "?"),
    }
}

/// One key type's totals.
#[derive(Default, Clone)]
pub struct TypeStats {
    pub keys: u64,
    pub total: u64,
    pub biggest: u64,
    pub biggest_key: Option<Vec<u8>>,
}

/// Per-type totals in a [`TypeDict`], so they list in redis-cli's order.
pub struct Types {
    pub dict: TypeDict,
    pub stats: Vec<TypeStats>,
}

impl Types {
    /// The six built-in types, no key seen yet.
    pub fn new() -> Types {
        let dict = TypeDict::builtin();
        let stats = vec![TypeStats::default(); dict.names().len()];
        Types { dict, stats }
    }

    /// The name of type `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.dict.names()[i]
    }

    /// Looks a TYPE reply up as redis-cli's `getKeyTypes` does: None for `none` (a key gone
    /// since SCAN), a new entry for a type not seen before.
    pub fn lookup(&mut self, ty: &str) -> Option<usize> {
        if let Some(i) = self.dict.find(ty) {
            return Some(i);
        }
        if ty == "none" {
            return None;
        }
        let i = self.dict.add(ty);
        self.stats.push(TypeStats::default());
        Some(i)
    }

    /// Type indices in redis-cli's listing order.
    pub fn order(&self) -> Vec<usize> {
        self.dict.order()
    }
}

impl Default for Types {
    fn default() -> Self {
        Types::new()
    }
}

fn header(what: &str) {
    println!("\n# Scanning the entire keyspace to find {what} as well as");
    println!("# average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec");
    println!("# per 100 SCAN commands (not usually needed).\n");
}

/// The TYPE of every key of a batch, pipelined (redis-cli's `getKeyTypes`): an index in
/// `types`, None for keys gone since SCAN.
pub fn key_types(
    conn: &mut Conn,
    keys: &[Vec<u8>],
    types: &mut Types,
) -> Result<Vec<Option<usize>>, String> {
    let cmds: Vec<Vec<Vec<u8>>> = keys
        .iter()
        .map(|k| vec![b"TYPE".to_vec(), k.clone()])
        .collect();
    conn.pipeline(&cmds)?
        .iter()
        .map(|t| match t {
            Frame::Simple(ty) | Frame::Bulk(Some(ty)) => {
                Ok(types.lookup(&String::from_utf8_lossy(ty)))
            }
            Frame::Error(e) => Err(format!("TYPE returned an error: {}", cstr(e))),
            _ => Err("Invalid reply type for TYPE".into()),
        })
        .collect()
}

/// The size of every typed key of a batch, pipelined (redis-cli's `getKeySizes`): elements
/// (STRLEN, LLEN...; 0 without asking for module types) or MEMORY USAGE [SAMPLES n]. A
/// failed size command is reported on stderr as redis-cli does and counts as 0.
pub fn key_sizes(
    conn: &mut Conn,
    keys: &[Vec<u8>],
    key_types: &[Option<usize>],
    types: &Types,
    memory: bool,
    samples: Option<u64>,
) -> Result<Vec<u64>, String> {
    let command = |t: &Option<usize>| -> Option<Option<&'static str>> {
        let ti = (*t)?;
        let cmd = size_command(types.name(ti)).0;
        (memory || cmd.is_some()).then_some(cmd)
    };
    let cmds: Vec<Vec<Vec<u8>>> = keys
        .iter()
        .zip(key_types)
        .filter_map(|(k, t)| {
            let cmd = command(t)?;
            Some(if memory {
                let mut a = vec![b"MEMORY".to_vec(), b"USAGE".to_vec(), k.clone()];
                if let Some(n) = samples {
                    a.push(b"SAMPLES".to_vec());
                    a.push(n.to_string().into_bytes());
                }
                a
            } else {
                vec![cmd?.as_bytes().to_vec(), k.clone()]
            })
        })
        .collect();
    let mut replies = conn.pipeline(&cmds)?.into_iter();
    let mut sizes = Vec::with_capacity(keys.len());
    for (k, t) in keys.iter().zip(key_types) {
        let Some(cmd) = command(t) else {
            sizes.push(0);
            continue;
        };
        match replies.next() {
            Some(Frame::Integer(n)) => sizes.push(n.max(0) as u64),
            _ => {
                // Theoretically the key could have been replaced by another type meanwhile.
                eprintln!(
                    "Warning:  {} on '{}' failed (may have changed type)",
                    if memory {
                        "MEMORY USAGE"
                    } else {
                        cmd.unwrap_or_default()
                    },
                    cstr(k)
                );
                sizes.push(0);
            }
        }
    }
    Ok(sizes)
}

/// --bigkeys / --memkeys: samples every key's size (elements, or MEMORY USAGE) and prints
/// redis-cli's running finds and summary.
pub fn bigkeys(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    pattern(ctx)?;
    conn.connect_strict()?;
    let memkeys = ctx.args.memkeys || ctx.args.memkeys_samples.is_some();
    let total_keys = dbsize(conn)?;
    header("biggest keys");
    let mut types = Types::new();
    let mut sampled = 0u64;
    let mut key_len_total = 0u64;
    let samples = ctx.args.memkeys_samples;
    let progress = Progress::new(total_keys);
    let unit = |name: &str| {
        if memkeys {
            "bytes"
        } else {
            size_command(name).1
        }
    };
    let r = scan_keys(ctx, conn, 0, |conn, keys| {
        // As redis-cli: the progress shown is that of the batch's start.
        let pct = percent(sampled, total_keys);
        let kt = key_types(conn, keys, &mut types)?;
        let sizes = key_sizes(conn, keys, &kt, &types, memkeys, samples)?;
        for ((k, t), size) in keys.iter().zip(&kt).zip(sizes) {
            // Keys that vanished between SCAN and TYPE are skipped.
            let Some(ti) = *t else { continue };
            sampled += 1;
            key_len_total += k.len() as u64;
            let name = types.name(ti).to_string();
            let s = &mut types.stats[ti];
            s.keys += 1;
            s.total += size;
            if size > s.biggest {
                progress.println(format!(
                    "[{pct:05.2}%] Biggest {name:<6} found so far '{}' with {size} {}",
                    repr(k),
                    unit(&name)
                ));
                s.biggest = size;
                s.biggest_key = Some(k.clone());
            }
            if sampled % 1_000_000 == 0 {
                progress.println(format!("[{pct:05.2}%] Sampled {sampled} keys so far"));
            }
        }
        progress.set(sampled);
        Ok(true)
    });
    progress.finish();
    r?;
    println!("\n-------- summary -------\n");
    println!("Sampled {sampled} keys in the keyspace!");
    println!(
        "Total key length in bytes is {key_len_total} (avg len {:.2})\n",
        if sampled > 0 {
            key_len_total as f64 / sampled as f64
        } else {
            0.0
        }
    );
    let order = types.order();
    for &i in &order {
        let s = &types.stats[i];
        if let Some(k) = &s.biggest_key {
            println!(
                "Biggest {:>6} found '{}' has {} {}",
                types.name(i),
                repr(k),
                s.biggest,
                unit(types.name(i))
            );
        }
    }
    println!();
    for &i in &order {
        let s = &types.stats[i];
        println!(
            "{} {}s with {} {} ({:05.2}% of keys, avg size {:.2})",
            s.keys,
            types.name(i),
            s.total,
            unit(types.name(i)),
            if sampled > 0 {
                s.keys as f64 * 100.0 / sampled as f64
            } else {
                0.0
            },
            if s.keys > 0 {
                s.total as f64 / s.keys as f64
            } else {
                0.0
            }
        );
    }
    Ok(0)
}

/// --hotkeys: OBJECT FREQ of every key (needs an LFU policy), the hottest ones.
pub fn hotkeys(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    conn.connect_strict()?;
    let total_keys = dbsize(conn)?;
    header("hot keys");
    // redis-cli's pool: HOTKEYS_SAMPLE counters in ascending order, index 0 the coldest.
    const HOTKEYS_SAMPLE: usize = 16;
    let progress = Progress::new(total_keys);
    let mut counters = [0i64; HOTKEYS_SAMPLE];
    let mut hot: Vec<String> = vec![String::new(); HOTKEYS_SAMPLE];
    let mut sampled = 0u64;
    let r = scan_keys(ctx, conn, 0, |conn, keys| {
        let pct = percent(sampled, total_keys);
        let cmds: Vec<Vec<Vec<u8>>> = keys
            .iter()
            .map(|k| vec![b"OBJECT".to_vec(), b"FREQ".to_vec(), k.clone()])
            .collect();
        for (k, f) in keys.iter().zip(conn.pipeline(&cmds)?) {
            let freq = match f {
                Frame::Integer(n) => n,
                Frame::Error(e) => return Err(format!("Error: {}", cstr(&e))),
                _ => {
                    eprintln!(
                        "Warning: OBJECT freq on '{}' failed (may have been deleted)",
                        repr(k)
                    );
                    0
                }
            };
            sampled += 1;
            if sampled % 1_000_000 == 0 {
                progress.println(format!("[{pct:05.2}%] Sampled {sampled} keys so far"));
            }
            let mut at = 0;
            while at < HOTKEYS_SAMPLE && freq > counters[at] {
                at += 1;
            }
            if at == 0 {
                continue;
            }
            at -= 1;
            if at != 0 && counters[at] != 0 {
                // Drop the coldest, shift the colder ones down.
                counters.copy_within(1..=at, 0);
                hot[..=at].rotate_left(1);
            }
            counters[at] = freq;
            hot[at] = repr(k);
            progress.println(format!(
                "[{pct:05.2}%] Hot key '{}' found so far with counter {freq}",
                hot[at]
            ));
        }
        progress.set(sampled);
        Ok(true)
    });
    progress.finish();
    r?;
    println!("\n-------- summary -------\n");
    println!("Sampled {sampled} keys in the keyspace!");
    for at in (0..HOTKEYS_SAMPLE).rev() {
        if counters[at] > 0 {
            println!(
                "hot key found with counter: {}\tkeyname: {}",
                counters[at], hot[at]
            );
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_replies_read_in_place() {
        let raw = b"*2\r\n$2\r\n17\r\n*2\r\n$1\r\na\r\n$3\r\nb\r\n\r\n";
        let (c, keys) = scan_reply_raw(raw).unwrap();
        assert_eq!((c, keys), (&b"17"[..], vec![&b"a"[..], &b"b\r\n"[..]]));
        assert!(scan_reply_raw(b"-ERR no\r\n").is_none());
        assert!(scan_reply_raw(b"*2\r\n$1\r\n0\r\n~1\r\n$1\r\na\r\n").is_none());
    }
}
