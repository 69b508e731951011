//! SIGINT / SIGTERM as something every phase of `keyhold up` can wait on, so
//! a Ctrl-C during startup tears down what was already started instead of
//! killing `keyhold` and orphaning Postgres and the services.

use std::fmt;
use std::future::Future;

use anyhow::Result;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::console::note;

#[derive(Clone)]
pub struct Shutdown(watch::Receiver<Option<&'static str>>);

/// Starts listening; from here on SIGINT and SIGTERM no longer kill the
/// process, they only set the [`Shutdown`] flag.
pub fn listen() -> Result<Shutdown> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            if first {
                let _ = tx.send(Some(name));
                first = false;
            } else {
                note(format_args!(
                    "{name} again: already stopping (each service gets up to 10 s)"
                ));
            }
        }
    });
    Ok(Shutdown(rx))
}

impl Shutdown {
    /// Resolves with the signal's name once one has arrived.
    pub async fn received(&mut self) -> &'static str {
        match self.0.wait_for(Option::is_some).await {
            Ok(name) => name.unwrap_or("a signal"),
            // The listener task never ends, so this only happens while the
            // runtime shuts down; nothing to wait for then.
            Err(_) => std::future::pending().await,
        }
    }

    /// Runs `work` unless a signal arrives first.
    pub async fn or_interrupted<T>(&mut self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            result = work => result,
            name = self.received() => Err(Interrupted(name).into()),
        }
    }
}

/// A signal ended `keyhold up` before the stack was fully up. Not a failure:
/// the user asked for it, and everything started so far has been stopped.
#[derive(Debug)]
pub struct Interrupted(pub &'static str);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stopped by {}", self.0)
    }
}

impl std::error::Error for Interrupted {}
