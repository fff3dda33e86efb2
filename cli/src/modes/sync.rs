//! The replication handshake modes: --rdb FILE / --functions-rdb FILE (fetch a snapshot as a
//! replica would, with `REPLCONF rdb-only`) and --replica (print the replication stream as
//! CSV). They run on the session's own connection (TCP or unix socket, after AUTH/SELECT),
//! with redis-cli's messages on stderr.

use crate::conn::{cstr, Conn};
use crate::Ctx;
use pyrope_common::client::{os_error_text, Client, ClientError, Stream};
use pyrope_common::resp::Frame;
use std::io::{Read, Write};
use std::time::Duration;

/// redis-cli's `sendReplconf`: announces and sends `REPLCONF a b`; Ok(false) when the server
/// refused it (reported, not fatal: older servers lack some options).
fn replconf(conn: &mut Conn, a: &str, b: &str) -> Result<bool, String> {
    eprintln!("sending REPLCONF {a} {b}");
    match conn.request(&["REPLCONF", a, b]) {
        Err(_) => Err("\nI/O error".into()),
        Ok(Frame::Error(e)) => {
            eprintln!("REPLCONF {a} error: {}", cstr(&e));
            Ok(false)
        }
        Ok(_) => Ok(true),
    }
}

/// The socket after the last reply, read through whatever was already buffered.
struct Raw {
    stream: Stream,
    pre: Vec<u8>,
    at: usize,
}

impl Read for Raw {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        if self.at < self.pre.len() {
            let n = b.len().min(self.pre.len() - self.at);
            b[..n].copy_from_slice(&self.pre[self.at..self.at + n]);
            self.at += n;
            return Ok(n);
        }
        self.stream.read(b)
    }
}

/// Sends SYNC on the session's socket and returns it for reading the payload.
fn sync(conn: &mut Conn) -> Result<Raw, String> {
    let (mut stream, pre) = conn.take_stream()?;
    stream
        .write_all(b"SYNC\r\n")
        .map_err(|_| "Error writing to master".to_string())?;
    Ok(Raw { stream, pre, at: 0 })
}

/// How a full sync's payload is delimited.
#[derive(Debug, PartialEq)]
pub(crate) enum Payload {
    Length(u64),
    /// Diskless: until this 40-byte mark.
    EofMark(Vec<u8>),
}

/// Reads the `$<len>` or `$EOF:<40-byte mark>` line of a full sync (skipping the newlines a
/// master sends while it prepares the payload), as redis-cli's `sendSync`.
pub(crate) fn read_preamble(stream: &mut dyn Read) -> Result<Payload, String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match stream.read(&mut b) {
            Ok(1) => {}
            _ => return Err("Error reading bulk length while SYNCing".into()),
        }
        if b[0] == b'\n' {
            if line.is_empty() {
                continue;
            }
            break;
        }
        line.push(b[0]);
    }
    if line.first() == Some(&b'-') {
        // As redis-cli, the line is shown with its \r.
        return Err(format!(
            "SYNC with master failed: {}",
            String::from_utf8_lossy(&line)
        ));
    }
    let body = &line[1.min(line.len())..];
    if body.starts_with(b"EOF:") && body.len() >= 4 + 40 {
        return Ok(Payload::EofMark(body[4..44].to_vec()));
    }
    // strtoull: the leading digits.
    let digits: String = body
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .map(|&c| c as char)
        .collect();
    Ok(Payload::Length(digits.parse().unwrap_or(0)))
}

