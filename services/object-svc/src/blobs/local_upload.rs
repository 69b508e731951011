//! One large blob written to a local store: parts go to a staging file `<path>#<n>`
//! (the name [`super::BlobStore::delete`] and the sweeper clean up after a crash),
//! which is renamed into place once it is durable.
//!
//! object_store's local multipart upload does the same, but it syncs the whole file
//! only when the upload completes, so a 64 MiB PUT spent its last ~25% waiting on the
//! disk with nothing else to do. Here the file is synced in the background while later
//! parts are still being sealed and written; at completion only what was written since
//! the last of those syncs is left to flush.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::BlobError;

pub(super) struct LocalUpload {
    file: Arc<File>,
    staging: PathBuf,
    /// Renamed into place or removed: nothing left for drop to remove.
    settled: bool,
    dest: PathBuf,
    part_size: usize,
    /// The part being filled and its length.
    part: Vec<Bytes>,
    part_len: usize,
    /// Where the next part starts in the file.
    offset: u64,
    /// The part being written. One at a time: concurrent writes to one file only
    /// contend for its inode lock (a profile showed 8% of a PUT spinning on it).
    write: Option<JoinHandle<Result<(), BlobError>>>,
    /// The background `fdatasync`, at most one at a time.
    sync: Option<JoinHandle<Result<(), BlobError>>>,
}

impl LocalUpload {
    /// Creates the staging file next to `dest` (and `dest`'s directories, durably).
    pub(super) async fn create(
        root: &Path,
        dest: PathBuf,
        part_size: usize,
    ) -> Result<Self, BlobError> {
        let (root, dest_for_task) = (root.to_path_buf(), dest.clone());
        let (file, staging) = blocking(move || create_staging(&root, &dest_for_task)).await?;
        Ok(Self {
            file: Arc::new(file),
            staging,
            settled: false,
            dest,
            part_size,
            part: Vec::new(),
            part_len: 0,
            offset: 0,
            write: None,
            sync: None,
        })
    }

    /// Queues `segment`; writes a part once one is full, waiting first for the
    /// previous part's write.
    pub(super) async fn put(&mut self, segment: Bytes) -> Result<(), BlobError> {
        self.part_len += segment.len();
        self.part.push(segment);
        if self.part_len >= self.part_size {
            self.write_part().await?;
        }
        Ok(())
    }

    async fn write_part(&mut self) -> Result<(), BlobError> {
        if self.join_write().await? {
            self.sync_in_background().await?;
        }
        let part = std::mem::take(&mut self.part);
        let offset = self.offset;
        self.offset += std::mem::take(&mut self.part_len) as u64;
        let file = Arc::clone(&self.file);
        self.write = Some(tokio::task::spawn_blocking(move || {
            let mut at = offset;
            for bytes in &part {
                file.write_all_at(bytes, at).map_err(io("writing"))?;
                at += bytes.len() as u64;
            }
            Ok(())
        }));
        Ok(())
    }

    /// Waits for the part being written, if any; says whether there was one.
    async fn join_write(&mut self) -> Result<bool, BlobError> {
        match self.write.take() {
            Some(write) => joined(write).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Starts a sync of everything written so far, unless one is still running.
    async fn sync_in_background(&mut self) -> Result<(), BlobError> {
        if let Some(sync) = self.sync.take_if(|sync| sync.is_finished()) {
            joined(sync).await?;
        }
        if self.sync.is_none() {
            let file = Arc::clone(&self.file);
            self.sync = Some(tokio::task::spawn_blocking(move || {
                file.sync_data().map_err(io("syncing"))
            }));
        }
        Ok(())
    }

    /// Writes what is left, makes the file durable and renames it to its path. Returns
    /// once the new name is durable too.
    pub(super) async fn complete(mut self) -> Result<(), BlobError> {
        if self.part_len > 0 {
            self.write_part().await?;
        }
        // No background sync for the last part: `sync_all` below flushes it.
        self.join_write().await?;
        if let Some(sync) = self.sync.take() {
            joined(sync).await?;
        }
        let (file, staging, dest) = (
            Arc::clone(&self.file),
            self.staging.clone(),
            self.dest.clone(),
        );
        blocking(move || {
            file.sync_all().map_err(io("syncing"))?;
            std::fs::rename(&staging, &dest).map_err(io("renaming"))?;
            sync_dir(dest.parent().unwrap_or(Path::new("/")))
        })
        .await?;
        self.settled = true;
        Ok(())
    }

    /// Stops writing and removes the staging file.
    pub(super) async fn abort(mut self) {
        self.settled = true;
        let staging = self.staging.clone();
        if let Err(e) =
            blocking(move || std::fs::remove_file(staging).map_err(io("removing"))).await
        {
            tracing::warn!(error = %e, "removing an aborted blob's staging file failed");
        }
    }
}

impl Drop for LocalUpload {
    /// A PUT whose future is dropped midway (the client went away) leaves no file.
    fn drop(&mut self) {
        if !self.settled {
            let staging = std::mem::take(&mut self.staging);
            let remove = move || drop(std::fs::remove_file(staging));
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn_blocking(remove)),
                Err(_) => remove(),
            }
        }
    }
}

/// `<dest>#<n>` for the first free n, created exclusively. Missing directories are
/// created, and each new one is made durable in its parent, up to `root`.
fn create_staging(root: &Path, dest: &Path) -> Result<(File, PathBuf), BlobError> {
    let mut n = 1u32;
    loop {
        let mut name = dest.as_os_str().to_owned();
        name.push(format!("#{n}"));
        let staging = PathBuf::from(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
        {
            Ok(file) => return Ok((file, staging)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => n += 1,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let dir = dest.parent().ok_or_else(|| io("creating")(e))?;
                create_dirs_durably(root, dir)?;
            }
            Err(e) => return Err(io("creating")(e)),
        }
    }
}

fn create_dirs_durably(root: &Path, dir: &Path) -> Result<(), BlobError> {
    let mut missing = Vec::new();
    let mut probe = dir;
    while !probe.exists() && probe.starts_with(root) && probe != root {
        missing.push(probe);
        probe = probe.parent().unwrap_or(root);
    }
    std::fs::create_dir_all(dir).map_err(io("creating"))?;
    for created in missing {
        sync_dir(created.parent().unwrap_or(root))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing the directory of"))
}

fn io(doing: &'static str) -> impl Fn(std::io::Error) -> BlobError {
    move |e| BlobError::Storage(format!("{doing} a blob file: {e}"))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    joined(tokio::task::spawn_blocking(work)).await
}

async fn joined<T>(task: JoinHandle<Result<T, BlobError>>) -> Result<T, BlobError> {
    task.await
        .map_err(|e| BlobError::Storage(format!("a blob file task failed: {e}")))?
}
