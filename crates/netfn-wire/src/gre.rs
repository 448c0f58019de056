//! GRE headers (RFC 2784, with the key and sequence number extensions of
//! RFC 2890).
//!
//! ```text
//!  0                   1                   2                   3
//! |C| |K|S| Reserved0       | Ver |         Protocol Type         |
//! |      Checksum (optional)      |       Reserved1 (optional)    |
//! |                         Key (optional)                        |
//! |                 Sequence Number (optional)                    |
//! ```
//!
//! Invariants of a checked [`GrePacket`]: version 0, bits 1, 4 and 5 clear
//! (RFC 2784 §2.3: a receiver that does not implement RFC 1701 discards
//! packets with them set: routing and strict source routes are obsolete),
//! and the buffer holds every optional field the flags announce. Bits 6-12
//! are ignored on receipt. The checksum (when present) covers the GRE header
//! and the payload; the payload is everything after the header (the outer
//! IP length delimits it).

use crate::bytes::{malformed, read_u16, read_u32, truncated, write_u16, write_u32};
use crate::checksum;
use crate::{Error, EtherType, Extent, Header};

mod field {
    pub const FLAGS: usize = 0;
    pub const PROTOCOL: usize = 2;
    pub const OPTIONAL: usize = 4;
}

/// Length of the GRE base header (no optional fields).
pub const BASE_LEN: usize = 4;
/// Length of the header with checksum, key and sequence number.
pub const MAX_HEADER_LEN: usize = 16;
/// Protocol type of an Ethernet frame carried in GRE (Transparent Ethernet
/// Bridging).
pub const PROTOCOL_TEB: u16 = 0x6558;

const FLAG_C: u16 = 0x8000;
const FLAG_K: u16 = 0x2000;
const FLAG_S: u16 = 0x1000;
/// Bits 1 (routing present), 4 (strict source route) and 5 (recursion).
const MUST_BE_ZERO: u16 = 0x4c00;
const VERSION: u16 = 0x0007;

fn header_len_of(flags: u16) -> usize {
    BASE_LEN
        + 4 * (usize::from(flags & FLAG_C != 0)
            + usize::from(flags & FLAG_K != 0)
            + usize::from(flags & FLAG_S != 0))
}

/// Marker for the GRE header; its view is [`GrePacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gre;

