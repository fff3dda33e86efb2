//! Functions: FUNCTION LOAD DELETE FLUSH LIST DUMP RESTORE STATS KILL HELP and FCALL
//! FCALL_RO (Redis 7.4's `functions.c`, `function_lua.c`).
//!
//! Libraries live in their own Lua state (the functions engine, separate from EVAL's, as in
//! Redis). A library is its code — `#!lua name=<lib>` then Lua — run once at load in a
//! readonly environment where `redis` offers only `register_function` (see
//! [`super::lua::load_library`]); each registered function keeps its callback as a registry
//! reference, its flags and description. [`Functions`] maps library names to libraries and
//! function names (unique across libraries) to their library.
//!
//! Persistence: libraries are written to RDB files as FUNCTION2 records before the keys and
//! loaded back by [`load_from_rdb`] (a library already present is replaced, as DEBUG RELOAD
//! needs); FUNCTION LOAD/DELETE/FLUSH/RESTORE are write commands, so the AOF and replicas
//! get them as sent, and the AOF rewrite writes one FUNCTION LOAD per library.

use super::lua;
use super::sflags;
use crate::command::{Ctx, Handler};
use crate::server::Server;
use std::collections::BTreeMap;
use std::ffi::c_int;

/// One registered function.
pub struct Function {
    /// Registry reference of the callback in the functions engine.
    fref: c_int,
    /// [`sflags`] bits.
    pub flags: u32,
    /// Its library.
    library: String,
    description: Option<Vec<u8>>,
}

/// One library.
pub struct Library {
    /// Full code, shebang included (what FUNCTION LIST WITHCODE and DUMP give back).
    pub code: Vec<u8>,
    /// Its functions' names, in registration order.
    functions: Vec<String>,
}

/// The functions engine and every loaded library.
pub struct Functions {
    lua: *mut lua::lua_State,
    /// Libraries by name.
    pub libraries: BTreeMap<String, Library>,
    /// Functions by name.
    functions: BTreeMap<String, Function>,
}

impl Default for Functions {
    fn default() -> Self {
        Functions {
            lua: std::ptr::null_mut(),
            libraries: BTreeMap::new(),
            functions: BTreeMap::new(),
        }
    }
}

impl Functions {
    /// INFO `number_of_functions`.
    pub fn count(&self) -> usize {
        self.functions.len()
    }

    /// INFO `number_of_libraries`.
    pub fn libraries_count(&self) -> usize {
        self.libraries.len()
    }

    /// INFO `used_memory_vm_functions`: the engine's Lua memory, bytes.
    pub fn vm_memory(&self) -> usize {
        if self.lua.is_null() {
            return 32768;
        }
        // SAFETY: `self.lua` is non-null, so it is the engine `engine()` made with
        // `new_state`, owned by `self` and closed only by `flush`.
        unsafe { lua::memory(self.lua) }
    }

    /// INFO `used_memory_functions`: the libraries' own overhead, bytes.
    pub fn overhead(&self) -> usize {
        self.libraries
            .iter()
            .map(|(n, l)| n.len() + l.code.len() + 64)
            .sum::<usize>()
            + self
                .functions
                .iter()
                .map(|(n, f)| n.len() + f.description.as_ref().map_or(0, |d| d.len()) + 64)
                .sum::<usize>()
    }

    fn engine(&mut self) -> *mut lua::lua_State {
        if self.lua.is_null() {
            let l = lua::new_state(crate::REDIS_VERSION, super::redis_version_num());
            // SAFETY: `l` was just made by `new_state`; it is set up once, here.
            unsafe { lua::functions_setup(l, crate::REDIS_VERSION, super::redis_version_num()) };
            self.lua = l;
        }
        self.lua
    }

    /// Removes library `name` and its functions.
    fn remove_library(&mut self, name: &str) -> Option<Library> {
        let lib = self.libraries.remove(name)?;
        for f in &lib.functions {
            if let Some(func) = self.functions.remove(f) {
                // SAFETY: a library exists only in a live engine (`self.lua`, made by
                // `engine()`), and its function's reference is released once, with it.
                unsafe { lua::registry_unref(self.lua, func.fref) };
            }
        }
        Some(lib)
    }

