//! The emitter's dead letters: records audit-svc will never take (it refused them,
//! they are over the record size limit, or their spool line is unreadable). Each is
//! kept on disk and never sent again, so that it holds up nothing behind it:
//!
//! - `rejected/rejected.jsonl`: the records exactly as they were spooled, one per
//!   line, so that they can be replayed by moving the file into the spool directory
//!   (as `spool-00000000000000000000.jsonl`, replayed first at the next start);
//! - `rejected/reasons.jsonl`: one line per record, `{"time", "eventID", "bytes",
//!   "reason"}`.
//!
//! The record file grows to the spool's size limit at most; past it, dead letters are
//! lost (counted as dropped records) rather than filling the disk.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufRead, Write},
    path::PathBuf,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use super::Record;
use crate::audit::truncate_text;

pub(crate) const DEAD_LETTER_DIR: &str = "rejected";
const RECORDS_FILE: &str = "rejected.jsonl";
const REASONS_FILE: &str = "reasons.jsonl";
/// How many event ids one log line names.
const IDS_LOGGED: usize = 20;

/// One record to set aside.
pub(crate) struct DeadLetter<'a> {
    pub(crate) event_id: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) json: &'a str,
}

pub(crate) struct DeadLetters {
    dir: PathBuf,
    max_bytes: u64,
    kept: AtomicU64,
    lost: AtomicU64,
    /// Serializes writers, so that a record's lines are never interleaved.
    write: Mutex<()>,
}

impl DeadLetters {
    pub(crate) fn new(spool_dir: &std::path::Path, max_bytes: u64) -> DeadLetters {
        DeadLetters {
            dir: spool_dir.join(DEAD_LETTER_DIR),
            max_bytes,
            kept: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            write: Mutex::new(()),
        }
    }

    /// Records set aside since the start.
    pub(crate) fn kept(&self) -> u64 {
        self.kept.load(Ordering::Relaxed)
    }

    /// Records that could not be set aside (disk error, or the file at its limit).
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Sets records aside for one reason.
    pub(crate) fn keep_records(&self, records: &[Record], reason: &str) {
        let letters: Vec<DeadLetter<'_>> = records
            .iter()
            .map(|r| DeadLetter {
                event_id: &r.event_id,
                reason,
                json: &r.json,
            })
            .collect();
        self.keep(&letters);
    }

