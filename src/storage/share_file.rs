//! The stored form of a share: a standard gzip file (RFC 1952, one member) of the uploaded
//! JSON, so `gunzip` gives back the upload byte for byte and `jq` reads it. The share's record
//! rides in the gzip header's extra field (FEXTRA, subfield `SS`) as JSON: every gzip reader
//! skips it, and this service learns who may see a share from the first bytes of the object,
//! before any of the document. Changing the record rewrites only the header in front of the
//! same compressed bytes.

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, stream::BoxStream};
use object_store::PutPayload;
use serde::{Deserialize, Serialize};

use crate::domain::{ShareRecord, Username};

/// What a stored object's header says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum StoredRecord {
    /// A share, live or expired.
    Share(ShareRecord),
    /// What is left of a deleted (or expired and collected) share: its id is never used again,
    /// so a link that was handed out never shows something else.
    Deleted(Marker),
    /// A create that failed: no share was made here, and the next share of its task may be.
    Withdrawn(Marker),
}

/// A marker's object: a header whose record says `Deleted` or `Withdrawn`, and `{}`.
pub fn marker(
    kind: fn(Marker) -> StoredRecord,
    owner: &Username,
    at: chrono::DateTime<chrono::Utc>,
) -> PutPayload {
    static EMPTY: std::sync::LazyLock<Compressed> =
        std::sync::LazyLock::new(|| Compressed::of(b"{}"));
    object(&kind(Marker { username: owner.clone(), at }), &EMPTY).expect("a marker fits")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub username: Username,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// gzip's ID1 ID2, CM (deflate).
const MAGIC: [u8; 3] = [0x1f, 0x8b, 8];
const FEXTRA: u8 = 0x04;
/// OS: unknown.
const OS: u8 = 255;
const SUBFIELD: [u8; 2] = *b"SS";
/// The fixed part of a header, then XLEN.
const FIXED: usize = 10;
/// The longest record the extra field holds (XLEN is 16 bits, less the subfield's own 4).
pub const MAX_RECORD: usize = u16::MAX as usize - 4;
/// What a reader needs of an object to know its record, at most.
pub const MAX_HEADER: usize = FIXED + 2 + 4 + MAX_RECORD;
/// A record of an ordinary share fits in this much; a read of the record alone asks for it
/// first and for [`MAX_HEADER`] only if the record is longer.
pub const FIRST_READ: u64 = 4 * 1024;

/// The header of a gzip member without any optional field: what a client that accepts gzip
/// is sent in front of the compressed document (the record is not its business).
pub const PLAIN_HEADER: [u8; FIXED] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, OS];

/// A document, compressed: the deflate stream and the gzip trailer (CRC-32, size), everything
/// of a gzip member after its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed(Bytes);

