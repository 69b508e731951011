//! Compiles the protos with protox (pure Rust), so building keyhold needs no protoc.
use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "keyhold/options/v1/options.proto",
    "keyhold/kms/v1/kms.proto",
    "keyhold/audit/v1/audit.proto",
    "keyhold/audit/v1/trail.proto",
    "keyhold/object/v1/object.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed={}", root.join("keyhold").display());

    let mut compiler = protox::Compiler::new([&root])?;
    compiler
        .include_imports(true)
        .include_source_info(true)
        .open_files(PROTOS)?;
    // The descriptor set serves reflection (comments included, for `grpcurl describe`)
    // and the audit hook. It is encoded by protox itself: a round trip through
    // prost_types would drop the custom options the audit hook reads.
    fs::write(
        out.join("keyhold_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let fds = compiler.file_descriptor_set();

    tonic_prost_build::configure()
        // Object bytes stay reference-counted from the wire to the cipher, uncopied.
        .bytes(".keyhold.object.v1")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
