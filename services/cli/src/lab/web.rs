//! The lab's URLs opened as a browser or curl would: a plain GET, no credentials
//! but what the URL itself carries, and S3's XML error read back.

use std::time::Duration;

/// The most `keyhold lab` reads of one answer (its image is smaller).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// What a GET answered.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// `403 AccessDenied: Access Denied`, or `200 (<n> bytes)`.
    pub fn summary(&self) -> String {
        match self.error() {
            Some((code, message)) => format!("{} {code}: {message}", self.status),
            None => format!("{} ({} bytes)", self.status, self.body.len()),
        }
    }

    /// S3's error `Code` and `Message`, when the body is an S3 error document.
    pub fn error(&self) -> Option<(String, String)> {
        let text = std::str::from_utf8(&self.body).ok()?;
        Some((element(text, "Code")?, element(text, "Message")?))
    }
}

fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].to_owned())
}

pub async fn get(url: &str) -> anyhow::Result<Answer> {
    anyhow::ensure!(
        url.starts_with("http://"),
        "keyhold lab opens S3 URLs over http:// only, not {url}"
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut response = client.get(url).send().await?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        anyhow::ensure!(
            body.len() + chunk.len() <= MAX_BODY,
            "{url} answered more than {MAX_BODY} bytes"
        );
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_s3_error_document_gives_its_code_and_message() {
        let answer = super::Answer {
            status: 403,
            body: b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>".to_vec(),
        };
        assert_eq!(answer.summary(), "403 AccessDenied: Access Denied");
        let image = super::Answer {
            status: 200,
            body: vec![0; 5],
        };
        assert_eq!(image.summary(), "200 (5 bytes)");
    }
}
