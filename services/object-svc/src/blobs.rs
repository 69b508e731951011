//! Encrypted blob I/O: object bodies go through [`keyhold_crypto::segments`] on their
//! way to and from an `object_store` backend (a local directory by default, or any S3
//! compatible bucket), so only ciphertext ever reaches storage.
//!
//! Writes and reads stream in constant memory: a write holds at most one multipart
//! chunk being filled plus [`MAX_BYTES_IN_FLIGHT`] of chunks being uploaded, a read one
//! read chunk and one segment. A range read fetches only the ciphertext of the segments
//! it touches.
//!
//! Blob paths are random (`blobs/<2 hex>/<uuid>`), never derived from bucket or key
//! names, so the layout of the store reveals nothing about the objects in it.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use keyhold_crypto::{
    CryptoError, NoncePrefix, SEGMENT_SIZE, SecretKey, SegmentDecryptor, SegmentEncryptor,
    SegmentLayout,
};
use md5::{Digest, Md5};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};

mod local_upload;
use local_upload::LocalUpload;

/// Where every blob lives inside the store; `list` looks nowhere else.
const BLOB_DIR: &str = "blobs";
/// Multipart chunk size, and the largest ciphertext written with a single `put`. S3
/// wants parts of at least 5 MiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// The same for the local filesystem, which has no minimum: smaller parts overlap
/// sealing and writing better and hold less memory (measured: 64 MiB PUT 29-31% ->
/// 32% of the ceiling, 1 GiB PUT peak 35 -> 25 MiB above idle).
pub const LOCAL_PART_SIZE: usize = 4 * 1024 * 1024;
/// Ciphertext uploading at once for one write (in parts of the store's part size).
pub const MAX_BYTES_IN_FLIGHT: usize = 16 * 1024 * 1024;
/// The largest object whose ciphertext is kept with its metadata instead of in a blob:
/// one segment. A PUT declaring at most this length is sealed in memory (bounded by
/// it) and stored in one statement, with no file to write and fsync.
pub const INLINE_MAX: u64 = SEGMENT_SIZE as u64;
/// Ciphertext bytes per read from a local file. Large reads keep the blocking-pool
/// round trips (one per read) off the profile.
const LOCAL_READ_CHUNK: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The client's body stream failed; the message is the caller's.
    #[error("request body failed: {0}")]
    Body(String),
    /// The body was shorter or longer than the declared content length. When it was
    /// longer, `actual` counts the bytes received up to the point it was refused.
    #[error("request body has {actual} bytes, declared content length is {expected}")]
    LengthMismatch { expected: u64, actual: u64 },
    /// The stored ciphertext is tampered with, truncated or missing. Never serve it.
    #[error("stored object is corrupt: {0}")]
    Corrupt(String),
    /// The storage backend failed.
    #[error("blob storage error: {0}")]
    Storage(String),
}

/// The outcome of [`BlobStore::write_sealed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Plaintext bytes.
    pub size: u64,
    /// MD5 of the plaintext, when asked for.
    pub md5: Option<[u8; 16]>,
}

/// The ciphertext store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The directory of a local store.
    local_root: Option<PathBuf>,
}

fn storage(e: object_store::Error) -> BlobError {
    BlobError::Storage(e.to_string())
}

fn corrupt(e: CryptoError) -> BlobError {
    BlobError::Corrupt(e.to_string())
}

/// Where a local store keeps blob `path`: the layout of object_store's
/// `LocalFileSystem`, which reads what [`LocalUpload`] writes.
fn local_file(root: &FsPath, path: &str) -> PathBuf {
    path.split('/')
        .fold(root.to_path_buf(), |p, part| p.join(part))
}

fn parse_path(path: &str) -> Result<Path, BlobError> {
    Path::parse(path).map_err(|e| BlobError::Storage(format!("invalid blob path: {e}")))
}

