//! The on-disk side of the emitter: records audit-svc has not acknowledged, kept in
//! append-only files of one CloudTrail JSON record per line (`spool-<seq>.jsonl`),
//! replayed oldest first and deleted once every record in them is acknowledged.
//! Records audit-svc will never take go to the dead letters (`dead_letter.rs`).

use std::{
    collections::VecDeque,
    fs::{self, File, OpenOptions},
    io::{self, BufReader, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
};

use serde::Deserialize;

use super::{
    BATCH_MAX_BYTES, Record,
    dead_letter::{DeadLetter, DeadLetters, SpoolLine, read_spool_line},
};
use crate::audit::MAX_RECORD_BYTES;

/// Fill levels, in percent of the limit, at which the spool warns (once per crossing).
const WARN_AT_PERCENT: [u64; 3] = [50, 90, 100];

const PREFIX: &str = "spool-";
const SUFFIX: &str = ".jsonl";

/// A closed spool file waiting for replay. `offset` is where its unacknowledged part
/// starts, so a replay cut short by a disconnect resumes rather than resends.
#[derive(Debug, Clone)]
pub(crate) struct SpoolFile {
    pub(crate) path: PathBuf,
    pub(crate) seq: u64,
    pub(crate) size: u64,
    pub(crate) offset: u64,
}

pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    file_bytes: u64,
    /// Every spool file's size, read by `admit` on each call without the lock.
    bytes: AtomicU64,
    state: Mutex<State>,
    dead_letters: DeadLetters,
    /// How many of [`WARN_AT_PERCENT`] the spool has crossed and said so.
    warned_level: AtomicU8,
}

struct State {
    current: Option<Current>,
    ready: VecDeque<SpoolFile>,
    next_seq: u64,
}

struct Current {
    file: File,
    path: PathBuf,
    seq: u64,
    size: u64,
}

impl Current {
    fn close(self) -> SpoolFile {
        SpoolFile {
            path: self.path,
            seq: self.seq,
            size: self.size,
            offset: 0,
        }
    }
}

