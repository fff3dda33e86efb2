//! The Lua engine of EVAL and FUNCTION (Redis 7.4's `script_lua.c`): a Lua 5.1 state with
//! Redis's sandbox, the `redis.*` API, and the conversions between RESP replies and Lua
//! values in both directions.
//!
//! - **State.** Lua 5.1.5 from the vendored, patched `lua-src` (readonly tables, see
//!   `vendor/lua-src/README.pyrope.md`), driven through `mlua-sys`'s raw C API. Libraries:
//!   base (without `print`, `dofile`, `loadfile`), `table`, `string`, `math` (with Redis's
//!   deterministic `random`), `bit`, and the error handler `__redis__err__handler`, built
//!   with `debug`, which is then removed. After set-up the globals get an `__index`
//!   metamethod raising `Script attempted to access nonexistent global variable '<name>'`,
//!   and every table reachable from them (their metatables included) is made readonly, so
//!   any write raises `Attempt to modify a readonly table` — Redis's sandbox exactly.
//! - **Run context.** While a script runs, [`RunCtx`] (the server, the caller, the Lua
//!   client, the RESP version set by `redis.setresp`, the script's flags) is reachable from
//!   the Lua callbacks through a thread-local pointer; it is cleared when the script
//!   returns, so `redis.call` outside a script invocation raises Redis's error.
//! - **`redis.call`/`redis.pcall`** run their command on the Lua client (a socketless
//!   client selecting the caller's db) through the nestable `call()` with
//!   `ctx::IN_SCRIPT | ctx::DENY_BLOCKING`, after the checks of Redis's `scriptCall()`
//!   (unknown command, arity, `noscript`, writes from read-only scripts, MISCONF, OOM); the
//!   reply bytes are converted to Lua values as `redisProtocolToLuaType` does.
//! - **Errors** are tables `{err = "CODE message"}` (plus `source`, `line` added by the
//!   error handler, and `ignore_error_stats_update` for errors already counted); the final
//!   reply is `-<err> script: <name>, on <source>:<line>.`.
//!
//! # Safety model
//!
//! Every `unsafe` block here and in `libs.rs` has a `// SAFETY:` comment citing these
//! invariants by tag:
//!
//! - **[state]** Every `*mut lua_State` used is a state made by [`new_state`] (owned by the
//!   server's scripting state, closed once by [`close`]) or the state Lua passes to one of
//!   our C functions or hooks; all use is on the server thread. The safe `pub fn`s taking a
//!   `*mut lua_State` rely on this crate-wide convention (there is no other source of
//!   states).
//! - **[stack]** A C function starts with `LUA_MINSTACK` (20) free slots; code that pushes
//!   more, or recurses over nested values, calls `lua_checkstack` first. Stack indices are
//!   either checked against `lua_gettop` or refer to values the same code pushed. The
//!   debug build's Lua API checks catch violations in the tests.
//! - **[jmp]** Lua raises errors with `longjmp`. `lua_error`, `luaL_error`, `luaL_argerror`
//!   and the `luaL_check*`/`luaL_opt*` family are only called from frames that own no
//!   value with a destructor: callback bodies return `Err` and the error is raised by
//!   `guarded` (or by the `extern fn` itself, as `raise`/`st_raise` in `libs.rs`, which
//!   copy the message into Lua and drop it first) once those frames are gone. Lua code is
//!   always run with `lua_pcall`, so its errors come back as return codes; the exception,
//!   a script's `__index` metamethod run by `error_info`'s `lua_getfield` outside any
//!   pcall, raises into `lua_panic`, which aborts (Redis crashes there too), so it never
//!   longjmps across Rust frames either. The one case not covered is an allocation
//!   failure inside a push (`LUA_ERRMEM`, only possible past the fuzz harness's memory
//!   limit or at real OOM), which Redis shares.
//! - **[str]** A slice made from `lua_tolstring` points into an immutable Lua string that
//!   lives while that value stays on the stack; each slice is used or copied before its
//!   slot is popped or overwritten. `lua_tolstring` converts a number in place, so it is
//!   never applied to a key during `lua_next` unless the key is known to be a string.
//! - **[panic]** Panics are caught (`catch_unwind`) before they reach a C frame.
//!
//! The `redis.*` callbacks work through [`Stack`] (`stack.rs`), which checks [stack] and
//! [str] itself, so that their only `unsafe` is the one `Stack::new` (or none, under
//! `guarded`); the raw C API is left to the set-up, the reply conversions and `libs.rs`.

use crate::command::{ctx, flags, Lookup, OwnedArgv};
use crate::reply::Reply;
use crate::server::Server;
use mlua_sys as ffi;
use std::cell::Cell;
use std::ffi::{c_char, c_int, CStr};
use std::ptr;

use super::stack::Stack;

pub use ffi::lua_State;

unsafe extern "C" {
    fn lua_enablereadonlytable(l: *mut lua_State, idx: c_int, enabled: c_int);
    pub(super) fn lua_isreadonlytable(l: *mut lua_State, idx: c_int) -> c_int;
}

/// `redis.set_repl` flags (Redis `PROPAGATE_AOF`, `PROPAGATE_REPL`).
pub mod repl {
    pub const NONE: u8 = 0;
    pub const AOF: u8 = 1;
    pub const REPLICA: u8 = 2;
    pub const ALL: u8 = 3;
}

/// What a running script's callbacks need (Redis `scriptRunCtx`).
pub struct RunCtx {
    /// The server (the handler's `&mut Server`, not used by the handler while Lua runs).
    pub srv: *mut Server,
    /// Slab key of the Lua client the script's commands run on.
    pub lua_client: usize,
    /// RESP version of `redis.call` replies (`redis.setresp`, 2 by default).
    pub resp: u8,
    /// No writes allowed (EVAL_RO, FCALL_RO, the `no-writes` flag).
    pub read_only: bool,
    /// The `allow-oom` flag.
    pub allow_oom: bool,
    /// Used memory was over `maxmemory` when the script started.
    pub oom_at_start: bool,
    /// The script has run a write command (Redis `SCRIPT_WRITE_DIRTY`).
    pub write_dirty: bool,
    /// `redis.set_repl` flags ([`repl`]).
    pub repl_flags: u8,
    /// The script's name in error replies: the sha1 for EVAL, the function's name.
    pub funcname: String,
    /// Slab key of the client running the script (protected while the script is busy).
    pub caller: usize,
    /// EVAL (not FCALL).
    pub is_eval: bool,
    /// When the script started.
    pub start: std::time::Instant,
    /// `busy-reply-threshold`, ms (0: never busy).
    pub busy_threshold_ms: u64,
    /// The script ran past the threshold: other clients get -BUSY.
    pub timed_out: bool,
    /// SCRIPT KILL / FUNCTION KILL asked to stop it.
    pub killed: bool,
    /// The command that started it (FUNCTION STATS `command`); valid while the run context
    /// exists (it borrows the caller's argv).
    pub command: crate::command::Argv<'static>,
}

thread_local! {
    static RUN_CTX: Cell<*mut RunCtx> = const { Cell::new(ptr::null_mut()) };
    /// Redis's `redisLrand48` state (48 bits), reset before every script.
    static RAND48: Cell<u64> = const { Cell::new(0x330E) };
}

/// Seeds the script PRNG as `redisSrand48(seed)` (lrand48's algorithm).
pub fn srand48(seed: i32) {
    RAND48.with(|r| r.set((((seed as u32) as u64) << 16) | 0x330E));
}

/// Next value of the script PRNG (31 bits, as `lrand48`).
fn lrand48() -> i32 {
    RAND48.with(|r| {
        let x = (r.get().wrapping_mul(0x5DEECE66D).wrapping_add(0xB)) & ((1u64 << 48) - 1);
        r.set(x);
        (x >> 17) as i32
    })
}

/// Installs `rctx` as the running script's context for the duration of `f`.
pub fn with_run_ctx<R>(rctx: *mut RunCtx, f: impl FnOnce() -> R) -> R {
    let prev = RUN_CTX.with(|c| c.replace(rctx));
    let r = f();
    RUN_CTX.with(|c| c.set(prev));
    r
}

fn run_ctx() -> *mut RunCtx {
    RUN_CTX.with(|c| c.get())
}

/// The running script's context, while one runs (for SCRIPT KILL, FUNCTION KILL / STATS
/// answered during a busy script).
pub fn running<'a>() -> Option<&'a mut RunCtx> {
    let p = run_ctx();
    if p.is_null() {
        None
    } else {
        // SAFETY: the pointer is non-null, so it is the `RunCtx` installed by `with_run_ctx`, which
        // lives on the stack of the command handler running the script for the whole time it is
        // installed; the server is single-threaded and no other `&mut` to it is live while Lua code
        // runs.
        Some(unsafe { &mut *p })
    }
}

/// Installs the count hook that notices a script running past `busy-reply-threshold`
/// (every 100,000 instructions, as Redis), or removes it.
///
/// # Safety
///
/// `l` is a live state made by [`new_state`] and not yet closed, used on this thread ([state]
/// in the safety model above).
pub unsafe fn set_busy_hook(l: *mut lua_State, on: bool) {
    // SAFETY: `l` is a state made by `new_state` [state]; `lua_sethook` only stores the hook in the
    // state and cannot raise.
    unsafe {
        if on {
            ffi::lua_sethook(l, Some(busy_hook), ffi::LUA_MASKCOUNT, 100_000);
        } else {
            ffi::lua_sethook(l, None, 0, 0);
        }
    }
}

