//! A share as one object: its record as one line of JSON, then the stored document.
//!
//! One object means a create is one write and a read is one read, with no window in which a
//! record exists without its document or the other way round. The line comes first so a
//! reader learns who may see the share before any of the document, and so a listing reads
//! only the start of each object (a ranged read). `serde_json` never writes a raw newline
//! (newlines inside strings are escaped), so the first `\n` ends the record.

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, stream::BoxStream};

use super::session_store::ShareRecord;

/// A record is a few hundred bytes (titles, tags and descriptions are bounded when a share is
/// made or changed); anything longer than this before its newline is not one of ours.
pub const MAX_RECORD_LINE: usize = 64 * 1024;
/// What a listing reads of each object first: every record we write fits.
pub const FIRST_READ: u64 = 4 * 1024;

/// The record's line, newline included.
pub fn record_line(record: &ShareRecord) -> Bytes {
    let mut line = serde_json::to_vec(record).expect("ShareRecord serializes");
    line.push(b'\n');
    Bytes::from(line)
}

/// Why the start of an object is not a record line.
#[derive(Debug, thiserror::Error)]
pub enum RecordLineError {
    #[error("no record line in the first {MAX_RECORD_LINE} bytes")]
    TooLong,
    #[error("the object ends before its record line does")]
    Truncated,
    #[error("the record line is not a record: {0}")]
    Invalid(#[from] serde_json::Error),
}

/// The record at the start of `bytes` and the length of its line, if the line is complete.
/// `Ok(None)`: more bytes are needed (and may be read).
pub fn parse_record_line(bytes: &[u8]) -> Result<Option<(ShareRecord, usize)>, RecordLineError> {
    let within = &bytes[..bytes.len().min(MAX_RECORD_LINE)];
    match memchr::memchr(b'\n', within) {
        Some(end) => Ok(Some((serde_json::from_slice(&bytes[..end])?, end + 1))),
        None if bytes.len() >= MAX_RECORD_LINE => Err(RecordLineError::TooLong),
        None => Ok(None),
    }
}

/// The document, whose first chunk is at least this long unless the document is shorter: a
/// reader that sniffs the first bytes (gzip's magic) sees them in one piece.
const MIN_FIRST_CHUNK: usize = 16;

/// Reads the record line off the front of a stored object; answers the record, the line's
/// length and the document that follows, still streaming.
pub async fn split_record(
    mut stream: BoxStream<'static, object_store::Result<Bytes>>,
) -> Result<(ShareRecord, usize, BoxStream<'static, object_store::Result<Bytes>>), SplitError> {
    let mut head = BytesMut::new();
    let (record, line_len) = loop {
        match stream.next().await {
            Some(chunk) => head.extend_from_slice(&chunk.map_err(SplitError::Read)?),
            None => match parse_record_line(&head)? {
                Some(found) => break found,
                None => return Err(RecordLineError::Truncated.into()),
            },
        }
        if let Some(found) = parse_record_line(&head)? {
            break found;
        }
    };
    let mut first = head.split_off(line_len);
    let mut ended = false;
    while first.len() < MIN_FIRST_CHUNK && !ended {
        match stream.next().await {
            Some(chunk) => first.extend_from_slice(&chunk.map_err(SplitError::Read)?),
            None => ended = true,
        }
    }
    let first = first.freeze();
    let rest = futures::stream::iter((!first.is_empty()).then_some(Ok(first)));
    let body = if ended { rest.boxed() } else { rest.chain(stream).boxed() };
    Ok((record, line_len, body))
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error(transparent)]
    Read(object_store::Error),
    #[error(transparent)]
    Line(#[from] RecordLineError),
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    fn record() -> ShareRecord {
        serde_json::from_value(serde_json::json!({
            "username": "alice", "createdAt": "2026-11-22T10:00:00Z",
            "title": "line\nbreak", "description": "a \"quote\"\n"
        }))
        .unwrap()
    }

    /// Whatever the chunking storage gives, the record and the document come apart exactly.
    #[tokio::test]
    async fn splits_at_the_first_newline_whatever_the_chunks() {
        let document = b"\x1f\x8b\x08 gzip bytes\nwith newlines\n".repeat(3);
        let mut object = record_line(&record()).to_vec();
        let line_len = object.len();
        object.extend_from_slice(&document);
        for chunk in [1, 2, 7, line_len - 1, line_len, line_len + 1, object.len()] {
            let chunks: Vec<object_store::Result<Bytes>> =
                object.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let (got, len, body) =
                split_record(futures::stream::iter(chunks).boxed()).await.unwrap();
            assert_eq!(got, record());
            assert_eq!(len, line_len);
            let body: Vec<Bytes> = body.try_collect().await.unwrap();
            assert!(body[0].len() >= MIN_FIRST_CHUNK, "chunks of {chunk}");
            assert_eq!(body.concat(), document, "chunks of {chunk}");
        }
    }

    /// The longest record the limits allow, every character escaped, fits in a line.
    #[test]
    fn the_longest_allowed_record_fits() {
        use crate::domain::share_options::*;
        let worst = |n: usize| "\u{1}".repeat(n);
        let mut longest = record();
        longest.username = "a".repeat(crate::domain::Username::MAX_LEN);
        longest.title = worst(MAX_TITLE_CHARS);
        longest.description = Some(worst(MAX_DESCRIPTION_CHARS));
        longest.tags = vec![worst(MAX_TAG_CHARS); MAX_TAGS];
        longest.task_excerpt = worst(MAX_TASK_EXCERPT_CHARS);
        let line = record_line(&longest);
        assert!(line.len() < MAX_RECORD_LINE, "{}", line.len());
        assert_eq!(parse_record_line(&line).unwrap().unwrap(), (longest, line.len()));
    }

    /// A record says how its document is stored; one from before compression says nothing,
    /// and its document's first bytes decide.
    #[test]
    fn the_record_says_how_the_document_is_stored() {
        use super::super::session_store::StoredEncoding;
        let mut said = record();
        said.encoding = Some(StoredEncoding::Gzip);
        let line = record_line(&said);
        assert!(std::str::from_utf8(&line).unwrap().contains(r#""encoding":"gzip""#));
        let (read, _) = parse_record_line(&line).unwrap().unwrap();
        assert_eq!(read.encoding, Some(StoredEncoding::Gzip));
        assert!(read.document_is_gzip(b""), "the record is believed");

        let older = record();
        assert!(!std::str::from_utf8(&record_line(&older)).unwrap().contains("encoding"));
        assert_eq!(older.encoding, None);
        assert!(older.document_is_gzip(b"\x1f\x8b\x08\0"));
        assert!(!older.document_is_gzip(b"{\"version\":\"1.0.0\"}"));
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_record_line() {
        let split = |bytes: Vec<u8>| async {
            split_record(futures::stream::iter([Ok(bytes.into())]).boxed()).await.err().unwrap()
        };
        let no_newline = split(b"{\"username\":\"alice\"".to_vec()).await;
        assert!(matches!(no_newline, SplitError::Line(RecordLineError::Truncated)), "{no_newline}");
        let too_long = split(vec![b' '; MAX_RECORD_LINE + 1]).await;
        assert!(matches!(too_long, SplitError::Line(RecordLineError::TooLong)), "{too_long}");
        let not_json = split(b"{not json}\nrest".to_vec()).await;
        assert!(matches!(not_json, SplitError::Line(RecordLineError::Invalid(_))), "{not_json}");
    }
}
