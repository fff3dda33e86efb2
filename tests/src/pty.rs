//! A pseudo-terminal driver for testing interactive programs as a person uses them: spawn
//! the program on a fresh PTY (its own session, the PTY as controlling terminal), type into
//! it, and wait for text to appear on the screen.
//!
//! The program runs under `timeout --foreground` so it cannot outlive a crashed test for
//! long; dropping the handle kills it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a program on a test PTY may live, in seconds.
pub const PTY_LIFETIME_S: u64 = 120;

/// A program running on a pseudo-terminal.
pub struct Pty {
    child: Child,
    writer: File,
    output: Arc<Mutex<Vec<u8>>>,
    /// Offset in `output` that [`Pty::wait_text`] searches from.
    mark: usize,
}

impl Pty {
    /// Starts `program args` on a new 50x200 PTY with `TERM=xterm` and the extra `env`.
    pub fn spawn(program: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &ws,
            )
        };
        assert_eq!(rc, 0, "openpty failed");
        let master = unsafe { OwnedFd::from_raw_fd(master) };
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        let mut cmd = Command::new("timeout");
        cmd.arg("--foreground")
            .arg(PTY_LIFETIME_S.to_string())
            .arg(program)
            .args(args)
            .env("TERM", "xterm")
            .env_remove("COLUMNS")
            .env_remove("LINES");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on pty");
        let mut reader = File::from(master.try_clone().unwrap());
        let mut answer = File::from(master.try_clone().unwrap());
        let writer = File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let out = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let chunk = &buf[..n];
                        // Line editors ask where the cursor is; answer as a terminal would.
                        if chunk.windows(4).any(|w| w == b"\x1b[6n") {
                            let _ = answer.write_all(b"\x1b[1;1R");
                        }
                        out.lock().unwrap().extend_from_slice(chunk);
                    }
                }
            }
        });
        let _ = writer.as_raw_fd();
        Pty {
            child,
            writer,
            output,
            mark: 0,
        }
    }

    /// Types `keys` (use `\r` for Enter, `\t` for Tab).
    pub fn send(&mut self, keys: &str) {
        self.writer
            .write_all(keys.as_bytes())
            .expect("write to pty");
        self.writer.flush().unwrap();
    }

    /// Everything the program wrote so far, escape sequences included.
    pub fn raw(&self) -> Vec<u8> {
        self.output.lock().unwrap().clone()
    }

    /// What the program wrote since the mark, with escape sequences removed.
    pub fn text_since_mark(&self) -> String {
        strip_ansi(&self.raw()[self.mark.min(self.raw().len())..])
    }

    /// Moves the mark to the end of the output: later waits only see newer text.
    pub fn set_mark(&mut self) {
        self.mark = self.output.lock().unwrap().len();
    }

    /// Waits until `needle` appears (escape sequences removed) after the mark; true if it did
    /// within `within`.
    pub fn wait_text(&self, needle: &str, within: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.text_since_mark().contains(needle) {
                return true;
            }
            if start.elapsed() > within {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Moves the mark, types `keys` and panics (showing what was printed since) unless
    /// `needle` appears within `within`: one step of a scripted session.
    #[track_caller]
    pub fn expect_after(&mut self, keys: &str, needle: &str, within: Duration) {
        self.set_mark();
        self.send(keys);
        assert!(
            self.wait_text(needle, within),
            "typed {keys:?}, waited for {needle:?}; the screen shows:\n{}",
            self.text_since_mark()
        );
    }

    /// Waits until the raw output after the mark contains `needle` (escapes kept).
    pub fn wait_raw(&self, needle: &[u8], within: Duration) -> bool {
        let start = Instant::now();
        loop {
            {
                let out = self.output.lock().unwrap();
                if out[self.mark.min(out.len())..]
                    .windows(needle.len())
                    .any(|w| w == needle)
                {
                    return true;
                }
            }
            if start.elapsed() > within {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the program to exit; its exit code, or None if it did not within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes CSI (`ESC [ ... final`) and OSC (`ESC ] ... BEL`) sequences and carriage returns.
pub fn strip_ansi(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            0x1b if b.get(i + 1) == Some(&b'[') => {
                i += 2;
                while i < b.len() && !(0x40..=0x7e).contains(&b[i]) {
                    i += 1;
                }
                i += 1;
            }
            0x1b if b.get(i + 1) == Some(&b']') => {
                while i < b.len() && b[i] != 0x07 {
                    i += 1;
                }
                i += 1;
            }
            0x1b => i += 2,
            b'\r' => i += 1,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
