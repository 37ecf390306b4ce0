//! Screenshots ride in sessions as base64 data URLs: PNG bytes, already deflated, six bits to
//! a character. LZ77 finds no match in them and spends most of its time looking; Huffman
//! coding alone stores them exactly as small (six bits a character) at twice the speed. zlib
//! changes strategy mid-stream (`deflateParams` ends the block), so the file stays one gzip
//! member that any gzip reader takes.
//!
//! zlib's C interface is the only one that changes strategy mid-stream; zlib-rs offers it
//! through `libz-rs-sys`, hence the `unsafe` below, all of it in [`MixedDeflater`].

use std::ops::Range;

use libz_rs_sys as z;

/// The zlib-rs level for the text between screenshots: its level 1 codes with fixed Huffman
/// trees only and stores session text a quarter larger.
const TEXT_LEVEL: i32 = 2;
/// gzip framing (15-bit window, +16).
const GZIP_WINDOW_BITS: i32 = 15 + 16;
/// A base64 run shorter than this stays with the text: ending a block to switch strategy
/// costs a few microseconds and a new Huffman header.
pub const MIN_RUN: usize = 1024;

/// Where the base64 payloads of data URLs (`;base64,` up to the closing quote) of at least
/// [`MIN_RUN`] bytes are. The ranges only choose how bytes are coded, never which bytes are
/// stored: a run that holds something other than base64 compresses less well, not wrongly.
pub fn base64_runs(document: &[u8]) -> Vec<Range<usize>> {
    let marker = memchr::memmem::Finder::new(b";base64,");
    let mut runs = Vec::new();
    let mut at = 0;
    while let Some(found) = marker.find(&document[at..]) {
        let start = at + found + b";base64,".len();
        let end = memchr::memchr(b'"', &document[start..]).map_or(document.len(), |q| start + q);
        if end - start >= MIN_RUN {
            runs.push(start..end);
        }
        at = end;
    }
    runs
}

/// A zlib-rs deflate stream, kept between documents (its tables are a few hundred kilobytes).
pub struct MixedDeflater {
    /// Boxed: zlib's state points back at its stream, which must not move.
    stream: Box<z::z_stream>,
    /// The strategy in force: a reset keeps it.
    strategy: i32,
}

impl MixedDeflater {
    pub fn new() -> Self {
        let mut stream = Box::new(z::z_stream::default());
        // SAFETY: `stream` is a zeroed z_stream with no allocator set (zlib-rs uses Rust's);
        // the version and size are the library's own.
        let code = unsafe {
            z::deflateInit2_(
                &mut *stream,
                TEXT_LEVEL,
                z::Z_DEFLATED,
                GZIP_WINDOW_BITS,
                8,
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                size_of::<z::z_stream>() as i32,
            )
        };
        assert_eq!(code, z::Z_OK, "deflateInit2 with constant, valid parameters");
        Self { stream, strategy: z::Z_DEFAULT_STRATEGY }
    }

    /// `document` as one gzip member (no name, no time, so the same bytes give the same
    /// member), the bytes in `runs` (sorted, apart) Huffman-coded only, written to `out`.
    pub fn gzip(&mut self, document: &[u8], runs: &[Range<usize>], out: &mut Vec<u8>) {
        out.clear();
        // SAFETY: the stream was initialised in `new`; a reset keeps its allocations.
        assert_eq!(unsafe { z::deflateReset(&mut *self.stream) }, z::Z_OK);
        let mut text = 0;
        for run in runs {
            self.feed(&document[text..run.start], z::Z_DEFAULT_STRATEGY, out);
            self.feed(&document[run.clone()], z::Z_HUFFMAN_ONLY, out);
            text = run.end;
        }
        self.feed(&document[text..], z::Z_DEFAULT_STRATEGY, out);
        self.pump(&[], z::Z_FINISH, out);
    }

    fn feed(&mut self, bytes: &[u8], strategy: i32, out: &mut Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        if self.strategy != strategy {
            self.set_strategy(strategy, out);
        }
        self.pump(bytes, z::Z_NO_FLUSH, out);
    }

    fn set_strategy(&mut self, strategy: i32, out: &mut Vec<u8>) {
        loop {
            self.reserve(out, 1024);
            // SAFETY: next_out/avail_out describe the spare capacity of `out` (see `reserve`).
            let code = unsafe { z::deflateParams(&mut *self.stream, TEXT_LEVEL, strategy) };
            self.commit(out);
            match code {
                z::Z_OK => {
                    self.strategy = strategy;
                    return;
                }
                // Not enough room to end the block: more, and again.
                z::Z_BUF_ERROR => continue,
                code => panic!("deflateParams with valid parameters answered {code}"),
            }
        }
    }