    /// Deletes every library and starts a new engine.
    pub fn flush(&mut self) {
        // SAFETY: `self.lua` is null or the engine owned by `self`; `self` is replaced just
        // below, so the closed state is never used again.
        unsafe { lua::close(self.lua) };
        *self = Functions::default();
    }

    /// Loads a library (Redis `functionsCreateWithLibraryCtx`): parses the shebang, runs the
    /// code, checks the names; with `replace`, a library of the same name is replaced.
    /// Returns the library's name, or the error text (without the `ERR ` code).
    pub fn create(&mut self, code: &[u8], replace: bool) -> Result<String, String> {
        let (engine, name, body_at) = library_metadata(code)?;
        if !engine.eq_ignore_ascii_case("lua") {
            return Err(format!("Engine '{engine}' not found"));
        }
        if !lua::valid_name(name.as_bytes()) {
            return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
        }
        if self.libraries.contains_key(&name) && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let l = self.engine();
        // SAFETY: `l` is `engine()`'s live state, set up by `functions_setup`; FUNCTION LOAD
        // is `noscript`, so no script is running on it.
        let registered = unsafe { lua::load_library(l, &code[body_at..]) }?;
        // Function names must not collide with another library's.
        if let Some(r) = registered.iter().find(|r| {
            self.functions
                .get(&r.name)
                .is_some_and(|f| f.library != name)
        }) {
            let msg = format!("Function {} already exists", r.name);
            for r in registered {
                // SAFETY: `l` is the live engine that just made these references; each
                // is released once, as its function is dropped.
                unsafe { lua::registry_unref(l, r.fref) };
            }
            return Err(msg);
        }
        self.remove_library(&name);
        let mut names = Vec::with_capacity(registered.len());
        for r in registered {
            names.push(r.name.clone());
            self.functions.insert(
                r.name,
                Function {
                    fref: r.fref,
                    flags: r.flags,
                    library: name.clone(),
                    description: r.description,
                },
            );
        }
        self.libraries.insert(
            name.clone(),
            Library {
                code: code.to_vec(),
                functions: names,
            },
        );
        Ok(name)
    }

    /// The flags of function `name`, if it exists.
    pub fn flags_of(&self, name: &[u8]) -> Option<u32> {
        let n = std::str::from_utf8(name).ok()?;
        self.functions.get(n).map(|f| f.flags)
    }
}

/// Parses a library's first line (Redis `functionExtractLibMetaData`): returns the engine
/// name, the library name and where the code after the shebang starts (its line feed).
fn library_metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = memchr::memchr(b'\n', code) else {
        return Err("Invalid library metadata".into());
    };
    let parts = match pyrope_common::conf::split_args(&code[..end]) {
        Ok(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name: Option<String> = None;
    for p in &parts[1..] {
        if p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&p[5..]).into_owned());
        } else {
            return Err(format!(
                "Invalid metadata value given: {}",
                String::from_utf8_lossy(p)
            ));
        }
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok((engine, name, end))
}

/// The commands of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("fcall", fcall),
    ("fcall_ro", fcall_ro),
    ("function|load", function_load),
    ("function|delete", function_delete),
    ("function|flush", function_flush),
    ("function|list", function_list),
    ("function|dump", function_dump),
    ("function|restore", function_restore),
    ("function|stats", function_stats),
    ("function|kill", function_kill),
    ("function|help", function_help),
];

fn fcall(c: &mut Ctx) {
    fcall_generic(c, false);
}

fn fcall_ro(c: &mut Ctx) {
    fcall_generic(c, true);
}