/// The busy-script hook (Redis `luaMaskCountHook` + `scriptInterrupt`): past the threshold
/// it logs once, marks the server busy and serves other clients (-BUSY, SCRIPT KILL,
/// SHUTDOWN NOSAVE); a killed script gets an error it cannot catch for long (the hook then
/// fires on every line).
unsafe extern "C-unwind" fn busy_hook(l: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    let kill = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(rctx) = running() else { return false };
        if rctx.killed {
            return true;
        }
        let elapsed = rctx.start.elapsed().as_millis() as u64;
        if rctx.busy_threshold_ms == 0 || elapsed < rctx.busy_threshold_ms {
            return false;
        }
        // SAFETY: `rctx.srv` is the handler's `&mut Server`, which the handler does not touch while
        // Lua runs; the hook runs on the server thread inside that script run.
        let srv = unsafe { &mut *rctx.srv };
        if !rctx.timed_out {
            rctx.timed_out = true;
            srv.scripting.busy = Some(rctx.is_eval);
            crate::log::log(
                crate::log::Level::Warning,
                &format!(
                    "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the SCRIPT KILL command. Script name is: {}.",
                    rctx.funcname
                ),
            );
        }
        if !crate::net::process_events_while_blocked(srv, rctx.caller) {
            // No event loop (the test harness, the fuzzer): nobody could ever send SCRIPT
            // KILL, so a script past the threshold is stopped here, written or not.
            rctx.killed = true;
        }
        if let Some(code) = srv.shutdown {
            // SHUTDOWN NOSAVE during a busy script: it has done its work; leave now.
            std::process::exit(code);
        }
        if rctx.killed {
            crate::log::log(
                crate::log::Level::Notice,
                "Lua script killed by user with SCRIPT KILL.",
            );
        }
        rctx.killed
    }))
    .unwrap_or(false);
    if kill {
        // SAFETY: `l` is the state the hook was called with [state]; the closure above has returned
        // and dropped everything it owned, so `lua_error` skips only this frame, which holds plain
        // values [jmp]. `push_error` pushes one table within LUA_MINSTACK [stack].
        unsafe {
            ffi::lua_sethook(l, Some(busy_hook), ffi::LUA_MASKLINE, 0);
            push_error(l, b"Script killed by user with SCRIPT KILL...");
            ffi::lua_error(l);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers over the C API.

/// Pushes a byte string.
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with a
/// free stack slot.
#[inline]
unsafe fn push_bytes(l: *mut lua_State, b: &[u8]) {
    // SAFETY: the caller guarantees a valid state with a free slot (see `# Safety`); `b` is a live
    // slice of `b.len()` bytes that Lua copies before returning.
    unsafe { ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len()) };
}

/// The bytes of the string (or number, converted in place) at `idx`, if it is one.
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model) and `idx`
/// names an existing slot. The slice (any `'a` the caller picks) must not be used after that
/// slot is popped or overwritten ([str]); a number at `idx` is converted in place, so `idx`
/// must not be a key under `lua_next` traversal.
#[inline]
unsafe fn to_bytes<'a>(l: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    // SAFETY: the caller guarantees a valid state and an acceptable index (see `# Safety`);
    // `lua_tolstring` returns NULL for non-strings and never raises except for the allocation of a
    // number's conversion [jmp].
    let p = unsafe { ffi::lua_tolstring(l, idx, &mut len) };
    if p.is_null() {
        None
    } else {
        // SAFETY: `p` is non-null, so it points at `len` bytes of the Lua string at `idx`, which
        // are immutable and stay alive while that value stays on the stack [str]; the caller bounds
        // `'a` by that.
        Some(unsafe { std::slice::from_raw_parts(p as *const u8, len) })
    }
}

/// Pushes an error table as Redis's `luaPushErrorBuff`: `msg` either `-CODE text` (the
/// code is kept) or plain text (the code `ERR` is added); trailing CR/LF are trimmed.
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model) (as
/// [`Stack::new`]).
pub unsafe fn push_error(l: *mut lua_State, msg: &[u8]) {
    // SAFETY: the caller's contract (a live state on this thread) is `Stack::new`'s.
    unsafe { Stack::new(l) }.push_error(msg);
}

/// The `err` text Redis stores for an error message (see [`push_error`]).
pub fn error_table_text(msg: &[u8]) -> Vec<u8> {
    let (code, text): (&[u8], &[u8]) = match msg.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", msg),
    };
    let mut start = 0;
    let mut end = text.len();
    while start < end && (text[start] == b'\r' || text[start] == b'\n') {
        start += 1;
    }
    while end > start && (text[end - 1] == b'\r' || text[end - 1] == b'\n') {
        end -= 1;
    }
    let mut out = Vec::with_capacity(code.len() + 1 + end - start);
    out.extend_from_slice(code);
    out.push(b' ');
    out.extend_from_slice(&text[start..end]);
    out
}

/// Runs a callback body, turning `Err(())` (an error value pushed on the stack) and panics
/// into a Lua error raised after the body's frame is gone.
///
/// # Safety
///
/// `l` is the state Lua passed to the running C function, used on this thread ([state] in
/// `lua.rs`'s safety model); `guarded` must be the last thing the C function does, with no Rust
/// value owning a destructor live in its frame, since on `Err` or a panic it raises the error
/// with `lua_error`.
#[inline]
unsafe fn guarded(l: *mut lua_State, body: fn(&mut Stack<'_>) -> Result<c_int, ()>) -> c_int {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees `l` is the state of the running C function [state],
        // used on this thread until it returns.
        let mut st = unsafe { Stack::new(l) };
        body(&mut st)
    }));
    match r {
        Ok(Ok(n)) => n,
        // SAFETY: `body` returned `Err` after pushing its error value, and its frame (and the
        // closure's) is gone: this frame holds only `r`, an `Ok(Err(()))` with nothing to
        // drop, so the longjmp crosses no destructor [jmp].
        Ok(Err(())) => unsafe { ffi::lua_error(l) },
        Err(payload) => {
            // The panic payload is the one value here with a destructor: drop it before the
            // longjmp skips this frame.
            drop(payload);
            // SAFETY: `l` is the state of the running C function (caller's contract); it now
            // holds nothing with a destructor when `lua_error` longjmps [jmp].
            let mut st = unsafe { Stack::new(l) };
            st.push_error(b"internal error in a Redis API call");
            // SAFETY: as above: nothing with a destructor is live in this frame [jmp].
            unsafe { ffi::lua_error(l) }
        }
    }
}

// ---------------------------------------------------------------------------------------
// State creation and the sandbox.

