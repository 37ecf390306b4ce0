//! Sessions are stored gzip-compressed: JSON chat logs shrink several-fold, and a client that
//! accepts gzip gets the stored bytes as they are, with no work on our side.
//!
//! A share's record says how its document is stored (`"encoding":"gzip"`). Records written
//! before compression say nothing; their documents are gzip exactly when they start with
//! gzip's magic bytes. A JSON text never does (it starts with white space or a value), so
//! those are told apart without a flag.

use std::io::Read;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};

mod screenshots;

use screenshots::{MixedDeflater, base64_runs};

/// Level 1 of libdeflate: on session JSON it keeps nearly all of level 6's saving at half its
/// time, and compression is on the create's critical path. (zlib's level 1, as in zlib-rs,
/// is as fast but stores a quarter more: `cargo bench --bench compression`.)
const LEVEL: i32 = 1;

/// `document` as a gzip member. Deterministic (no timestamp, no name), so a retried create
/// compresses to the very bytes of its first attempt.
///
/// A session whose screenshots are an eighth of it or more goes through zlib-rs, its
/// screenshots Huffman-coded only (see [`screenshots`]): on the benchmark's sessions with
/// screenshots that is 30-45% less time and 2% fewer bytes than libdeflate. Below an eighth,
/// libdeflate's speed on the text outweighs it.
pub fn gzip(document: &[u8]) -> Bytes {
    let runs = base64_runs(document);
    let screenshots: usize = runs.iter().map(|run| run.len()).sum();
    if screenshots >= document.len() / 8 && !runs.is_empty() {
        gzip_mixed(document, &runs)
    } else {
        gzip_text(document)
    }
}

// Per thread, kept: a compressor holds a few hundred kilobytes of tables, and the output
// buffer is as large as the worst case; making and zeroing them on every create cost more
// than compressing a small session. The member itself is copied out at its own size.
thread_local! {
    static TEXT: std::cell::RefCell<(libdeflater::Compressor, Vec<u8>)> =
        std::cell::RefCell::new((
            libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(LEVEL).expect("a valid level"),
            ),
            Vec::new(),
        ));
    static MIXED: std::cell::RefCell<(MixedDeflater, Vec<u8>)> =
        std::cell::RefCell::new((MixedDeflater::new(), Vec::new()));
}

fn gzip_text(document: &[u8]) -> Bytes {
    TEXT.with_borrow_mut(|(compressor, out)| {
        let bound = compressor.gzip_compress_bound(document.len());
        if out.len() < bound {
            out.resize(bound, 0);
        }
        let written = compressor
            .gzip_compress(document, &mut out[..bound])
            .expect("the bound always leaves room");
        let member = Bytes::copy_from_slice(&out[..written]);
        shrink(out);
        member
    })
}

fn gzip_mixed(document: &[u8], runs: &[std::ops::Range<usize>]) -> Bytes {
    MIXED.with_borrow_mut(|(deflater, out)| {
        deflater.gzip(document, runs, out);
        let member = Bytes::copy_from_slice(out);
        shrink(out);
        member
    })
}

/// A 25 MB upload leaves no 25 MB buffer behind on each thread that took one.
fn shrink(out: &mut Vec<u8>) {
    if out.capacity() > KEPT_BUFFER {
        *out = Vec::new();
    }
}

/// The largest output buffer a thread keeps between compressions.
const KEPT_BUFFER: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum GunzipError {
    #[error("the gzip body is not valid gzip: {0}")]
    Invalid(std::io::Error),
    #[error("the body decompresses to more than {limit} bytes")]
    TooLarge { limit: u64 },
}

/// Decompresses a gzip body (every member of it), refusing it as soon as it exceeds `limit`
/// bytes: a few kilobytes of gzip can expand to gigabytes.
pub fn gunzip(compressed: &[u8], limit: u64) -> Result<Bytes, GunzipError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(compressed).take(limit + 1);
    let mut out = Vec::with_capacity((compressed.len() * 4).min(limit as usize + 1));
    decoder.read_to_end(&mut out).map_err(GunzipError::Invalid)?;
    if out.len() as u64 > limit {
        return Err(GunzipError::TooLarge { limit });
    }
    Ok(out.into())
}

const DECODED_CHUNK: usize = 64 * 1024;

/// A gzip stream, decompressed as it streams.
pub fn gunzip_stream<E>(
    body: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
) -> BoxStream<'static, std::io::Result<Bytes>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let reader = tokio_util::io::StreamReader::new(body.map_err(std::io::Error::other));
    let mut decoder = async_compression::tokio::bufread::GzipDecoder::new(reader);
    decoder.multiple_members(true);
    // Chunks of 64 KiB rather than ReaderStream's 4 KiB: a 25 MB session is 400 body frames
    // to write, not 6,000.
    tokio_util::io::ReaderStream::with_capacity(decoder, DECODED_CHUNK)
        .inspect_err(|error| {
            // The response is already under way: the client sees it cut short; say why here.
            tracing::warn!(%error, "a stored session stopped decoding part-way");
        })
        .boxed()
}

/// Whether an `Accept-Encoding` header accepts gzip (RFC 9110 12.5.3: a q of 0 refuses it;
/// `*` stands for any coding not named).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(header) = header else { return false };
    let mut star = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return q > 0.0,
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_deterministic() {
        let doc = br#"{"version":"1.0.0","messages":[]}"#.repeat(100);
        let packed = gzip(&doc);
        assert!(packed.starts_with(&[0x1f, 0x8b]));
        assert!(packed.len() < doc.len() / 5, "{} of {}", packed.len(), doc.len());
        assert_eq!(packed, gzip(&doc), "the same input packs to the same bytes");
        assert_eq!(gunzip(&packed, doc.len() as u64).unwrap(), doc);
    }

    #[test]
    fn a_bomb_is_refused_at_the_limit() {
        let bomb = gzip(&vec![b' '; 10_000_000]);
        assert!(bomb.len() < 50_000);
        assert!(matches!(
            gunzip(&bomb, 1_000_000),
            Err(GunzipError::TooLarge { limit: 1_000_000 })
        ));
        assert!(matches!(gunzip(b"\x1f\x8bnot gzip", 100), Err(GunzipError::Invalid(_))));
    }

    #[tokio::test]
    async fn streams_decompress_in_any_chunking() {
        let doc: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let packed = gzip(&doc);
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            packed.chunks(777).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let out: Vec<Bytes> =
            gunzip_stream(futures::stream::iter(chunks).boxed()).try_collect().await.unwrap();
        assert_eq!(out.concat(), doc);
    }

    #[test]
    fn accept_encoding_is_read_as_http_says() {
        for (header, gzip) in [
            ("gzip, deflate, br", true),
            ("br;q=1.0, gzip;q=0.8", true),
            ("gzip;q=0", false),
            ("identity", false),
            ("*", true),
            ("*, gzip;q=0", false),
            ("deflate, *;q=0", false),
            ("GZIP", true),
        ] {
            assert_eq!(accepts_gzip(Some(header)), gzip, "{header}");
        }
        assert!(!accepts_gzip(None));
    }
}