/// FCALL / FCALL_RO (Redis `fcallCommandGeneric`).
fn fcall_generic(c: &mut Ctx, ro: bool) {
    c.no_propagate = true;
    let name = String::from_utf8_lossy(c.arg(1)).into_owned();
    let Some(f) = c.srv.scripting.functions.functions.get(&name) else {
        return c.out.error("ERR Function not found");
    };
    let (fref, flags) = (f.fref, f.flags);
    let Some(numkeys) = pyrope_common::util::string2ll(c.arg(2)) else {
        return c.out.error("ERR Bad number of keys provided");
    };
    if numkeys > (c.argc() - 3) as i64 {
        return c
            .out
            .error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return c.out.error("ERR Number of keys can't be negative");
    }
    let nk = numkeys as usize;
    let keys: Vec<&[u8]> = (3..3 + nk).map(|i| c.arg(i)).collect();
    let args: Vec<&[u8]> = (3 + nk..c.argc()).map(|i| c.arg(i)).collect();
    let l = c.srv.scripting.functions.lua;
    // SAFETY: the function was found, so the engine that loaded it is live (`l`, owned by
    // `Functions`, closed only by FUNCTION FLUSH, which a running script cannot reach).
    unsafe { super::run_script(c, l, fref, flags, ro, &name, &keys, &args, false) };
}

fn function_load(c: &mut Ctx) {
    let (replace, code_at) = match c.argc() {
        3 => (false, 2),
        4 if c.arg(2).eq_ignore_ascii_case(b"replace") => (true, 3),
        4 => {
            return c.out.error(&format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(c.arg(2))
            ))
        }
        _ => {
            return c
                .out
                .error("ERR wrong number of arguments for 'function|load' command")
        }
    };
    match c.srv.scripting.functions.create(c.arg(code_at), replace) {
        Ok(name) => {
            c.dirty(1);
            c.out.bulk(name.as_bytes());
        }
        Err(e) => c.out.error(&format!("ERR {e}")),
    }
}

fn function_delete(c: &mut Ctx) {
    let name = String::from_utf8_lossy(c.arg(2)).into_owned();
    if c.srv.scripting.functions.remove_library(&name).is_none() {
        return c.out.error("ERR Library not found");
    }
    c.dirty(1);
    c.out.ok();
}