/// Bytes the Lua states hold (every state of the process).
static LUA_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Most bytes the Lua states may hold (0: no limit, as Redis). The fuzz harness sets one so
/// that a script cannot take the fuzzer's memory; past it an allocation fails and Lua raises
/// `not enough memory`.
static LUA_LIMIT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sets the limit on the Lua states' memory, bytes (0: none).
pub fn set_memory_limit(bytes: usize) {
    LUA_LIMIT.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

/// The allocator of the Lua states (Lua's own `l_alloc` — realloc/free — with the byte
/// count and the optional limit).
unsafe extern "C" fn lua_alloc(
    _ud: *mut std::ffi::c_void,
    ptr: *mut std::ffi::c_void,
    osize: usize,
    nsize: usize,
) -> *mut std::ffi::c_void {
    use std::sync::atomic::Ordering::Relaxed;
    let old = if ptr.is_null() { 0 } else { osize };
    if nsize == 0 {
        // SAFETY: Lua's allocator contract: `ptr` is null or a block this allocator returned, and
        // Lua never uses it after a free (`nsize == 0`).
        unsafe { libc::free(ptr) };
        LUA_BYTES.fetch_sub(old, Relaxed);
        return std::ptr::null_mut();
    }
    let limit = LUA_LIMIT.load(Relaxed);
    if limit > 0 && nsize > old && LUA_BYTES.load(Relaxed) + (nsize - old) > limit {
        return std::ptr::null_mut();
    }
    // SAFETY: same contract as above: `ptr` is null or a live block from this allocator, of `osize`
    // bytes; on failure the old block is left intact, as Lua expects.
    let p = unsafe { libc::realloc(ptr, nsize) };
    if !p.is_null() {
        if nsize >= old {
            LUA_BYTES.fetch_add(nsize - old, Relaxed);
        } else {
            LUA_BYTES.fetch_sub(old - nsize, Relaxed);
        }
    }
    p
}

/// An error outside any protected call (never expected: every entry is a pcall).
unsafe extern "C-unwind" fn lua_panic(l: *mut lua_State) -> c_int {
    // SAFETY: Lua calls the panic function with its state and the error value at the top [state];
    // the bytes are copied before anything else touches the stack, and the process aborts (no
    // return into Lua).
    let msg = unsafe { Stack::new(l) }.bytes(-1).unwrap_or(b"?").to_vec();
    crate::log::log(
        crate::log::Level::Warning,
        &format!(
            "Lua error outside a protected call: {}",
            String::from_utf8_lossy(&msg)
        ),
    );
    std::process::abort();
}

/// The globals a script may see besides the libraries (Redis's allow lists).
const ALLOWED_BASE: &[&str] = &[
    "xpcall",
    "tostring",
    "getfenv",
    "setmetatable",
    "next",
    "assert",
    "tonumber",
    "rawequal",
    "collectgarbage",
    "getmetatable",
    "rawset",
    "pcall",
    "coroutine",
    "type",
    "_G",
    "select",
    "unpack",
    "gcinfo",
    "pairs",
    "rawget",
    "loadstring",
    "ipairs",
    "_VERSION",
    "setfenv",
    "load",
    "error",
    "newproxy",
    "os",
    "string",
    "math",
    "table",
    "bit",
    "cjson",
    "cmsgpack",
    "struct",
    "redis",
    "__redis__err__handler",
];

/// The error handler every script runs under (Redis's `__redis__err__handler`): it turns
/// a string error into `{err = 'ERR ' .. msg}` and adds the source and line of the Lua
/// code that raised it (skipping a C function such as `redis.call`).
const ERR_HANDLER: &str = "local dbg = debug
local error_handler = function (err)
  local i = dbg.getinfo(2,'nSl')
  if i and i.what == 'C' then
    i = dbg.getinfo(3,'nSl')
  end
  if type(err) ~= 'table' then
    err = {err='ERR ' .. tostring(err)}
  end
  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end
  return err
end
return error_handler";

/// Creates a sandboxed Lua state with the `redis` API (Redis `luaEngineInitEngine` +
/// `luaRegisterRedisAPI`); `eval` adds the EVAL-only parts (`redis.breakpoint`,
/// `redis.debug`) and locks the globals. Never fails (Lua only fails to allocate).
pub fn new_state(version: &str, version_num: i64) -> *mut lua_State {
    // SAFETY: `l` is checked non-null just below and is used only on this thread [state] (also
    // as the `Stack` handed to `open_all`, which leaves the stack balanced); set-up
    // pushes at most a few values at a time (within LUA_MINSTACK) and pops them before returning
    // [stack]; no Lua error can be raised here except on allocation failure, outside any script
    // [jmp].
    unsafe {
        let l = ffi::lua_newstate(lua_alloc, std::ptr::null_mut());
        assert!(!l.is_null(), "cannot allocate the Lua state");
        ffi::lua_atpanic(l, lua_panic);
        for (name, open) in [
            (c"", ffi::luaopen_base as ffi::lua_CFunction),
            (c"table", ffi::luaopen_table),
            (c"string", ffi::luaopen_string),
            (c"math", ffi::luaopen_math),
            (c"debug", ffi::luaopen_debug),
        ] {
            ffi::lua_pushcfunction(l, open);
            ffi::lua_pushstring(l, name.as_ptr());
            ffi::lua_call(l, 1, 0);
        }
        let mut st = Stack::new(l);
        super::libs::open_all(&mut st);
        // `os` with `clock` only (Redis 7.4).
        st.new_table(0, 1);
        st.set_function(c"clock", lua_os_clock);
        st.set_global(c"os");
        // pcall that hands back the `err` string of Redis's error tables.
        ffi::lua_pushcfunction(l, lua_redis_pcall_builtin);
        ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"pcall".as_ptr());

        st.new_table(0, 32);
        let funcs: &[(&CStr, ffi::lua_CFunction)] = &[
            (c"call", lua_redis_call),
            (c"pcall", lua_redis_pcall),
            (c"log", lua_redis_log),
            (c"setresp", lua_redis_setresp),
            (c"sha1hex", lua_redis_sha1hex),
            (c"error_reply", lua_redis_error_reply),
            (c"status_reply", lua_redis_status_reply),
            (c"set_repl", lua_redis_set_repl),
            (c"replicate_commands", lua_redis_replicate_commands),
            (c"acl_check_cmd", lua_redis_acl_check_cmd),
            (c"breakpoint", lua_redis_breakpoint),
            (c"debug", lua_redis_debug),
        ];
        for (name, f) in funcs {
            st.set_function(name, *f);
        }
        let numbers: &[(&CStr, f64)] = &[
            (c"LOG_DEBUG", 0.0),
            (c"LOG_VERBOSE", 1.0),
            (c"LOG_NOTICE", 2.0),
            (c"LOG_WARNING", 3.0),
            (c"REPL_NONE", repl::NONE as f64),
            (c"REPL_AOF", repl::AOF as f64),
            (c"REPL_SLAVE", repl::REPLICA as f64),
            (c"REPL_REPLICA", repl::REPLICA as f64),
            (c"REPL_ALL", repl::ALL as f64),
            (c"REDIS_VERSION_NUM", version_num as f64),
        ];
        for (name, v) in numbers {
            st.set_field_number(name, *v);
        }
        st.set_field_bytes(c"REDIS_VERSION", version.as_bytes());
        st.set_global(c"redis");

        // Redis's math.random / math.randomseed (lrand48, reset before each script).
        ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"math".as_ptr());
        ffi::lua_pushcfunction(l, lua_math_random);
        ffi::lua_setfield(l, -2, c"random".as_ptr());
        ffi::lua_pushcfunction(l, lua_math_randomseed);
        ffi::lua_setfield(l, -2, c"randomseed".as_ptr());
        ffi::lua_pop(l, 1);

        // The error handler, then no more `debug`.
        let rc = ffi::luaL_loadbuffer(
            l,
            ERR_HANDLER.as_ptr() as *const c_char,
            ERR_HANDLER.len(),
            c"@err_handler_def".as_ptr(),
        );
        assert_eq!(rc, 0, "the error handler compiles");
        ffi::lua_call(l, 0, 1);
        ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"__redis__err__handler".as_ptr());

        // Keep only the allowed globals (Redis never lets the others in).
        ffi::lua_pushnil(l);
        let mut remove: Vec<Vec<u8>> = Vec::new();
        while ffi::lua_next(l, ffi::LUA_GLOBALSINDEX) != 0 {
            ffi::lua_pop(l, 1);
            if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
                let k = to_bytes(l, -1).unwrap_or_default();
                if !ALLOWED_BASE.iter().any(|a| a.as_bytes() == k) {
                    remove.push(k.to_vec());
                }
            }
        }
        for k in &remove {
            push_bytes(l, k);
            ffi::lua_pushnil(l);
            ffi::lua_rawset(l, ffi::LUA_GLOBALSINDEX);
        }
        drop(remove);

        // Lock: unknown globals raise, every reachable table is readonly.
        ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_pushcfunction(l, lua_global_index_error);
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        ffi::lua_setmetatable(l, -2);
        protect_recursively(l);
        ffi::lua_pop(l, 1);
        l
    }
}

/// Makes the table at the top of the stack, every table reachable from it and their
/// metatables readonly (Redis `luaSetTableProtectionRecursively`).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with a
/// table at the top of the stack.
unsafe fn protect_recursively(l: *mut lua_State) {
    // SAFETY: the caller guarantees a valid state with a table at the top; two slots are reserved
    // with `lua_checkstack` per level before `lua_next` pushes key and value [stack]; every pushed
    // value is popped before returning.
    unsafe {
        if lua_isreadonlytable(l, -1) != 0 {
            return;
        }
        lua_enablereadonlytable(l, -1, 1);
        ffi::lua_checkstack(l, 2);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                protect_recursively(l);
            }
            ffi::lua_pop(l, 1);
        }
        if ffi::lua_getmetatable(l, -1) != 0 {
            protect_recursively(l);
            ffi::lua_pop(l, 1);
        }
    }
}

/// Sets global `name` to the array of `items` (KEYS, ARGV), opening the globals' lock for
/// the assignment.
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), outside
/// any running script's stack manipulation, with two free slots.
pub unsafe fn set_global_array(l: *mut lua_State, name: &CStr, items: &[&[u8]]) {
    // SAFETY: the caller's contract (a live state on this thread) is `Stack::new`'s.
    push_array(&mut unsafe { Stack::new(l) }, items);
    // SAFETY: live state (caller's contract) with the new table at the top, which
    // `lua_setfield` pops; the globals' lock is opened only around that assignment, and
    // the globals have no `__newindex`, so no Lua code runs and nothing raises.
    unsafe {
        lua_enablereadonlytable(l, ffi::LUA_GLOBALSINDEX, 0);
        ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, name.as_ptr());
        lua_enablereadonlytable(l, ffi::LUA_GLOBALSINDEX, 1);
    }
}

/// Pushes an array table of `items` (the KEYS / ARGV arguments of a function).
fn push_array(st: &mut Stack<'_>, items: &[&[u8]]) {
    st.new_table(items.len() as c_int, 0);
    for (i, it) in items.iter().enumerate() {
        st.push_bytes(it);
        st.raw_seti(i as ffi::lua_Integer + 1);
    }
}

/// Compiles `code` as chunk `name` (`@user_script`); on success the function is pushed,
/// on failure the message (`user_script:1: ...`) is returned and nothing is pushed.
///
/// # Safety
///
/// `l` is a live state made by [`new_state`] and not yet closed, used on this thread ([state]
/// in the safety model above).
pub unsafe fn load(l: *mut lua_State, code: &[u8], name: &CStr) -> Result<(), Vec<u8>> {
    // SAFETY: `l` comes from `new_state` [state]; `code` and `name` outlive the call (Lua copies
    // the chunk); on failure the message is copied to a `Vec` before it is popped [str];
    // `luaL_loadbuffer` reports errors by return code, it does not longjmp.
    unsafe {
        if ffi::luaL_loadbuffer(l, code.as_ptr() as *const c_char, code.len(), name.as_ptr()) != 0 {
            let msg = to_bytes(l, -1).unwrap_or(b"unknown error").to_vec();
            ffi::lua_pop(l, 1);
            return Err(msg);
        }
    }
    Ok(())
}

/// Stores the value at the top of the stack in the registry; returns its reference.
///
/// # Safety
///
/// `l` is a live state made by [`new_state`] and not yet closed, used on this thread ([state]
/// in the safety model above), with the value to store at the top of its stack.
pub unsafe fn registry_ref(l: *mut lua_State) -> c_int {
    // SAFETY: `l` comes from `new_state` [state] and the caller has pushed the value to store;
    // `luaL_ref` pops it.
    unsafe { ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX) }
}

/// Releases a registry reference.
///
/// # Safety
///
/// `l` is a live state made by [`new_state`] and not yet closed, used on this thread ([state]
/// in the safety model above), and `r` a reference it returned that is released only once.
pub unsafe fn registry_unref(l: *mut lua_State, r: c_int) {
    // SAFETY: `l` comes from `new_state` [state]; `r` is a reference obtained from
    // `registry_ref`/`luaL_ref` on it and released once.
    unsafe { ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, r) }
}

/// Memory used by the Lua state, bytes (Redis `luaMemory`).
///
/// # Safety
///
/// `l` is null or is a live state made by [`new_state`] and not yet closed, used on this thread
/// ([state] in the safety model above).
pub unsafe fn memory(l: *mut lua_State) -> usize {
    if l.is_null() {
        return 0;
    }
    // SAFETY: `l` is non-null, so it is a state from `new_state` [state]; `LUA_GCCOUNT` only reads
    // a counter.
    unsafe { ffi::lua_gc(l, ffi::LUA_GCCOUNT, 0) as usize * 1024 }
}