/// Streams the payload to `out`; returns its size and the bytes that followed an EOF mark in
/// the last read (the start of the replication stream).
pub(crate) fn copy_payload(
    stream: &mut dyn Read,
    payload: &Payload,
    out: &mut dyn Write,
) -> Result<(u64, Vec<u8>), String> {
    let mut chunk = vec![0u8; 1 << 16];
    let mut written = 0u64;
    let read_err = |e: Option<std::io::Error>| match e {
        Some(e) => format!(
            "I/O Error reading RDB payload from socket: {}",
            os_error_text(&e)
        ),
        None => "I/O Error reading RDB payload from socket".to_string(),
    };
    match payload {
        Payload::Length(len) => {
            let mut left = *len;
            while left > 0 {
                let n = match stream.read(&mut chunk[..(left as usize).min(1 << 16)]) {
                    Ok(0) => return Err(read_err(None)),
                    Ok(n) => n,
                    Err(e) => return Err(read_err(Some(e))),
                };
                out.write_all(&chunk[..n])
                    .map_err(|e| format!("Error writing data to file: {}", os_error_text(&e)))?;
                left -= n as u64;
                written += n as u64;
            }
            Ok((written, Vec::new()))
        }
        Payload::EofMark(mark) => {
            // The last bytes seen, kept until we know they are not the mark.
            let mut tail: Vec<u8> = Vec::new();
            loop {
                let n = match stream.read(&mut chunk) {
                    Ok(0) => return Err(read_err(None)),
                    Ok(n) => n,
                    Err(e) => return Err(read_err(Some(e))),
                };
                let from = tail.len().saturating_sub(mark.len() - 1);
                tail.extend_from_slice(&chunk[..n]);
                if let Some(at) = tail[from..]
                    .windows(mark.len())
                    .position(|w| w == mark.as_slice())
                {
                    let at = from + at;
                    out.write_all(&tail[..at]).map_err(|e| {
                        format!("Error writing data to file: {}", os_error_text(&e))
                    })?;
                    written += at as u64;
                    return Ok((written, tail[at + mark.len()..].to_vec()));
                }
                if tail.len() > mark.len() {
                    let keep = tail.len() - mark.len();
                    out.write_all(&tail[..keep]).map_err(|e| {
                        format!("Error writing data to file: {}", os_error_text(&e))
                    })?;
                    written += keep as u64;
                    tail.drain(..keep);
                }
            }
        }
    }
}

/// --rdb FILE / --functions-rdb FILE: a full sync with `REPLCONF rdb-only 1` (and
/// `rdb-filter-only functions`), payload written to FILE (or stdout with "-"). Unlike
/// redis-cli, an existing FILE is only replaced once the whole payload arrived.
pub fn rdb(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    let functions = ctx.args.functions_rdb.is_some();
    let file = ctx
        .args
        .functions_rdb
        .clone()
        .or(ctx.args.rdb.clone())
        .unwrap_or_default();
    conn.connect_strict()?;
    replconf(conn, "capa", "eof")?;
    replconf(conn, "rdb-only", "1")?;
    if functions && !replconf(conn, "rdb-filter-only", "functions")? {
        return Err("Failed requesting functions only RDB from server, aborting".into());
    }
    let mut s = sync(conn)?;
    let payload = read_preamble(&mut s)?;
    match &payload {
        Payload::EofMark(_) => eprintln!(
            "SYNC sent to master, writing bytes of bulk transfer until EOF marker to '{file}'"
        ),
        Payload::Length(n) => eprintln!("SYNC sent to master, writing {n} bytes to '{file}'"),
    }
    let (n, _) = if file == "-" {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let r = copy_payload(&mut s, &payload, &mut out)?;
        let _ = out.flush();
        r
    } else {
        let tmp = format!("{file}.tmp-{}", std::process::id());
        let mut f = std::fs::File::create(&tmp)
            .map_err(|e| format!("Error opening '{file}': {}", os_error_text(&e)))?;
        let r = copy_payload(&mut s, &payload, &mut f).and_then(|r| {
            drop(s);
            f.sync_all()
                .map_err(|e| format!("Fail to fsync '{file}': {}", os_error_text(&e)))?;
            std::fs::rename(&tmp, &file)
                .map_err(|e| format!("Error writing '{file}': {}", os_error_text(&e)))?;
            Ok(r)
        });
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r?
    };
    match payload {
        Payload::EofMark(_) => eprintln!("Transfer finished with success after {n} bytes"),
        Payload::Length(_) => eprintln!("Transfer finished with success."),
    }
    Ok(0)
}