impl BlobStore {
    /// Blobs under the local directory `root` (created if missing). Every write is
    /// fsynced, file and directories, before it returns.
    pub fn local(root: &FsPath) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)?;
        let fs = LocalFileSystem::new_with_prefix(root)?.with_fsync(true);
        Ok(Self {
            store: Arc::new(fs),
            local_root: Some(std::fs::canonicalize(root)?),
        })
    }

    /// `file:///absolute/dir`, `s3://bucket[/prefix]` (configured from the `AWS_*`
    /// environment: `AWS_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, ...) or `memory://` (tests only: lost
    /// on exit).
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            anyhow::ensure!(
                path.starts_with('/'),
                "blob store URL {url:?}: a file URL needs an absolute path (file:///dir)"
            );
            return Self::local(FsPath::new(path));
        }
        if url == "memory://" || url == "memory:///" {
            return Ok(Self {
                store: Arc::new(InMemory::new()),
                local_root: None,
            });
        }
        let rest = url
            .strip_prefix("s3://")
            .or_else(|| url.strip_prefix("s3a://"))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "blob store URL {url:?}: expected file:///dir, s3://bucket/prefix or memory://"
                )
            })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(!bucket.is_empty(), "blob store URL {url:?} names no bucket");
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, Path::parse(prefix)?))
        };
        Ok(Self {
            store,
            local_root: None,
        })
    }

    /// A fresh random blob path. Spread over 256 directories so no local directory grows
    /// huge.
    pub fn new_blob_path() -> String {
        let id = uuid::Uuid::new_v4();
        let hex = id.simple().to_string();
        format!("{BLOB_DIR}/{}/{id}", &hex[..2])
    }

    /// A fresh random name for the version of an object stored inline: unique like a
    /// blob path, but outside the blob directory, so nothing ever looks for a blob there.
    pub fn new_inline_path() -> String {
        format!("inline/{}", uuid::Uuid::new_v4())
    }

    /// The file holding blob `path` in a local store (for tests and diagnostics).
    pub fn local_path(&self, path: &str) -> Option<PathBuf> {
        Some(local_file(self.local_root.as_ref()?, path))
    }

    /// Encrypts the plaintext chunks of `body` and writes the ciphertext at `path`, in
    /// constant memory.
    ///
    /// When `expected_len` is `Some`, a body of another length is refused
    /// ([`BlobError::LengthMismatch`], as soon as it runs over) and nothing is left at
    /// `path`; the same holds for any other error. When `md5` is true the MD5 of the
    /// plaintext comes back too (for SSE-S3 ETags). Returns once the bytes are durable.
    ///
    /// Ciphertext up to [`PART_SIZE`] goes in one `put`; more goes through a multipart
    /// upload in [`PART_SIZE`] parts. If the future is dropped midway, a local upload's
    /// staging file is removed; an S3 multipart upload is left for the bucket's
    /// abort-incomplete-multipart-upload lifecycle rule.
    pub async fn write_sealed<S>(
        &self,
        path: &str,
        key: &SecretKey,
        prefix: NoncePrefix,
        mut body: S,
        expected_len: Option<u64>,
        md5: bool,
    ) -> Result<Written, BlobError>
    where
        S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin,
    {
        let location = parse_path(path)?;
        let part_size = if self.local_root.is_some() {
            LOCAL_PART_SIZE
        } else {
            PART_SIZE
        };
        let mut sink = Sink::Buffered {
            segments: Vec::new(),
            len: 0,
            part_size,
        };
        let mut sealer = Sealer::new(key, prefix, expected_len, md5);
        let outcome: Result<(), BlobError> = async {
            while let Some(chunk) = body.next().await {
                for segment in sealer.push(&chunk?)? {
                    sink.push(self, &location, segment).await?;
                }
            }
            Ok(())
        }
        .await;
        let (last, written) = match outcome.and_then(|()| sealer.finish()) {
            Ok(sealed) => sealed,
            Err(e) => {
                sink.abort().await;
                return Err(e);
            }
        };
        match sink.push(self, &location, last).await {
            Ok(()) => sink.finish(self, &location).await?,
            Err(e) => {
                sink.abort().await;
                return Err(e);
            }
        }
        Ok(written)
    }

    /// Encrypts `body`, which must be exactly `expected_len` bytes, into memory: the
    /// ciphertext a blob of it would hold, for storing with the object's metadata.
    /// Holds at most `expected_len` plus one tag per segment (a longer body is refused
    /// as soon as it runs over), so the caller bounds the memory by what it accepts.
    pub async fn seal_in_memory<S>(
        key: &SecretKey,
        prefix: NoncePrefix,
        mut body: S,
        expected_len: u64,
        md5: bool,
    ) -> Result<(Bytes, Written), BlobError>
    where
        S: Stream<Item = Result<Bytes, BlobError>> + Send + Unpin,
    {
        let mut sealer = Sealer::new(key, prefix, Some(expected_len), md5);
        let mut segments = Vec::new();
        while let Some(chunk) = body.next().await {
            segments.extend(sealer.push(&chunk?)?);
        }
        let (last, written) = sealer.finish()?;
        if segments.is_empty() {
            return Ok((last, written));
        }
        segments.push(last);
        Ok((segments.concat().into(), written))
    }

    /// Plaintext bytes `range` of the object of plaintext `size` stored at `path` with
    /// the default segment size. See [`Self::read_range_with_layout`].
    pub fn read_range(
        &self,
        path: &str,
        key: SecretKey,
        prefix: NoncePrefix,
        size: u64,
        range: Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, BlobError>> + Send + 'static {
        self.read_range_with_layout(path, key, prefix, SegmentLayout::new(size), range)
    }

    /// Plaintext bytes `range` (see [`SegmentLayout::plan`]) of the object laid out as
    /// `layout` at `path`. Fetches only the ciphertext of the segments the range
    /// touches, and yields only authenticated bytes: the stream ends with a
    /// [`BlobError::Corrupt`] item as soon as tampering or truncation shows (so a client
    /// may have received a correct prefix of the range before that), or when the blob
    /// is missing or not the size the layout says.
    pub fn read_range_with_layout(
        &self,
        path: &str,
        key: SecretKey,
        prefix: NoncePrefix,
        layout: SegmentLayout,
        range: Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, BlobError>> + Send + 'static + use<> {
        let source = Source::Store {
            store: Arc::clone(&self.store),
            location: parse_path(path),
        };
        Reader::stream(source, key, prefix, layout, range)
    }

    /// Like [`Self::read_range_with_layout`], for ciphertext kept with the object's
    /// metadata instead of in a blob.
    pub fn read_inline_range(
        ciphertext: Bytes,
        key: SecretKey,
        prefix: NoncePrefix,
        layout: SegmentLayout,
        range: Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, BlobError>> + Send + 'static + use<> {
        Reader::stream(Source::Inline(ciphertext), key, prefix, layout, range)
    }

    /// Removes a blob; one that is already gone is fine.
    pub async fn delete(&self, path: &str) -> Result<(), BlobError> {
        match self.store.delete(&parse_path(path)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(storage(e)),
        }
        self.delete_local_staging(path).await
    }

    /// A local multipart upload writes `<path>#<n>` and renames it when complete; a
    /// process that died mid-upload leaves that file behind, invisible to
    /// object_store's listing, so the sweep removes it by name.
    async fn delete_local_staging(&self, path: &str) -> Result<(), BlobError> {
        let Some(file) = self.local_path(path) else {
            return Ok(());
        };
        let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
            return Ok(());
        };
        let staging_prefix = format!("{}#", name.to_string_lossy());
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(BlobError::Storage(format!("{}: {e}", dir.display()))),
        };
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| BlobError::Storage(format!("{}: {e}", dir.display())))?
        {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_staging = name
                .strip_prefix(&staging_prefix)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if is_staging {
                match tokio::fs::remove_file(entry.path()).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(BlobError::Storage(format!(
                            "{}: {e}",
                            entry.path().display()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every blob with its last-modified time, for sweeping orphans.
    pub async fn list(&self) -> Result<Vec<(String, DateTime<Utc>)>, BlobError> {
        self.store
            .list(Some(&Path::from(BLOB_DIR)))
            .map_ok(|meta| (meta.location.to_string(), meta.last_modified))
            .try_collect()
            .await
            .map_err(storage)
    }
}

/// Where ciphertext segments go during a write: kept in memory while the whole object
/// might still fit one `put`, then a multipart upload.
enum Sink {
    Buffered {
        segments: Vec<Bytes>,
        len: usize,
        part_size: usize,
    },
    /// The upload, and how many parts may upload at once.
    Multipart(WriteMultipart, usize),
    /// A local store's file, written one part at a time and synced as it grows.
    Local(LocalUpload),
}

impl Sink {
    async fn push(
        &mut self,
        blobs: &BlobStore,
        location: &Path,
        segment: Bytes,
    ) -> Result<(), BlobError> {
        match self {
            Sink::Buffered {
                segments,
                len,
                part_size,
            } => {
                *len += segment.len();
                segments.push(segment);
                if *len > *part_size {
                    let segments = std::mem::take(segments);
                    *self = match &blobs.local_root {
                        Some(root) => {
                            let dest = local_file(root, location.as_ref());
                            let mut upload = LocalUpload::create(root, dest, *part_size).await?;
                            for segment in segments {
                                upload.put(segment).await?;
                            }
                            Sink::Local(upload)
                        }
                        None => {
                            let upload =
                                blobs.store.put_multipart(location).await.map_err(storage)?;
                            let mut writer =
                                WriteMultipart::new_with_chunk_size(upload, *part_size);
                            for segment in segments {
                                writer.put(segment);
                            }
                            let parts_in_flight = (MAX_BYTES_IN_FLIGHT / *part_size).max(1);
                            Sink::Multipart(writer, parts_in_flight)
                        }
                    };
                }
            }
            Sink::Multipart(writer, parts_in_flight) => {
                writer
                    .wait_for_capacity(*parts_in_flight)
                    .await
                    .map_err(storage)?;
                writer.put(segment);
            }
            Sink::Local(upload) => upload.put(segment).await?,
        }
        Ok(())
    }

    async fn finish(self, blobs: &BlobStore, location: &Path) -> Result<(), BlobError> {
        match self {
            Sink::Buffered { segments, .. } => {
                let payload: PutPayload = segments.into_iter().collect();
                blobs.store.put(location, payload).await.map_err(storage)?;
            }
            // Aborts the upload itself when a part or the completion fails.
            Sink::Multipart(writer, _) => {
                writer.finish().await.map_err(storage)?;
            }
            // Dropping the upload removes its staging file when completing fails.
            Sink::Local(upload) => upload.complete().await?,
        }
        Ok(())
    }

    /// Drops what was uploaded so far; a failure to do so only leaves an invisible
    /// staging file or incomplete multipart upload behind, never an object at the path.
    async fn abort(self) {
        match self {
            Sink::Buffered { .. } => {}
            Sink::Multipart(writer, _) => {
                if let Err(e) = writer.abort().await {
                    tracing::warn!(error = %e, "aborting a blob upload failed");
                }
            }
            Sink::Local(upload) => upload.abort().await,
        }
    }
}

/// The plaintext of a body, sealed as it arrives: every write's length rule and
/// optional MD5, then [`SegmentEncryptor`].
struct Sealer {
    encryptor: SegmentEncryptor,
    hasher: Option<Md5>,
    size: u64,
    expected_len: Option<u64>,
}

impl Sealer {
    fn new(key: &SecretKey, prefix: NoncePrefix, expected_len: Option<u64>, md5: bool) -> Self {
        Self {
            encryptor: SegmentEncryptor::new(key, prefix),
            hasher: md5.then(Md5::new),
            size: 0,
            expected_len,
        }
    }

    /// Takes the body's next chunk and returns the segments it completed; refuses a
    /// body that runs over its declared length.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, BlobError> {
        self.size += chunk.len() as u64;
        if let Some(expected) = self.expected_len
            && self.size > expected
        {
            return Err(BlobError::LengthMismatch {
                expected,
                actual: self.size,
            });
        }
        if let Some(hasher) = self.hasher.as_mut() {
            hasher.update(chunk);
        }
        self.encryptor.push(chunk).map_err(|_| {
            BlobError::Body("object exceeds the largest size keyhold can store".into())
        })
    }

    /// The final segment and what was written; refuses a body that fell short.
    fn finish(self) -> Result<(Bytes, Written), BlobError> {
        if let Some(expected) = self.expected_len
            && self.size != expected
        {
            return Err(BlobError::LengthMismatch {
                expected,
                actual: self.size,
            });
        }
        let written = Written {
            size: self.size,
            md5: self.hasher.map(|h| h.finalize().into()),
        };
        Ok((self.encryptor.finish(), written))
    }
}

/// Where a [`Reader`] finds the ciphertext.
enum Source {
    /// A blob at `location`.
    Store {
        store: Arc<dyn ObjectStore>,
        location: Result<Path, BlobError>,
    },
    /// All of it, kept with the object's metadata.
    Inline(Bytes),
}

/// The state of a [`BlobStore::read_range_with_layout`] stream.
struct Reader {
    source: Source,
    ciphertext_range: Range<u64>,
    ciphertext_size: u64,
    ciphertext: Option<BoxStream<'static, Result<Bytes, BlobError>>>,
    decryptor: Option<SegmentDecryptor>,
    /// Plaintext pieces decrypted but not yet yielded.
    pending: VecDeque<Bytes>,
    done: bool,
}

impl Reader {
    fn stream(
        source: Source,
        key: SecretKey,
        prefix: NoncePrefix,
        layout: SegmentLayout,
        range: Range<u64>,
    ) -> impl Stream<Item = Result<Bytes, BlobError>> + Send + 'static + use<> {
        let plan = layout.plan(range);
        let decryptor = SegmentDecryptor::new(&key, prefix, layout, &plan);
        drop(key);
        let reader = Reader {
            source,
            ciphertext_range: plan.ciphertext_range,
            ciphertext_size: layout.ciphertext_size(),
            ciphertext: None,
            decryptor: Some(decryptor),
            pending: VecDeque::new(),
            done: false,
        };
        futures::stream::unfold(reader, Reader::step)
    }

    async fn step(mut self) -> Option<(Result<Bytes, BlobError>, Self)> {
        loop {
            if let Some(piece) = self.pending.pop_front() {
                return Some((Ok(piece), self));
            }
            if self.done {
                return None;
            }
            if self.ciphertext.is_none() {
                match self.open().await {
                    Ok(stream) => self.ciphertext = Some(stream),
                    Err(e) => return self.fail(e),
                }
            }
            let ciphertext = self.ciphertext.as_mut()?;
            match ciphertext.next().await {
                Some(Ok(chunk)) => {
                    let decryptor = self.decryptor.as_mut()?;
                    match decryptor.feed(&chunk) {
                        Ok(pieces) => self.pending.extend(pieces),
                        Err(e) => return self.fail(corrupt(e)),
                    }
                }
                Some(Err(e)) => return self.fail(e),
                None => {
                    self.done = true;
                    self.ciphertext = None;
                    if let Some(decryptor) = self.decryptor.take()
                        && let Err(e) = decryptor.finish()
                    {
                        return Some((Err(corrupt(e)), self));
                    }
                }
            }
        }
    }

    fn fail(mut self, e: BlobError) -> Option<(Result<Bytes, BlobError>, Self)> {
        self.done = true;
        self.pending.clear();
        self.ciphertext = None;
        self.decryptor = None;
        Some((Err(e), self))
    }

    /// Starts the ranged GET, after checking the blob is exactly as long as the layout
    /// says (a blob that is shorter was truncated; one that is longer was tampered with).
    async fn open(&mut self) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let (store, location) = match &self.source {
            Source::Store { store, location } => match location {
                Ok(location) => (Arc::clone(store), location.clone()),
                Err(e) => return Err(BlobError::Storage(e.to_string())),
            },
            Source::Inline(ciphertext) => {
                if ciphertext.len() as u64 != self.ciphertext_size {
                    return Err(self.size_mismatch(ciphertext.len() as u64));
                }
                let range =
                    self.ciphertext_range.start as usize..self.ciphertext_range.end as usize;
                let wanted = ciphertext.slice(range);
                return Ok(futures::stream::once(async move { Ok(wanted) }).boxed());
            }
        };
        let options = GetOptions {
            range: Some(GetRange::Bounded(self.ciphertext_range.clone())),
            ..Default::default()
        };
        let result = match store.get_opts(&location, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BlobError::Corrupt("the stored blob is missing".into()));
            }
            Err(e) => {
                // A range past the end of a truncated blob fails the GET itself.
                return Err(match store.head(&location).await {
                    Ok(meta) if meta.size != self.ciphertext_size => self.size_mismatch(meta.size),
                    Err(object_store::Error::NotFound { .. }) => {
                        BlobError::Corrupt("the stored blob is missing".into())
                    }
                    _ => storage(e),
                });
            }
        };
        if result.meta.size != self.ciphertext_size {
            return Err(self.size_mismatch(result.meta.size));
        }
        Ok(match result.payload {
            GetResultPayload::File(file, _) => local_chunks(file, result.range),
            GetResultPayload::Stream(stream) => stream.map_err(storage).boxed(),
        })
    }

    fn size_mismatch(&self, actual: u64) -> BlobError {
        BlobError::Corrupt(format!(
            "the stored blob has {actual} bytes, its metadata calls for {}",
            self.ciphertext_size
        ))
    }
}

