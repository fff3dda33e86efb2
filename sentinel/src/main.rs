//! `pyrope-sentinel`: a thin main over [`pyrope_sentinel::run`], which reads the arguments,
//! loads the config and runs the event loop until SHUTDOWN or a signal.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(pyrope_sentinel::run(args));
}
