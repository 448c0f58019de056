//! Big-endian field access on byte slices. Callers pass offsets that a
//! `check` has already proved in bounds; these helpers exist so the views
//! read like the RFC diagrams instead of shifting bytes by hand.

#[inline]
pub(crate) fn read_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

#[inline]
pub(crate) fn write_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[inline]
pub(crate) fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

#[inline]
pub(crate) fn write_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// Copies `N` bytes starting at `at` into an array.
#[inline]
pub(crate) fn read_array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[at..at + N]);
    out
}

/// The `Truncated` error for `header` when `needed` bytes are required.
#[inline]
pub(crate) fn truncated(header: &'static str, needed: usize, available: usize) -> crate::Error {
    crate::Error::Truncated {
        header,
        needed,
        available,
    }
}

/// The `Malformed` error for `header`.
#[inline]
pub(crate) fn malformed(header: &'static str, reason: &'static str) -> crate::Error {
    crate::Error::Malformed { header, reason }
}

/// Fails with `BufferTooSmall` unless `buf` holds at least `needed` bytes.
#[inline]
pub(crate) fn ensure_room(buf: &[u8], needed: usize) -> Result<(), crate::Error> {
    if buf.len() < needed {
        Err(crate::Error::BufferTooSmall {
            needed,
            available: buf.len(),
        })
    } else {
        Ok(())
    }
}