    /// Compresses `input` with `flush`, growing `out` as the stream asks.
    fn pump(&mut self, input: &[u8], flush: i32, out: &mut Vec<u8>) {
        self.stream.next_in = input.as_ptr().cast_mut();
        self.stream.avail_in = input.len().try_into().expect("documents are under 4 GiB");
        loop {
            // Room for the input coded at its worst (stored blocks) and the trailer.
            let wanted = self.stream.avail_in as usize + self.stream.avail_in as usize / 64 + 64;
            self.reserve(out, wanted);
            // SAFETY: next_in/avail_in describe `input`, which outlives the call; next_out/
            // avail_out the spare capacity of `out`.
            let code = unsafe { z::deflate(&mut *self.stream, flush) };
            self.commit(out);
            match code {
                z::Z_STREAM_END => break,
                z::Z_OK | z::Z_BUF_ERROR if self.stream.avail_in > 0 || flush == z::Z_FINISH => {}
                z::Z_OK | z::Z_BUF_ERROR => break,
                code => panic!("deflate of a valid stream answered {code}"),
            }
        }
        self.stream.next_in = std::ptr::null_mut();
        self.stream.avail_in = 0;
    }

    /// Points the stream's output at `out`'s spare capacity, at least `wanted` bytes of it.
    fn reserve(&mut self, out: &mut Vec<u8>, wanted: usize) {
        out.reserve(wanted);
        let spare = out.spare_capacity_mut();
        self.stream.next_out = spare.as_mut_ptr().cast();
        self.stream.avail_out = spare.len().min(u32::MAX as usize) as u32;
    }

    /// Counts what the stream wrote into `out`'s spare capacity as `out`'s.
    fn commit(&mut self, out: &mut Vec<u8>) {
        let written = self.stream.next_out as usize - out.as_ptr() as usize - out.len();
        // SAFETY: zlib wrote `written` bytes from `out`'s end, within its capacity.
        unsafe { out.set_len(out.len() + written) };
        self.stream.next_out = std::ptr::null_mut();
        self.stream.avail_out = 0;
    }
}

impl Drop for MixedDeflater {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, ended once.
        unsafe { z::deflateEnd(&mut *self.stream) };
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::compression::gunzip;

    /// Bytes that do not compress, like a PNG's, from a fixed seed.
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    fn session_with_screenshots(images: usize) -> Vec<u8> {
        let mut doc = String::from(r#"{"messages":["#);
        for i in 0..images {
            let png = base64::engine::general_purpose::STANDARD
                .encode(noise(3000 + i * 97, i as u64 + 1));
            doc += &format!(
                r#"{{"type":"say","text":"step {i}: the build passes, see the screenshot","images":["data:image/png;base64,{png}"]}},"#
            );
        }
        doc += r#"{"type":"say","text":"done"}]}"#;
        doc.into_bytes()
    }

    fn mixed(document: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        MixedDeflater::new().gzip(document, &base64_runs(document), &mut out);
        out
    }

    #[test]
    fn finds_each_data_url_payload_of_a_kilobyte_or_more() {
        let doc = session_with_screenshots(3);
        let runs = base64_runs(&doc);
        assert_eq!(runs.len(), 3);
        for run in &runs {
            assert_eq!(&doc[run.start - 8..run.start], b";base64,");
            assert_eq!(doc[run.end], b'"');
            assert!(
                doc[run.clone()].iter().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b))
            );
        }
        assert!(base64_runs(br#"{"a":"data:image/png;base64,iVBORw0KGgo="}"#).is_empty());
    }

    #[test]
    fn screenshots_store_as_small_as_libdeflate_stores_them() {
        let doc = session_with_screenshots(20);
        let packed = mixed(&doc);
        assert_eq!(gunzip(&packed, doc.len() as u64).unwrap(), doc);
        let libdeflate = super::super::gzip_text(&doc);
        // Six bits a character either way; a Huffman header per switch is all it adds.
        assert!(
            packed.len() <= libdeflate.len() + libdeflate.len() / 50,
            "{} vs {}",
            packed.len(),
            libdeflate.len()
        );
        assert!(packed.len() < doc.len() * 4 / 5, "base64 is coded in about six bits a byte");
    }

    #[test]
    fn the_same_document_gives_the_same_member_on_a_kept_stream() {
        let doc = session_with_screenshots(5);
        let mut deflater = MixedDeflater::new();
        let (mut first, mut again) = (Vec::new(), Vec::new());
        deflater.gzip(&doc, &base64_runs(&doc), &mut first);
        // A document in between leaves the stream Huffman-coding; the next starts as text.
        deflater.gzip(&doc[..doc.len() / 2], &base64_runs(&doc[..doc.len() / 2]), &mut again);
        deflater.gzip(&doc, &base64_runs(&doc), &mut again);
        assert_eq!(first, again);
        assert_eq!(first, mixed(&doc));
    }

    #[test]
    fn anything_in_a_run_round_trips() {
        // A run that is not base64 (binary, an unclosed string, a run at the very end) and
        // many runs in a row: the ranges only choose the coding.
        let mut doc = b"{\"a\":\"data:x;base64,".to_vec();
        doc.extend(noise(70_000, 9));
        doc.extend_from_slice(b"\"}");
        for i in 0..200 {
            doc.extend_from_slice(format!(",\"{i};base64,").as_bytes());
            doc.extend(noise(MIN_RUN + i, i as u64 + 3).iter().map(|b| b'A' + b % 26));
            doc.push(b'"');
        }
        doc.extend_from_slice(b";base64,");
        doc.extend(noise(5000, 1));
        assert!(base64_runs(&doc).len() >= 200);
        assert_eq!(gunzip(&mixed(&doc), doc.len() as u64).unwrap(), doc);
        assert_eq!(gunzip(&mixed(b""), 0).unwrap(), b"".as_slice());
    }
}
