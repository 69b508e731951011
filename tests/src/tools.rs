//! The outside programs a few tests drive: moto (an S3-compatible blob store for
//! object-svc) and the AWS CLI. Found on the machine when it has them; otherwise
//! installed once, with pip, into a virtual environment under the keyhold cache
//! directory, so `cargo test --workspace` needs nothing but Python 3 and the package
//! index (`.ci/run` works the same way).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use crate::db::cache_dir;

/// The packages the private environment holds.
const PACKAGES: &[&str] = &["moto[server]", "boto3", "awscli"];

/// A Python interpreter that can import `moto.server` and `boto3`.
pub fn python_with_moto() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let machine = PathBuf::from("python3");
            if succeeds(Command::new(&machine).args(["-c", "import moto.server, boto3"])) {
                machine
            } else {
                private_environment().join("bin/python")
            }
        })
        .clone()
}

/// The `aws` command.
pub fn aws_cli() -> PathBuf {
    static AWS: OnceLock<PathBuf> = OnceLock::new();
    AWS.get_or_init(|| {
        let machine = PathBuf::from("aws");
        if succeeds(Command::new(&machine).arg("--version")) {
            machine
        } else {
            private_environment().join("bin/aws")
        }
    })
    .clone()
}

/// The virtual environment with [`PACKAGES`], created on first use. A file lock keeps
/// concurrent test processes from installing into it at once; a marker written last
/// says the installation completed.
fn private_environment() -> PathBuf {
    let dir = cache_dir().join("test-python");
    let complete = dir.join("keyhold-complete");
    if complete.is_file() {
        return dir;
    }
    std::fs::create_dir_all(cache_dir()).expect("create the keyhold cache directory");
    let lock = std::fs::File::create(dir.with_extension("lock")).expect("create the lock file");
    lock.lock().expect("lock the test Python environment");
    if !complete.is_file() {
        install(&dir);
        std::fs::write(&complete, PACKAGES.join("\n")).expect("mark the environment complete");
    }
    dir
}

fn install(dir: &Path) {
    eprintln!(
        "installing {} into {} (once)",
        PACKAGES.join(", "),
        dir.display()
    );
    let _ = std::fs::remove_dir_all(dir);
    run(Command::new("python3").args(["-m", "venv"]).arg(dir));
    run(Command::new(dir.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PACKAGES));
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
