//! IEEE 802.1Q / 802.1ad VLAN tags.
//!
//! A [`VlanTag`] view covers the 4 bytes that follow an 0x8100 or 0x88a8
//! EtherType: the tag control information (priority, drop eligible, VLAN
//! id) and the EtherType of what comes next. Stacked tags (QinQ) are just a
//! `Vlan` carried by a `Vlan`. Invariant of a checked view: at least 4 bytes.

use crate::bytes::{malformed, read_u16, truncated, write_u16};
use crate::{Error, EtherType, Extent, Header};

mod field {
    pub const TCI: usize = 0;
    pub const ETHERTYPE: usize = 2;
}

/// Length of one VLAN tag (after its TPID, which is the previous EtherType).
pub const HEADER_LEN: usize = 4;
/// Largest VLAN id (4095 is reserved but still representable).
pub const MAX_VID: u16 = 0x0fff;

/// Marker for a VLAN tag; its view is [`VlanTag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vlan;

impl Header for Vlan {
    const NAME: &'static str = "vlan";
    type View<T: AsRef<[u8]>> = VlanTag<T>;

    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < HEADER_LEN {
            return Err(truncated(Self::NAME, HEADER_LEN, buf.len()));
        }
        Ok(Extent {
            header_len: HEADER_LEN,
            end: buf.len(),
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> VlanTag<T> {
        VlanTag::new_unchecked(buf)
    }
}

/// A view over a VLAN tag and what follows it.
#[derive(Debug, Clone, Copy)]
pub struct VlanTag<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps `buffer` without checking; accessors may panic if it is shorter
    /// than 4 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanTag { buffer }
    }

    /// Wraps `buffer` after [`Vlan::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Vlan::check(buffer.as_ref())?;
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

    /// Tag control information (PCP, DEI and VID together).
    pub fn tci(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TCI)
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN id (12 bits).
    pub fn vid(&self) -> u16 {
        self.tci() & MAX_VID
    }

    /// EtherType of the encapsulated payload (another tag for QinQ).
    pub fn ethertype(&self) -> EtherType {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE).into()
    }

    /// What follows the tag.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    /// Sets the whole TCI.
    pub fn set_tci(&mut self, tci: u16) {
        write_u16(self.buffer.as_mut(), field::TCI, tci);
    }

    /// Sets the priority (low 3 bits used).
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(pcp & 0x07) << 13);
        self.set_tci(tci);
    }

    /// Sets the drop eligible indicator.
    pub fn set_dei(&mut self, dei: bool) {
        let tci = (self.tci() & !0x1000) | if dei { 0x1000 } else { 0 };
        self.set_tci(tci);
    }

    /// Sets the VLAN id (low 12 bits used).
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & !MAX_VID) | (vid & MAX_VID);
        self.set_tci(tci);
    }

    /// Sets the encapsulated EtherType.
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.into());
    }

    /// What follows the tag, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The fields of one VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// Priority code point, 0 to 7.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN id, 0 to 4095.
    pub vid: u16,
    /// EtherType of the payload.
    pub ethertype: EtherType,
}

impl VlanRepr {
    /// Reads a tag, checking it first.
    pub fn parse<T: AsRef<[u8]>>(tag: &VlanTag<T>) -> Result<Self, Error> {
        Vlan::check(tag.as_bytes())?;
        Ok(VlanRepr {
            pcp: tag.pcp(),
            dei: tag.dei(),
            vid: tag.vid(),
            ethertype: tag.ethertype(),
        })
    }

    /// Length of the tag.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Tag plus `payload_len` bytes.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the tag. Fails if a field is out of range (so a wrong VID is
    /// never silently truncated into another VLAN) or the buffer is short.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, tag: &mut VlanTag<T>) -> Result<(), Error> {
        let tci = self.tci()?;
        crate::bytes::ensure_room(tag.as_bytes(), HEADER_LEN)?;
        tag.set_tci(tci);
        tag.set_ethertype(self.ethertype);
        Ok(())
    }

    /// The TCI word, or an error if pcp or vid is out of range.
    pub fn tci(&self) -> Result<u16, Error> {
        if self.vid > MAX_VID {
            return Err(malformed(Vlan::NAME, "VLAN id above 4095"));
        }
        if self.pcp > 7 {
            return Err(malformed(Vlan::NAME, "priority above 7"));
        }
        Ok((u16::from(self.pcp) << 13) | if self.dei { 0x1000 } else { 0 } | self.vid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Carries, Ethernet, Ipv4};

    // QinQ frame: S-tag 0x88a8 vid 100 pcp 3, C-tag 0x8100 vid 200 DEI,
    // then IPv4.
    const FRAME: [u8; 22] = [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x88, 0xa8, 0x60, 0x64, 0x81, 0x00, 0x10, 0xc8,
        0x08, 0x00,
    ];

    #[test]
    fn stacked_tags() {
        assert_eq!(<Ethernet as Carries<Vlan>>::locate(&FRAME), Some(14));
        let outer = VlanTag::new_checked(&FRAME[14..]).unwrap();
        assert_eq!((outer.pcp(), outer.dei(), outer.vid()), (3, false, 100));
        assert_eq!(outer.ethertype(), EtherType::Vlan);
        assert_eq!(<Vlan as Carries<Vlan>>::locate(&FRAME[14..]), Some(4));
        assert_eq!(<Vlan as Carries<Ipv4>>::locate(&FRAME[14..]), None);
        let inner = VlanTag::new_checked(outer.payload()).unwrap();
        assert_eq!((inner.pcp(), inner.dei(), inner.vid()), (0, true, 200));
        assert_eq!(inner.ethertype(), EtherType::Ipv4);
        assert_eq!(<Vlan as Carries<Ipv4>>::locate(&FRAME[18..]), Some(4));
        assert!(Vlan::check(&FRAME[19..]).is_err());
    }

    #[test]
    fn repr_round_trip_and_range() {
        let repr = VlanRepr {
            pcp: 7,
            dei: true,
            vid: 4095,
            ethertype: EtherType::Unknown(0x1234),
        };
        let mut buf = [0u8; 4];
        repr.emit(&mut VlanTag::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf, [0xff, 0xff, 0x12, 0x34]);
        assert_eq!(
            VlanRepr::parse(&VlanTag::new_checked(&buf[..]).unwrap()).unwrap(),
            repr
        );
        let bad = VlanRepr { vid: 4096, ..repr };
        assert!(bad.emit(&mut VlanTag::new_unchecked(&mut buf[..])).is_err());
        let mut tag = VlanTag::new_unchecked(&mut buf[..]);
        tag.set_vid(5);
        tag.set_pcp(1);
        tag.set_dei(false);
        assert_eq!(tag.tci(), 0x2005);
    }
}
