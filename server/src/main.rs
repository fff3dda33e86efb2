//! The `pyrope-server` binary: `pyrope-server [/path/redis.conf] [--directive value ...]`.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(pyrope_server::run(args));
}
