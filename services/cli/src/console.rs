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

/// One line for the final error: the causes joined with ": " (a cause that
/// its parent already quotes, as sqlx's do, is left out), and stray newlines
/// from tool output folded.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.last().is_some_and(|parent| parent.ends_with(&text)) {
            parts.push(text);
        }
    }
    parts
        .join(": ")
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
