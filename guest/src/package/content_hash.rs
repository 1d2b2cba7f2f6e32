//! Content hashes of package entries, computed as bytes arrive so an object of any
//! size is hashed without being held in memory.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

/// The `hash.type` of a manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashType {
    /// `sha2-256-chunked`, quilt3's default.
    Chunked,
    /// `SHA256`, the legacy type: lowercase hex sha256 of the bytes.
    Sha256,
    /// Any other type (e.g. `CRC64NVME`): kept as read, never computed here.
    Other(String),
}

impl HashType {
    pub fn parse(name: &str) -> Self {
        match name {
            "sha2-256-chunked" => Self::Chunked,
            "SHA256" => Self::Sha256,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Chunked => "sha2-256-chunked",
            Self::Sha256 => "SHA256",
            Self::Other(name) => name,
        }
    }
}

/// A streaming hasher for one of the types this server computes.
pub enum Hasher {
    Chunked(ChunkedHasher),
    Sha256(Sha256),
}

impl Hasher {
    /// `None` for types this server cannot compute.
    pub fn new(kind: &HashType, size: u64) -> Option<Self> {
        match kind {
            HashType::Chunked => Some(Self::Chunked(ChunkedHasher::new(size))),
            HashType::Sha256 => Some(Self::Sha256(Sha256::new())),
            HashType::Other(_) => None,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Chunked(hasher) => hasher.update(bytes),
            Self::Sha256(hasher) => hasher.update(bytes),
        }
    }

    pub fn finish(self) -> String {
        match self {
            Self::Chunked(hasher) => hasher.finish(),
            Self::Sha256(hasher) => hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }
}

const FIRST_CHUNK_SIZE: u64 = 8 * 1024 * 1024;
const MAX_CHUNKS: u64 = 10_000;

/// quilt3's chunk size for an object of `size` bytes: 8 MiB, doubled while the object
/// would need more than 10,000 chunks (S3's multipart limit).
pub fn chunk_size(size: u64) -> u64 {
    let mut chunk = FIRST_CHUNK_SIZE;
    while size.div_ceil(chunk) > MAX_CHUNKS {
        chunk *= 2;
    }
    chunk
}

/// `sha2-256-chunked`: sha256 over the sha256 of each chunk.
pub struct ChunkedHasher {
    chunk_size: u64,
    chunk: Sha256,
    in_chunk: u64,
    of_chunks: Sha256,
}

impl ChunkedHasher {
    /// The chunk size depends on the whole size, so it must be known up front.
    pub fn new(size: u64) -> Self {
        Self {
            chunk_size: chunk_size(size),
            chunk: Sha256::new(),
            in_chunk: 0,
            of_chunks: Sha256::new(),
        }
    }

    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = (self.chunk_size - self.in_chunk) as usize;
            let (now, later) = bytes.split_at(bytes.len().min(room));
            self.chunk.update(now);
            self.in_chunk += now.len() as u64;
            if self.in_chunk == self.chunk_size {
                self.close_chunk();
            }
            bytes = later;
        }
    }

    fn close_chunk(&mut self) {
        let digest = std::mem::take(&mut self.chunk).finalize();
        self.of_chunks.update(digest);
        self.in_chunk = 0;
    }

    /// The base64 value; an empty object has no chunks, so it is base64(sha256(b"")).
    pub fn finish(mut self) -> String {
        if self.in_chunk > 0 {
            self.close_chunk();
        }
        BASE64.encode(self.of_chunks.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::{HashType, Hasher, chunk_size};

    fn chunked(bytes: &[u8], pieces: usize) -> String {
        let mut hasher = Hasher::new(&HashType::Chunked, bytes.len() as u64).unwrap();
        for piece in bytes.chunks(pieces.max(1)) {
            hasher.update(piece);
        }
        hasher.finish()
    }

    #[test]
    fn other_types_are_kept_but_not_computed() {
        let crc = HashType::parse("CRC64NVME");
        assert_eq!(crc.name(), "CRC64NVME");
        assert!(Hasher::new(&crc, 1).is_none());
    }

    #[test]
    fn known_small_values() {
        assert_eq!(
            chunked(b"hello\n", 3),
            "7LZbuY+dkFtwRYmGw5/LrXcV5fL8w7Hwd2fXyD4kOMw="
        );
        assert_eq!(
            chunked(b"", 1),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn two_chunk_fixture_in_uneven_pieces() {
        // The generator of fixtures/two-chunks/big.bin.
        let big: Vec<u8> = (0..9 * 1024 * 1024 + 5u64)
            .map(|i| ((i * 7 + 3) % 251) as u8)
            .collect();
        let expected = "fNoJksXMk/NeQdU5mvB73DC6lpMc8ECYYelVuPggpw8=";
        assert_eq!(chunked(&big, 1_000_003), expected);
        assert_eq!(chunked(&big, 8 * 1024 * 1024), expected);
    }

    #[test]
    fn chunk_size_doubles_past_ten_thousand_chunks() {
        let mib = 1024 * 1024;
        assert_eq!(chunk_size(0), 8 * mib);
        assert_eq!(chunk_size(10_000 * 8 * mib), 8 * mib);
        assert_eq!(chunk_size(10_000 * 8 * mib + 1), 16 * mib);
        assert_eq!(chunk_size(10_000 * 32 * mib + 1), 64 * mib);
    }

    #[test]
    fn legacy_is_lowercase_hex_of_the_stream() {
        let mut hasher = Hasher::new(&HashType::parse("SHA256"), 6).unwrap();
        hasher.update(b"hel");
        hasher.update(b"lo\n");
        assert_eq!(
            hasher.finish(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
    }
}
