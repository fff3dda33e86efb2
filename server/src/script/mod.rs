//! Scripting: EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT (Redis 7.4's `eval.c` and the
//! engine-independent parts of `script.c`); the Lua engine itself is [`lua`].
//!
//! - **Script cache.** [`Scripting::scripts`]: sha1 (lowercase hex of the whole body,
//!   shebang included) → the compiled function (a registry reference in the EVAL Lua
//!   state), its shebang flags and its body. Scripts added by EVAL are kept in an LRU list
//!   of at most [`EVAL_LRU_MAX`] (500, as Redis 7.4): the oldest is dropped when it
//!   overflows (INFO `evicted_scripts`); SCRIPT LOAD's scripts are never evicted.
//! - **Flags.** A body starting with `#!lua` declares flags (`flags=no-writes,allow-oom,
//!   allow-stale,no-cluster,allow-cross-slot-keys`); without a shebang the script runs in
//!   the compatibility mode of Redis < 7. [`command_flags`] is `evalGetCommandFlags`: the
//!   flags `process_command` checks (OOM, MISCONF, pause) for a script with a shebang are
//!   its declared ones.
//! - **A run** ([`run_script`]) checks the flags against the server state (Redis
//!   `scriptPrepareForRun`), seeds the PRNG, points the Lua client at the caller's db, runs
//!   the function with the run context installed, and replies. The commands the script runs
//!   are propagated one by one (effects replication) and wrapped in MULTI/EXEC by the
//!   outer `call()`; EVAL itself is never propagated.
//! - Not yet: SCRIPT KILL of a running script and the BUSY state (scripts run to the end;
//!   SCRIPT KILL answers NOTBUSY), SCRIPT DEBUG.
//!
//! Every `unsafe` block of this module carries a `// SAFETY:` comment (enforced by the
//! lint below); the invariants they cite are listed in [`lua`]'s "Safety model".

#![warn(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

pub mod function;
pub mod libs;
pub mod lua;
pub mod stack;

use crate::command::{flags, Ctx, Handler};
use crate::reply::Reply;
use crate::server::Server;
use std::collections::{HashMap, VecDeque};
use std::ffi::c_int;

/// Most EVAL-created scripts kept (Redis 7.4 `LRU_LIST_LENGTH`).
pub const EVAL_LRU_MAX: usize = 500;

/// Script flags (Redis `SCRIPT_FLAG_*`).
pub mod sflags {
    /// No shebang: the semantics of scripts before Redis 7.
    pub const EVAL_COMPAT_MODE: u32 = 1 << 0;
    pub const NO_WRITES: u32 = 1 << 1;
    pub const ALLOW_OOM: u32 = 1 << 2;
    pub const ALLOW_STALE: u32 = 1 << 3;
    pub const NO_CLUSTER: u32 = 1 << 4;
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 5;

    /// The flag names of shebangs and `redis.register_function`, with their bits.
    pub const NAMES: &[(&str, u32)] = &[
        ("no-writes", NO_WRITES),
        ("allow-oom", ALLOW_OOM),
        ("allow-stale", ALLOW_STALE),
        ("no-cluster", NO_CLUSTER),
        ("allow-cross-slot-keys", ALLOW_CROSS_SLOT),
    ];
}

/// One cached script.
struct Script {
    /// Registry reference of the compiled function in the EVAL state.
    fref: c_int,
    /// [`sflags`] bits.
    flags: u32,
    /// The body (for memory accounting; FUNCTION-less Redis keeps it too).
    body_len: usize,
    /// Added by EVAL (so in the LRU list), not by SCRIPT LOAD.
    in_lru: bool,
}

