//! The CONFIG command (Redis config.c's configGetCommand / configSetCommand /
//! configRewriteCommand / RESETSTAT): the handlers only; the directive table, file loading and
//! value validation are in `config/mod.rs`.

use crate::command::{Ctx, Handler};

fn config_get(c: &mut Ctx) {
    let pats: Vec<&[u8]> = (2..c.argc()).map(|i| c.arg(i)).collect();
    let pairs = c.srv.config.get_matching(&pats);
    c.out.map(pairs.len());
    for (k, v) in pairs {
        c.out.bulk(k.as_bytes());
        c.out.bulk(v.as_bytes());
    }
}

fn config_set(c: &mut Ctx) {
    if c.argc() % 2 != 0 {
        return c.out.syntax_error();
    }
    let mut pairs = Vec::new();
    for i in (2..c.argc()).step_by(2) {
        // A sensitive parameter's value never reaches MONITOR or the slowlog.
        let name = String::from_utf8_lossy(c.arg(i));
        if super::lookup(&name).is_some_and(|p| super::PARAMS[p].flags & super::SENSITIVE != 0) {
            c.redact_arg(i + 1);
        }
        pairs.push((
            String::from_utf8_lossy(c.arg(i)).into_owned(),
            String::from_utf8_lossy(c.arg(i + 1)).into_owned(),
        ));
    }
    let protected_ok = match c.srv.config.get("enable-protected-configs").unwrap_or("no") {
        "yes" => true,
        "local" => c.srv.clients[c.cid].is_local(),
        _ => false,
    };
    let before = c.srv.config.clone_values();
    let previous = c.srv.settings.clone();
    match c.srv.config.set_many(&pairs, protected_ok) {
        Ok(names) => {
            c.srv.apply_config();
            // Redis's updateMaxclients: the OS must grant the descriptors.
            if names.contains(&"maxclients") {
                let want = c.srv.settings.maxclients;
                let fits = crate::adjust_open_files_limit(want);
                if fits != want {
                    c.srv.config.restore_values(before);
                    c.srv.apply_config();
                    return c.out.error(&format!(
                        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with {fits}"
                    ));
                }
            }
            // `appendonly` switches the AOF on (a first rewrite) or off (`updateAppendonly`).
            if names.contains(&"appendonly") {
                let on = c.srv.config.get("appendonly") == Some("yes");
                if !on {
                    crate::aof::stop(c.srv);
                } else if c.srv.aof.state == crate::aof::AofState::Off {
                    let in_exec = c.flags & crate::command::ctx::IN_MULTI != 0;
                    if crate::aof::start(c.srv, in_exec).is_err() {
                        c.srv.config.restore_values(before);
                        c.srv.apply_config();
                        return c.out.error("ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to turn on AOF. Check server logs.");
                    }
                }
            }
            if names.contains(&"maxmemory") {
                crate::evict::maxmemory_changed(c.srv);
            }
            if names.contains(&"aof-timestamp-enabled") {
                let on = c.srv.config.get("aof-timestamp-enabled") == Some("yes");
                if let Some(feed) = c.srv.propagator.aof.as_mut() {
                    feed.writer.timestamps = on;
                }
            }
            // Changing where we listen is applied now; on failure everything is rolled back.
            if names.iter().any(|n| *n == "port" || *n == "bind") {
                let which = if names.contains(&"port") {
                    "port"
                } else {
                    "bind"
                };
                if let Err(e) = crate::net::rebind_tcp(c.srv, &previous) {
                    crate::log!(Warning, "{e}");
                    c.srv.config.restore_values(before);
                    c.srv.apply_config();
                    let why = if which == "port" {
                        "Unable to listen on this port. Check server logs."
                    } else {
                        "Failed to bind to specified addresses."
                    };
                    return c.out.error(&format!(
                        "ERR CONFIG SET failed (possibly related to argument '{which}') - {why}"
                    ));
                }
            }
            c.out.ok();
        }
        Err(e) => c.out.error(&e),
    }
}

fn config_resetstat(c: &mut Ctx) {
    let samples = std::mem::take(&mut c.srv.stats.samples);
    c.srv.stats = Default::default();
    c.srv.stats.samples = samples;
    for cmd in &mut c.srv.commands.cmds {
        cmd.stats = Default::default();
    }
    c.srv.used_memory_peak = crate::evict::used_memory(c.srv);
    c.out.ok();
}

fn config_rewrite(c: &mut Ctx) {
    // Without an aclfile the users live in the config file (`rewriteConfigUserOption`).
    let users = if c.srv.config.get("aclfile").unwrap_or("").is_empty() {
        Some(crate::acl::list_lines(c.srv))
    } else {
        None
    };
    match c.srv.config.rewrite(users.as_deref()) {
        Ok(()) => {
            crate::log!(Notice, "CONFIG REWRITE executed with success.");
            c.out.ok();
        }
        Err(e) => {
            crate::log!(Warning, "CONFIG REWRITE failed: {e}");
            c.out.error(&e);
        }
    }
}

fn config_help(c: &mut Ctx) {
    c.out.help_lines(crate::help::CONFIG);
}

/// Handlers of this module.
/// Handlers of this module.
pub const COMMANDS: &[(&str, Handler)] = &[
    ("config|get", config_get),
    ("config|set", config_set),
    ("config|resetstat", config_resetstat),
    ("config|rewrite", config_rewrite),
    ("config|help", config_help),
];
