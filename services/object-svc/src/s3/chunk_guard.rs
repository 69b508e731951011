//! aws-chunked bodies, watched as they arrive. s3s holds each chunk whole in memory
//! before it checks the chunk's signature, and a chunk may declare up to 4 GiB: one
//! signed request could make object-svc buffer that much. The edge reads each
//! chunk's declared size as the bytes pass (it changes nothing) and fails the body
//! on the first chunk larger than keyhold accepts, before s3s has buffered it. The
//! SDKs send chunks of 64 KiB (the AWS CLI 1 MiB).

/// The largest aws-chunked chunk accepted.
pub const MAX_CHUNK_BYTES: u64 = 8 * 1024 * 1024;
/// More hex digits than a chunk size can have: not a size (s3s refuses the body).
const MAX_SIZE_DIGITS: u32 = 16;

#[derive(Debug, PartialEq, Eq)]
pub struct ChunkTooLarge;

/// Where the watcher is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk's hex size.
    Size { value: u64, digits: u32 },
    /// After the size: its extensions (the chunk signature) up to the line end.
    SizeLine { size: u64 },
    /// In a chunk's data and the CRLF after it.
    Data { remaining: u64 },
    /// Past the last chunk (trailers, which s3s bounds itself), or past something
    /// that is not aws-chunked (which s3s refuses): nothing more to watch.
    Done,
}

#[derive(Debug)]
pub struct ChunkSizes {
    state: State,
}

impl Default for ChunkSizes {
    fn default() -> Self {
        ChunkSizes {
            state: State::Size {
                value: 0,
                digits: 0,
            },
        }
    }
}

impl ChunkSizes {
    /// Takes the next bytes of the body.
    pub fn observe(&mut self, mut bytes: &[u8]) -> Result<(), ChunkTooLarge> {
        while let Some(&byte) = bytes.first() {
            match &mut self.state {
                State::Done => return Ok(()),
                State::Data { remaining } => {
                    let taken = (*remaining).min(bytes.len() as u64);
                    *remaining -= taken;
                    bytes = &bytes[usize::try_from(taken).unwrap_or(bytes.len())..];
                    if *remaining == 0 {
                        self.state = State::default_size();
                    }
                }
                State::Size { value, digits } => {
                    bytes = &bytes[1..];
                    match char::from(byte).to_digit(16) {
                        Some(digit) => {
                            *digits += 1;
                            *value = value.saturating_mul(16).saturating_add(u64::from(digit));
                            if *digits > MAX_SIZE_DIGITS {
                                self.state = State::Done;
                            } else if *value > MAX_CHUNK_BYTES {
                                return Err(ChunkTooLarge);
                            }
                        }
                        None if *digits == 0 => self.state = State::Done,
                        None => {
                            let size = *value;
                            self.state = State::SizeLine { size };
                            if byte == b'\n' {
                                self.end_size_line(size);
                            }
                        }
                    }
                }
                State::SizeLine { size } => {
                    let size = *size;
                    match bytes.iter().position(|b| *b == b'\n') {
                        Some(end) => {
                            bytes = &bytes[end + 1..];
                            self.end_size_line(size);
                        }
                        None => bytes = &[],
                    }
                }
            }
        }
        Ok(())
    }

    fn end_size_line(&mut self, size: u64) {
        self.state = if size == 0 {
            State::Done
        } else {
            // The data, then its CRLF.
            State::Data {
                remaining: size + 2,
            }
        };
    }
}

impl State {
    fn default_size() -> Self {
        State::Size {
            value: 0,
            digits: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[usize], signed: bool) -> Vec<u8> {
        let mut body = Vec::new();
        for (i, size) in chunks.iter().chain([&0]).enumerate() {
            body.extend_from_slice(format!("{size:x}").as_bytes());
            if signed {
                body.extend_from_slice(format!(";chunk-signature={:064x}", i).as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            body.extend(std::iter::repeat_n(b'7', *size));
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        body
    }

    /// Feeds `body` in pieces cut by a small deterministic generator.
    fn observe_in_pieces(body: &[u8], seed: u64) -> Result<(), ChunkTooLarge> {
        let mut state = seed;
        let mut sizes = ChunkSizes::default();
        let mut rest = body;
        while !rest.is_empty() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let cut = usize::try_from(state >> 54).unwrap().clamp(1, rest.len());
            sizes.observe(&rest[..cut])?;
            rest = &rest[cut..];
        }
        Ok(())
    }

    #[test]
    fn the_sdks_bodies_pass_however_they_are_cut() {
        let max = usize::try_from(MAX_CHUNK_BYTES).unwrap();
        for signed in [true, false] {
            for chunks in [&[65_536, 65_536, 17][..], &[max, 1], &[], &[1]] {
                let body = body(chunks, signed);
                for seed in 0..50 {
                    assert_eq!(observe_in_pieces(&body, seed), Ok(()), "{chunks:?} {seed}");
                }
            }
        }
    }

    #[test]
    fn a_chunk_over_the_cap_fails_as_soon_as_its_size_is_read() {
        let max = usize::try_from(MAX_CHUNK_BYTES).unwrap();
        for signed in [true, false] {
            let mut body = body(&[1024, max + 1], signed);
            // Only the start of the big chunk arrives: that is enough to refuse it.
            body.truncate(2048);
            for seed in 0..50 {
                assert_eq!(observe_in_pieces(&body, seed), Err(ChunkTooLarge));
            }
        }
        let mut sizes = ChunkSizes::default();
        assert_eq!(
            sizes.observe(b"40000000;chunk-signature="),
            Err(ChunkTooLarge)
        );
    }

    #[test]
    fn what_is_not_aws_chunked_is_left_to_s3s() {
        for body in [&b"not chunked at all"[..], b"00000000000000000000001\r\n"] {
            assert_eq!(ChunkSizes::default().observe(body), Ok(()));
        }
    }
}
