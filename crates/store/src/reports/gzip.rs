//! How report chunks are stored: raw deflate that concatenates into one gzip
//! member.
//!
//! Each chunk is compressed on its own (no back-reference crosses chunks)
//! and ends with a sync flush: a non-final block boundary on a whole byte.
//! So [`HEADER`], every chunk in order and the [`ChunkEncoder::trailer`]
//! chunk (the final empty block, the CRC-32 and the length) are, byte for
//! byte, a single-member gzip file: a gzip download is a plain concatenation,
//! and an uncompressed one inflates the same bytes chunk by chunk
//! ([`ChunkDecoder`]). This is how `pigz` compresses in parallel.

use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};

/// The gzip header: deflate, no name, no time, unknown OS.
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The final empty deflate block (fixed Huffman, BFINAL set, end of block).
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// Compresses a report's chunks in order, keeping the CRC-32 and the length
/// of everything it compressed for the trailer.
#[derive(Debug)]
pub struct ChunkEncoder {
    crc: Crc,
    level: Compression,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        // Level 1: CSV compresses ~6x already, about three times faster than 6.
        Self { crc: Crc::new(), level: Compression::fast() }
    }
}

impl ChunkEncoder {
    /// One chunk: `raw` as deflate blocks ending on a byte boundary, never
    /// the final block.
    pub fn chunk(&mut self, raw: &[u8]) -> Vec<u8> {
        self.crc.update(raw);
        let mut deflate = Compress::new(self.level, false);
        let mut out = Vec::with_capacity(raw.len() / 4 + 1024);
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity().max(4096));
            }
            let consumed = usize::try_from(deflate.total_in()).unwrap_or(usize::MAX).min(raw.len());
            // Only fails on misuse of the stream (a `Finish` followed by more input).
            let status = deflate.compress_vec(&raw[consumed..], &mut out, FlushCompress::Sync);
            let done = deflate.total_in() == raw.len() as u64 && out.len() < out.capacity();
            if done || matches!(status, Err(_) | Ok(Status::StreamEnd)) {
                return out;
            }
        }
    }

    /// The last chunk: the final block, then the gzip trailer.
    pub fn trailer(self) -> Vec<u8> {
        let mut out = FINAL_BLOCK.to_vec();
        out.extend_from_slice(&self.crc.sum().to_le_bytes());
        out.extend_from_slice(&self.crc.amount().to_le_bytes());
        out
    }

    /// Bytes compressed so far (modulo 2^32, as gzip counts them).
    pub fn raw_len(&self) -> u32 {
        self.crc.amount()
    }
}

/// Inflates a report's chunks in order back to its CSV bytes.
#[derive(Debug)]
pub struct ChunkDecoder {
    inflate: Decompress,
    ended: bool,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self { inflate: Decompress::new(false), ended: false }
    }
}

/// A chunk that does not inflate: the stored report is damaged.
#[derive(Debug, thiserror::Error)]
#[error("a report chunk is not valid deflate data: {0}")]
pub struct CorruptChunk(String);

impl ChunkDecoder {
    /// The CSV bytes of the next chunk; nothing for the trailer chunk.
    pub fn chunk(&mut self, compressed: &[u8]) -> Result<Vec<u8>, CorruptChunk> {
        let mut out = Vec::with_capacity(compressed.len() * 4 + 1024);
        let start = self.inflate.total_in();
        while !self.ended {
            let consumed = usize::try_from(self.inflate.total_in() - start).unwrap_or(usize::MAX);
            if consumed >= compressed.len() && out.len() < out.capacity() {
                break;
            }
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity().max(4096));
            }
            let input = compressed.get(consumed..).unwrap_or_default();
            let status = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync)
                .map_err(|e| CorruptChunk(e.to_string()))?;
            match status {
                // The trailer's final block: the CRC and length after it are not deflate.
                Status::StreamEnd => self.ended = true,
                Status::BufError if out.len() < out.capacity() => break,
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn stored(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut encoder = ChunkEncoder::default();
        let mut out: Vec<Vec<u8>> = chunks.iter().map(|c| encoder.chunk(c)).collect();
        out.push(encoder.trailer());
        out
    }

    #[test]
    fn header_and_chunks_concatenate_into_one_gzip_member() {
        let big: Vec<u8> = (0..300_000u32).flat_map(|i| format!("+3461{i:07},Name {i}\n").into_bytes()).collect();
        let parts: [&[u8]; 4] = [b"phone,name\n", &big, b"", "+34600000000,Jos\u{e9}\n".as_bytes()];
        let mut gz = HEADER.to_vec();
        for chunk in stored(&parts) {
            gz.extend_from_slice(&chunk);
        }
        // A single-member decoder: clients that stop after the first member read everything.
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded, parts.concat());
        assert!(gz.len() < parts.concat().len() / 3, "compressed: {} bytes", gz.len());
    }

    #[test]
    fn chunks_inflate_one_by_one_to_the_same_bytes() {
        let parts: [&[u8]; 3] = [b"a,b\n", &[b'x'; 100_000], b"c,d\n"];
        let mut decoder = ChunkDecoder::default();
        let mut decoded = Vec::new();
        for chunk in stored(&parts) {
            decoded.extend(decoder.chunk(&chunk).unwrap());
        }
        assert_eq!(decoded, parts.concat());
        assert!(ChunkDecoder::default().chunk(b"\xff\xff\xff not deflate").is_err());
    }

    #[test]
    fn an_empty_report_is_a_valid_empty_gzip() {
        let mut gz = HEADER.to_vec();
        gz.extend(ChunkEncoder::default().trailer());
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut decoded).unwrap();
        assert!(decoded.is_empty());
    }
}