/// --replica: full sync (payload discarded), then every command of the replication stream
/// printed as CSV, as redis-cli's replica mode.
pub fn replica(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    let _ = ctx;
    conn.connect_strict()?;
    replconf(conn, "capa", "eof")?;
    replconf(conn, "rdb-filter-only", "")?;
    let mut s = sync(conn)?;
    let payload = read_preamble(&mut s)?;
    match &payload {
        Payload::EofMark(_) => {
            eprintln!("SYNC with master, discarding bytes of bulk transfer until EOF marker...")
        }
        Payload::Length(n) => {
            eprintln!("SYNC with master, discarding {n} bytes of bulk transfer...")
        }
    }
    let (n, rest) = copy_payload(&mut s, &payload, &mut std::io::sink())?;
    let Raw { stream, pre, at } = s;
    let mut buffered = pre[at..].to_vec();
    buffered.extend_from_slice(&rest);
    let marked = matches!(payload, Payload::EofMark(_));
    if marked {
        // As redis-cli, the count includes the 40-byte EOF mark.
        eprintln!(
            "SYNC done after {} bytes. Logging commands from master.",
            n + 40
        );
        // A diskless (EOF-marked) transfer puts the replica online only after an ACK. The
        // master does not answer it (redis-cli waits for a reply anyway and so swallows the
        // first command of the stream; we print every command).
        eprintln!("sending REPLCONF ACK 0");
    } else {
        eprintln!("SYNC done. Logging commands from master.");
    }
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let mut wire = Client::with_buffered(stream, buffered);
    let ack = crate::conn::encode_command(&["REPLCONF", "ACK", "0"]);
    if marked {
        wire.send_raw(&ack).map_err(|e| e.to_string())?;
    }
    let mut out = std::io::stdout();
    loop {
        match wire.read_reply() {
            Ok(f) => {
                let mut line = crate::format::csv(&f);
                line.push(b'\n');
                let _ = out.write_all(&line);
                let _ = out.flush();
            }
            Err(ClientError::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                // A replica ACKs every second. The first ACK is what puts a diskless replica
                // online, and the master drops it if it arrives before the master has reaped
                // its RDB child, so keep sending.
                if marked {
                    wire.send_raw(&ack).map_err(|e| e.to_string())?;
                }
            }
            Err(e) => return Err(format!("Error: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdb_payloads_with_length_and_eof_marker() {
        let mut wire = &b"\n\n$5\r\nREDIS"[..];
        let p = read_preamble(&mut wire).unwrap();
        assert_eq!(p, Payload::Length(5));
        let mut out = Vec::new();
        assert_eq!(copy_payload(&mut wire, &p, &mut out).unwrap().0, 5);
        assert_eq!(out, b"REDIS");
        let mark = "a".repeat(40);
        let text = format!("$EOF:{mark}\r\nREDIS0011payload{mark}*1\r\n$4\r\nPING\r\n");
        let mut wire = text.as_bytes();
        let p = read_preamble(&mut wire).unwrap();
        assert_eq!(p, Payload::EofMark(mark.as_bytes().to_vec()));
        let mut out = Vec::new();
        let (n, rest) = copy_payload(&mut wire, &p, &mut out).unwrap();
        assert_eq!((n, out.as_slice()), (16, &b"REDIS0011payload"[..]));
        assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            read_preamble(&mut &b"-ERR no\r\n"[..]).unwrap_err(),
            "SYNC with master failed: -ERR no\r"
        );
        // A master that closes early is an error, not a short file.
        let mut short = &b"REDIS"[..];
        assert!(copy_payload(&mut short, &Payload::Length(9), &mut Vec::new()).is_err());
    }
}
