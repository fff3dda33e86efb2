//! pyrope-cli: the redis-cli equivalent. All logic lives in the library crate.
fn main() {
    // As C tools: a closed stdout (e.g. `pyrope-cli --scan | head`) ends the program quietly.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Arguments as the OS gave them: commands are bytes, not necessarily UTF-8.
    std::process::exit(pyrope_cli::run(std::env::args_os().collect()));
}
