//! VXLAN headers (RFC 7348 §5).
//!
//! A [`VxlanPacket`] view covers the 8-byte VXLAN header that follows a UDP
//! header (destination port [`UDP_PORT`], 4789) and the inner Ethernet frame
//! after it:
//!
//! ```text
//!  0                   1                   2                   3
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! ```
//!
//! The I flag must be set for the VNI to be valid; the reserved bits must be
//! sent as zero and are ignored on receipt (so `check` only needs 8 bytes,
//! and [`VxlanRepr::parse`] rejects a header without the I flag).

use crate::bytes::{malformed, read_u32, truncated, write_u32};
use crate::{Error, Extent, Header};

mod field {
    pub const FLAGS: usize = 0;
    pub const VNI: usize = 4;
}

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = 8;
/// The IANA-assigned UDP destination port for VXLAN.
pub const UDP_PORT: u16 = 4789;
/// The I flag: the VNI field is valid.
pub const FLAG_VNI: u8 = 0x08;
/// Largest VNI (24 bits).
pub const MAX_VNI: u32 = 0x00ff_ffff;

/// Marker for the VXLAN header; its view is [`VxlanPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vxlan;

impl Header for Vxlan {
    const NAME: &'static str = "vxlan";
    type View<T: AsRef<[u8]>> = VxlanPacket<T>;

    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < HEADER_LEN {
            return Err(truncated(Self::NAME, HEADER_LEN, buf.len()));
        }
        Ok(Extent {
            header_len: HEADER_LEN,
            end: buf.len(),
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> VxlanPacket<T> {
        VxlanPacket::new_unchecked(buf)
    }
}

/// A view over a VXLAN header and the inner frame after it.
#[derive(Debug, Clone, Copy)]
pub struct VxlanPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VxlanPacket<T> {
    /// Wraps `buffer` without checking; accessors may panic if it is shorter
    /// than 8 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        VxlanPacket { buffer }
    }

    /// Wraps `buffer` after [`Vxlan::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Vxlan::check(buffer.as_ref())?;
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

    /// The flags byte (only [`FLAG_VNI`] is defined).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The I flag: the VNI is valid.
    pub fn has_vni(&self) -> bool {
        self.flags() & FLAG_VNI != 0
    }

    /// The 24-bit VXLAN Network Identifier (meaningful if [`Self::has_vni`]).
    pub fn vni(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VNI) >> 8
    }

    /// The inner Ethernet frame.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VxlanPacket<T> {
    /// Sets the flags byte and clears the 24 reserved bits after it.
    pub fn set_flags(&mut self, flags: u8) {
        write_u32(self.buffer.as_mut(), field::FLAGS, u32::from(flags) << 24);
    }

    /// Sets the VNI (low 24 bits used) and clears the reserved byte after it.
    pub fn set_vni(&mut self, vni: u32) {
        write_u32(self.buffer.as_mut(), field::VNI, (vni & MAX_VNI) << 8);
    }

    /// The inner frame, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The fields of a VXLAN header: just the VNI (the I flag is implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VxlanRepr {
    /// VXLAN Network Identifier, 0 to 2^24 - 1.
    pub vni: u32,
}

impl VxlanRepr {
    /// Reads a header, checking it first; fails without the I flag.
    pub fn parse<T: AsRef<[u8]>>(packet: &VxlanPacket<T>) -> Result<Self, Error> {
        Vxlan::check(packet.as_bytes())?;
        if !packet.has_vni() {
            return Err(malformed(Vxlan::NAME, "I flag clear: no valid VNI"));
        }
        Ok(VxlanRepr { vni: packet.vni() })
    }

    /// Length of the header.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus an inner frame of `payload_len` bytes.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the header (I flag set, reserved fields zero). Fails for a VNI
    /// above 2^24 - 1 or a buffer shorter than 8 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut VxlanPacket<T>,
    ) -> Result<(), Error> {
        if self.vni > MAX_VNI {
            return Err(malformed(Vxlan::NAME, "VNI above 2^24 - 1"));
        }
        crate::bytes::ensure_room(packet.as_bytes(), HEADER_LEN)?;
        packet.set_flags(FLAG_VNI);
        packet.set_vni(self.vni);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Carries, Ethernet, Udp};

    // I flag set, VNI 123, reserved fields zero.
    const HEADER: [u8; 8] = [0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b, 0x00];

    #[test]
    fn parse_known_header() {
        let p = VxlanPacket::new_checked(&HEADER[..]).unwrap();
        assert!(p.has_vni());
        assert_eq!(p.vni(), 123);
        assert_eq!(VxlanRepr::parse(&p).unwrap(), VxlanRepr { vni: 123 });
        assert!(p.payload().is_empty());
        for len in 0..8 {
            assert!(Vxlan::check(&HEADER[..len]).is_err());
        }
    }

    #[test]
    fn reserved_bits_are_ignored_but_i_flag_is_required() {
        let mut h = [0xff; 8];
        let p = VxlanPacket::new_checked(&h[..]).unwrap();
        assert_eq!(p.vni(), MAX_VNI);
        assert!(VxlanRepr::parse(&p).is_ok());
        h[0] = 0xf7; // every bit but I
        assert!(matches!(
            VxlanRepr::parse(&VxlanPacket::new_checked(&h[..]).unwrap()),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn repr_round_trip_and_range() {
        let mut buf = [0xaau8; 10];
        let repr = VxlanRepr { vni: 0x00ab_cdef };
        repr.emit(&mut VxlanPacket::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(&buf[..8], &[0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
        assert_eq!(&buf[8..], &[0xaa, 0xaa]);
        let p = VxlanPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(VxlanRepr::parse(&p).unwrap(), repr);
        assert_eq!(p.payload(), &[0xaa, 0xaa]);
        assert!(
            VxlanRepr { vni: MAX_VNI + 1 }
                .emit(&mut VxlanPacket::new_unchecked(&mut buf[..]))
                .is_err()
        );
        assert!(
            repr.emit(&mut VxlanPacket::new_unchecked(&mut buf[..7]))
                .is_err()
        );
    }

    #[test]
    fn udp_carries_vxlan_carries_ethernet() {
        let mut udp = [0u8; 8 + 8 + 14];
        udp[2..4].copy_from_slice(&UDP_PORT.to_be_bytes());
        udp[4..6].copy_from_slice(&30u16.to_be_bytes());
        udp[8..16].copy_from_slice(&HEADER);
        assert_eq!(<Udp as Carries<Vxlan>>::locate(&udp), Some(8));
        assert_eq!(<Vxlan as Carries<Ethernet>>::locate(&udp[8..]), Some(8));
        udp[3] ^= 1;
        assert_eq!(<Udp as Carries<Vxlan>>::locate(&udp), None);
        udp[8] = 0;
        assert_eq!(<Vxlan as Carries<Ethernet>>::locate(&udp[8..]), None);
    }
}
