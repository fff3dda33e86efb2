//! pyrope-cli: the redis-cli equivalent. All logic lives in the library crate.
fn main() {
    // As C tools: a closed stdout (e.g. `pyrope-cli --scan | head`) ends the program quietly.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(pyrope_cli::run(std::env::args().collect()));
}
