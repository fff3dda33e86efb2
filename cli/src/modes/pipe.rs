//! --pipe: mass insertion. stdin (RESP) goes to the server as it is, replies are counted
//! (errors printed on stderr) by a reader thread without building values, and an ECHO with a
//! random marker at the end tells when every command was answered. Prints redis-cli's
//! messages and its `errors: N, replies: M` summary on stdout.

use crate::conn::Conn;
use crate::Ctx;
use pyrope_common::resp::{scan, Parsed, RequestParser};
use std::io::{Read, Write};
use std::time::Duration;

/// Runs --pipe. Unlike redis-cli, a malformed input stream is caught before it reaches the
/// server and reported with its byte offset (what precedes it is sent and answered).
pub fn run(ctx: &Ctx, conn: &mut Conn) -> Result<i32, String> {
    // The session's own connection, set up (AUTH, SELECT) as for any command; a failed
    // AUTH ends the mode before anything is sent, as redis-cli.
    conn.connect_strict()?;
    let (mut stream, leftover) = conn.take_stream()?;
    let marker: String = (0..20)
        .map(|_| char::from(b'a' + fastrand::u8(..26)))
        .collect();
    let mut reader = stream.try_clone().map_err(|e| e.to_string())?;
    let reader_marker = marker.clone();
    let timeout = ctx.args.pipe_timeout;
    // The reader wakes every 100 ms to check the --pipe-timeout condition.
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let eof = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_eof = eof.clone();
    // The reader counts replies until the marker's echo.
    let counter = std::thread::spawn(move || -> Result<(u64, u64), String> {
        let mut last_read = std::time::Instant::now();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(&leftover);
        let mut chunk = vec![0u8; 1 << 16];
        let (mut replies, mut errors) = (0u64, 0u64);
        // stderr is taken per line, never held: the main thread reports on it too.
        let stderr = std::io::stderr();
        loop {
            let mut pos = 0;
            while let Some(s) = scan::scan(&buf[pos..])
                .map_err(|e| format!("Protocol error from server at reply byte {}", e.0))?
            {
                let r = &buf[pos..pos + s.len];
                pos += s.len;
                if s.error {
                    let _ = writeln!(stderr.lock(), "{}", scan::error_text(r));
                    errors += 1;
                    replies += 1;
                } else if r.len() == 20 + 7
                    && &r[..5] == b"$20\r\n"
                    && r[5..25] == *reader_marker.as_bytes()
                {
                    println!("Last reply received from server.");
                    return Ok((errors, replies));
                } else {
                    replies += 1;
                }
            }
            buf.drain(..pos);
            match reader.read(&mut chunk) {
                Ok(0) => return Err(format!("Error reading from the server: connection closed (errors: {errors}, replies: {replies})")),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    last_read = std::time::Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    // As redis-cli: only once all input is sent, and the timeout counts as
                    // an error before the summary.
                    if timeout > 0
                        && reader_eof.load(std::sync::atomic::Ordering::Acquire)
                        && last_read.elapsed() > Duration::from_secs(timeout)
                    {
                        let _ = writeln!(stderr.lock(), "No replies for {timeout} seconds: exiting.");
                        return Ok((errors + 1, replies));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("Error reading from the server: {e}")),
            }
        }
    });
    // Validate and forward stdin.
    let mut input = std::io::stdin().lock();
    let mut parser = RequestParser::new();
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut offset: u64 = 0;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        pending.extend_from_slice(&chunk[..n]);
        let mut pos = 0;
        loop {
            match parser.parse(&pending[pos..]) {
                Ok(Parsed::Command { consumed, .. }) => pos += consumed,
                Ok(Parsed::Incomplete) => break,
                Err(e) => {
                    let at = offset + pos as u64;
                    stream
                        .write_all(&pending[..pos])
                        .map_err(|e| e.to_string())?;
                    return Err(format!(
                        "Protocol error in the input at byte {at}: {e} (nothing after it was sent)"
                    ));
                }
            }
        }
        stream
            .write_all(&pending[..pos])
            .map_err(|e| e.to_string())?;
        offset += pos as u64;
        pending.drain(..pos);
    }
    if !pending.is_empty() {
        return Err(format!(
            "The input ends with an incomplete command at byte {offset}"
        ));
    }
    println!("All data transferred. Waiting for the last reply...");
    eof.store(true, std::sync::atomic::Ordering::Release);
    stream
        .write_all(&crate::conn::encode_command(&["ECHO", &marker]))
        .ok();
    let _ = stream.flush();
    match counter
        .join()
        .map_err(|_| "reader thread panicked".to_string())?
    {
        Ok((errors, replies)) => {
            println!("errors: {errors}, replies: {replies}");
            Ok(i32::from(errors > 0))
        }
        Err(m) => Err(m),
    }
}
