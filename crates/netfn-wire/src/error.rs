/// Why a buffer is not a valid header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header (or its length fields) require.
    #[error("{header}: truncated: need {needed} bytes, have {available}")]
    Truncated {
        header: &'static str,
        needed: usize,
        available: usize,
    },
    /// A field holds a value that makes the header inconsistent.
    #[error("{header}: malformed: {reason}")]
    Malformed {
        header: &'static str,
        reason: &'static str,
    },
    /// A builder was given a buffer too small for the packet.
    #[error("buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall { needed: usize, available: usize },
}