    /// Sets records aside, durably, and says so in the log.
    pub(crate) fn keep(&self, letters: &[DeadLetter<'_>]) {
        if letters.is_empty() {
            return;
        }
        let count = letters.len() as u64;
        let mut records = Vec::new();
        let mut reasons = Vec::new();
        for letter in letters {
            records.extend_from_slice(letter.json.as_bytes());
            records.push(b'\n');
            reasons.extend_from_slice(
                reason_line(letter.event_id, letter.json.len(), letter.reason).as_bytes(),
            );
        }
        let written = {
            let _guard = self.write.lock().expect("dead letter lock");
            self.append(&records, &reasons)
        };
        let event_ids = logged_ids(letters.iter().map(|l| l.event_id), letters.len());
        let reason = letters[0].reason;
        match written {
            Ok(path) => {
                self.kept.fetch_add(count, Ordering::Relaxed);
                tracing::error!(records = count, event_ids, reason, dead_letters = %path.display(), "audit records set aside: audit-svc will not take them; they are kept, not retried");
            }
            Err(e) => {
                self.lost.fetch_add(count, Ordering::Relaxed);
                tracing::error!(records = count, event_ids, reason, error = %e, "audit records audit-svc will not take cannot be set aside: lost");
            }
        }
    }

    /// Sets aside one spool line too long to be a record without holding it in
    /// memory: `start` is what was read of it, the rest comes from `reader`. Returns
    /// the bytes consumed from `reader`, through the end of the line.
    pub(crate) fn keep_long_line(
        &self,
        start: &[u8],
        reader: &mut impl BufRead,
        reason: &str,
    ) -> io::Result<u64> {
        let _guard = self.write.lock().expect("dead letter lock");
        let mut file = match self.open_records() {
            Ok((file, size)) if size < self.max_bytes => Some(file),
            Ok(_) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot open the audit dead-letter file");
                None
            }
        };
        if let Some(f) = file.as_mut()
            && f.write_all(start).is_err()
        {
            file = None;
        }
        let rest = copy_rest_of_line(reader, file.as_mut())?;
        let line_bytes = start.len() + rest.line_bytes;
        let kept = rest.copied
            && file.is_some_and(|mut f| f.write_all(b"\n").and_then(|()| f.sync_data()).is_ok())
            && self
                .append_reasons(reason_line("", line_bytes, reason).as_bytes())
                .is_ok();
        if kept {
            self.kept.fetch_add(1, Ordering::Relaxed);
            tracing::error!(bytes = line_bytes, reason, "an audit spool line set aside");
        } else {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                bytes = line_bytes,
                reason,
                "an audit spool line cannot be set aside: lost"
            );
        }
        Ok(rest.consumed)
    }

    fn open_records(&self) -> io::Result<(File, u64)> {
        fs::create_dir_all(&self.dir)?;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join(RECORDS_FILE))?;
        let size = file.metadata()?.len();
        Ok((file, size))
    }

    fn append(&self, records: &[u8], reasons: &[u8]) -> io::Result<PathBuf> {
        let (mut file, size) = self.open_records()?;
        if size + records.len() as u64 > self.max_bytes {
            return Err(io::Error::other(format!(
                "the dead-letter file holds {size} bytes, its limit is {} bytes",
                self.max_bytes
            )));
        }
        file.write_all(records)?;
        file.sync_data()?;
        self.append_reasons(reasons)?;
        Ok(self.dir.join(RECORDS_FILE))
    }

    fn append_reasons(&self, reasons: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join(REASONS_FILE))?;
        file.write_all(reasons)?;
        file.sync_data()
    }
}

fn reason_line(event_id: &str, bytes: usize, reason: &str) -> String {
    let mut reason = reason.to_owned();
    truncate_text(&mut reason, 1024);
    let mut event_id = event_id.to_owned();
    truncate_text(&mut event_id, 128);
    let mut line = serde_json::json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventID": event_id,
        "bytes": bytes,
        "reason": reason,
    })
    .to_string();
    line.push('\n');
    line
}

fn logged_ids<'a>(ids: impl Iterator<Item = &'a str>, count: usize) -> String {
    let mut logged = ids
        .take(IDS_LOGGED)
        .map(|id| id.get(..64).unwrap_or(id))
        .collect::<Vec<_>>()
        .join(",");
    if count > IDS_LOGGED {
        logged.push_str(",...");
    }
    logged
}

/// Copies the rest of the current line (newline included) from `reader` to `out`,
/// chunk by chunk; without `out`, or once writing fails, discards it.
fn copy_rest_of_line(reader: &mut impl BufRead, mut out: Option<&mut File>) -> io::Result<Rest> {
    let mut rest = Rest {
        consumed: 0,
        line_bytes: 0,
        copied: out.is_some(),
    };
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(rest);
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(newline) => (newline + 1, true),
            None => (chunk.len(), false),
        };
        // The newline is written by the caller, after the line is complete.
        let data = &chunk[..take - usize::from(done)];
        if let Some(file) = out.as_mut()
            && rest.copied
            && file.write_all(data).is_err()
        {
            rest.copied = false;
        }
        rest.line_bytes += data.len();
        reader.consume(take);
        rest.consumed += take as u64;
        if done {
            return Ok(rest);
        }
    }
}

struct Rest {
    /// Bytes consumed from the reader, the newline included.
    consumed: u64,
    /// Bytes of the line, without its newline.
    line_bytes: usize,
    /// Whether every byte reached the output.
    copied: bool,
}