/// One incremental GC step of `n` (Redis runs `lua_gc(LUA_GCSTEP, 50)` every 50 scripts).
///
/// # Safety
///
/// `l` is a live state made by [`new_state`] and not yet closed, used on this thread ([state]
/// in the safety model above), with no script running on it.
pub unsafe fn gc_step(l: *mut lua_State, n: c_int) {
    // SAFETY: `l` comes from `new_state` [state] and no script is running (called between scripts);
    // a GC step runs finalizers of no Rust data.
    unsafe { ffi::lua_gc(l, ffi::LUA_GCSTEP, n) };
}

/// Closes a state.
///
/// # Safety
///
/// `l` is null or is a live state made by [`new_state`] and not yet closed, used on this thread
/// ([state] in the safety model above); it is not used after this call.
pub unsafe fn close(l: *mut lua_State) {
    if !l.is_null() {
        // SAFETY: `l` is non-null, so it is a state from `new_state`, closed once by its owner,
        // which drops the pointer afterwards [state].
        unsafe { ffi::lua_close(l) };
    }
}

/// Runs a compiled function (registry reference `fref`) under the error handler, with
/// `KEYS`/`ARGV` set as globals (`eval_mode`) or passed as the two arguments (functions),
/// and writes its result (or error) to `out` (Redis `luaCallFunction`). `rctx` must be the
/// run context installed with [`with_run_ctx`].
///
/// # Safety
///
/// `l` is a live state made by [`new_state`] and not yet closed, used on this thread ([state]
/// in the safety model above); `rctx` is the run context installed with [`with_run_ctx`] for
/// this call.
pub unsafe fn call_function(
    l: *mut lua_State,
    fref: c_int,
    keys: &[&[u8]],
    args: &[&[u8]],
    eval_mode: bool,
    rctx: *mut RunCtx,
    out: &mut Reply,
) {
    // SAFETY: `l` is live (`# Safety`; also wrapped as `st` for the arguments) and `rctx` is the
    // installed run context, alive for this call [state]; the script runs under `lua_pcall`, so its
    // errors come back as a return code and never longjmp through this frame [jmp]; the stack is
    // back at `top0` at the end (checked in debug builds) [stack]; the error bytes are copied
    // before the error object is popped [str].
    unsafe {
        let top0 = ffi::lua_gettop(l);
        ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"__redis__err__handler".as_ptr());
        ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, fref as _);
        let err = if eval_mode {
            set_global_array(l, c"KEYS", keys);
            set_global_array(l, c"ARGV", args);
            ffi::lua_pcall(l, 0, 1, -2)
        } else {
            let mut st = Stack::new(l);
            push_array(&mut st, keys);
            push_array(&mut st, args);
            ffi::lua_pcall(l, 2, 1, -4)
        };
        if err != 0 {
            if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                let msg = to_bytes(l, -1).unwrap_or(b"execution failure");
                let msg = &msg[..msg.len().min(100)];
                let text = format!(
                    "ERR Error running script {}, {}",
                    (*rctx).funcname,
                    String::from_utf8_lossy(msg)
                );
                out.error(&text.replace(['\r', '\n'], " "));
            } else {
                let info = error_info(l);
                let mut text = info.msg.unwrap_or_default();
                if let (Some(src), Some(line)) = (info.source, info.line) {
                    text.extend_from_slice(b" script: ");
                    text.extend_from_slice((*rctx).funcname.as_bytes());
                    text.extend_from_slice(b", on ");
                    text.extend_from_slice(&src);
                    text.push(b':');
                    text.extend_from_slice(&line);
                    text.push(b'.');
                }
                write_error(out, &text, info.ignore_stats);
            }
            // Consume the error object.
            ffi::lua_pop(l, 1);
        } else {
            reply_from_lua(l, out, (*rctx).resp);
        }
        debug_assert_eq!(
            ffi::lua_gettop(l),
            top0 + 1,
            "only the error handler is left"
        );
        // The error handler.
        ffi::lua_pop(l, 1);
    }
}

/// Writes `-<text>\r\n` (CR/LF in the text become spaces), counted in the error stats
/// unless `ignore_stats` (the error was already counted when the command failed).
fn write_error(out: &mut Reply, text: &[u8], ignore_stats: bool) {
    if ignore_stats {
        out.buf.push(b'-');
        out.buf.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.buf.extend_from_slice(b"\r\n");
    } else {
        out.error_verbatim(text);
    }
}

/// The parts of an error object (Redis `errorInfo`).
struct ErrorInfo {
    msg: Option<Vec<u8>>,
    source: Option<Vec<u8>>,
    line: Option<Vec<u8>>,
    ignore_stats: bool,
}

/// Reads the error object at the top of the stack (Redis `luaExtractErrorInformation`).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with the
/// error object at the top and one free slot. Its fields are read with `lua_getfield`, as
/// Redis does: on a script-made error table with an `__index` metamethod that runs Lua code,
/// and an error there (outside any `lua_pcall`) reaches `lua_panic`, which aborts the process
/// (Redis crashes the same way) — it never longjmps across the caller's frames.
unsafe fn error_info(l: *mut lua_State) -> ErrorInfo {
    // SAFETY: the caller guarantees a valid state with the error object at the top and one free
    // slot; each field pushed is copied to a `Vec` and popped [str]; an error raised by an
    // `__index` metamethod under `lua_getfield` ends in `lua_panic`'s abort, not a longjmp
    // across this frame (see `# Safety`) [jmp].
    unsafe {
        let mut info = ErrorInfo {
            msg: None,
            source: None,
            line: None,
            ignore_stats: false,
        };
        if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
            let mut m = b"ERR ".to_vec();
            m.extend_from_slice(to_bytes(l, -1).unwrap_or_default());
            info.msg = Some(m);
            return info;
        }
        for (field, slot) in [(c"err", 0), (c"source", 1), (c"line", 2)] {
            ffi::lua_getfield(l, -1, field.as_ptr());
            if ffi::lua_isstring(l, -1) != 0 {
                let v = to_bytes(l, -1).unwrap_or_default().to_vec();
                match slot {
                    0 => info.msg = Some(v),
                    1 => info.source = Some(v),
                    _ => info.line = Some(v),
                }
            }
            ffi::lua_pop(l, 1);
        }
        ffi::lua_getfield(l, -1, c"ignore_error_stats_update".as_ptr());
        if ffi::lua_type(l, -1) == ffi::LUA_TBOOLEAN {
            info.ignore_stats = ffi::lua_toboolean(l, -1) != 0;
        }
        ffi::lua_pop(l, 1);
        info
    }
}

// ---------------------------------------------------------------------------------------
// Lua value -> reply (Redis `luaReplyToRedisReply`).

/// Converts the value at the top of the stack into a reply to `out` and pops it.
/// `script_resp` is the RESP version the script chose (booleans differ).
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with the
/// value to convert at the top of the stack (it is popped).
pub unsafe fn reply_from_lua(l: *mut lua_State, out: &mut Reply, script_resp: u8) {
    // SAFETY: the caller guarantees a valid state with the value at the top; four slots are
    // reserved before recursing [stack]; the string slice is written to `out` before the value is
    // popped [str]; tables are read raw, except an error table's fields by `error_info`,
    // whose metamethod errors abort through `lua_panic` rather than longjmp [jmp].
    unsafe {
        if ffi::lua_checkstack(l, 4) == 0 {
            out.error("ERR reached lua stack limit");
            ffi::lua_pop(l, 1);
            return;
        }
        match ffi::lua_type(l, -1) {
            ffi::LUA_TSTRING => out.bulk(to_bytes(l, -1).unwrap_or_default()),
            ffi::LUA_TBOOLEAN => {
                let b = ffi::lua_toboolean(l, -1) != 0;
                if script_resp == 2 {
                    if b {
                        out.int(1)
                    } else {
                        out.null()
                    }
                } else {
                    out.boolean(b)
                }
            }
            ffi::LUA_TNUMBER => out.int(lua_number_to_i64(ffi::lua_tonumber(l, -1))),
            ffi::LUA_TTABLE => {
                table_reply(l, out, script_resp);
                return;
            }
            _ => out.null(),
        }
        ffi::lua_pop(l, 1);
    }
}

/// C's `(long long)` cast of a double as x86-64 computes it (for the libraries).
pub fn c_i64_cast(n: f64) -> i64 {
    lua_number_to_i64(n)
}

