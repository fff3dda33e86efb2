//! Fork children for BGSAVE and BGREWRITEAOF (Redis `redisFork`, childinfo.c).
//!
//! Why fork is safe in this process: the executor thread forks, so the child is a copy of the
//! executor at a point between two event-loop steps, holding no lock of its own. The other
//! threads of the parent (the lazy-free thread, the AOF fsync thread) do not exist in the
//! child, and the child never touches what they share with the executor:
//! - it does not log through the log mutex: `log::enter_child` switches the child's logging to
//!   direct `write(2)` calls on the log file's descriptor;
//! - it never frees a value through the lazy-free queue and never drops `Server` (it leaves
//!   with `_exit`, so no destructor, atexit handler or stdio flush runs);
//! - jemalloc registers `pthread_atfork` handlers that take every arena lock before the fork
//!   and release them on both sides, so allocating in the child is safe.
//!
//! A panic in the child is caught and turned into exit code 1.
//!
//! The child reports progress through a pipe (`ChildInfo` messages of 24 bytes: keys
//! processed, copy-on-write bytes, and a final flag), as Redis's childinfo pipe does; the
//! parent reads it from the cron and reaps the child with `waitpid(WNOHANG)`.
//! While a child lives the parent pauses dict resizing and rehashing of every dict, the dbs'
//! and the big hashes', sets' and zsets' tables (`Keyspace::set_resize_paused`), as Redis's
//! `updateDictResizePolicy` sets its global `dict_can_resize`, so pages stay shared.

use std::os::fd::RawFd;
use std::time::Instant;

/// What a child is doing (Redis `CHILD_TYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// BGSAVE (or a save for a replica later).
    Rdb,
    /// BGREWRITEAOF.
    Aof,
}

/// The live child, seen from the parent.
#[derive(Debug)]
pub struct Child {
    /// Its pid.
    pub pid: i32,
    /// What it does.
    pub kind: ChildKind,
    /// When it was forked (for `rdb_current_bgsave_time_sec`).
    pub started: Instant,
    /// Read end of the info pipe (non-blocking).
    info_fd: RawFd,
    /// Bytes of a partial message.
    partial: Vec<u8>,
    /// Keys written so far (`current_save_keys_processed`).
    pub keys_processed: u64,
    /// Keys to write (`current_save_keys_total`).
    pub keys_total: u64,
    /// Last copy-on-write size reported, bytes (`current_cow_size`).
    pub cow_size: u64,
    /// Largest copy-on-write size reported, bytes (`current_cow_peak`).
    pub cow_peak: u64,
    /// When `cow_size` was last updated.
    pub cow_updated: Option<Instant>,
    /// The final copy-on-write size the child sent before exiting.
    pub final_cow: Option<u64>,
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildExit {
    /// Exit code (0 = success) when it exited.
    pub code: i32,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
}

impl ChildExit {
    /// Exited with 0.
    pub fn ok(&self) -> bool {
        self.signal.is_none() && self.code == 0
    }
}

/// The child's side: progress reporting.
pub struct ChildCtx {
    info_fd: RawFd,
    last_report: Instant,
}

impl ChildCtx {
    /// Reports progress at most once a second (and always when `last`): keys processed and
    /// the current copy-on-write size (private dirty bytes of the process, from
    /// `/proc/self/smaps_rollup`, as Redis's `zmalloc_get_private_dirty`).
    pub fn progress(&mut self, keys: u64, last: bool) {
        if !last && self.last_report.elapsed().as_millis() < 1000 {
            return;
        }
        self.last_report = Instant::now();
        let cow = private_dirty_bytes();
        let mut msg = [0u8; 24];
        msg[..8].copy_from_slice(&keys.to_le_bytes());
        msg[8..16].copy_from_slice(&cow.to_le_bytes());
        msg[16..].copy_from_slice(&(last as u64).to_le_bytes());
        // SAFETY: write(2) of a local buffer on our own pipe; a full pipe drops the message.
        unsafe {
            libc::write(self.info_fd, msg.as_ptr().cast(), msg.len());
        }
    }
}

/// Private dirty bytes of this process (copy-on-write pages in a fork child).
pub fn private_dirty_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return 0;
    };
    s.lines()
        .filter(|l| l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// Forks. In the child: switches logging to direct writes, closes the listening sockets
/// (`closeChildUnusedResourceAfterFork`), runs `body` (its `bool` is success), and leaves
/// with `_exit(0|1)` — `body` never returns into the server. In the parent: returns the
/// [`Child`] record. `close_fds` are descriptors the child must not keep (listeners).
///
/// Errors: fork(2) or pipe(2) failing (the errno as an `io::Error`).
pub fn fork(
    kind: ChildKind,
    close_fds: &[RawFd],
    keys_total: u64,
    body: impl FnOnce(&mut ChildCtx) -> bool,
) -> std::io::Result<Child> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two-element array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fork(2) from the executor thread; the child only runs `body` on its copy of
    // the memory and leaves with _exit (see the module header for what it avoids).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: closing the two descriptors pipe2 just gave us.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        return Err(e);
    }
    if pid == 0 {
        // The child.
        crate::log::enter_child();
        // SAFETY: the child closes descriptors it owns a copy of, and restores the default
        // dispositions so SIGTERM/SIGINT/SIGUSR1 end it (the parent's handlers only set a
        // flag its event loop would read, and the child has no event loop).
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGUSR1, libc::SIG_DFL);
            libc::close(fds[0]);
            for &fd in close_fds {
                libc::close(fd);
            }
        }
        let mut ctx = ChildCtx {
            info_fd: fds[1],
            last_report: Instant::now(),
        };
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut ctx)))
            .unwrap_or(false);
        // SAFETY: _exit runs no destructor or atexit handler: nothing of the parent's state
        // is torn down from the child.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) }
    }
    // SAFETY: the parent closes its copy of the pipe's write end.
    unsafe {
        libc::close(fds[1]);
    }
    Ok(Child {
        pid,
        kind,
        started: Instant::now(),
        info_fd: fds[0],
        partial: Vec::new(),
        keys_processed: 0,
        keys_total,
        cow_size: 0,
        cow_peak: 0,
        cow_updated: None,
        final_cow: None,
    })
}

