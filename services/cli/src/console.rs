//! What `keyhold` itself prints: progress notes on stderr, prefixed like the
//! services' own lines so the interleaved output reads as one log, and the
//! "stack is up" block on stdout.

use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering};

static PREFIX_WIDTH: AtomicUsize = AtomicUsize::new(0);

/// Pads every prefix to the longest name so the `|` columns line up.
pub fn set_prefix_width(names: impl IntoIterator<Item = usize>) {
    let width = names
        .into_iter()
        .chain(["keyhold".len()])
        .max()
        .unwrap_or(0);
    PREFIX_WIDTH.store(width, Ordering::Relaxed);
}

pub fn prefix(name: &str) -> String {
    format!(
        "{name:>width$} | ",
        width = PREFIX_WIDTH.load(Ordering::Relaxed)
    )
}

pub fn note(message: impl Display) {
    eprintln!("{}{message}", prefix("keyhold"));
}

/// One line for the final error: anyhow's `{:#}` joins the causes with ": ",
/// and stray newlines from tool output are folded.
pub fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_fold_to_one_line() {
        let err =
            anyhow::anyhow!("initdb said:\nline one\n\nline two").context("creating the cluster");
        assert_eq!(
            one_line(&err),
            "creating the cluster: initdb said:; line one; line two"
        );
    }
}