impl Header for Gre {
    const NAME: &'static str = "gre";
    type View<T: AsRef<[u8]>> = GrePacket<T>;

    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < BASE_LEN {
            return Err(truncated(Self::NAME, BASE_LEN, buf.len()));
        }
        let flags = read_u16(buf, field::FLAGS);
        if flags & VERSION != 0 {
            return Err(malformed(Self::NAME, "version is not 0"));
        }
        if flags & MUST_BE_ZERO != 0 {
            return Err(malformed(
                Self::NAME,
                "routing, strict source route or recursion bits set (RFC 1701)",
            ));
        }
        let header_len = header_len_of(flags);
        if buf.len() < header_len {
            return Err(truncated(Self::NAME, header_len, buf.len()));
        }
        Ok(Extent {
            header_len,
            end: buf.len(),
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> GrePacket<T> {
        GrePacket::new_unchecked(buf)
    }
}

/// A view over a GRE header and its payload.
#[derive(Debug, Clone, Copy)]
pub struct GrePacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GrePacket<T> {
    /// Wraps `buffer` without checking; accessors may panic if it does not
    /// hold the fields the flags announce.
    pub const fn new_unchecked(buffer: T) -> Self {
        GrePacket { buffer }
    }

    /// Wraps `buffer` after [`Gre::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Gre::check(buffer.as_ref())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The flags and version word.
    pub fn flags(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS)
    }

    /// C: a checksum is present.
    pub fn checksum_present(&self) -> bool {
        self.flags() & FLAG_C != 0
    }

    /// K: a key is present (RFC 2890).
    pub fn key_present(&self) -> bool {
        self.flags() & FLAG_K != 0
    }

    /// S: a sequence number is present (RFC 2890).
    pub fn sequence_present(&self) -> bool {
        self.flags() & FLAG_S != 0
    }

    /// Version (0 in a checked view).
    pub fn version(&self) -> u8 {
        (self.flags() & VERSION) as u8
    }

    /// Protocol type of the payload (an EtherType; [`PROTOCOL_TEB`] for
    /// Ethernet).
    pub fn protocol(&self) -> EtherType {
        read_u16(self.buffer.as_ref(), field::PROTOCOL).into()
    }

    /// Length of the header with its optional fields.
    pub fn header_len(&self) -> usize {
        header_len_of(self.flags())
    }

    /// Offset of the key field, if present.
    fn key_at(&self) -> usize {
        field::OPTIONAL + 4 * usize::from(self.checksum_present())
    }

    /// The checksum field, if present.
    pub fn checksum(&self) -> Option<u16> {
        self.checksum_present()
            .then(|| read_u16(self.buffer.as_ref(), field::OPTIONAL))
    }

    /// The key, if present.
    pub fn key(&self) -> Option<u32> {
        self.key_present()
            .then(|| read_u32(self.buffer.as_ref(), self.key_at()))
    }

    /// The sequence number, if present.
    pub fn sequence(&self) -> Option<u32> {
        self.sequence_present().then(|| {
            let at = self.key_at() + 4 * usize::from(self.key_present());
            read_u32(self.buffer.as_ref(), at)
        })
    }

    /// The payload (everything after the header).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// True if there is no checksum or it is correct over header and payload.
    pub fn verify_checksum(&self) -> bool {
        !self.checksum_present() || checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GrePacket<T> {
    /// Sets the flags and version word (the header length follows from it).
    pub fn set_flags(&mut self, flags: u16) {
        write_u16(self.buffer.as_mut(), field::FLAGS, flags);
    }

    /// Sets the protocol type.
    pub fn set_protocol(&mut self, protocol: EtherType) {
        write_u16(self.buffer.as_mut(), field::PROTOCOL, protocol.into());
    }

    /// Sets the key (if the K flag is set; otherwise nothing happens).
    pub fn set_key(&mut self, key: u32) {
        if self.key_present() {
            let at = self.key_at();
            write_u32(self.buffer.as_mut(), at, key);
        }
    }

    /// Sets the sequence number (if the S flag is set).
    pub fn set_sequence(&mut self, sequence: u32) {
        if self.sequence_present() {
            let at = self.key_at() + 4 * usize::from(self.key_present());
            write_u32(self.buffer.as_mut(), at, sequence);
        }
    }

    /// Computes the checksum over header and payload and writes it (if the C
    /// flag is set), with Reserved1 zero.
    pub fn fill_checksum(&mut self) {
        if !self.checksum_present() {
            return;
        }
        write_u32(self.buffer.as_mut(), field::OPTIONAL, 0);
        let csum = checksum::checksum(self.buffer.as_ref());
        write_u16(self.buffer.as_mut(), field::OPTIONAL, csum);
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.header_len();
        &mut self.buffer.as_mut()[at..]
    }
}

/// The fields of a GRE header.
///
/// `emit` writes the checksum field as zero; once the payload is in place
/// call [`GrePacket::fill_checksum`]. `parse` does not verify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GreRepr {
    /// Protocol type of the payload.
    pub protocol: EtherType,
    /// Whether a checksum is sent.
    pub checksum: bool,
    /// The key (RFC 2890), if any.
    pub key: Option<u32>,
    /// The sequence number (RFC 2890), if any.
    pub sequence: Option<u32>,
}

impl GreRepr {
    /// Reads a header, checking it first.
    pub fn parse<T: AsRef<[u8]>>(packet: &GrePacket<T>) -> Result<Self, Error> {
        Gre::check(packet.as_bytes())?;
        Ok(GreRepr {
            protocol: packet.protocol(),
            checksum: packet.checksum_present(),
            key: packet.key(),
            sequence: packet.sequence(),
        })
    }

    fn flags(&self) -> u16 {
        (if self.checksum { FLAG_C } else { 0 })
            | (if self.key.is_some() { FLAG_K } else { 0 })
            | (if self.sequence.is_some() { FLAG_S } else { 0 })
    }

    /// Length of the header.
    pub fn header_len(&self) -> usize {
        header_len_of(self.flags())
    }

    /// Header plus `payload_len` bytes.
    pub fn buffer_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// Writes the header (checksum field zero). Fails if the buffer is
    /// shorter than the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut GrePacket<T>,
    ) -> Result<(), Error> {
        let len = self.header_len();
        crate::bytes::ensure_room(packet.as_bytes(), len)?;
        packet.set_flags(self.flags());
        packet.set_protocol(self.protocol);
        if self.checksum {
            write_u32(packet.buffer.as_mut(), field::OPTIONAL, 0);
        }
        if let Some(key) = self.key {
            packet.set_key(key);
        }
        if let Some(seq) = self.sequence {
            packet.set_sequence(seq);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_header() {
        let h = [0x00, 0x00, 0x08, 0x00, 0x45];
        let p = GrePacket::new_checked(&h[..]).unwrap();
        assert_eq!(p.protocol(), EtherType::Ipv4);
        assert_eq!(p.header_len(), 4);
        assert_eq!((p.checksum(), p.key(), p.sequence()), (None, None, None));
        assert_eq!(p.payload(), &[0x45]);
        assert!(p.verify_checksum());
        assert!(Gre::check(&h[..3]).is_err());
    }

    #[test]
    fn optional_fields_in_order() {
        // C, K and S: checksum, reserved1, key, sequence.
        let h = [
            0xb0, 0x00, 0x65, 0x58, 0x12, 0x34, 0x00, 0x00, 0, 0, 0, 42, 0, 0, 1, 0,
        ];
        let p = GrePacket::new_checked(&h[..]).unwrap();
        assert_eq!(p.header_len(), 16);
        assert_eq!(p.checksum(), Some(0x1234));
        assert_eq!(p.key(), Some(42));
        assert_eq!(p.sequence(), Some(256));
        assert_eq!(u16::from(p.protocol()), PROTOCOL_TEB);
        for len in 0..16 {
            assert!(Gre::check(&h[..len]).is_err(), "{len}");
        }
        // K only: the key follows the base header directly.
        let k = [0x20, 0x00, 0x65, 0x58, 0xde, 0xad, 0xbe, 0xef];
        let p = GrePacket::new_checked(&k[..]).unwrap();
        assert_eq!(
            (p.key(), p.sequence(), p.checksum()),
            (Some(0xdead_beef), None, None)
        );
    }

    #[test]
    fn rejects_versions_and_rfc1701_bits() {
        for flags in [0x0001u16, 0x0007, 0x4000, 0x0800, 0x0400] {
            let mut h = [0u8; 20];
            h[..2].copy_from_slice(&flags.to_be_bytes());
            assert!(
                matches!(Gre::check(&h), Err(Error::Malformed { .. })),
                "{flags:#x}"
            );
        }
        // Reserved0 bits 6-12 are ignored.
        let h = [0x03, 0xf8, 0x08, 0x00];
        assert!(Gre::check(&h).is_ok());
    }

    #[test]
    fn repr_round_trip_and_checksum() {
        let repr = GreRepr {
            protocol: EtherType::Unknown(PROTOCOL_TEB),
            checksum: true,
            key: Some(7),
            sequence: Some(9),
        };
        let mut buf = vec![0u8; repr.buffer_len(5)];
        buf[16..].copy_from_slice(b"hello");
        let mut p = GrePacket::new_unchecked(&mut buf[..]);
        repr.emit(&mut p).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        let p = GrePacket::new_checked(&buf[..]).unwrap();
        assert_eq!(GreRepr::parse(&p).unwrap(), repr);
        assert_eq!(p.payload(), b"hello");
        // By hand: the sum of every 16-bit word, checksum field zero.
        let mut zeroed = buf.clone();
        zeroed[4..6].fill(0);
        assert_eq!(p.checksum(), Some(checksum::checksum(&zeroed)));
        let mut bad = buf.clone();
        bad[17] ^= 1;
        assert!(!GrePacket::new_checked(&bad[..]).unwrap().verify_checksum());
        let plain = GreRepr {
            checksum: false,
            key: None,
            sequence: None,
            ..repr
        };
        assert_eq!(plain.header_len(), 4);
        assert!(
            plain
                .emit(&mut GrePacket::new_unchecked(&mut [0u8; 3][..]))
                .is_err()
        );
    }
}