impl Compressed {
    /// Compresses `document` (see [`crate::compression::gzip`]).
    pub fn of(document: &[u8]) -> Self {
        let member = crate::compression::gzip(document);
        assert_eq!(member[..4], [0x1f, 0x8b, 8, 0], "a gzip member without optional fields");
        Self(member.slice(FIXED..))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not a gzip file with a session-share record")]
    NotOurs,
    #[error("the object ends inside its header")]
    Truncated,
    #[error("the record is not one: {0}")]
    Record(#[from] serde_json::Error),
    #[error("the record is {0} bytes, more than a gzip header holds")]
    TooLong(usize),
}

/// The object for `record` and `document`: header, then the compressed bytes, unchanged.
pub fn object(record: &StoredRecord, document: &Compressed) -> Result<PutPayload, FormatError> {
    Ok(PutPayload::from_iter([header(record)?, document.0.clone()]))
}

/// The header carrying `record`.
pub fn header(record: &StoredRecord) -> Result<Bytes, FormatError> {
    let json = serde_json::to_vec(record)?;
    if json.len() > MAX_RECORD {
        return Err(FormatError::TooLong(json.len()));
    }
    let mut out = BytesMut::with_capacity(FIXED + 2 + 4 + json.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[FEXTRA, 0, 0, 0, 0, 0, OS]);
    out.extend_from_slice(&((json.len() + 4) as u16).to_le_bytes());
    out.extend_from_slice(&SUBFIELD);
    out.extend_from_slice(&(json.len() as u16).to_le_bytes());
    out.extend_from_slice(&json);
    Ok(out.freeze())
}

/// The record at the start of `bytes` and the header's length, if the header is all there.
/// `Ok(None)`: more bytes are needed.
pub fn parse_header(bytes: &[u8]) -> Result<Option<(StoredRecord, usize)>, FormatError> {
    if bytes.len() < FIXED + 2 {
        return if bytes.iter().zip(MAGIC.iter().chain(&[FEXTRA])).all(|(a, b)| a == b) {
            Ok(None)
        } else {
            Err(FormatError::NotOurs)
        };
    }
    if bytes[..3] != MAGIC || bytes[3] != FEXTRA {
        return Err(FormatError::NotOurs);
    }
    let xlen = u16::from_le_bytes([bytes[FIXED], bytes[FIXED + 1]]) as usize;
    let end = FIXED + 2 + xlen;
    if bytes.len() < end {
        return Ok(None);
    }
    let extra = &bytes[FIXED + 2..end];
    if xlen < 4 || extra[..2] != SUBFIELD {
        return Err(FormatError::NotOurs);
    }
    let len = u16::from_le_bytes([extra[2], extra[3]]) as usize;
    let json = extra.get(4..4 + len).ok_or(FormatError::NotOurs)?;
    Ok(Some((serde_json::from_slice(json)?, end)))
}

/// Reads the header off a stored object as it streams; answers the record, the header's
/// length and the rest (compressed document and trailer), still streaming.
pub async fn split(
    mut stream: BoxStream<'static, object_store::Result<Bytes>>,
) -> Result<(StoredRecord, usize, BoxStream<'static, object_store::Result<Bytes>>), SplitError> {
    let mut head = BytesMut::new();
    let (record, header_len) = loop {
        if let Some(found) = parse_header(&head)? {
            break found;
        }
        match stream.next().await {
            Some(chunk) => head.extend_from_slice(&chunk.map_err(SplitError::Read)?),
            None => return Err(FormatError::Truncated.into()),
        }
    };
    let rest = head.split_off(header_len).freeze();
    let first = futures::stream::iter((!rest.is_empty()).then_some(Ok(rest)));
    Ok((record, header_len, first.chain(stream).boxed()))
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error(transparent)]
    Read(object_store::Error),
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// The compressed document as a gzip member a client can decode: a plain header, then the rest.
pub fn as_gzip(
    rest: BoxStream<'static, object_store::Result<Bytes>>,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    futures::stream::once(async { Ok(Bytes::from_static(&PLAIN_HEADER)) }).chain(rest).boxed()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use chrono::Utc;
    use futures::TryStreamExt;

    use super::*;
    use crate::domain::share_options::*;

    fn record() -> ShareRecord {
        ShareRecord {
            username: Username::parse("alice").unwrap(),
            created_at: Utc::now(),
            title: "line\nbreak".into(),
            description: Some("a \"quote\"".into()),
            tags: vec![],
            visibility: crate::domain::Visibility::Public,
            link_generation: 0,
            expires_at: None,
            task_excerpt: String::new(),
            revision: 1,
            revised_at: Utc::now(),
            size: 9,
            message_count: 0,
            redactions: 0,
            earlier: vec![],
            pending_until: None,
        }
    }

    /// Any gzip reader gives the document back; the record is in the header only.
    #[test]
    fn the_object_is_a_standard_gzip_file_of_the_document() {
        let document = br#"{"version":"1.0.0","task":{},"messages":[]}"#;
        let stored = StoredRecord::Share(record());
        let object: Vec<u8> = object(&stored, &Compressed::of(document))
            .unwrap()
            .iter()
            .flat_map(|b| b.to_vec())
            .collect();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&object[..]).read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded, document);
        let (read, len) = parse_header(&object).unwrap().unwrap();
        assert_eq!(read, stored);
        // Served as a gzip member of its own without the record.
        let mut served = PLAIN_HEADER.to_vec();
        served.extend_from_slice(&object[len..]);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&served[..]).read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded, document);
    }

    /// Whatever the chunking storage gives, the record and the rest come apart exactly.
    #[tokio::test]
    async fn splits_after_the_header_whatever_the_chunks() {
        let stored = StoredRecord::Share(record());
        let compressed = Compressed::of(&b"{\"a\": [1, 2, 3]}\n".repeat(50));
        let object: Vec<u8> =
            object(&stored, &compressed).unwrap().iter().flat_map(|b| b.to_vec()).collect();
        let header_len = object.len() - compressed.len();
        for chunk in [1, 2, 7, header_len - 1, header_len, header_len + 1, object.len()] {
            let chunks: Vec<object_store::Result<Bytes>> =
                object.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let (got, len, rest) = split(futures::stream::iter(chunks).boxed()).await.unwrap();
            assert_eq!((got, len), (stored.clone(), header_len));
            let rest: Vec<Bytes> = rest.try_collect().await.unwrap();
            assert_eq!(rest.concat(), compressed.bytes().to_vec(), "chunks of {chunk}");
        }
    }

    /// The longest record the limits allow, every character escaped, fits in the header.
    #[test]
    fn the_longest_allowed_record_fits() {
        let worst = |n: usize| "\u{1}".repeat(n);
        let mut longest = record();
        longest.username = Username::parse(&"a".repeat(Username::MAX_LEN)).unwrap();
        longest.title = worst(MAX_TITLE_CHARS);
        longest.description = Some(worst(MAX_DESCRIPTION_CHARS));
        longest.tags = vec![worst(MAX_TAG_CHARS); MAX_TAGS];
        longest.task_excerpt = worst(MAX_TASK_EXCERPT_CHARS);
        longest.redactions = u32::MAX;
        longest.earlier = (1..crate::storage::MAX_REVISIONS_LIMIT)
            .map(|n| crate::domain::RevisionInfo {
                revision: n,
                created_at: Utc::now(),
                size: u64::MAX,
                message_count: u64::MAX,
                redactions: u32::MAX,
            })
            .collect();
        let stored = StoredRecord::Share(longest);
        let header = header(&stored).unwrap();
        assert!(header.len() <= MAX_HEADER, "{}", header.len());
        assert_eq!(parse_header(&header).unwrap().unwrap(), (stored, header.len()));
    }

    #[tokio::test]
    async fn refuses_what_is_not_one_of_ours() {
        let split = |bytes: Vec<u8>| async {
            split(futures::stream::iter([Ok(bytes.into())]).boxed()).await.err().unwrap()
        };
        let plain_gzip = crate::compression::gzip(b"{}").to_vec();
        assert!(matches!(split(plain_gzip).await, SplitError::Format(FormatError::NotOurs)));
        assert!(matches!(
            split(b"{\"json\": 1}".to_vec()).await,
            SplitError::Format(FormatError::NotOurs)
        ));
        let header = header(&StoredRecord::Share(record())).unwrap();
        let cut = header[..header.len() - 3].to_vec();
        assert!(matches!(split(cut).await, SplitError::Format(FormatError::Truncated)));
    }
}
