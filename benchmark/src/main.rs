//! The `pyrope-benchmark` binary: see `pyrope-benchmark --help`.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(pyrope_benchmark::run(args));
}