/// C's `(long long)` cast of a double as x86-64 computes it (`cvttsd2si`): truncation,
/// and i64::MIN for NaN and for anything out of range.
#[inline]
fn lua_number_to_i64(n: f64) -> i64 {
    // 2^63 is exact as a double; anything at or past it does not fit.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// Pushes `t[field]` (raw) of the table at the top and returns its Lua type.
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model) (as
/// [`Stack::new`]), with a table at the top.
unsafe fn raw_field(l: *mut lua_State, field: &CStr) -> c_int {
    // SAFETY: the caller's contract (a live state on this thread) is `Stack::new`'s.
    unsafe { Stack::new(l) }.raw_field(field)
}

/// The table case of [`reply_from_lua`]: error, status, double, big number, verbatim,
/// map, set, or else an array up to the first nil. Pops the table.
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with the
/// table at the top and four free slots (reserved by [`reply_from_lua`]).
unsafe fn table_reply(l: *mut lua_State, out: &mut Reply, script_resp: u8) {
    // SAFETY: the caller (`reply_from_lua`) guarantees a valid state with the table at the top and
    // has reserved four slots; every field read with `raw_field` is popped after its bytes are
    // copied into `out` [str]; the table is popped before returning; `error_info`'s
    // `lua_getfield` cannot longjmp across this frame (see its `# Safety`) [jmp].
    unsafe {
        if raw_field(l, c"err") == ffi::LUA_TSTRING {
            ffi::lua_pop(l, 1);
            let info = error_info(l);
            write_error(out, &info.msg.unwrap_or_default(), info.ignore_stats);
            ffi::lua_pop(l, 1);
            return;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, c"ok") == ffi::LUA_TSTRING {
            let s = to_bytes(l, -1).unwrap_or_default();
            out.buf.push(b'+');
            out.buf.extend(
                s.iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            out.buf.extend_from_slice(b"\r\n");
            ffi::lua_pop(l, 2);
            return;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, c"double") == ffi::LUA_TNUMBER {
            out.double(ffi::lua_tonumber(l, -1));
            ffi::lua_pop(l, 2);
            return;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, c"big_number") == ffi::LUA_TSTRING {
            let s: Vec<u8> = to_bytes(l, -1)
                .unwrap_or_default()
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect();
            out.bignum(&s);
            ffi::lua_pop(l, 2);
            return;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, c"verbatim_string") == ffi::LUA_TTABLE {
            if raw_field(l, c"format") == ffi::LUA_TSTRING {
                let fmt = to_bytes(l, -1).unwrap_or_default().to_vec();
                ffi::lua_pushstring(l, c"string".as_ptr());
                ffi::lua_rawget(l, -3);
                if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
                    let s = to_bytes(l, -1).unwrap_or_default();
                    let mut f = [b' '; 3];
                    for (i, b) in fmt.iter().take(3).enumerate() {
                        f[i] = *b;
                    }
                    pyrope_common::resp::encode::verbatim(&mut out.buf, &f, s, out.resp);
                    ffi::lua_pop(l, 4);
                    return;
                }
                ffi::lua_pop(l, 1);
            }
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, c"map") == ffi::LUA_TTABLE {
            let n = count_pairs(l);
            out.map(n);
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, -2) != 0 {
                ffi::lua_pushvalue(l, -2);
                reply_from_lua(l, out, script_resp);
                reply_from_lua(l, out, script_resp);
            }
            ffi::lua_pop(l, 2);
            return;
        }
        ffi::lua_pop(l, 1);
        if raw_field(l, c"set") == ffi::LUA_TTABLE {
            let n = count_pairs(l);
            out.set(n);
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, -2) != 0 {
                ffi::lua_pop(l, 1);
                ffi::lua_pushvalue(l, -1);
                reply_from_lua(l, out, script_resp);
            }
            ffi::lua_pop(l, 2);
            return;
        }
        ffi::lua_pop(l, 1);
        // An array: elements 1.. up to the first nil.
        let mut n = 0;
        loop {
            ffi::lua_rawgeti(l, -1, (n + 1) as _);
            let t = ffi::lua_type(l, -1);
            ffi::lua_pop(l, 1);
            if t == ffi::LUA_TNIL {
                break;
            }
            n += 1;
        }
        out.array(n as usize);
        for i in 1..=n {
            ffi::lua_rawgeti(l, -1, i as _);
            reply_from_lua(l, out, script_resp);
        }
        ffi::lua_pop(l, 1);
    }
}

/// Number of pairs of the table at the top of the stack.
///
/// # Safety
///
/// `l` is a live Lua state used on this thread ([state] in `lua.rs`'s safety model), with a
/// table at the top and two free slots.
unsafe fn count_pairs(l: *mut lua_State) -> usize {
    // SAFETY: the caller guarantees a valid table at the top and two free slots; `lua_next` pushes
    // key and value, the value is popped, and the final `lua_next` returning 0 pops the key; the
    // keys are not converted, so the iteration stays valid.
    unsafe {
        let mut n = 0;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, -2) != 0 {
            ffi::lua_pop(l, 1);
            n += 1;
        }
        n
    }
}

// ---------------------------------------------------------------------------------------
// Reply bytes -> Lua value (Redis `redisProtocolToLuaType`).

/// Parses one reply at `*pos` of `buf` (a reply the server wrote, so well formed) and
/// pushes its Lua value; with `push == false` the reply is skipped (attributes).
fn push_reply(st: &mut Stack<'_>, buf: &[u8], pos: &mut usize, push: bool) {
    let line_end =
        |p: usize| -> usize { memchr::memchr(b'\r', &buf[p..]).map_or(buf.len(), |i| p + i) };
    let t = buf[*pos];
    let start = *pos + 1;
    let end = line_end(start);
    let line = &buf[start..end];
    *pos = (end + 2).min(buf.len());
    let int = |b: &[u8]| pyrope_common::util::string2ll(b).unwrap_or(0);
    if push && !st.check_stack(5) {
        // Redis panics here; an error value is safer.
        st.push_error(b"reached lua stack limit");
        return;
    }
    match t {
        b':' => {
            if push {
                st.push_number(int(line) as f64)
            }
        }
        b'$' => {
            let n = int(line);
            if n < 0 {
                if push {
                    st.push_bool(false)
                }
            } else {
                let n = n as usize;
                if push {
                    st.push_bytes(&buf[*pos..*pos + n]);
                }
                *pos += n + 2;
            }
        }
        b'+' => {
            if push {
                st.new_table(0, 1);
                st.set_field_bytes(c"ok", line);
            }
        }
        b'-' => {
            if push {
                let mut m = Vec::with_capacity(line.len() + 1);
                m.push(b'-');
                m.extend_from_slice(line);
                st.push_error(&m);
                st.mark_ignore_stats();
            }
        }
        b'*' | b'~' | b'>' => {
            let n = int(line);
            if n < 0 {
                if push {
                    st.push_bool(false)
                }
                return;
            }
            if t == b'~' {
                if push {
                    st.new_table(0, 1);
                    st.push_cstr(c"set");
                    st.new_table(0, n as c_int);
                }
                for _ in 0..n {
                    push_reply(st, buf, pos, push);
                    if push {
                        st.push_bool(true);
                        st.raw_set();
                    }
                }
                if push {
                    st.raw_set();
                }
            } else {
                if push {
                    st.new_table(n as c_int, 0);
                }
                for i in 0..n {
                    push_reply(st, buf, pos, push);
                    if push {
                        st.raw_seti((i + 1) as ffi::lua_Integer);
                    }
                }
            }
        }
        b'%' => {
            let n = int(line);
            if push {
                st.new_table(0, 1);
                st.push_cstr(c"map");
                st.new_table(0, n as c_int);
            }
            for _ in 0..n {
                push_reply(st, buf, pos, push);
                push_reply(st, buf, pos, push);
                if push {
                    st.raw_set();
                }
            }
            if push {
                st.raw_set();
            }
        }
        b'|' => {
            let n = int(line);
            for _ in 0..2 * n {
                push_reply(st, buf, pos, false);
            }
            push_reply(st, buf, pos, push);
        }
        b'_' => {
            if push {
                st.push_nil()
            }
        }
        b'#' => {
            if push {
                st.push_bool(line == b"t")
            }
        }
        b',' => {
            if push {
                let d = parse_double(line);
                st.new_table(0, 1);
                st.push_cstr(c"double");
                st.push_number(d);
                st.raw_set();
            }
        }
        b'(' => {
            if push {
                st.new_table(0, 1);
                st.set_field_bytes(c"big_number", line);
            }
        }
        b'=' => {
            let n = int(line) as usize;
            let body = &buf[*pos..*pos + n];
            *pos += n + 2;
            if push {
                let (fmt, text) = if body.len() >= 4 {
                    (&body[..3], &body[4..])
                } else {
                    (&b"txt"[..], body)
                };
                st.new_table(0, 1);
                st.push_cstr(c"verbatim_string");
                st.new_table(0, 2);
                st.set_field_bytes(c"string", text);
                st.set_field_bytes(c"format", fmt);
                st.raw_set();
            }
        }
        _ => {
            if push {
                st.push_nil()
            }
        }
    }
}

/// A RESP3 double's text (`inf`, `-inf`, `nan` included).
fn parse_double(b: &[u8]) -> f64 {
    match b {
        b"inf" => f64::INFINITY,
        b"-inf" => f64::NEG_INFINITY,
        b"nan" | b"-nan" => f64::NAN,
        _ => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0),
    }
}

// ---------------------------------------------------------------------------------------
// redis.* functions.

/// A Lua number as a `redis.call` argument, as Redis 7.2+ writes it: an integral value
/// within ±(2^63-1)/2 as an integer (`double2ll`), anything else as the shortest
/// round-trip form (`fpconv_dtoa`).
fn number_arg(n: f64) -> Vec<u8> {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if (-HALF..=HALF).contains(&n) {
        let i = n as i64;
        if i as f64 == n {
            return i.to_string().into_bytes();
        }
    }
    pyrope_common::util::fpconv_dtoa(n).into_bytes()
}

/// Collects the call's arguments into an argv (Redis `luaArgsToRedisArgv`), popping them.
/// On error the error table is pushed.
fn args_to_argv(st: &mut Stack<'_>, mut argv: OwnedArgv) -> Result<OwnedArgv, ()> {
    let argc = st.top();
    if argc == 0 {
        st.push_error(b"Please specify at least one argument for this redis lib call");
        return Err(());
    }
    argv.clear();
    let mut ok = true;
    for j in 1..=argc {
        if st.type_at(j) == ffi::LUA_TNUMBER {
            argv.push(&number_arg(st.number(j)));
        } else if st.type_at(j) == ffi::LUA_TSTRING {
            argv.push(st.bytes(j).unwrap_or_default());
        } else {
            ok = false;
            break;
        }
    }
    st.pop(argc);
    if !ok {
        st.push_error(b"Lua redis lib command arguments must be strings or integers");
        return Err(());
    }
    Ok(argv)
}

