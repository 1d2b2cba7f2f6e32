//! Writing whole buffers to wasi:io output streams.

use crate::bindings::wasi::io::streams::{OutputStream, StreamError};

/// Writes as much as the host accepts at a time (`blocking-write-and-flush` is capped at
/// 4 KiB a call, and every call is a round trip to the host's HTTP task).
pub fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permitted = stream.check_write()?;
        if permitted == 0 {
            stream.subscribe().block();
            continue;
        }
        let (now, later) = bytes.split_at(bytes.len().min(permitted as usize));
        stream.write(now)?;
        bytes = later;
    }
    stream.blocking_flush()
}
