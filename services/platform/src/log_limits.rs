//! What may reach a log line, whatever RUST_LOG says. Libraries that log what a
//! client sent (s3s logs a malformed XML body whole at ERROR and, at DEBUG, whole
//! requests with their Authorization header and the signature it computed) are
//! silenced by a filter of their own, which no RUST_LOG directive can lift; and each
//! line is cut at a fixed size, so that one request cannot write megabytes of log.

use std::io::{self, Write};

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;

use crate::telemetry::LogFormat;

/// Targets that never log, and why.
const SILENCED: &[(&str, LevelFilter)] = &[
    // Request bodies at ERROR, requests (headers and all) and computed signatures at
    // DEBUG and TRACE: nothing of s3s's is safe to keep.
    ("s3s", LevelFilter::OFF),
];

/// The longest log line, in bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// The target of the audit records written to the log when no audit-svc is
/// configured: a record is bounded by the audit pipeline, and its line may be longer
/// (JSON escaping of a record can double it).
pub const AUDIT_TARGET: &str = "audit";
pub const MAX_AUDIT_LINE_BYTES: usize = 1024 * 1024;
/// How much of a cut line is kept in the JSON line that replaces it.
const KEPT_OF_CUT_JSON_LINE: usize = 1024;

/// The filter every log and trace layer applies on top of RUST_LOG's.
pub fn always_silenced() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(SILENCED.iter().copied())
}

/// A writer maker whose lines are never longer than their cap.
pub struct BoundedLines<M> {
    inner: M,
    format: LogFormat,
}

impl<M> BoundedLines<M> {
    pub fn new(inner: M, format: LogFormat) -> Self {
        BoundedLines { inner, format }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for BoundedLines<M> {
    type Writer = BoundedLine<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        BoundedLine::new(self.inner.make_writer(), self.format, MAX_LINE_BYTES, None)
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        let cap = if meta.target() == AUDIT_TARGET {
            MAX_AUDIT_LINE_BYTES
        } else {
            MAX_LINE_BYTES
        };
        BoundedLine::new(
            self.inner.make_writer_for(meta),
            self.format,
            cap,
            Some((*meta.level(), meta.target().to_owned())),
        )
    }
}

/// One event's line (the fmt layer writes each event with one `write_all`).
pub struct BoundedLine<W> {
    inner: W,
    format: LogFormat,
    cap: usize,
    origin: Option<(Level, String)>,
    written: usize,
    cut: bool,
}

impl<W: Write> BoundedLine<W> {
    fn new(inner: W, format: LogFormat, cap: usize, origin: Option<(Level, String)>) -> Self {
        BoundedLine {
            inner,
            format,
            cap,
            origin,
            written: 0,
            cut: false,
        }
    }

    /// Writes what fits of an over-long line, saying that it was cut.
    fn write_cut(&mut self, line: &[u8]) -> io::Result<()> {
        let total = self.written + line.len();
        match self.format {
            LogFormat::Text => {
                let room = self.cap.saturating_sub(self.written + 64);
                let kept = char_boundary(line, room);
                self.inner.write_all(&line[..kept])?;
                writeln!(self.inner, " [log line cut: {total} bytes]")
            }
            // A shipper must still read a JSON object: the line is replaced by one that
            // says what was cut, with the start of the original as a string.
            LogFormat::Json => {
                let kept = char_boundary(line, KEPT_OF_CUT_JSON_LINE);
                let (level, target) = match &self.origin {
                    Some((level, target)) => (level.as_str(), target.as_str()),
                    None => ("INFO", ""),
                };
                let replacement = serde_json::json!({
                    "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "level": level,
                    "target": target,
                    "message": format!("log line cut: {total} bytes"),
                    "line_start": String::from_utf8_lossy(&line[..kept]),
                });
                writeln!(self.inner, "{replacement}")
            }
        }
    }
}

/// The largest prefix of `bytes` no longer than `limit` that ends on a UTF-8
/// character boundary.
fn char_boundary(bytes: &[u8], limit: usize) -> usize {
    let mut end = limit.min(bytes.len());
    while end > 0 && end < bytes.len() && (bytes[end] & 0b1100_0000) == 0b1000_0000 {
        end -= 1;
    }
    end
}

impl<W: Write> Write for BoundedLine<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.cut {
            return Ok(bytes.len());
        }
        if self.written + bytes.len() <= self.cap {
            self.inner.write_all(bytes)?;
            self.written += bytes.len();
        } else {
            self.cut = true;
            self.write_cut(bytes)?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{
        EnvFilter, Layer, filter::FilterExt, layer::SubscriberExt, registry::Registry,
    };

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Logs `log` through the layer `telemetry::init` builds, with RUST_LOG `rust_log`.
    fn logged(format: LogFormat, rust_log: &str, log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let filter = EnvFilter::builder()
            .parse_lossy(crate::telemetry::filter_directives(Some(rust_log)))
            .and(always_silenced());
        let layer = crate::telemetry::log_layer(
            format,
            filter,
            BoundedLines::new(captured.clone(), format),
        );
        tracing::subscriber::with_default(Registry::default().with(layer.boxed()), log);
        captured.text()
    }

    #[test]
    fn rust_log_cannot_lift_the_silenced_targets() {
        for rust_log in [
            "trace",
            "s3s=trace",
            "s3s::ops::signature=trace",
            "[grpc]=trace",
        ] {
            let logs = logged(LogFormat::Text, rust_log, || {
                let span = tracing::info_span!("grpc");
                let _entered = span.enter();
                tracing::error!(target: "s3s::http::de", bytes = "the body", "malformed xml body");
                tracing::debug!(target: "s3s::ops::signature", signature = "abc", "signature mismatch");
                tracing::error!(target: "keyhold", "kept");
            });
            assert!(logs.contains("kept"), "{rust_log}: {logs}");
            assert!(!logs.contains("the body"), "{rust_log}: {logs}");
            assert!(!logs.contains("abc"), "{rust_log}: {logs}");
        }
    }

    #[test]
    fn long_text_lines_are_cut_and_say_so() {
        let logs = logged(LogFormat::Text, "info", || {
            tracing::info!(field = "é".repeat(MAX_LINE_BYTES), "long");
            tracing::info!("short");
        });
        let lines: Vec<&str> = logs.lines().collect();
        assert_eq!(lines.len(), 2, "{logs}");
        assert!(lines[0].len() <= MAX_LINE_BYTES, "{}", lines[0].len());
        assert!(
            lines[0].ends_with(" bytes]"),
            "{}",
            &lines[0][lines[0].len() - 80..]
        );
        assert!(lines[0].contains("[log line cut: "));
        assert!(lines[1].ends_with("short"));
    }

    #[test]
    fn long_json_lines_are_replaced_by_a_valid_one() {
        let logs = logged(LogFormat::Json, "info", || {
            tracing::warn!(field = "x".repeat(2 * MAX_LINE_BYTES), "long");
        });
        let lines: Vec<&str> = logs.lines().collect();
        assert_eq!(lines.len(), 1, "{logs}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(line["level"], "WARN");
        assert!(
            line["message"]
                .as_str()
                .unwrap()
                .starts_with("log line cut: ")
        );
        assert!(line["line_start"].as_str().unwrap().len() <= KEPT_OF_CUT_JSON_LINE);
    }

    #[test]
    fn audit_records_get_the_longer_cap() {
        let record = "r".repeat(2 * MAX_LINE_BYTES);
        let logs = logged(LogFormat::Json, "info", || {
            tracing::info!(target: "audit", event = %record, "cloudtrail event");
        });
        assert!(logs.contains(&record));
    }
}
