//! Orderly shutdown (Redis `prepareForShutdown` / `finishShutdown`): log, remove the pid
//! file and the unix socket, return the exit code.

use crate::server::Server;

/// SHUTDOWN's flags (a signal is all false).
#[derive(Clone, Copy, Debug, Default)]
pub struct How {
    /// SAVE: save even without `save` rules.
    pub save: bool,
    /// NOSAVE: do not save even with `save` rules.
    pub nosave: bool,
    /// FORCE: exit even if the final save fails.
    pub force: bool,
}

/// Prepares to exit and returns the process exit code: kills a saving child, writes the
/// final RDB snapshot when `save` rules exist (or SAVE was given) unless NOSAVE. Errors: the
/// final save failed without FORCE — the shutdown is cancelled (logged as Redis does).
pub fn prepare_shutdown(srv: &mut Server, how: How) -> Result<i32, ()> {
    crate::log!(Notice, "User requested shutdown...");
    if srv.persist.rdb_child() {
        crate::log!(Warning, "There is a child saving an .rdb. Killing it!");
        crate::persist::kill_child(srv);
    }
    if crate::aof::shutdown(srv, how.force).is_err() {
        crate::log!(
            Warning,
            "Errors trying to shut down the server. Check the logs for more information."
        );
        return Err(());
    }
    let has_rules = !srv.config.get("save").unwrap_or("").trim().is_empty();
    if (has_rules && !how.nosave) || how.save {
        crate::log!(Notice, "Saving the final RDB snapshot before exiting.");
        if crate::persist::save_foreground(srv).is_err() {
            if how.force {
                crate::log!(Warning, "Error trying to save the DB. Exit anyway.");
            } else {
                crate::log!(Warning, "Error trying to save the DB, can't exit.");
                crate::log!(
                    Warning,
                    "Errors trying to shut down the server. Check the logs for more information."
                );
                return Err(());
            }
        }
    }
    if !srv.settings.pidfile.is_empty() {
        crate::log!(Notice, "Removing the pid file.");
        let _ = std::fs::remove_file(&srv.settings.pidfile);
    }
    if !srv.settings.unixsocket.is_empty() {
        crate::log!(Notice, "Removing the unix socket file.");
        let _ = std::fs::remove_file(&srv.settings.unixsocket);
    }
    crate::log!(Warning, "Redis is now ready to exit, bye bye...");
    Ok(0)
}
