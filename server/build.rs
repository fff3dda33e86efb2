// Builds the long-double shim (csrc/longdouble.c): see the comment at its top.
fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .opt_level(2)
        .compile("pyrope_longdouble");
}