/// Runs one command for the script (Redis `scriptCall`): the checks, then `call()` on the
/// Lua client. On a rejection returns the error text (counted in the stats here).
fn script_call(rctx: &mut RunCtx, argv: &OwnedArgv, out: &mut Reply) -> Result<(), Vec<u8>> {
    // SAFETY: `rctx.srv` is the handler's `&mut Server`, which the handler does not use while the
    // script runs; the Lua callback is the only code holding it now.
    let srv = unsafe { &mut *rctx.srv };
    let a = argv.argv();
    let reject = |srv: &mut Server, id: Option<usize>, msg: &[u8]| -> Result<(), Vec<u8>> {
        let code = match msg.strip_prefix(b"-") {
            Some(rest) => {
                String::from_utf8_lossy(rest.split(|&b| b == b' ').next().unwrap_or(b"ERR"))
                    .into_owned()
            }
            None => "ERR".to_string(),
        };
        srv.count_errors(&mut vec![code]);
        if let Some(id) = id {
            srv.commands.cmds[id].stats.rejected_calls += 1;
        }
        Err(msg.to_vec())
    };
    let id = match srv.commands.lookup(&a) {
        Lookup::Found(id) => id,
        _ => return reject(srv, None, b"Unknown Redis command called from script"),
    };
    let cmd = &srv.commands.cmds[id];
    if !cmd.arity_ok(a.len()) || cmd.handler.is_none() {
        return reject(
            srv,
            Some(id),
            b"Wrong number of args calling Redis command from script",
        );
    }
    let f = cmd.flags;
    if f & flags::NOSCRIPT != 0 {
        return reject(
            srv,
            Some(id),
            b"This Redis command is not allowed from script",
        );
    }
    if rctx.read_only && f & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        return reject(
            srv,
            Some(id),
            b"Write commands are not allowed from read-only scripts.",
        );
    }
    // `scriptVerifyACL`: as the caller's user.
    if let Err(msg) = crate::acl::check_command(srv, rctx.lua_client, rctx.caller, id, &a, "lua") {
        let m = format!("ACL failure in script: {msg}");
        return reject(srv, Some(id), m.as_bytes());
    }
    if f & flags::WRITE != 0 && !rctx.write_dirty {
        if crate::persist::writes_refused(srv) {
            let m = format!("-{}", crate::persist::MISCONF);
            return reject(srv, Some(id), m.as_bytes());
        }
        if let Some(e) = crate::aof::write_error(srv) {
            let m = format!("-{e}");
            return reject(srv, Some(id), m.as_bytes());
        }
    }
    if !rctx.allow_oom
        && srv.settings.maxmemory > 0
        && !rctx.write_dirty
        && rctx.oom_at_start
        && f & flags::DENYOOM != 0
    {
        return reject(
            srv,
            Some(id),
            b"-OOM command not allowed when used memory > 'maxmemory'.",
        );
    }
    if f & flags::WRITE != 0 {
        rctx.write_dirty = true;
    }
    out.resp = rctx.resp;
    let mut cflags = ctx::IN_SCRIPT | ctx::DENY_BLOCKING;
    if rctx.repl_flags == repl::NONE {
        cflags |= ctx::NO_PROPAGATE;
    }
    crate::command::call::call(srv, rctx.lua_client, id, a, out, cflags);
    Ok(())
}

fn redis_generic(st: &mut Stack<'_>, raise: bool) -> Result<c_int, ()> {
    let Some(rctx) = running() else {
        st.push_error(b"redis.call/pcall can only be called inside a script invocation");
        return Err(());
    };
    // SAFETY: `rctx.srv` is the handler's `&mut Server`, which the handler does not use
    // while the script runs; this callback is the only code holding it now.
    let reuse = std::mem::take(unsafe { &mut (*rctx.srv).scripting.argv });
    let argv = match args_to_argv(st, reuse) {
        Ok(a) => a,
        Err(()) => return if raise { Err(()) } else { Ok(1) },
    };
    // SAFETY: as above.
    let srv = unsafe { &mut *rctx.srv };
    let mut out = std::mem::take(&mut srv.scripting.reply);
    out.buf.clear();
    out.errors.clear();
    let r = script_call(rctx, &argv, &mut out);
    // SAFETY: as above; `script_call`'s borrow of the server has ended.
    unsafe { (*rctx.srv).scripting.argv = argv };
    let raise_now = match r {
        Err(msg) => {
            st.push_error(&msg);
            st.mark_ignore_stats();
            raise
        }
        Ok(()) => {
            let mut pos = 0;
            let is_err = out.buf.first() == Some(&b'-');
            if out.buf.is_empty() {
                st.push_nil();
            } else {
                push_reply(st, &out.buf, &mut pos, true);
            }
            raise && is_err
        }
    };
    out.buf.clear();
    if out.buf.capacity() > 64 * 1024 {
        out.buf = Vec::with_capacity(1024);
    }
    // SAFETY: as above.
    let srv = unsafe { &mut *rctx.srv };
    srv.scripting.reply = out;
    if raise_now {
        Err(())
    } else {
        Ok(1)
    }
}

fn call_body(st: &mut Stack<'_>) -> Result<c_int, ()> {
    redis_generic(st, true)
}

fn pcall_body(st: &mut Stack<'_>) -> Result<c_int, ()> {
    redis_generic(st, false)
}

unsafe extern "C-unwind" fn lua_redis_call(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; the body's error is raised
    // by `guarded` after the body's frame is gone [jmp].
    unsafe { guarded(l, call_body) }
}

unsafe extern "C-unwind" fn lua_redis_pcall(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; the body's error is raised
    // by `guarded` after the body's frame is gone [jmp].
    unsafe { guarded(l, pcall_body) }
}

/// The global `pcall`: as Lua's, but an error table with an `err` string comes back as
/// that string (Redis `luaRedisPcall`, for scripts written before Redis 7).
unsafe extern "C-unwind" fn lua_redis_pcall_builtin(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state of this call [state]; the argument count is checked before use; the
    // function is run with `lua_pcall`, so its error comes back as a return code [jmp]; the only
    // other raise is from an `__index` metamethod of the error table under `lua_getfield`, and
    // this frame holds only integers [jmp]; one slot is added (the boolean) and `lua_getfield`'s
    // value replaces or is popped [stack].
    unsafe {
        let argc = ffi::lua_gettop(l);
        if argc == 0 {
            // Redis's pcall calls nothing and returns nothing then.
            return 0;
        }
        ffi::lua_pushboolean(l, 1);
        ffi::lua_insert(l, 1);
        if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
            ffi::lua_remove(l, 1);
            if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                ffi::lua_getfield(l, -1, c"err".as_ptr());
                if ffi::lua_isstring(l, -1) != 0 {
                    ffi::lua_replace(l, -2);
                } else {
                    ffi::lua_pop(l, 1);
                }
            }
            ffi::lua_pushboolean(l, 0);
            ffi::lua_insert(l, 1);
        }
        ffi::lua_gettop(l)
    }
}

fn sha1hex_body(st: &mut Stack<'_>) -> Result<c_int, ()> {
    if st.top() != 1 {
        st.push_error(b"wrong number of arguments");
        return Err(());
    }
    let hex = super::sha1hex(st.bytes(1).unwrap_or_default());
    st.push_bytes(hex.as_bytes());
    Ok(1)
}

unsafe extern "C-unwind" fn lua_redis_sha1hex(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; the body's error is raised
    // by `guarded` after the body's frame is gone [jmp].
    unsafe { guarded(l, sha1hex_body) }
}

unsafe extern "C-unwind" fn lua_redis_error_reply(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with, used on this thread until
    // it returns [state]. Nothing below raises: the error table is returned as a value.
    let mut st = unsafe { Stack::new(l) };
    if st.top() != 1 || st.type_at(-1) != ffi::LUA_TSTRING {
        st.push_error(b"wrong number or type of arguments");
        return 1;
    }
    let s = st.bytes(-1).unwrap_or_default();
    let msg = if s.first() == Some(&b'-') {
        s.to_vec()
    } else {
        let mut m = b"-".to_vec();
        m.extend_from_slice(s);
        m
    };
    // Strings stop at NUL in Redis (`lua_tostring` into an sds by strlen).
    let msg = match msg.iter().position(|&b| b == 0) {
        Some(i) => msg[..i].to_vec(),
        None => msg,
    };
    st.push_error(&msg);
    1
}

unsafe extern "C-unwind" fn lua_redis_status_reply(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with, used on this thread until
    // it returns [state]. Nothing below raises.
    let mut st = unsafe { Stack::new(l) };
    if st.top() != 1 || st.type_at(-1) != ffi::LUA_TSTRING {
        st.push_error(b"wrong number or type of arguments");
        return 1;
    }
    st.new_table(0, 1);
    st.set_field_value(c"ok", 1);
    1
}

fn set_repl_body(st: &mut Stack<'_>) -> Result<c_int, ()> {
    let Some(rctx) = running() else {
        st.push_error(b"redis.set_repl can only be called inside a script invocation");
        return Err(());
    };
    if st.top() != 1 {
        st.push_error(b"redis.set_repl() requires one argument.");
        return Err(());
    }
    let f = st.number(-1) as i64;
    if f & !(repl::ALL as i64) != 0 {
        st.push_error(
            b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        );
        return Err(());
    }
    rctx.repl_flags = f as u8;
    Ok(0)
}

unsafe extern "C-unwind" fn lua_redis_set_repl(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; the body's error is raised
    // by `guarded` after the body's frame is gone [jmp].
    unsafe { guarded(l, set_repl_body) }
}

/// `redis.replicate_commands()`: effects replication is the only mode since Redis 7;
/// returns true.
unsafe extern "C-unwind" fn lua_redis_replicate_commands(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state].
    unsafe { Stack::new(l) }.push_bool(true);
    1
}

/// `redis.breakpoint()` / `redis.debug()`: the script debugger is not running, so
/// breakpoint returns false and debug does nothing, as in Redis outside `SCRIPT DEBUG`.
unsafe extern "C-unwind" fn lua_redis_breakpoint(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state].
    unsafe { Stack::new(l) }.push_bool(false);
    1
}