/// The scripting state of the server.
pub struct Scripting {
    /// The EVAL Lua state (null until the first script).
    lua: *mut lua::lua_State,
    scripts: HashMap<[u8; 40], Script>,
    /// EVAL-created scripts, oldest first.
    lru: VecDeque<[u8; 40]>,
    /// Slab key of the Lua client (created with the state).
    client: Option<usize>,
    /// The Lua client's reply buffer, reused by every `redis.call`.
    pub reply: Reply,
    /// Scripts run since the last GC step.
    gc_count: u32,
    /// INFO `evicted_scripts`.
    pub evicted_scripts: u64,
    /// Sum of the cached bodies, bytes.
    bodies: usize,
    /// The argv buffer `redis.call` reuses.
    pub argv: crate::command::OwnedArgv,
    /// FUNCTION libraries and their engine.
    pub functions: function::Functions,
    /// A script runs past `busy-reply-threshold`: `Some(true)` for EVAL, `Some(false)` for
    /// FCALL. Other clients get -BUSY meanwhile.
    pub busy: Option<bool>,
}

impl Default for Scripting {
    fn default() -> Self {
        Scripting {
            lua: std::ptr::null_mut(),
            scripts: HashMap::new(),
            lru: VecDeque::new(),
            client: None,
            reply: Reply::new(),
            gc_count: 0,
            evicted_scripts: 0,
            bodies: 0,
            argv: Default::default(),
            functions: Default::default(),
            busy: None,
        }
    }
}

impl Scripting {
    /// True when `k` is the Lua client (MONITOR shows its commands as `lua`).
    pub fn is_client(&self, k: usize) -> bool {
        self.client == Some(k)
    }

    /// INFO `number_of_cached_scripts`.
    pub fn cached_scripts(&self) -> usize {
        self.scripts.len()
    }

    /// INFO `used_memory_vm_eval` / `used_memory_lua`: the EVAL Lua state's memory, bytes.
    pub fn vm_memory(&self) -> usize {
        if self.lua.is_null() {
            // An empty Lua state as Redis reports it at start.
            return 31744;
        }
        // SAFETY: `self.lua` is non-null, so it is the EVAL state `ensure_engine` made with
        // `new_state`, owned by `self` and closed only by `flush_scripts`.
        unsafe { lua::memory(self.lua) }
    }

    /// INFO `used_memory_scripts_eval`: the cache's own overhead, bytes (bodies plus the
    /// per-script entries).
    pub fn cache_memory(&self) -> usize {
        self.bodies + self.scripts.len() * (std::mem::size_of::<Script>() + 40 + 16)
    }
}