/// Reads `range` of a local file in [`LOCAL_READ_CHUNK`] pieces on the blocking pool
/// (object_store's own reader uses 8 KiB pieces, one blocking-pool trip each).
fn local_chunks(
    file: std::fs::File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
    // The next chunk is read while this one is decrypted.
    crate::read_ahead::read_ahead(local_chunks_in_turn(file, range), 1)
}

fn local_chunks_in_turn(
    file: std::fs::File,
    range: Range<u64>,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
    futures::stream::try_unfold(
        (file, range.start, range.end),
        |(mut file, pos, end)| async move {
            if pos >= end {
                return Ok(None);
            }
            let want = (end - pos).min(LOCAL_READ_CHUNK as u64);
            let (file, buf) = tokio::task::spawn_blocking(move || {
                file.seek(SeekFrom::Start(pos))?;
                let mut buf = Vec::with_capacity(want as usize);
                (&mut file).take(want).read_to_end(&mut buf)?;
                Ok::<_, std::io::Error>((file, buf))
            })
            .await
            .map_err(|e| BlobError::Storage(format!("blob read task failed: {e}")))?
            .map_err(|e| BlobError::Storage(format!("reading blob: {e}")))?;
            if buf.is_empty() {
                // The file shrank since it was opened; the decryptor reports it.
                return Ok(None);
            }
            let next = pos + buf.len() as u64;
            Ok(Some((Bytes::from(buf), (file, next, end))))
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use keyhold_crypto::{SEGMENT_SIZE, random_bytes};

    use super::*;

    /// A store in a fresh directory under the system temp dir, removed on drop.
    struct TempStore {
        root: PathBuf,
        blobs: BlobStore,
    }

    impl TempStore {
        fn new() -> Self {
            let root = std::env::temp_dir().join(format!("keyhold-blobs-{}", uuid::Uuid::new_v4()));
            let blobs = BlobStore::local(&root).unwrap();
            Self { root, blobs }
        }
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    fn body(
        data: &[u8],
        chunk: usize,
    ) -> impl Stream<Item = Result<Bytes, BlobError>> + Send + Unpin + use<> {
        let chunks: Vec<_> = data
            .chunks(chunk.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(chunks)
    }

    struct Sealed {
        path: String,
        key: SecretKey,
        prefix: NoncePrefix,
        size: u64,
    }

    async fn write(store: &BlobStore, data: &[u8], chunk: usize) -> Sealed {
        let path = BlobStore::new_blob_path();
        let key = SecretKey::generate();
        let prefix = NoncePrefix::generate();
        let written = store
            .write_sealed(
                &path,
                &key,
                prefix,
                body(data, chunk),
                Some(data.len() as u64),
                true,
            )
            .await
            .unwrap();
        assert_eq!(written.size, data.len() as u64);
        let md5: [u8; 16] = Md5::digest(data).into();
        assert_eq!(written.md5, Some(md5));
        Sealed {
            path,
            key,
            prefix,
            size: data.len() as u64,
        }
    }

    async fn read(store: &BlobStore, s: &Sealed, range: Range<u64>) -> Result<Vec<u8>, BlobError> {
        let pieces: Vec<Bytes> = store
            .read_range(&s.path, s.key.clone(), s.prefix, s.size, range)
            .try_collect()
            .await?;
        Ok(pieces.concat())
    }

    fn assert_corrupt(result: Result<Vec<u8>, BlobError>) {
        assert!(matches!(result, Err(BlobError::Corrupt(_))), "{result:?}");
    }

    /// Files in the blob's directory whose name starts with the blob's (staging files
    /// are `<name>#<n>`).
    fn leftovers(store: &BlobStore, path: &str) -> Vec<String> {
        let file = store.local_path(path).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let Ok(dir) = std::fs::read_dir(file.parent().unwrap()) else {
            return vec![];
        };
        dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&name))
            .collect()
    }

    #[tokio::test]
    async fn round_trips_single_put_and_multipart() {
        let t = TempStore::new();
        let s = SEGMENT_SIZE;
        let sizes = [
            0,
            1,
            s - 1,
            s,
            s + 1,
            3 * s + 5,
            PART_SIZE + 7,
            2 * PART_SIZE + s + 3,
        ];
        for (i, size) in sizes.into_iter().enumerate() {
            let data = random_bytes(size);
            let chunk = [1000, s, 3 * s + 1, 1 << 20][i % 4];
            let sealed = write(&t.blobs, &data, chunk).await;
            let on_disk = std::fs::metadata(t.blobs.local_path(&sealed.path).unwrap()).unwrap();
            assert_eq!(
                on_disk.len(),
                SegmentLayout::new(size as u64).ciphertext_size()
            );
            assert!(
                read(&t.blobs, &sealed, 0..size as u64).await.unwrap() == *data,
                "size {size}"
            );
            let n = size as u64;
            if n > 0 {
                for range in [0..1, n - 1..n, n / 3..n / 2 + 1, n / 2..n] {
                    if range.start < range.end {
                        let got = read(&t.blobs, &sealed, range.clone()).await.unwrap();
                        assert!(
                            got == data[range.start as usize..range.end as usize],
                            "{range:?}"
                        );
                    }
                }
            }
            assert!(leftovers(&t.blobs, &sealed.path).len() == 1);
        }
    }

    #[tokio::test]
    async fn range_reads_cross_segment_and_part_boundaries() {
        let t = TempStore::new();
        let data = random_bytes(PART_SIZE + 3 * SEGMENT_SIZE);
        let sealed = write(&t.blobs, &data, 777_777).await;
        let seg = SEGMENT_SIZE as u64;
        let part = PART_SIZE as u64;
        for range in [
            seg - 1..seg + 1,
            5..3 * seg,
            part - 10..part + 10,
            part - seg..part + 2 * seg + 1,
            1..data.len() as u64 - 1,
        ] {
            let got = read(&t.blobs, &sealed, range.clone()).await.unwrap();
            assert!(
                got == data[range.start as usize..range.end as usize],
                "{range:?}"
            );
        }
    }

    #[tokio::test]
    async fn without_expected_len_or_md5() {
        let t = TempStore::new();
        let data = random_bytes(2 * SEGMENT_SIZE);
        let path = BlobStore::new_blob_path();
        let key = SecretKey::generate();
        let prefix = NoncePrefix::generate();
        let written = t
            .blobs
            .write_sealed(&path, &key, prefix, body(&data, 5000), None, false)
            .await
            .unwrap();
        assert_eq!(
            written,
            Written {
                size: data.len() as u64,
                md5: None
            }
        );
        let sealed = Sealed {
            path,
            key,
            prefix,
            size: written.size,
        };
        assert!(read(&t.blobs, &sealed, 0..written.size).await.unwrap() == *data);
    }

    #[tokio::test]
    async fn length_mismatch_leaves_nothing_behind() {
        let t = TempStore::new();
        let key = SecretKey::generate();
        for (declared, actual) in [
            (100, 50),
            (50, 100),
            (0, 1),
            (1, 0),
            (3 * PART_SIZE as u64, 2 * PART_SIZE + 1), // short, after the multipart upload began
            (PART_SIZE as u64 + 1, 2 * PART_SIZE),     // long, likewise
        ] {
            let data = random_bytes(actual);
            let path = BlobStore::new_blob_path();
            let err = t
                .blobs
                .write_sealed(
                    &path,
                    &key,
                    NoncePrefix::generate(),
                    body(&data, 1 << 20),
                    Some(declared),
                    true,
                )
                .await
                .unwrap_err();
            match err {
                BlobError::LengthMismatch {
                    expected,
                    actual: got,
                } => {
                    assert_eq!(expected, declared);
                    if (actual as u64) < declared {
                        assert_eq!(got, actual as u64);
                    } else {
                        assert!(got > declared && got <= actual as u64);
                    }
                }
                other => panic!("{other:?}"),
            }
            assert!(!t.blobs.local_path(&path).unwrap().exists());
            assert_eq!(leftovers(&t.blobs, &path), Vec::<String>::new());
        }
    }

    #[tokio::test]
    async fn a_write_dropped_midway_leaves_nothing_behind() {
        let t = TempStore::new();
        let path = BlobStore::new_blob_path();
        // More than a part, so a staging file exists, then a client that goes silent.
        let first = Ok(Bytes::copy_from_slice(&random_bytes(2 * LOCAL_PART_SIZE)));
        let stalled = futures::stream::iter([first]).chain(futures::stream::pending());
        let key = SecretKey::generate();
        let mut write = Box::pin(t.blobs.write_sealed(
            &path,
            &key,
            NoncePrefix::generate(),
            stalled,
            None,
            false,
        ));
        let mut waited = 0;
        while leftovers(&t.blobs, &path).is_empty() {
            tokio::select! {
                outcome = &mut write => panic!("a body that never ends was stored: {outcome:?}"),
                () = tokio::time::sleep(std::time::Duration::from_millis(20)) => waited += 1,
            }
            assert!(waited < 250, "no staging file after 5 s");
        }
        drop(write);
        // The staging file is removed on the blocking pool after the drop.
        for _ in 0..100 {
            if leftovers(&t.blobs, &path).is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(leftovers(&t.blobs, &path), Vec::<String>::new());
    }

    #[tokio::test]
    async fn body_errors_leave_nothing_behind() {
        let t = TempStore::new();
        for good in [10, 2 * PART_SIZE] {
            let data = random_bytes(good);
            let failing = body(&data, 1 << 20).chain(futures::stream::iter([Err(
                BlobError::Body("client went away".into()),
            )]));
            let path = BlobStore::new_blob_path();
            let err = t
                .blobs
                .write_sealed(
                    &path,
                    &SecretKey::generate(),
                    NoncePrefix::generate(),
                    failing,
                    None,
                    false,
                )
                .await
                .unwrap_err();
            assert!(
                matches!(err, BlobError::Body(ref m) if m == "client went away"),
                "{err:?}"
            );
            assert!(!t.blobs.local_path(&path).unwrap().exists());
            assert_eq!(leftovers(&t.blobs, &path), Vec::<String>::new());
        }
    }

    #[tokio::test]
    async fn stored_bytes_are_ciphertext() {
        let t = TempStore::new();
        let marker = b"KEYHOLD-PLAINTEXT-MARKER-0123456789";
        let data: Vec<u8> = marker
            .iter()
            .copied()
            .cycle()
            .take(3 * SEGMENT_SIZE + 99)
            .collect();
        let sealed = write(&t.blobs, &data, 4096).await;
        let stored = std::fs::read(t.blobs.local_path(&sealed.path).unwrap()).unwrap();
        assert!(!stored.windows(marker.len()).any(|w| w == marker));
        assert!(!stored.windows(8).any(|w| w == &marker[..8]));
        assert!(read(&t.blobs, &sealed, 0..sealed.size).await.unwrap() == data);
    }

    #[tokio::test]
    async fn flipped_bytes_are_never_served() {
        let t = TempStore::new();
        let data = random_bytes(3 * SEGMENT_SIZE + 5);
        let sealed = write(&t.blobs, &data, 10_000).await;
        let file = t.blobs.local_path(&sealed.path).unwrap();
        let original = std::fs::read(&file).unwrap();
        let stride = SEGMENT_SIZE + 16;
        for at in [
            0,
            100,
            stride - 1,
            stride,
            2 * stride + 7,
            original.len() - 1,
        ] {
            let mut bad = original.clone();
            bad[at] ^= 0x04;
            std::fs::write(&file, &bad).unwrap();
            let segment = (at / stride) as u64;
            assert_corrupt(read(&t.blobs, &sealed, 0..sealed.size).await);
            // A read of just that segment fails; the stream stops at the first bad one.
            let range = segment * SEGMENT_SIZE as u64..(segment * SEGMENT_SIZE as u64 + 1);
            assert_corrupt(read(&t.blobs, &sealed, range).await);
            let items: Vec<_> = t
                .blobs
                .read_range(
                    &sealed.path,
                    sealed.key.clone(),
                    sealed.prefix,
                    sealed.size,
                    0..sealed.size,
                )
                .collect()
                .await;
            assert!(items.last().unwrap().is_err());
            assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
            let served: usize = items
                .iter()
                .filter_map(|i| i.as_ref().ok())
                .map(Bytes::len)
                .sum();
            assert!(served <= segment as usize * SEGMENT_SIZE, "at {at}");
        }
        std::fs::write(&file, &original).unwrap();
        assert!(read(&t.blobs, &sealed, 0..sealed.size).await.unwrap() == *data);
    }

    #[tokio::test]
    async fn truncated_extended_or_missing_blobs_are_corrupt() {
        let t = TempStore::new();
        let data = random_bytes(3 * SEGMENT_SIZE + 5);
        let sealed = write(&t.blobs, &data, 65_536).await;
        let file = t.blobs.local_path(&sealed.path).unwrap();
        let original = std::fs::read(&file).unwrap();
        let stride = SEGMENT_SIZE + 16;
        for len in [original.len() - 1, 3 * stride, stride, 10, 0] {
            std::fs::write(&file, &original[..len]).unwrap();
            assert_corrupt(read(&t.blobs, &sealed, 0..sealed.size).await);
            // Also a range whose segments lie past the cut.
            assert_corrupt(read(&t.blobs, &sealed, sealed.size - 1..sealed.size).await);
        }
        let mut longer = original.clone();
        longer.push(0);
        std::fs::write(&file, &longer).unwrap();
        assert_corrupt(read(&t.blobs, &sealed, 0..sealed.size).await);

        std::fs::remove_file(&file).unwrap();
        assert_corrupt(read(&t.blobs, &sealed, 0..sealed.size).await);

        // An empty object truncated to nothing.
        let empty = write(&t.blobs, b"", 1).await;
        assert_eq!(
            read(&t.blobs, &empty, 0..0).await.unwrap(),
            Vec::<u8>::new()
        );
        std::fs::write(t.blobs.local_path(&empty.path).unwrap(), b"").unwrap();
        assert_corrupt(read(&t.blobs, &empty, 0..0).await);
    }

    #[tokio::test]
    async fn wrong_key_is_corrupt() {
        let t = TempStore::new();
        let mut sealed = write(&t.blobs, b"hello", 2).await;
        sealed.key = SecretKey::generate();
        assert_corrupt(read(&t.blobs, &sealed, 0..5).await);
    }

    #[tokio::test]
    async fn delete_and_list() {
        let t = TempStore::new();
        assert!(t.blobs.list().await.unwrap().is_empty());
        let a = write(&t.blobs, b"a", 1).await;
        let b = write(&t.blobs, &random_bytes(PART_SIZE + 1), 1 << 20).await;
        let mut listed: Vec<String> = t
            .blobs
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        listed.sort();
        let mut expected = vec![a.path.clone(), b.path.clone()];
        expected.sort();
        assert_eq!(listed, expected);
        let (_, modified) = t.blobs.list().await.unwrap()[0];
        assert!((Utc::now() - modified).num_seconds().abs() < 60);

        t.blobs.delete(&a.path).await.unwrap();
        t.blobs.delete(&a.path).await.unwrap();
        t.blobs.delete(&BlobStore::new_blob_path()).await.unwrap();
        let listed: Vec<String> = t
            .blobs
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(listed, vec![b.path.clone()]);
        assert!(!t.blobs.local_path(&a.path).unwrap().exists());
    }

    #[test]
    fn blob_paths_are_random_and_spread() {
        let p = BlobStore::new_blob_path();
        let parts: Vec<&str> = p.split('/').collect();
        assert_eq!(parts.len(), 3, "{p}");
        assert_eq!(parts[0], "blobs");
        assert_eq!(parts[1].len(), 2);
        assert!(parts[1].bytes().all(|b| b.is_ascii_hexdigit()));
        let id = uuid::Uuid::parse_str(parts[2]).unwrap();
        assert!(id.simple().to_string().starts_with(parts[1]));
        assert_ne!(p, BlobStore::new_blob_path());
    }

    #[tokio::test]
    async fn from_url_schemes() {
        let root = std::env::temp_dir().join(format!("keyhold-blobs-{}", uuid::Uuid::new_v4()));
        let store = BlobStore::from_url(&format!("file://{}", root.display())).unwrap();
        assert!(root.is_dir());
        let sealed = write(&store, b"via url", 3).await;
        assert_eq!(read(&store, &sealed, 0..7).await.unwrap(), b"via url");
        std::fs::remove_dir_all(&root).unwrap();

        let memory = BlobStore::from_url("memory://").unwrap();
        let data = random_bytes(PART_SIZE + 5);
        let sealed = write(&memory, &data, 1 << 20).await;
        assert!(read(&memory, &sealed, 0..sealed.size).await.unwrap() == *data);
        assert!(memory.local_path(&sealed.path).is_none());

        for bad in ["ftp://x/y", "file://relative/dir", "s3://", "/tmp/x"] {
            assert!(BlobStore::from_url(bad).is_err(), "{bad}");
        }
    }

    async fn seal_inline(data: &[u8], chunk: usize) -> (Bytes, SecretKey, NoncePrefix) {
        let key = SecretKey::generate();
        let prefix = NoncePrefix::generate();
        let (ciphertext, written) =
            BlobStore::seal_in_memory(&key, prefix, body(data, chunk), data.len() as u64, true)
                .await
                .unwrap();
        let md5: [u8; 16] = Md5::digest(data).into();
        assert_eq!(
            written,
            Written {
                size: data.len() as u64,
                md5: Some(md5)
            }
        );
        (ciphertext, key, prefix)
    }

    async fn read_inline(
        ciphertext: Bytes,
        key: &SecretKey,
        prefix: NoncePrefix,
        size: u64,
        range: Range<u64>,
    ) -> Result<Vec<u8>, BlobError> {
        let layout = SegmentLayout::new(size);
        let pieces: Vec<Bytes> =
            BlobStore::read_inline_range(ciphertext, key.clone(), prefix, layout, range)
                .try_collect()
                .await?;
        Ok(pieces.concat())
    }

    #[tokio::test]
    async fn sealed_in_memory_is_the_ciphertext_a_blob_would_hold() {
        let t = TempStore::new();
        for size in [0, 1, 4096, SEGMENT_SIZE - 1, SEGMENT_SIZE] {
            let data = random_bytes(size);
            let (ciphertext, key, prefix) = seal_inline(&data, 1000).await;
            assert_eq!(ciphertext.len(), size + 16, "one segment and its tag");
            // The same key and prefix written as a blob give the same bytes.
            let path = BlobStore::new_blob_path();
            t.blobs
                .write_sealed(&path, &key, prefix, body(&data, 3000), None, false)
                .await
                .unwrap();
            let file = std::fs::read(t.blobs.local_path(&path).unwrap()).unwrap();
            assert_eq!(file, ciphertext, "{size} bytes");
            let size = size as u64;
            let whole = read_inline(ciphertext.clone(), &key, prefix, size, 0..size).await;
            assert_eq!(whole.unwrap(), *data, "{size} bytes");
            if size > 10 {
                let part = read_inline(ciphertext, &key, prefix, size, 3..size - 7).await;
                assert_eq!(part.unwrap(), &data[3..data.len() - 7]);
            }
        }
        // Two segments (the domain never inlines more than one, but the format holds).
        let data = random_bytes(SEGMENT_SIZE + 5);
        let (ciphertext, key, prefix) = seal_inline(&data, SEGMENT_SIZE).await;
        let size = data.len() as u64;
        let tail = read_inline(ciphertext, &key, prefix, size, size - 9..size).await;
        assert_eq!(tail.unwrap(), &data[data.len() - 9..]);
    }

    #[tokio::test]
    async fn sealing_in_memory_refuses_a_body_of_another_length() {
        let key = SecretKey::generate();
        let prefix = NoncePrefix::generate();
        let data = random_bytes(5000);
        let seal = |declared: u64| {
            BlobStore::seal_in_memory(&key, prefix, body(&data, 1000), declared, false)
        };
        // Refused as soon as it runs over, not after buffering the rest.
        match seal(2500).await {
            Err(BlobError::LengthMismatch {
                expected: 2500,
                actual: 3000,
            }) => {}
            other => panic!("{:?}", other.map(|(_, w)| w)),
        }
        match seal(6000).await {
            Err(BlobError::LengthMismatch {
                expected: 6000,
                actual: 5000,
            }) => {}
            other => panic!("{:?}", other.map(|(_, w)| w)),
        }
        let failing = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(BlobError::Body("reset".into())),
        ]);
        match BlobStore::seal_in_memory(&key, prefix, failing, 10, false).await {
            Err(BlobError::Body(message)) => assert_eq!(message, "reset"),
            other => panic!("{:?}", other.map(|(_, w)| w)),
        }
    }

    #[tokio::test]
    async fn tampered_inline_ciphertext_is_never_served() {
        let data = random_bytes(4096);
        let (ciphertext, key, prefix) = seal_inline(&data, 4096).await;
        let size = data.len() as u64;
        let mut flipped = ciphertext.to_vec();
        flipped[100] ^= 1;
        assert_corrupt(read_inline(flipped.into(), &key, prefix, size, 0..size).await);
        let short = ciphertext.slice(..ciphertext.len() - 1);
        assert_corrupt(read_inline(short, &key, prefix, size, 0..10).await);
        let mut long = ciphertext.to_vec();
        long.push(0);
        assert_corrupt(read_inline(long.into(), &key, prefix, size, 0..10).await);
        let other = SecretKey::generate();
        assert_corrupt(read_inline(ciphertext, &other, prefix, size, 0..size).await);
    }
}
