//! Compiles the protos with protox (pure Rust), so building keyhold needs no protoc.
use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &["keyhold/options/v1/options.proto", "keyhold/kms/v1/kms.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", root.join("keyhold").display());

    let fds = protox::compile(PROTOS, [&root])?;
    // The descriptor set serves reflection and the audit hook's request decoding.
    fs::write(out.join("keyhold_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