unsafe extern "C-unwind" fn lua_redis_debug(_l: *mut lua_State) -> c_int {
    0
}

fn acl_check_body(st: &mut Stack<'_>) -> Result<c_int, ()> {
    let Some(rctx) = running() else {
        st.push_error(b"redis.acl_check_cmd can only be called inside a script invocation");
        return Err(());
    };
    let argv = args_to_argv(st, OwnedArgv::default())?;
    // SAFETY: `rctx.srv` is the handler's `&mut Server`, which the handler does not use
    // while the script runs; only read here.
    let srv = unsafe { &*rctx.srv };
    let a = argv.argv();
    let Lookup::Found(id) = srv.commands.lookup(&a) else {
        drop(argv);
        st.push_error(b"Invalid command passed to redis.acl_check_cmd()");
        return Err(());
    };
    let slot = srv.clients[rctx.lua_client].acl_user;
    let ok = srv.acl.check(&srv.commands, slot, id, &a).is_ok();
    drop(argv);
    st.push_bool(ok);
    Ok(1)
}

unsafe extern "C-unwind" fn lua_redis_acl_check_cmd(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; the body's error is raised
    // by `guarded` after the body's frame is gone [jmp].
    unsafe { guarded(l, acl_check_body) }
}

fn log_body(st: &mut Stack<'_>) -> Result<c_int, ()> {
    let argc = st.top();
    if argc < 2 {
        st.push_error(b"redis.log() requires two arguments or more.");
        return Err(());
    }
    if !st.is_number(-argc) {
        st.push_error(b"First argument must be a number (log level).");
        return Err(());
    }
    let level = st.number(-argc) as i64;
    if !(0..=3).contains(&level) {
        st.push_error(b"Invalid log level.");
        return Err(());
    }
    let mut msg = Vec::new();
    for j in 1..argc {
        if let Some(s) = st.bytes(-argc + j) {
            if j != 1 {
                msg.push(b' ');
            }
            msg.extend_from_slice(s);
        }
    }
    let lvl = match level {
        0 => crate::log::Level::Debug,
        1 => crate::log::Level::Verbose,
        2 => crate::log::Level::Notice,
        _ => crate::log::Level::Warning,
    };
    crate::log::log(lvl, &String::from_utf8_lossy(&msg));
    Ok(0)
}

unsafe extern "C-unwind" fn lua_redis_log(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; the body's error is raised
    // by `guarded` after the body's frame is gone [jmp].
    unsafe { guarded(l, log_body) }
}

fn setresp_body(st: &mut Stack<'_>) -> Result<c_int, ()> {
    let Some(rctx) = running() else {
        st.push_error(b"redis.setresp can only be called inside a script invocation");
        return Err(());
    };
    let argc = st.top();
    if argc != 1 {
        st.push_error(b"redis.setresp() requires one argument.");
        return Err(());
    }
    let resp = st.number(-argc) as i64;
    if resp != 2 && resp != 3 {
        st.push_error(b"RESP version must be 2 or 3.");
        return Err(());
    }
    rctx.resp = resp as u8;
    Ok(0)
}

unsafe extern "C-unwind" fn lua_redis_setresp(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; the body's error is raised
    // by `guarded` after the body's frame is gone [jmp].
    unsafe { guarded(l, setresp_body) }
}

/// `__index` of the locked globals: reading an unknown global raises (Redis
/// `luaProtectedTableError`).
unsafe extern "C-unwind" fn lua_global_index_error(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state of this `__index` call, used on this thread until it
    // returns [state].
    let st = unsafe { Stack::new(l) };
    let msg: &CStr = if st.top() != 2 {
        c"Wrong number of arguments to luaProtectedTableError"
    } else if !st.is_string(-1) && !st.is_number(-1) {
        c"Second argument to luaProtectedTableError must be a string or number"
    } else {
        // SAFETY: the key at -1 exists (two arguments) and is a string or number, so
        // `lua_tolstring` returns a NUL-terminated string, which stays on the stack while
        // `luaL_error` formats it [str]; `luaL_error` longjmps from a frame holding only
        // pointers and the `Stack` handle, none with a destructor [jmp].
        return unsafe {
            let name = ffi::lua_tolstring(l, -1, ptr::null_mut());
            ffi::luaL_error(
                l,
                c"Script attempted to access nonexistent global variable '%s'".as_ptr(),
                name,
            )
        };
    };
    // SAFETY: `msg` is a static string without `%`; `luaL_error` longjmps from a frame
    // holding only pointers and the `Stack` handle, none with a destructor [jmp].
    unsafe { ffi::luaL_error(l, msg.as_ptr()) }
}

/// `os.clock()`: processor time of the process, seconds (C's `clock()`).
unsafe extern "C-unwind" fn lua_os_clock(l: *mut lua_State) -> c_int {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for `clock_gettime` to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    // SAFETY: `l` is the state Lua called this C function with [state].
    unsafe { Stack::new(l) }.push_number(ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9);
    1
}

/// Redis's `math.random`: Lua 5.1's, over `redisLrand48`.
unsafe extern "C-unwind" fn lua_math_random(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state of this call [state]; `luaL_check*`/`luaL_argerror`/`luaL_error`
    // longjmp from a frame holding only integers and floats [jmp]; one slot is pushed [stack].
    unsafe {
        if run_ctx().is_null() {
            return ffi::luaL_error(
                l,
                c"math.random can only be called inside a script invocation".as_ptr(),
            );
        }
        const MAX: f64 = i32::MAX as f64;
        let r = (lrand48() % i32::MAX) as f64 / MAX;
        match ffi::lua_gettop(l) {
            0 => ffi::lua_pushnumber(l, r),
            1 => {
                let u = ffi::luaL_checkinteger(l, 1) as c_int;
                if u < 1 {
                    return ffi::luaL_argerror(l, 1, c"interval is empty".as_ptr());
                }
                ffi::lua_pushnumber(l, (r * u as f64).floor() + 1.0);
            }
            2 => {
                let lo = ffi::luaL_checkinteger(l, 1) as c_int;
                let up = ffi::luaL_checkinteger(l, 2) as c_int;
                if lo > up {
                    return ffi::luaL_argerror(l, 2, c"interval is empty".as_ptr());
                }
                ffi::lua_pushnumber(l, (r * (up as f64 - lo as f64 + 1.0)).floor() + lo as f64);
            }
            _ => return ffi::luaL_error(l, c"wrong number of arguments".as_ptr()),
        }
        1
    }
}

unsafe extern "C-unwind" fn lua_math_randomseed(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state of this call [state]; `luaL_error`/`luaL_checkinteger` longjmp from
    // a frame holding no destructors [jmp].
    unsafe {
        if run_ctx().is_null() {
            return ffi::luaL_error(
                l,
                c"math.randomseed can only be called inside a script invocation".as_ptr(),
            );
        }
        srand48(ffi::luaL_checkinteger(l, 1) as c_int);
        0
    }
}

// ---------------------------------------------------------------------------------------
// The functions engine (Redis 7.4's `function_lua.c`).

/// A function registered by `redis.register_function` while a library loads.
pub struct Registered {
    /// Function name.
    pub name: String,
    /// Registry reference of the callback.
    pub fref: c_int,
    /// [`super::sflags`] bits.
    pub flags: u32,
    /// `description`, if given.
    pub description: Option<Vec<u8>>,
}

/// What `redis.register_function` fills while a library's code runs.
struct LoadCtx {
    registered: Vec<Registered>,
}

thread_local! {
    static LOAD_CTX: Cell<*mut LoadCtx> = const { Cell::new(ptr::null_mut()) };
}

const LIBRARY_API: &CStr = c"__library_api";

/// Prepares a state made by [`new_state`] for the functions engine: the library-loading
/// globals — only `redis`, with only `register_function`, `log`, the `LOG_*` levels and the
/// versions; any other name raises the nonexistent-variable error — kept in the registry.
///
/// # Safety
///
/// `l` is a live state made by [`new_state`] and not yet closed, used on this thread ([state]
/// in the safety model above), set up once, before any function is loaded.
pub unsafe fn functions_setup(l: *mut lua_State, version: &str, version_num: i64) {
    // SAFETY: `l` comes from `new_state` [state] (also wrapped as `st`, mixed with raw calls
    // that keep the stack balanced); at most four values are on the stack at once and
    // all end in the registry [stack]; no Lua error can be raised here except on allocation
    // failure, outside any script [jmp].
    unsafe {
        let mut st = Stack::new(l);
        // R_load: the loading `redis` table.
        st.new_table(0, 8);
        st.set_function(c"register_function", lua_register_function);
        st.set_function(c"log", lua_redis_log);
        for (name, v) in [
            (c"LOG_DEBUG", 0.0),
            (c"LOG_VERBOSE", 1.0),
            (c"LOG_NOTICE", 2.0),
            (c"LOG_WARNING", 3.0),
            (c"REDIS_VERSION_NUM", version_num as f64),
        ] {
            st.set_field_number(name, v);
        }
        st.set_field_bytes(c"REDIS_VERSION", version.as_bytes());
        st.new_table(0, 1);
        st.set_function(c"__index", lua_global_index_error);
        ffi::lua_setmetatable(l, -2);
        // T_load: { redis = R_load } and nothing else (as Redis: not even `error`).
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_insert(l, -2);
        ffi::lua_setfield(l, -2, c"redis".as_ptr());
        st.new_table(0, 1);
        st.set_function(c"__index", lua_global_index_error);
        ffi::lua_setmetatable(l, -2);
        protect_recursively(l);
        ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, LIBRARY_API.as_ptr());
    }
}

