//! Records the build profile and optimization level, which `gauntlet bench` prints next to its
//! measurements (a debug build's throughput is not the engine's).

fn main() {
    for (var, name) in [
        ("PROFILE", "GAUNTLET_BUILD_PROFILE"),
        ("OPT_LEVEL", "GAUNTLET_BUILD_OPT_LEVEL"),
    ] {
        let value = std::env::var(var).unwrap_or_else(|_| "unknown".into());
        println!("cargo:rustc-env={name}={value}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
