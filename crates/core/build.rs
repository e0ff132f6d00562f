//! Links libheif when the `heif` feature is on and the system has it (see Cargo.toml).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(libheif)");
    #[cfg(feature = "heif")]
    match pkg_config::Config::new().atleast_version("1.12").probe("libheif") {
        Ok(_) => println!("cargo::rustc-cfg=libheif"),
        Err(err) => {
            println!("cargo::warning=HEIC/AVIF support left out: libheif not found ({err}); install libheif-dev")
        }
    }
}