impl Spool {
    /// Opens `dir`, taking the files a previous run (or crash) left for replay.
    pub(crate) fn open(dir: &Path, max_bytes: u64, file_bytes: u64) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|n| n.strip_suffix(SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let size = entry.metadata()?.len();
            if size == 0 {
                // Created just before a crash, never written: nothing to replay.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            found.push(SpoolFile {
                path: entry.path(),
                seq,
                size,
                offset: 0,
            });
        }
        found.sort_by_key(|f| f.seq);
        let bytes = found.iter().map(|f| f.size).sum();
        let next_seq = found.last().map_or(1, |f| f.seq + 1);
        let spool = Spool {
            dir: dir.to_owned(),
            max_bytes,
            file_bytes: file_bytes.max(1),
            bytes: AtomicU64::new(bytes),
            state: Mutex::new(State {
                current: None,
                ready: found.into(),
                next_seq,
            }),
            dead_letters: DeadLetters::new(dir, max_bytes),
            warned_level: AtomicU8::new(0),
        };
        // What a previous run left may already be past a level.
        spool.note_fill();
        Ok(spool)
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.bytes() >= self.max_bytes
    }

    pub(crate) fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub(crate) fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// Appends records as lines, in one write. `sync` makes them durable before
    /// returning, for the spills of shutdown after which nothing else will.
    pub(crate) fn append(&self, records: &[Record], sync: bool) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.json.len() + 1).sum());
        for record in records {
            buf.extend_from_slice(record.json.as_bytes());
            buf.push(b'\n');
        }
        let mut state = self.state.lock().expect("spool lock");
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.size >= self.file_bytes)
        {
            let full = state.current.take().expect("checked").close();
            state.ready.push_back(full);
        }
        if state.current.is_none() {
            let seq = state.next_seq;
            state.next_seq += 1;
            let path = self.dir.join(format!("{PREFIX}{seq:020}{SUFFIX}"));
            let file = OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&path)?;
            state.current = Some(Current {
                file,
                path,
                seq,
                size: 0,
            });
        }
        let current = state.current.as_mut().expect("just opened");
        let written = current.file.write_all(&buf).and_then(|()| {
            if sync {
                current.file.sync_data()
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                current.size += buf.len() as u64;
                self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
                drop(state);
                self.note_fill();
                Ok(())
            }
            Err(e) => {
                // A partial line may be on disk: later records go to a fresh file so
                // that only this write's lines can be damaged.
                let broken = state.current.take().expect("current file");
                let size = broken.file.metadata().map_or(broken.size, |m| m.len());
                self.bytes
                    .fetch_add(size.saturating_sub(broken.size), Ordering::Relaxed);
                let mut closed = broken.close();
                closed.size = size;
                if size > 0 {
                    state.ready.push_back(closed);
                }
                Err(e)
            }
        }
    }

    /// Hands every file with records to the replay, closing the one being appended to
    /// so that the replay never reads a file still growing.
    pub(crate) fn take_ready(&self) -> Vec<SpoolFile> {
        let mut state = self.state.lock().expect("spool lock");
        if state.current.as_ref().is_some_and(|c| c.size > 0) {
            let current = state.current.take().expect("checked").close();
            state.ready.push_back(current);
        }
        state.ready.drain(..).collect()
    }

    /// Whether `take_ready` would return anything.
    pub(crate) fn has_ready(&self) -> bool {
        let state = self.state.lock().expect("spool lock");
        !state.ready.is_empty() || state.current.as_ref().is_some_and(|c| c.size > 0)
    }

    /// Returns files a replay did not finish, to be replayed first next time.
    pub(crate) fn give_back(&self, mut files: Vec<SpoolFile>) {
        let mut state = self.state.lock().expect("spool lock");
        files.extend(state.ready.drain(..));
        files.sort_by_key(|f| f.seq);
        state.ready = files.into();
    }

    /// Deletes a file whose every record audit-svc acknowledged (or rejected).
    pub(crate) fn remove(&self, file: &SpoolFile) {
        if let Err(e) = fs::remove_file(&file.path) {
            tracing::error!(path = %file.path.display(), error = %e, "cannot delete a replayed audit spool file");
        }
        self.bytes.fetch_sub(file.size, Ordering::Relaxed);
        self.note_fill();
    }

    /// Warns when the spool crosses a fill level upwards, once per crossing, so that
    /// an operator sees it fill before calls are refused; falling back under a level
    /// re-arms its warning.
    fn note_fill(&self) {
        let bytes = self.bytes();
        let level = fill_level(bytes, self.max_bytes);
        let warned = self.warned_level.load(Ordering::Relaxed);
        if level == warned
            || self
                .warned_level
                .compare_exchange(warned, level, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if level > warned {
            let percent = WARN_AT_PERCENT[usize::from(level) - 1];
            tracing::warn!(
                percent,
                spool_bytes = bytes,
                spool_limit_bytes = self.max_bytes,
                spool = %self.dir.display(),
                "the audit spool is {percent}% full: audit-svc is unreachable or slower than this service; \
                 when full, calls are refused (KEYHOLD_AUDIT_WHEN_FULL=refuse) or records dropped (=drop)"
            );
        } else {
            tracing::info!(
                spool_bytes = bytes,
                spool_limit_bytes = self.max_bytes,
                "the audit spool is draining"
            );
        }
    }

    /// Makes everything spooled so far durable: the file being written and the
    /// directory entries of new files.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let state = self.state.lock().expect("spool lock");
        if let Some(current) = &state.current {
            current.file.sync_data()?;
        }
        File::open(&self.dir)?.sync_all()
    }
}

#[derive(Deserialize)]
struct EventId {
    #[serde(rename = "eventID")]
    event_id: String,
}

/// One batch read from a spool file; `end` is the offset just past its last line.
pub(crate) struct SpoolBatch {
    pub(crate) file: u64,
    pub(crate) records: Vec<Record>,
    pub(crate) end: u64,
}

struct Progress {
    file: SpoolFile,
    /// Batches sent and not yet acknowledged.
    outstanding: usize,
    read_to_end: bool,
}

/// Reads spool files as batches and deletes each once all its batches are
/// acknowledged. Acknowledgements are cumulative and a file is read in order, so the
/// acknowledged part of a file is always a prefix, tracked as an offset.
#[derive(Default)]
pub(crate) struct Replay {
    pending: VecDeque<SpoolFile>,
    reading: Option<(u64, BufReader<File>, u64)>,
    open: Vec<(u64, Progress)>,
    next_id: u64,
}