impl Child {
    /// Reads the progress messages waiting in the pipe.
    pub fn read_info(&mut self) {
        let mut buf = [0u8; 24 * 16];
        loop {
            // SAFETY: read(2) into a local buffer of the given length.
            let n = unsafe { libc::read(self.info_fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            self.partial.extend_from_slice(&buf[..n as usize]);
        }
        let mut used = 0;
        for m in self.partial.chunks_exact(24) {
            used += 24;
            let word = |i: usize| u64::from_le_bytes(m[i * 8..i * 8 + 8].try_into().unwrap());
            self.keys_processed = word(0);
            self.cow_size = word(1);
            self.cow_peak = self.cow_peak.max(self.cow_size);
            self.cow_updated = Some(Instant::now());
            if word(2) != 0 {
                self.final_cow = Some(self.cow_size);
            }
        }
        self.partial.drain(..used);
    }

    /// Non-blocking reap: `Some(exit)` once the child has ended.
    pub fn try_wait(&mut self) -> Option<ChildExit> {
        let mut status = 0;
        // SAFETY: waitpid on our own child's pid with a local status word.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        if r == 0 {
            return None;
        }
        self.read_info();
        if r < 0 {
            // Already reaped or not ours: report a failure rather than waiting forever.
            return Some(ChildExit {
                code: 1,
                signal: None,
            });
        }
        Some(if libc::WIFSIGNALED(status) {
            ChildExit {
                code: -1,
                signal: Some(libc::WTERMSIG(status)),
            }
        } else {
            ChildExit {
                code: libc::WEXITSTATUS(status),
                signal: None,
            }
        })
    }

    /// Kills the child (SIGUSR1, as Redis's `killRDBChild`, so it is not taken for an
    /// error) and reaps it.
    pub fn kill(&mut self) -> ChildExit {
        let mut status = 0;
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGUSR1);
            libc::waitpid(self.pid, &mut status, 0);
        }
        ChildExit {
            code: -1,
            signal: Some(libc::SIGUSR1),
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // SAFETY: the read end is ours and closed once.
        unsafe {
            libc::close(self.info_fd);
        }
    }
}