/// Compiles and runs a library's code (`code` starts at the shebang's line feed, so line
/// numbers count the shebang) in its own readonly environment whose names resolve to the
/// loading API; afterwards the environment resolves to the full globals, so the registered
/// callbacks see the whole `redis` API when called (Redis `luaEngineCreate`). Returns the
/// registered functions, or the error text (`Error compiling function: ...`, `Error
/// registering functions: ...`, `No functions registered`), freeing what was registered.
///
/// # Safety
///
/// `l` is a live state made by [`new_state`] and not yet closed, used on this thread ([state]
/// in the safety model above) and set up by [`functions_setup`]; no script is running on it.
pub unsafe fn load_library(l: *mut lua_State, code: &[u8]) -> Result<Vec<Registered>, String> {
    // SAFETY: `l` comes from `new_state` [state]; the library's code runs under `lua_pcall`, so its
    // errors return as a code and never longjmp across this frame, which owns `ctx` [jmp];
    // `LOAD_CTX` points at `ctx` only during that pcall; the stack is restored to its entry height
    // [stack]; error bytes are copied before the pop [str].
    unsafe {
        ffi::lua_getfield(l, ffi::LUA_GLOBALSINDEX, c"__redis__err__handler".as_ptr());
        if let Err(msg) = load(l, code, c"@user_function") {
            ffi::lua_pop(l, 1);
            return Err(format!(
                "Error compiling function: {}",
                String::from_utf8_lossy(&msg)
            ));
        }
        // env = {} with metatable { __index = T_load }; the chunk runs in it.
        ffi::lua_createtable(l, 0, 0);
        ffi::lua_createtable(l, 0, 1);
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, LIBRARY_API.as_ptr());
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        ffi::lua_pushvalue(l, -1);
        let meta_ref = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
        ffi::lua_setmetatable(l, -2);
        lua_enablereadonlytable(l, -1, 1);
        ffi::lua_setfenv(l, -2);
        let mut ctx = LoadCtx {
            registered: Vec::new(),
        };
        let prev = LOAD_CTX.with(|c| c.replace(&mut ctx as *mut LoadCtx));
        let rc = ffi::lua_pcall(l, 0, 0, -2);
        LOAD_CTX.with(|c| c.set(prev));
        let result = if rc != 0 {
            let info = if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
                error_info(l).msg.unwrap_or_default()
            } else {
                to_bytes(l, -1).unwrap_or_default().to_vec()
            };
            ffi::lua_pop(l, 1);
            Err(format!(
                "Error registering functions: {}",
                String::from_utf8_lossy(&info)
            ))
        } else if ctx.registered.is_empty() {
            Err("No functions registered".to_string())
        } else {
            Ok(())
        };
        // From now on the library's names resolve to the full globals.
        ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, meta_ref as _);
        ffi::lua_pushvalue(l, ffi::LUA_GLOBALSINDEX);
        ffi::lua_setfield(l, -2, c"__index".as_ptr());
        lua_enablereadonlytable(l, -1, 1);
        ffi::lua_pop(l, 1);
        ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, meta_ref);
        // The error handler.
        ffi::lua_pop(l, 1);
        match result {
            Ok(()) => Ok(std::mem::take(&mut ctx.registered)),
            Err(e) => {
                for r in ctx.registered.drain(..) {
                    registry_unref(l, r.fref);
                }
                Err(e)
            }
        }
    }
}

/// True for a valid function or library name: letters, digits, `_`, at least one.
pub fn valid_name(n: &[u8]) -> bool {
    !n.is_empty() && n.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

const BAD_NAME: &[u8] = b"Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// Reads a flags table (`{'no-writes', ...}`) at the absolute index `idx`, as Redis's
/// `luaRegisterFunctionReadFlags`: elements 1, 2, ... up to the first nil, names compared
/// case-insensitively; on an unknown flag (or a non-string) the error table is pushed.
fn read_flags(st: &mut Stack<'_>, idx: c_int) -> Result<u32, ()> {
    let mut f = 0;
    for i in 1.. {
        st.raw_geti(idx, i as ffi::lua_Integer);
        if st.type_at(-1) == ffi::LUA_TNIL {
            st.pop(1);
            break;
        }
        let name: &[u8] = if st.type_at(-1) == ffi::LUA_TSTRING {
            st.bytes(-1).unwrap_or_default()
        } else {
            b""
        };
        let bit = super::sflags::NAMES
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(_, b)| *b);
        st.pop(1);
        match bit {
            Some(b) => f |= b,
            None => {
                st.push_error(b"unknown flag given");
                return Err(());
            }
        }
    }
    Ok(f)
}

fn register_function_body(st: &mut Stack<'_>) -> Result<c_int, ()> {
    let l = st.raw();
    // SAFETY: `l` is the live state of this callback, wrapped by `st` [state]; `ctx` is non-null,
    // so it is the `LoadCtx` of the `load_library` frame below this pcall; keys are type-checked as
    // strings before `lua_tolstring`, so `lua_next` stays valid; slices are copied into `Vec`s at
    // once [str]; errors are returned and raised by `guarded` after the `Vec`s are dropped [jmp].
    unsafe {
        let ctx = LOAD_CTX.with(|c| c.get());
        if ctx.is_null() {
            push_error(
                l,
                b"redis.register_function can only be called on FUNCTION LOAD command",
            );
            return Err(());
        }
        let argc = ffi::lua_gettop(l);
        let (name, flags, description): (Vec<u8>, u32, Option<Vec<u8>>);
        if argc == 1 {
            if ffi::lua_type(l, 1) != ffi::LUA_TTABLE {
                push_error(l, b"calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
                return Err(());
            }
            let mut nm: Option<Vec<u8>> = None;
            let mut fl = 0;
            let mut desc = None;
            let mut have_cb = false;
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, 1) != 0 {
                // key at -2, value at -1
                if ffi::lua_type(l, -2) != ffi::LUA_TSTRING {
                    push_error(
                        l,
                        b"named argument key given to redis.register_function is not a string",
                    );
                    return Err(());
                }
                let key = to_bytes(l, -2).unwrap_or_default().to_vec();
                match key.as_slice() {
                    b"function_name" => {
                        if ffi::lua_isstring(l, -1) == 0 {
                            push_error(l, b"function_name argument given to redis.register_function must be a string");
                            return Err(());
                        }
                        nm = Some(to_bytes(l, -1).unwrap_or_default().to_vec());
                    }
                    b"description" => {
                        if ffi::lua_isstring(l, -1) == 0 {
                            push_error(l, b"description argument given to redis.register_function must be a string");
                            return Err(());
                        }
                        desc = Some(to_bytes(l, -1).unwrap_or_default().to_vec());
                    }
                    b"callback" => {
                        if ffi::lua_type(l, -1) != ffi::LUA_TFUNCTION {
                            push_error(l, b"callback argument given to redis.register_function must be a function");
                            return Err(());
                        }
                        // Keep it at index 2 for the reference below.
                        ffi::lua_pushvalue(l, -1);
                        if have_cb {
                            ffi::lua_replace(l, 2);
                        } else {
                            ffi::lua_insert(l, 2);
                        }
                        have_cb = true;
                    }
                    b"flags" => {
                        if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
                            push_error(l, b"flags argument to redis.register_function must be a table representing function flags");
                            return Err(());
                        }
                        fl = read_flags(st, ffi::lua_gettop(l))?;
                    }
                    _ => {
                        push_error(l, b"unknown argument given to redis.register_function");
                        return Err(());
                    }
                }
                ffi::lua_pop(l, 1);
            }
            let Some(n) = nm else {
                push_error(
                    l,
                    b"redis.register_function must get a function name argument",
                );
                return Err(());
            };
            if !have_cb {
                push_error(l, b"redis.register_function must get a callback argument");
                return Err(());
            }
            name = n;
            flags = fl;
            description = desc;
            // Stack: table, callback.
            ffi::lua_settop(l, 2);
        } else if argc == 2 {
            if ffi::lua_isstring(l, 1) == 0 {
                push_error(
                    l,
                    b"first argument to redis.register_function must be a string",
                );
                return Err(());
            }
            if ffi::lua_type(l, 2) != ffi::LUA_TFUNCTION {
                push_error(
                    l,
                    b"second argument to redis.register_function must be a function",
                );
                return Err(());
            }
            name = to_bytes(l, 1).unwrap_or_default().to_vec();
            flags = 0;
            description = None;
        } else {
            push_error(l, b"wrong number of arguments to redis.register_function");
            return Err(());
        }
        if !valid_name(&name) {
            push_error(l, BAD_NAME);
            return Err(());
        }
        let ctx = &mut *ctx;
        if ctx.registered.iter().any(|r| r.name.as_bytes() == name) {
            push_error(l, b"Function already exists in the library");
            return Err(());
        }
        ffi::lua_pushvalue(l, 2);
        let fref = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
        ctx.registered.push(Registered {
            name: String::from_utf8_lossy(&name).into_owned(),
            fref,
            flags,
            description,
        });
        Ok(0)
    }
}

unsafe extern "C-unwind" fn lua_register_function(l: *mut lua_State) -> c_int {
    // SAFETY: `l` is the state Lua called this C function with [state]; the body's error is raised
    // by `guarded` after the body's frame is gone [jmp].
    unsafe { guarded(l, register_function_body) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_take_the_code_or_add_err() {
        assert_eq!(
            error_table_text(b"-WRONGTYPE Operation"),
            b"WRONGTYPE Operation"
        );
        assert_eq!(error_table_text(b"-NOCODE"), b"ERR NOCODE");
        assert_eq!(error_table_text(b"plain text\r\n"), b"ERR plain text");
    }

    #[test]
    fn lrand48_matches_the_libc_sequence() {
        srand48(0);
        let ours: Vec<i32> = (0..5).map(|_| lrand48()).collect();
        // SAFETY: libc's `srand48`/`lrand48` take no pointers and have no preconditions; only
        // this test uses their global state.
        let theirs: Vec<i32> = unsafe {
            libc::srand48(0);
            (0..5).map(|_| libc::lrand48() as i32).collect()
        };
        assert_eq!(ours, theirs);
    }
}
