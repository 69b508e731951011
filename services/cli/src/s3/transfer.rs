//! `keyhold s3 cp`'s bytes: a file or standard input streamed into PutObject, and
//! GetObject's stream written to a file (whole or not at all) or standard output,
//! with a progress bar on a terminal for transfers of a few MB and more.

use std::{path::Path, time::Duration};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keyhold_proto::object::v1::{
    GetObjectRequest, ObjectHead, PutObjectHeader, PutObjectRequest, PutObjectResponse,
    get_object_response, put_object_request,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::mpsc,
};
use tokio_stream::wrappers::ReceiverStream;

use super::ObjectClient;
use crate::remote::{CallError, reply};

/// Bytes per PutObject message: large enough that framing costs nothing, small
/// enough that the progress bar moves.
const CHUNK: usize = 1024 * 1024;

/// Transfers from this size on show a progress bar (on a terminal only).
const PROGRESS_FROM: u64 = 4 * 1024 * 1024;

/// What went wrong in a transfer: the service's refusal, or the local side's.
#[derive(Debug)]
pub enum TransferError {
    Call(CallError),
    Local(anyhow::Error),
}

impl From<CallError> for TransferError {
    fn from(error: CallError) -> Self {
        TransferError::Call(error)
    }
}

impl From<std::io::Error> for TransferError {
    fn from(error: std::io::Error) -> Self {
        TransferError::Local(error.into())
    }
}

/// A progress bar on standard error for `len` bytes, hidden for small or unknown
/// sizes and when standard error is not a terminal (indicatif's own check).
pub fn progress(len: Option<u64>) -> ProgressBar {
    match len {
        Some(len) if len >= PROGRESS_FROM => {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta} left) {wide_bar}",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        }
        _ => ProgressBar::hidden(),
    }
}

/// PutObject of everything `source` yields. A read error cancels the call, so that
/// no truncated object is ever stored.
pub async fn upload(
    client: &mut ObjectClient,
    header: PutObjectHeader,
    source: impl AsyncRead + Unpin,
    bar: &ProgressBar,
) -> Result<PutObjectResponse, TransferError> {
    let (sender, receiver) = mpsc::channel(2);
    let call = client.put_object(ReceiverStream::new(receiver));
    tokio::pin!(call);
    let message = |part| PutObjectRequest { part: Some(part) };
    if sender
        .send(message(put_object_request::Part::Header(header)))
        .await
        .is_err()
    {
        // The call ended before it took anything: its answer says why.
        return Ok(reply("PutObject", call.await)?);
    }
    let feed = async {
        let mut source = source;
        loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            let read = (&mut source)
                .take(CHUNK as u64)
                .read_to_end(&mut chunk)
                .await?;
            if read == 0 {
                return Ok::<_, std::io::Error>(());
            }
            bar.inc(read as u64);
            if sender
                .send(message(put_object_request::Part::Chunk(chunk.into())))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
    };
    tokio::select! {
        fed = feed => fed?,
        // The service answered before the end of the body: a refusal.
        answer = &mut call => return Ok(reply("PutObject", answer)?),
    }
    // The end of the stream: only now may the service store the object. (On a read
    // error above, `call` is dropped first, which resets the stream instead.)
    drop(sender);
    Ok(reply("PutObject", call.await)?)
}

/// GetObject into `destination`: standard output, or a file written beside its final
/// name and renamed there only once every byte arrived.
pub async fn download(
    client: &mut ObjectClient,
    request: GetObjectRequest,
    destination: Option<&Path>,
) -> Result<ObjectHead, TransferError> {
    let mut stream = reply("GetObject", client.get_object(request).await)?;
    let head = match stream.next().await {
        Some(Ok(message)) => match message.part {
            Some(get_object_response::Part::Head(head)) => head,
            _ => {
                return Err(TransferError::Local(anyhow::anyhow!(
                    "GetObject sent bytes before the object's head"
                )));
            }
        },
        Some(Err(status)) => return Err(CallError::from_status("GetObject", &status).into()),
        None => {
            return Err(TransferError::Local(anyhow::anyhow!(
                "GetObject ended without an answer"
            )));
        }
    };
    let bar = progress(Some(head.content_length));
    match destination {
        None => {
            let mut stdout = tokio::io::stdout();
            copy_chunks(&mut stream, &mut stdout, &bar).await?;
        }
        Some(path) => {
            let partial = partial_name(path);
            let written = async {
                let mut file = tokio::fs::File::create(&partial).await?;
                copy_chunks(&mut stream, &mut file, &bar).await?;
                file.sync_all().await?;
                tokio::fs::rename(&partial, path).await?;
                Ok::<_, TransferError>(())
            }
            .await;
            if written.is_err() {
                let _ = tokio::fs::remove_file(&partial).await;
            }
            written?;
        }
    }
    bar.finish_and_clear();
    Ok(head)
}

async fn copy_chunks(
    stream: &mut tonic::Streaming<keyhold_proto::object::v1::GetObjectResponse>,
    out: &mut (impl AsyncWrite + Unpin),
    bar: &ProgressBar,
) -> Result<(), TransferError> {
    while let Some(message) = stream.next().await {
        let message = message.map_err(|status| CallError::from_status("GetObject", &status))?;
        if let Some(get_object_response::Part::Chunk(bytes)) = message.part {
            out.write_all(&bytes).await?;
            bar.inc(bytes.len() as u64);
        }
    }
    out.flush().await?;
    Ok(())
}

/// `<dir>/.<name>.keyhold-partial`: hidden, in the same directory (so the rename is
/// atomic), and recognisable if a crash leaves it behind.
fn partial_name(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.keyhold-partial"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bar_only_for_a_few_megabytes_and_more() {
        assert!(super::progress(Some(1024 * 1024)).is_hidden());
        assert!(super::progress(None).is_hidden());
        let bar = super::progress(Some(5 * 1024 * 1024));
        assert_eq!(bar.length(), Some(5 * 1024 * 1024));
    }
}