/// Lowercase hex sha1 (Redis `sha1hex`).
pub fn sha1hex(b: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let d = Sha1::digest(b);
    let mut s = String::with_capacity(40);
    for x in d.iter() {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

fn sha_key(hex: &[u8]) -> [u8; 40] {
    let mut k = [0u8; 40];
    for (i, b) in hex.iter().take(40).enumerate() {
        k[i] = b.to_ascii_lowercase();
    }
    k
}

/// Parses a script's shebang line (Redis `evalExtractShebangFlags`): returns the flags and
/// the shebang's length (the code after it keeps its line feed, so line numbers stay), or
/// the error reply text.
pub fn shebang_flags(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((sflags::EVAL_COMPAT_MODE, 0));
    }
    let Some(end) = memchr::memchr(b'\n', body) else {
        return Err("ERR Invalid script shebang".into());
    };
    let parts = match pyrope_common::conf::split_args(&body[..end]) {
        Ok(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut f = 0;
    for p in &parts[1..] {
        match p.strip_prefix(b"flags=") {
            Some(list) => {
                for name in list.split(|&b| b == b',') {
                    if name.is_empty() {
                        continue;
                    }
                    match sflags::NAMES.iter().find(|(n, _)| n.as_bytes() == name) {
                        Some((_, bit)) => f |= bit,
                        None => {
                            return Err(format!(
                                "ERR Unexpected flag in script shebang: {}",
                                String::from_utf8_lossy(name)
                            ))
                        }
                    }
                }
            }
            None => {
                return Err(format!(
                    "ERR Unknown lua shebang option: {}",
                    String::from_utf8_lossy(p)
                ))
            }
        }
    }
    Ok((f, end))
}

/// Command flags as `process_command` checks them for a script (Redis
/// `scriptFlagsToCmdFlags`): a script that declared flags is a write and denyoom command
/// unless it says otherwise.
pub fn script_flags_to_cmd_flags(cmd_flags: u64, script_flags: u32) -> u64 {
    if script_flags & sflags::EVAL_COMPAT_MODE != 0 {
        return cmd_flags;
    }
    let mut f = cmd_flags & !(flags::STALE | flags::DENYOOM | flags::WRITE);
    if script_flags & (sflags::ALLOW_OOM | sflags::NO_WRITES) == 0 {
        f |= flags::DENYOOM;
    }
    if script_flags & sflags::NO_WRITES == 0 {
        f |= flags::WRITE;
    }
    if script_flags & sflags::ALLOW_STALE != 0 {
        f |= flags::STALE;
    }
    f & !flags::MAY_REPLICATE
}

/// The flags `process_command` uses for EVAL/EVALSHA(_RO) (Redis `evalGetCommandFlags`):
/// the declared flags of the script (cached, or parsed from the body's shebang).
pub fn command_flags(srv: &Server, argv: &crate::command::Argv, cmd_flags: u64) -> u64 {
    let name = &argv[0];
    let evalsha = name.eq_ignore_ascii_case(b"evalsha") || name.eq_ignore_ascii_case(b"evalsha_ro");
    if argv.len() < 2 {
        return cmd_flags;
    }
    let body = &argv[1];
    let script_flags =
        if name.eq_ignore_ascii_case(b"fcall") || name.eq_ignore_ascii_case(b"fcall_ro") {
            // `fcallGetCommandFlags`: a function always declares its flags.
            match srv.scripting.functions.flags_of(body) {
                Some(f) => f,
                None => return cmd_flags,
            }
        } else if evalsha {
            if body.len() != 40 {
                return cmd_flags;
            }
            match srv.scripting.scripts.get(&sha_key(body)) {
                Some(s) => s.flags,
                None => return cmd_flags,
            }
        } else {
            if !body.starts_with(b"#!") {
                return cmd_flags;
            }
            match shebang_flags(body) {
                Ok((f, _)) => f,
                Err(_) => return cmd_flags,
            }
        };
    script_flags_to_cmd_flags(cmd_flags, script_flags)
}

/// The commands of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("eval", eval),
    ("evalsha", evalsha),
    ("eval_ro", eval_ro),
    ("evalsha_ro", evalsha_ro),
    ("script|load", script_load),
    ("script|exists", script_exists),
    ("script|flush", script_flush),
    ("script|kill", script_kill),
    ("script|help", script_help),
];

/// Creates the EVAL Lua state and the Lua client if they do not exist yet.
fn ensure_engine(srv: &mut Server) {
    if srv.scripting.lua.is_null() {
        srv.scripting.lua = lua::new_state(crate::REDIS_VERSION, redis_version_num());
        // Since scripts replicate by their effects, Redis no longer resets the PRNG per
        // script: one sequence runs on from a random seed.
        lua::srand48(fastrand::i32(..));
    }
    // The Lua client is created once; should anything have freed it, a new one is made.
    if srv
        .scripting
        .client
        .is_none_or(|k| !srv.clients.contains(k))
    {
        let k = srv.create_socketless_client();
        srv.scripting.client = Some(k);
    }
}

/// `REDIS_VERSION_NUM` of the version we report (0x00MMmmpp).
pub(crate) fn redis_version_num() -> i64 {
    let mut parts = crate::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

/// Compiles `body` into the cache under `key` (Redis `luaCreateFunction`); returns the
/// error reply text on a bad shebang or a compile error.
fn create_script(
    srv: &mut Server,
    key: [u8; 40],
    body: &[u8],
    from_eval: bool,
) -> Result<(), String> {
    let (f, shebang_len) = shebang_flags(body)?;
    ensure_engine(srv);
    let l = srv.scripting.lua;
    // SAFETY: `l` is the EVAL state, live after `ensure_engine` above.
    if let Err(msg) = unsafe { lua::load(l, &body[shebang_len..], c"@user_script") } {
        return Err(format!(
            "ERR Error compiling script (new function): {}",
            String::from_utf8_lossy(&msg)
        ));
    }
    // SAFETY: `l` is the live EVAL state, with the compiled function `load` pushed.
    let fref = unsafe { lua::registry_ref(l) };
    let s = &mut srv.scripting;
    s.scripts.insert(
        key,
        Script {
            fref,
            flags: f,
            body_len: body.len(),
            in_lru: from_eval,
        },
    );
    s.bodies += body.len();
    if from_eval {
        s.lru.push_back(key);
        if s.lru.len() > EVAL_LRU_MAX {
            if let Some(old) = s.lru.pop_front() {
                if let Some(gone) = s.scripts.remove(&old) {
                    s.bodies -= gone.body_len;
                    // SAFETY: `l` is the live EVAL state that holds the evicted script's
                    // reference, released once as the script leaves the cache.
                    unsafe { lua::registry_unref(l, gone.fref) };
                }
                s.evicted_scripts += 1;
            }
        }
    }
    Ok(())
}

fn eval(c: &mut Ctx) {
    eval_generic(c, false, false);
}

fn evalsha(c: &mut Ctx) {
    eval_generic(c, true, false);
}

fn eval_ro(c: &mut Ctx) {
    eval_generic(c, false, true);
}

fn evalsha_ro(c: &mut Ctx) {
    eval_generic(c, true, true);
}

/// EVAL and friends (Redis `evalGenericCommand`).
fn eval_generic(c: &mut Ctx, evalsha: bool, ro: bool) {
    // The script's commands are propagated, never the script.
    c.no_propagate = true;
    let Some(numkeys) = c.int_arg(2) else { return };
    if numkeys > (c.argc() - 3) as i64 {
        return c
            .out
            .error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return c.out.error("ERR Number of keys can't be negative");
    }
    let body = c.arg(1);
    let key = if evalsha {
        if body.len() != 40 {
            return c.out.error("NOSCRIPT No matching script. Please use EVAL.");
        }
        sha_key(body)
    } else {
        sha_key(sha1hex(body).as_bytes())
    };
    let s = &mut c.srv.scripting;
    match s.scripts.get(&key) {
        Some(sc) => {
            if sc.in_lru {
                // Recently used: to the young end.
                if let Some(p) = s.lru.iter().position(|k| *k == key) {
                    s.lru.remove(p);
                    s.lru.push_back(key);
                }
            }
        }
        None => {
            if evalsha {
                return c.out.error("NOSCRIPT No matching script. Please use EVAL.");
            }
            if let Err(e) = create_script(c.srv, key, body, true) {
                return c.out.error(&e);
            }
        }
    }
    let sc = &c.srv.scripting.scripts[&key];
    let (fref, sflags) = (sc.fref, sc.flags);
    let nk = numkeys as usize;
    let keys: Vec<&[u8]> = (3..3 + nk).map(|i| c.arg(i)).collect();
    let args: Vec<&[u8]> = (3 + nk..c.argc()).map(|i| c.arg(i)).collect();
    let name = String::from_utf8_lossy(&key).into_owned();
    let l = c.srv.scripting.lua;
    // SAFETY: the script is in the cache, so the EVAL state that compiled it is live (`l`,
    // owned by `Scripting`, closed only by SCRIPT FLUSH, which a running script cannot reach).
    unsafe { run_script(c, l, fref, sflags, ro, &name, &keys, &args, true) };
}

/// Runs a compiled function for the client of `c` (Redis `scriptPrepareForRun` +
/// `luaCallFunction` + `scriptResetRun`), replying to it.
///
/// # Safety
///
/// `l` is a live Lua state made by `lua::new_state` (the EVAL state or the functions
/// engine) holding the function `fref`, used on this thread, and not closed while the
/// script runs.
#[allow(clippy::too_many_arguments)]
pub unsafe fn run_script(
    c: &mut Ctx,
    l: *mut lua::lua_State,
    fref: c_int,
    script_flags: u32,
    ro: bool,
    funcname: &str,
    keys: &[&[u8]],
    args: &[&[u8]],
    eval_mode: bool,
) {
    let srv = &mut *c.srv;
    // Whether eviction failed before this command (Redis `server.pre_command_oom_state`).
    let oom = srv.settings.maxmemory > 0 && srv.evict.oom;
    if script_flags & sflags::EVAL_COMPAT_MODE == 0 && script_flags & sflags::NO_WRITES == 0 {
        if crate::persist::writes_refused(srv) {
            return c.out.error("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.");
        }
        if let Some(e) = crate::aof::write_error(srv) {
            let e = e.trim_start_matches("MISCONF ");
            return c.out.error(&format!(
                "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts. AOF error: {e}"
            ));
        }
        if ro {
            return c
                .out
                .error("ERR Can not execute a script with write flag using *_ro command.");
        }
        if script_flags & sflags::ALLOW_OOM == 0 && oom {
            return c.out.error("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'");
        }
    }
    ensure_engine(srv);
    let lua_client = srv.scripting.client.expect("created with the engine");
    srv.clients[lua_client].db = c.db;
    // The script's commands run as the caller's ACL user (`scriptPrepareForRun`).
    let (slot, user) = srv.clients.get(c.cid).map_or_else(
        || (crate::acl::SUPERUSER, "default".to_string()),
        |cl| (cl.acl_user, cl.user.clone()),
    );
    srv.clients[lua_client].acl_user = slot;
    srv.clients[lua_client].user = user;
    let busy_threshold_ms = srv.settings.busy_reply_threshold_ms;
    let mut rctx = lua::RunCtx {
        srv: srv as *mut Server,
        lua_client,
        resp: 2,
        read_only: ro || script_flags & sflags::NO_WRITES != 0,
        allow_oom: script_flags & sflags::ALLOW_OOM != 0,
        oom_at_start: oom,
        write_dirty: false,
        repl_flags: lua::repl::ALL,
        funcname: funcname.to_string(),
        caller: c.cid,
        is_eval: eval_mode,
        start: std::time::Instant::now(),
        busy_threshold_ms,
        timed_out: false,
        killed: false,
        // SAFETY: the argv outlives the run context, which is dropped at the end of this
        // function, before the handler returns.
        command: unsafe {
            std::mem::transmute::<crate::command::Argv<'_>, crate::command::Argv<'static>>(c.argv)
        },
    };
    let out: &mut Reply = c.out;
    let rp: *mut lua::RunCtx = &mut rctx;
    if busy_threshold_ms > 0 {
        // SAFETY: `l` is live (this function's contract).
        unsafe { lua::set_busy_hook(l, true) };
    }
    lua::with_run_ctx(rp, || {
        // SAFETY: `l` is live and holds `fref` (this function's contract); `rp` is the run
        // context `with_run_ctx` installs for this call, alive on this frame.
        unsafe { lua::call_function(l, fref, keys, args, eval_mode, rp, out) }
    });
    if busy_threshold_ms > 0 {
        // SAFETY: `l` is live (this function's contract).
        unsafe { lua::set_busy_hook(l, false) };
    }
    if rctx.timed_out {
        c.srv.scripting.busy = None;
    }
    // Between scripts the Lua client belongs to no user, so that ACL changes to the last
    // caller's user (DELUSER disconnects that user's clients) leave it alone.
    if let Some(cl) = c.srv.clients.get_mut(lua_client) {
        cl.acl_user = crate::acl::SUPERUSER;
    }
    let s = &mut c.srv.scripting;
    s.gc_count += 1;
    if s.gc_count >= 50 {
        // SAFETY: `l` is live (this function's contract) and the script has returned.
        unsafe { lua::gc_step(l, 50) };
        s.gc_count = 0;
    }
}

fn script_load(c: &mut Ctx) {
    let body = c.arg(2);
    let hex = sha1hex(body);
    let key = sha_key(hex.as_bytes());
    let s = &mut c.srv.scripting;
    match s.scripts.get_mut(&key) {
        Some(sc) => {
            // Loaded explicitly: no longer subject to eviction.
            if sc.in_lru {
                sc.in_lru = false;
                if let Some(p) = s.lru.iter().position(|k| *k == key) {
                    s.lru.remove(p);
                }
            }
        }
        None => {
            if let Err(e) = create_script(c.srv, key, body, false) {
                return c.out.error(&e);
            }
        }
    }
    c.out.bulk(hex.as_bytes());
}

fn script_exists(c: &mut Ctx) {
    c.out.array(c.argc() - 2);
    for i in 2..c.argc() {
        let a = c.arg(i);
        let found = a.len() == 40 && c.srv.scripting.scripts.contains_key(&sha_key(a));
        c.out.int(found as i64);
    }
}

fn script_flush(c: &mut Ctx) {
    if !flush_mode_ok(c) {
        return c
            .out
            .error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    flush_scripts(c.srv);
    c.out.ok();
}

/// True if SCRIPT FLUSH / FUNCTION FLUSH has at most one argument, SYNC or ASYNC (both flush
/// at once here: the Lua state is small and freed in one go).
pub fn flush_mode_ok(c: &Ctx) -> bool {
    match c.argc() {
        2 => true,
        3 => {
            let a = c.arg(2);
            a.eq_ignore_ascii_case(b"sync") || a.eq_ignore_ascii_case(b"async")
        }
        _ => false,
    }
}

/// Empties the script cache and starts a new Lua state (Redis `scriptingReset`).
pub fn flush_scripts(srv: &mut Server) {
    let s = &mut srv.scripting;
    // SAFETY: `s.lua` is null or the EVAL state owned by `srv.scripting`; it is nulled
    // just below, so the closed state is never used again (no script runs during a flush).
    unsafe { lua::close(s.lua) };
    s.lua = std::ptr::null_mut();
    s.scripts.clear();
    s.lru.clear();
    s.bodies = 0;
    s.gc_count = 0;
}

fn script_kill(c: &mut Ctx) {
    kill_script(c, true);
}

/// The -BUSY reply while an EVAL script runs long (Redis `shared.slowevalerr`).
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// The -BUSY reply while a function runs long (Redis `shared.slowscripterr`).
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// SCRIPT KILL / FUNCTION KILL (Redis `scriptKill`).
pub fn kill_script(c: &mut Ctx, is_eval: bool) {
    let Some(r) = lua::running() else {
        return c.out.error("NOTBUSY No scripts in execution right now.");
    };
    if r.write_dirty {
        return c.out.error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    if is_eval && !r.is_eval {
        return c.out.error(BUSY_FUNCTION);
    }
    if !is_eval && r.is_eval {
        return c.out.error(BUSY_EVAL);
    }
    r.killed = true;
    c.out.ok();
}

fn script_help(c: &mut Ctx) {
    c.out.help(
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_parse_as_redis() {
        assert_eq!(
            shebang_flags(b"return 1"),
            Ok((sflags::EVAL_COMPAT_MODE, 0))
        );
        assert_eq!(
            shebang_flags(b"#!lua flags=no-writes,allow-oom\nreturn 1"),
            Ok((sflags::NO_WRITES | sflags::ALLOW_OOM, 31))
        );
        assert_eq!(shebang_flags(b"#!lua\nreturn 1"), Ok((0, 5)));
        assert_eq!(
            shebang_flags(b"#!lua"),
            Err("ERR Invalid script shebang".to_string())
        );
        assert_eq!(
            shebang_flags(b"#!luax\n"),
            Err("ERR Unexpected engine in script shebang: #!luax".to_string())
        );
        assert_eq!(
            shebang_flags(b"#!lua name=x\n"),
            Err("ERR Unknown lua shebang option: name=x".to_string())
        );
    }

    /// Without an event loop (the harness, the fuzzer) a looping script is stopped past the
    /// threshold, and the Lua memory limit turns a huge allocation into a Lua error.
    #[test]
    fn the_fuzz_harness_stops_looping_and_hungry_scripts() {
        let mut h = crate::harness::Harness::for_fuzzing();
        let r = h.run(&[b"EVAL", b"while true do end", b"0"]);
        assert!(
            r.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."),
            "{}",
            String::from_utf8_lossy(&r)
        );
        let r = h.run(&[b"EVAL", b"return #string.rep('x', 2^29)", b"0"]);
        assert!(
            r.windows(b"not enough memory".len())
                .any(|w| w == b"not enough memory"),
            "{}",
            String::from_utf8_lossy(&r)
        );
        assert_eq!(h.run(&[b"EVAL", b"return 1", b"0"]), b":1\r\n");
        crate::script::lua::set_memory_limit(0);
    }

    #[test]
    fn sha1hex_is_lowercase_hex() {
        assert_eq!(
            sha1hex(b"return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }
}
