//! Small file-system helpers shared by the other modules.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A regular file (symlinks followed) with at least one execute bit.
pub fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The last non-blank line of a text file, for one-line error messages that
/// point at a longer log.
pub fn last_line(path: &Path) -> Option<String> {
    let text = fs::read(path).ok()?;
    last_line_of(&String::from_utf8_lossy(&text))
}

pub fn last_line_of(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_owned)
}

/// A directory name that is stable for a given path across runs and Rust
/// versions (std's hasher promises neither), so a relocated Postgres cluster
/// is found again by the next run.
pub fn stable_hash(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    // FNV-1a, 64 bit.
    let hash = path
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{hash:016x}")
}

/// A fresh, empty directory for one test (no tempfile crate needed); the unit tests
/// of the library and of the `keyhold` binary both use it.
pub fn test_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("keyhold-cli-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn write_executable(path: &Path) {
    fs::write(path, "#!/bin/sh\n").unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_skips_blank_lines() {
        assert_eq!(last_line_of("a\nb  \n\n  \n").as_deref(), Some("b"));
        assert_eq!(last_line_of("\n\n"), None);
    }

    #[test]
    fn stable_hash_is_fixed() {
        // Pinned: changing it would orphan clusters relocated under /tmp.
        assert_eq!(stable_hash(Path::new("")), "cbf29ce484222325");
        assert_ne!(stable_hash(Path::new("/a")), stable_hash(Path::new("/b")));
    }
}