impl Replay {
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.reading.is_none()
    }

    pub(crate) fn add(&mut self, files: Vec<SpoolFile>) {
        self.pending.extend(files);
    }

    /// The next batch of at most `max` records, or None when every file is read.
    pub(crate) fn next_batch(&mut self, spool: &Spool, max: usize) -> Option<SpoolBatch> {
        loop {
            if self.reading.is_none() {
                let file = self.pending.pop_front()?;
                match open_at(&file) {
                    Ok(reader) => {
                        let id = self.next_id;
                        self.next_id += 1;
                        self.reading = Some((id, reader, file.offset));
                        self.open.push((
                            id,
                            Progress {
                                file,
                                outstanding: 0,
                                read_to_end: false,
                            },
                        ));
                    }
                    Err(e) => {
                        // Left on disk for the next run rather than retried in a loop.
                        tracing::error!(path = %file.path.display(), error = %e, "cannot read an audit spool file; skipping it until restart");
                        continue;
                    }
                }
            }
            let (id, reader, offset) = self.reading.as_mut().expect("opened above");
            let id = *id;
            let mut records = Vec::new();
            let mut corrupt = Vec::new();
            let mut at_end = false;
            let mut line = Vec::new();
            let mut bytes = 0;
            while records.len() < max && bytes < BATCH_MAX_BYTES {
                match read_spool_line(reader, &mut line, MAX_RECORD_BYTES) {
                    Ok(SpoolLine::End) => {
                        at_end = true;
                        break;
                    }
                    Ok(SpoolLine::Line {
                        consumed,
                        terminated,
                    }) => {
                        *offset += consumed;
                        let parsed = std::str::from_utf8(&line).ok().and_then(|json| {
                            let id = serde_json::from_str::<EventId>(json).ok()?;
                            Some((json, id))
                        });
                        match parsed {
                            Some((json, parsed)) if terminated => {
                                bytes += json.len();
                                records.push(Record {
                                    event_id: parsed.event_id,
                                    json: json.to_owned(),
                                    traceparent: None,
                                });
                            }
                            // A line cut short by a crash, or damaged on disk.
                            _ => corrupt.push(String::from_utf8_lossy(&line).into_owned()),
                        }
                    }
                    // Spooled before records were bounded (an older version).
                    Ok(SpoolLine::TooLong { consumed }) => {
                        *offset += consumed;
                        let reason =
                            format!("the record is over the limit of {MAX_RECORD_BYTES} bytes");
                        match spool.dead_letters.keep_long_line(&line, reader, &reason) {
                            Ok(rest) => *offset += rest,
                            Err(e) => {
                                tracing::error!(error = %e, "cannot read an audit spool file; replaying the rest after restart");
                                at_end = true;
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read an audit spool file; replaying the rest after restart");
                        at_end = true;
                        break;
                    }
                }
            }
            let end = *offset;
            let unreadable: Vec<DeadLetter<'_>> = corrupt
                .iter()
                .map(|json| DeadLetter {
                    event_id: "",
                    reason: "an unreadable line of a spool file",
                    json,
                })
                .collect();
            spool.dead_letters.keep(&unreadable);
            if at_end {
                self.reading = None;
                let progress = self.progress(id);
                progress.read_to_end = true;
            }
            if records.is_empty() {
                self.finish_if_done(spool, id);
                continue;
            }
            self.progress(id).outstanding += 1;
            return Some(SpoolBatch {
                file: id,
                records,
                end,
            });
        }
    }

    /// A batch read from file `id` is acknowledged (or set aside as rejected).
    pub(crate) fn done(&mut self, spool: &Spool, id: u64, end: u64) {
        let progress = self.progress(id);
        progress.outstanding -= 1;
        progress.file.offset = progress.file.offset.max(end);
        self.finish_if_done(spool, id);
    }

    /// Stops replaying (the stream broke): what is not yet acknowledged goes back to
    /// the spool, to be replayed from its acknowledged offset.
    pub(crate) fn reset(&mut self, spool: &Spool) {
        self.reading = None;
        let mut files: Vec<SpoolFile> = self.open.drain(..).map(|(_, p)| p.file).collect();
        files.extend(self.pending.drain(..));
        if !files.is_empty() {
            spool.give_back(files);
        }
    }

    fn progress(&mut self, id: u64) -> &mut Progress {
        &mut self
            .open
            .iter_mut()
            .find(|(i, _)| *i == id)
            .expect("batch of an open spool file")
            .1
    }

    fn finish_if_done(&mut self, spool: &Spool, id: u64) {
        let Some(index) = self.open.iter().position(|(i, _)| *i == id) else {
            return;
        };
        let progress = &self.open[index].1;
        if progress.read_to_end && progress.outstanding == 0 {
            let (_, progress) = self.open.remove(index);
            spool.remove(&progress.file);
        }
    }
}

/// How many of the warning levels `bytes` has reached.
fn fill_level(bytes: u64, max_bytes: u64) -> u8 {
    let reached = WARN_AT_PERCENT
        .iter()
        .filter(|percent| u128::from(bytes) * 100 >= u128::from(max_bytes) * u128::from(**percent))
        .count();
    u8::try_from(reached).unwrap_or(u8::MAX)
}

fn open_at(file: &SpoolFile) -> io::Result<BufReader<File>> {
    let mut f = File::open(&file.path)?;
    f.seek(SeekFrom::Start(file.offset))?;
    Ok(BufReader::new(f))
}