/// One line of a spool file, read without ever holding more than `limit` bytes.
pub(crate) enum SpoolLine {
    End,
    /// In the caller's buffer; `terminated` is false for a last line cut short.
    Line {
        consumed: u64,
        terminated: bool,
    },
    /// Longer than `limit`; nothing of it is consumed past what is in the buffer.
    TooLong {
        consumed: u64,
    },
}

/// Reads a line into `buf` (without its newline), stopping once it is longer than
/// `limit` bytes.
pub(crate) fn read_spool_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<SpoolLine> {
    buf.clear();
    let mut consumed = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if consumed == 0 {
                SpoolLine::End
            } else {
                SpoolLine::Line {
                    consumed,
                    terminated: false,
                }
            });
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(newline) => (newline + 1, true),
            None => (chunk.len(), false),
        };
        let data = &chunk[..take - usize::from(done)];
        if buf.len() + data.len() > limit {
            // Take just enough to know it is too long; the rest is streamed away.
            let room = limit + 1 - buf.len();
            buf.extend_from_slice(&data[..room]);
            reader.consume(room);
            consumed += room as u64;
            return Ok(SpoolLine::TooLong { consumed });
        }
        buf.extend_from_slice(data);
        reader.consume(take);
        consumed += take as u64;
        if done {
            return Ok(SpoolLine::Line {
                consumed,
                terminated: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_longer_than_the_limit_are_never_read_whole() {
        let text = b"short\nmuch too long a line\nlast";
        let mut reader = io::BufReader::with_capacity(4, &text[..]);
        let mut buf = Vec::new();
        assert!(matches!(
            read_spool_line(&mut reader, &mut buf, 8).unwrap(),
            SpoolLine::Line {
                consumed: 6,
                terminated: true
            }
        ));
        assert_eq!(buf, b"short");
        assert!(matches!(
            read_spool_line(&mut reader, &mut buf, 8).unwrap(),
            SpoolLine::TooLong { consumed: 9 }
        ));
        assert_eq!(buf, b"much too ");
        let dir = std::env::temp_dir().join(format!("keyhold-dead-{}", uuid::Uuid::new_v4()));
        let letters = DeadLetters::new(&dir, 1 << 20);
        let rest = letters
            .keep_long_line(&buf, &mut reader, "too long")
            .unwrap();
        assert_eq!(rest, 12);
        assert!(matches!(
            read_spool_line(&mut reader, &mut buf, 8).unwrap(),
            SpoolLine::Line {
                consumed: 4,
                terminated: false
            }
        ));
        assert_eq!(buf, b"last");
        assert!(matches!(
            read_spool_line(&mut reader, &mut buf, 8).unwrap(),
            SpoolLine::End
        ));
        let kept = fs::read_to_string(dir.join(DEAD_LETTER_DIR).join(RECORDS_FILE)).unwrap();
        assert_eq!(kept, "much too long a line\n");
        let reasons = fs::read_to_string(dir.join(DEAD_LETTER_DIR).join(REASONS_FILE)).unwrap();
        let reason: serde_json::Value = serde_json::from_str(reasons.trim_end()).unwrap();
        assert_eq!(
            (reason["bytes"].as_u64(), reason["reason"].as_str()),
            (Some(20), Some("too long"))
        );
        assert_eq!((letters.kept(), letters.lost()), (1, 0));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn the_dead_letter_file_stops_at_its_limit() {
        let dir = std::env::temp_dir().join(format!("keyhold-dead-{}", uuid::Uuid::new_v4()));
        let letters = DeadLetters::new(&dir, 10);
        let letter = |json| DeadLetter {
            event_id: "e",
            reason: "refused",
            json,
        };
        letters.keep(&[letter("12345678")]);
        letters.keep(&[letter("12345678")]);
        assert_eq!((letters.kept(), letters.lost()), (1, 1));
        let kept = fs::read_to_string(dir.join(DEAD_LETTER_DIR).join(RECORDS_FILE)).unwrap();
        assert_eq!(kept, "12345678\n");
        let _ = fs::remove_dir_all(dir);
    }
}
