//! Orderly shutdown (Redis `prepareForShutdown` / `finishShutdown`): log, remove the pid
//! file and the unix socket, return the exit code.

use crate::server::Server;

/// Prepares to exit and returns the process exit code.
pub fn prepare_shutdown(srv: &mut Server) -> i32 {
    crate::log!(Notice, "User requested shutdown...");
    if !srv.settings.pidfile.is_empty() {
        crate::log!(Notice, "Removing the pid file.");
        let _ = std::fs::remove_file(&srv.settings.pidfile);
    }
    if !srv.settings.unixsocket.is_empty() {
        crate::log!(Notice, "Removing the unix socket file.");
        let _ = std::fs::remove_file(&srv.settings.unixsocket);
    }
    crate::log!(Warning, "Redis is now ready to exit, bye bye...");
    0
}
