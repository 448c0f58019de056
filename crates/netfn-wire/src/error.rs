/// Why a buffer is not a valid header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header (or its length fields) require.
    #[error("{header}: truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Which header ([`crate::Header::NAME`]).
        header: &'static str,
        /// Bytes the header needs, counted from its start.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A field holds a value that makes the header inconsistent.
    #[error("{header}: malformed: {reason}")]
    Malformed {
        /// Which header ([`crate::Header::NAME`]).
        header: &'static str,
        /// What is inconsistent, for logs and counters.
        reason: &'static str,
    },
    /// A builder was given a buffer too small for the packet.
    #[error("buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
}