fn function_flush(c: &mut Ctx) {
    if !super::flush_mode_ok(c) {
        return c
            .out
            .error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    c.srv.scripting.functions.flush();
    c.dirty(1);
    c.out.ok();
}

fn function_list(c: &mut Ctx) {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < c.argc() {
        let a = c.arg(i);
        if a.eq_ignore_ascii_case(b"withcode") && !with_code {
            with_code = true;
            i += 1;
        } else if a.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            if i + 1 >= c.argc() {
                return c.out.error("ERR library name argument was not given");
            }
            pattern = Some(c.arg(i + 1));
            i += 2;
        } else {
            return c.out.error(&format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(a)
            ));
        }
    }
    let fs = &c.srv.scripting.functions;
    let libs: Vec<(&String, &Library)> = fs
        .libraries
        .iter()
        .filter(|(n, _)| {
            pattern.is_none_or(|p| pyrope_common::glob::glob_match(p, n.as_bytes(), false))
        })
        .collect();
    let out = &mut *c.out;
    out.array(libs.len());
    for (name, lib) in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.functions.len());
        for fname in &lib.functions {
            let f = &fs.functions[fname];
            out.map(3);
            out.bulk(b"name");
            out.bulk(fname.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names: Vec<&str> = sflags::NAMES
                .iter()
                .filter(|(_, b)| f.flags & b != 0)
                .map(|(n, _)| *n)
                .collect();
            out.set(names.len());
            for n in names {
                out.simple(n);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
}

/// The FUNCTION DUMP payload: a FUNCTION2 record per library, then the RDB version and the
/// CRC64, as DUMP payloads end (Redis `functionDumpCommand`).
pub fn dump_payload(srv: &Server) -> Vec<u8> {
    let compress = srv.config.get("rdbcompression") != Some("no");
    let mut out = Vec::new();
    for lib in srv.scripting.functions.libraries.values() {
        out.push(pyrope_common::rdb::opcodes::FUNCTION2);
        pyrope_common::rdb::write::put_string(&mut out, &lib.code, compress);
    }
    out.extend_from_slice(&(crate::dump::DUMP_RDB_VERSION as u16).to_le_bytes());
    let crc = pyrope_common::rdb::crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn function_dump(c: &mut Ctx) {
    let p = dump_payload(c.srv);
    c.out.bulk(&p);
}

fn function_restore(c: &mut Ctx) {
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy = if c.argc() > 3 {
        let a = c.arg(3);
        if a.eq_ignore_ascii_case(b"append") {
            Policy::Append
        } else if a.eq_ignore_ascii_case(b"replace") {
            Policy::Replace
        } else if a.eq_ignore_ascii_case(b"flush") {
            Policy::Flush
        } else {
            return c.out.error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
        }
    } else {
        Policy::Append
    };
    if c.argc() > 4 {
        return c.out.error("ERR syntax error");
    }
    let body = match pyrope_common::rdb::payload::verify_payload(c.arg(2)) {
        Ok((_, body)) => body,
        Err(_) => {
            return c
                .out
                .error("ERR DUMP payload version or checksum are wrong")
        }
    };
    // Every library of the payload, read first: a bad payload changes nothing.
    let mut codes = Vec::new();
    let mut rd = pyrope_common::rdb::read::Reader::new(body, Default::default());
    while (rd.offset() as usize) < body.len() {
        match rd.read_u8() {
            Ok(pyrope_common::rdb::opcodes::FUNCTION2) => {}
            Ok(_) => return c.out.error("ERR given type is not a function"),
            Err(_) => return c.out.error("ERR payload is corrupted"),
        }
        match rd.read_string() {
            Ok(code) => codes.push(code),
            Err(_) => return c.out.error("ERR payload is corrupted"),
        }
    }
    let fs = &mut c.srv.scripting.functions;
    // Check the APPEND collisions before changing anything.
    if policy == Policy::Append {
        for code in &codes {
            if let Ok((_, name, _)) = library_metadata(code) {
                if fs.libraries.contains_key(&name) {
                    return c.out.error(&format!("ERR Library {name} already exists"));
                }
            }
        }
    }
    if policy == Policy::Flush {
        fs.flush();
    }
    for code in &codes {
        if let Err(e) = fs.create(code, policy != Policy::Append) {
            return c.out.error(&format!("ERR {e}"));
        }
    }
    c.dirty(1);
    c.out.ok();
}

fn function_stats(c: &mut Ctx) {
    if c.srv.scripting.busy == Some(true) {
        return c.out.error(super::BUSY_EVAL);
    }
    let fs = &c.srv.scripting.functions;
    let (libs, funcs) = (fs.libraries.len(), fs.functions.len());
    let out = &mut *c.out;
    out.map(2);
    out.bulk(b"running_script");
    match lua::running() {
        Some(r) if !r.is_eval => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(r.funcname.as_bytes());
            out.bulk(b"command");
            out.array(r.command.len());
            for a in r.command.iter() {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(r.start.elapsed().as_millis() as i64);
        }
        _ => out.null(),
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
}

fn function_kill(c: &mut Ctx) {
    super::kill_script(c, false);
}

fn function_help(c: &mut Ctx) {
    c.out.help(
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
}

/// Loads a library found in an RDB file (FUNCTION2), replacing one of the same name.
pub fn load_from_rdb(srv: &mut Server, code: &[u8]) -> Result<(), String> {
    srv.scripting
        .functions
        .create(code, true)
        .map(|_| ())
        .map_err(|e| format!("Failed loading library: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_metadata_as_redis() {
        assert_eq!(
            library_metadata(b"#!lua name=lib\ncode"),
            Ok(("lua".into(), "lib".into(), 14))
        );
        assert_eq!(
            library_metadata(b"return 1"),
            Err("Missing library metadata".into())
        );
        assert_eq!(
            library_metadata(b"#!lua name=a foo=bar\n"),
            Err("Invalid metadata value given: foo=bar".into())
        );
        assert_eq!(
            library_metadata(b"#!lua\n"),
            Err("Library name was not given".into())
        );
    }
}
