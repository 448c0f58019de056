//! ICMP for IPv6 (RFC 4443) and the Neighbor Discovery messages NFs answer
//! (RFC 4861).
//!
//! Invariant of a checked [`Icmpv6Packet`]: at least the 8-byte header. The
//! message is the whole buffer, trimmed to the IPv6 payload. The checksum
//! covers the IPv6 pseudo-header, so the checksum methods take the source
//! and destination addresses. Neighbor Solicitation/Advertisement need 24
//! bytes; [`Icmpv6Repr::parse`] reports `Truncated` when they are shorter.

use std::net::Ipv6Addr;

use crate::bytes::{malformed, read_array, read_u16, read_u32, truncated, write_u16};
use crate::checksum;
use crate::{Error, Extent, Header, IpProtocol, MacAddr};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const REST: usize = 4;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    pub const TARGET: usize = 8;
}

/// Length of the ICMPv6 header (including the 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;
/// Length of a Neighbor Solicitation/Advertisement without options.
pub const ND_LEN: usize = 24;

/// Neighbor Discovery option types used by the builder.
pub mod nd_option {
    /// Source link-layer address (in solicitations).
    pub const SOURCE_LINK_ADDR: u8 = 1;
    /// Target link-layer address (in advertisements).
    pub const TARGET_LINK_ADDR: u8 = 2;
}

/// Destination Unreachable codes (RFC 4443 §3.1).
pub mod unreachable {
    /// No route to destination.
    pub const NO_ROUTE: u8 = 0;
    /// Administratively prohibited (a firewall said no).
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Address unreachable.
    pub const ADDRESS: u8 = 3;
    /// Port unreachable.
    pub const PORT: u8 = 4;
}

/// Time Exceeded codes (RFC 4443 §3.3).
pub mod time_exceeded {
    /// Hop limit exceeded in transit.
    pub const HOP_LIMIT: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

/// Neighbor Advertisement flags (first byte of the reserved word).
pub mod na_flags {
    /// Sender is a router.
    pub const ROUTER: u8 = 0x80;
    /// Sent in response to a solicitation.
    pub const SOLICITED: u8 = 0x40;
    /// Override an existing cache entry.
    pub const OVERRIDE: u8 = 0x20;
}

/// ICMPv6 message type. Unknown values round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Message {
    /// 1.
    DstUnreachable,
    /// 2.
    PacketTooBig,
    /// 3.
    TimeExceeded,
    /// 4.
    ParamProblem,
    /// 128.
    EchoRequest,
    /// 129.
    EchoReply,
    /// 133.
    RouterSolicit,
    /// 134.
    RouterAdvert,
    /// 135.
    NeighborSolicit,
    /// 136.
    NeighborAdvert,
    /// 137.
    Redirect,
    /// Anything else.
    Unknown(u8),
}

impl Icmpv6Message {
    /// Error messages have types below 128 (RFC 4443 §2.1).
    pub fn is_error(self) -> bool {
        u8::from(self) < 128
    }
}

impl From<u8> for Icmpv6Message {
    fn from(value: u8) -> Self {
        match value {
            1 => Icmpv6Message::DstUnreachable,
            2 => Icmpv6Message::PacketTooBig,
            3 => Icmpv6Message::TimeExceeded,
            4 => Icmpv6Message::ParamProblem,
            128 => Icmpv6Message::EchoRequest,
            129 => Icmpv6Message::EchoReply,
            133 => Icmpv6Message::RouterSolicit,
            134 => Icmpv6Message::RouterAdvert,
            135 => Icmpv6Message::NeighborSolicit,
            136 => Icmpv6Message::NeighborAdvert,
            137 => Icmpv6Message::Redirect,
            other => Icmpv6Message::Unknown(other),
        }
    }
}

impl From<Icmpv6Message> for u8 {
    fn from(value: Icmpv6Message) -> Self {
        match value {
            Icmpv6Message::DstUnreachable => 1,
            Icmpv6Message::PacketTooBig => 2,
            Icmpv6Message::TimeExceeded => 3,
            Icmpv6Message::ParamProblem => 4,
            Icmpv6Message::EchoRequest => 128,
            Icmpv6Message::EchoReply => 129,
            Icmpv6Message::RouterSolicit => 133,
            Icmpv6Message::RouterAdvert => 134,
            Icmpv6Message::NeighborSolicit => 135,
            Icmpv6Message::NeighborAdvert => 136,
            Icmpv6Message::Redirect => 137,
            Icmpv6Message::Unknown(other) => other,
        }
    }
}

/// Marker for ICMPv6; its view is [`Icmpv6Packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Icmpv6;

impl Header for Icmpv6 {
    const NAME: &'static str = "icmpv6";
    type View<T: AsRef<[u8]>> = Icmpv6Packet<T>;

    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < HEADER_LEN {
            return Err(truncated(Self::NAME, HEADER_LEN, buf.len()));
        }
        Ok(Extent {
            header_len: HEADER_LEN,
            end: buf.len(),
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> Icmpv6Packet<T> {
        Icmpv6Packet::new_unchecked(buf)
    }
}

/// A view over an ICMPv6 message.
#[derive(Debug, Clone, Copy)]
pub struct Icmpv6Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps `buffer` without checking; accessors may panic if it is shorter
    /// than 8 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// Wraps `buffer` after [`Icmpv6::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Icmpv6::check(buffer.as_ref())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Message type.
    pub fn msg_type(&self) -> Icmpv6Message {
        self.buffer.as_ref()[field::TYPE].into()
    }

    /// Message code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The 4 type-specific header bytes.
    pub fn rest_of_header(&self) -> [u8; 4] {
        read_array(self.buffer.as_ref(), field::REST)
    }

    /// Echo identifier.
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Echo sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SEQ)
    }

    /// MTU (Packet Too Big) or pointer (Parameter Problem).
    pub fn mtu(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::REST)
    }

    /// Target address of a Neighbor Solicitation/Advertisement or Redirect,
    /// if the message is long enough to hold one.
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        let buf = self.buffer.as_ref();
        (buf.len() >= ND_LEN).then(|| Ipv6Addr::from(read_array::<16>(buf, field::TARGET)))
    }

    /// Data after the 8-byte header (echo data, quoted packet, or ND body).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    fn compute_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32);
        !checksum::fold(pseudo + checksum::sum(data))
    }

    /// Checks the checksum against the pseudo-header of `src`/`dst`.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.compute_checksum(src, dst) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, msg_type: Icmpv6Message) {
        self.buffer.as_mut()[field::TYPE] = msg_type.into();
    }

    /// Sets the code.
    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the 4 type-specific bytes.
    pub fn set_rest_of_header(&mut self, rest: [u8; 4]) {
        self.buffer.as_mut()[field::REST..field::REST + 4].copy_from_slice(&rest);
    }

    /// Data after the header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes and writes the checksum over pseudo-header and message.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let csum = self.compute_checksum(src, dst);
        self.set_checksum(csum);
    }

    /// Patches the checksum for an address change in the pseudo-header.
    pub fn update_checksum_for_addr(&mut self, old: Ipv6Addr, new: Ipv6Addr) {
        let csum = checksum::update_bytes(self.checksum(), &old.octets(), &new.octets());
        self.set_checksum(csum);
    }
}

/// An ICMPv6 message: errors, echo and neighbor discovery typed, all else
/// `Other` (which round-trips, and never holds what a named variant would).
/// `parse` does not verify the checksum; `emit` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination unreachable; see [`unreachable`](mod@unreachable).
    DstUnreachable {
        /// Code.
        code: u8,
        /// As much of the offending packet as fits the minimum MTU.
        data: &'a [u8],
    },
    /// Packet too big.
    PacketTooBig {
        /// MTU of the next hop.
        mtu: u32,
        /// Quoted packet.
        data: &'a [u8],
    },
    /// Time exceeded; see [`time_exceeded`].
    TimeExceeded {
        /// Code.
        code: u8,
        /// Quoted packet.
        data: &'a [u8],
    },
    /// Parameter problem.
    ParamProblem {
        /// Code.
        code: u8,
        /// Offset of the offending byte.
        pointer: u32,
        /// Quoted packet.
        data: &'a [u8],
    },
    /// Neighbor solicitation.
    NeighborSolicit {
        /// Address being resolved.
        target: Ipv6Addr,
        /// Raw ND options (source link-layer address, ...).
        options: &'a [u8],
    },
    /// Neighbor advertisement.
    NeighborAdvert {
        /// [`na_flags`] bits (first byte of the reserved word).
        flags: u8,
        /// Address advertised.
        target: Ipv6Addr,
        /// Raw ND options (target link-layer address, ...).
        options: &'a [u8],
    },
    /// Anything else, as raw fields.
    Other {
        /// Type.
        msg_type: u8,
        /// Code.
        code: u8,
        /// The 4 type-specific header bytes.
        rest: [u8; 4],
        /// Data after the header.
        data: &'a [u8],
    },
}

impl<'a> Icmpv6Repr<'a> {
    /// Reads a message, checking it first. A Neighbor Solicitation or
    /// Advertisement shorter than 24 bytes is `Truncated`; nonzero reserved
    /// bits or codes make a message `Other`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Icmpv6Packet<&'a T>) -> Result<Self, Error> {
        let bytes: &'a [u8] = packet.buffer.as_ref();
        Icmpv6::check(bytes)?;
        let code = packet.code();
        let rest = packet.rest_of_header();
        let data = &bytes[HEADER_LEN..];
        let ident = packet.echo_ident();
        let seq_no = packet.echo_seq_no();
        let word = u32::from_be_bytes(rest);
        let nd = |flags_ok: bool| -> Result<Option<(Ipv6Addr, &'a [u8])>, Error> {
            if code != 0 || !flags_ok {
                return Ok(None);
            }
            if bytes.len() < ND_LEN {
                return Err(truncated(Icmpv6::NAME, ND_LEN, bytes.len()));
            }
            Ok(Some((
                Ipv6Addr::from(read_array::<16>(bytes, field::TARGET)),
                &bytes[ND_LEN..],
            )))
        };
        let typed = match packet.msg_type() {
            Icmpv6Message::EchoRequest if code == 0 => Some(Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }),
            Icmpv6Message::EchoReply if code == 0 => Some(Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            }),
            Icmpv6Message::DstUnreachable if word == 0 => {
                Some(Icmpv6Repr::DstUnreachable { code, data })
            }
            Icmpv6Message::PacketTooBig if code == 0 => {
                Some(Icmpv6Repr::PacketTooBig { mtu: word, data })
            }
            Icmpv6Message::TimeExceeded if word == 0 => {
                Some(Icmpv6Repr::TimeExceeded { code, data })
            }
            Icmpv6Message::ParamProblem => Some(Icmpv6Repr::ParamProblem {
                code,
                pointer: word,
                data,
            }),
            Icmpv6Message::NeighborSolicit => nd(word == 0)?
                .map(|(target, options)| Icmpv6Repr::NeighborSolicit { target, options }),
            Icmpv6Message::NeighborAdvert => {
                nd(word & 0x1fff_ffff == 0)?.map(|(target, options)| Icmpv6Repr::NeighborAdvert {
                    flags: rest[0],
                    target,
                    options,
                })
            }
            _ => None,
        };
        Ok(typed.unwrap_or(Icmpv6Repr::Other {
            msg_type: packet.msg_type().into(),
            code,
            rest,
            data,
        }))
    }

    /// (type, code, rest of header, target for ND, data after it).
    fn fields(&self) -> (u8, u8, [u8; 4], Option<Ipv6Addr>, &'a [u8]) {
        let pair = |a: u16, b: u16| {
            let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
            [a[0], a[1], b[0], b[1]]
        };
        match *self {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (128, 0, pair(ident, seq_no), None, data),
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (129, 0, pair(ident, seq_no), None, data),
            Icmpv6Repr::DstUnreachable { code, data } => (1, code, [0; 4], None, data),
            Icmpv6Repr::PacketTooBig { mtu, data } => (2, 0, mtu.to_be_bytes(), None, data),
            Icmpv6Repr::TimeExceeded { code, data } => (3, code, [0; 4], None, data),
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                data,
            } => (4, code, pointer.to_be_bytes(), None, data),
            Icmpv6Repr::NeighborSolicit { target, options } => {
                (135, 0, [0; 4], Some(target), options)
            }
            Icmpv6Repr::NeighborAdvert {
                flags,
                target,
                options,
            } => (136, 0, [flags & 0xe0, 0, 0, 0], Some(target), options),
            Icmpv6Repr::Other {
                msg_type,
                code,
                rest,
                data,
            } => (msg_type, code, rest, None, data),
        }
    }

    /// Length of the fixed part: 8, or 24 for neighbor discovery.
    pub fn header_len(&self) -> usize {
        if self.fields().3.is_some() {
            ND_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Whole message length.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.fields().4.len()
    }

    /// Writes the message and its checksum (which needs the addresses of
    /// the enclosing IPv6 header). The packet's buffer should be exactly
    /// [`Icmpv6Repr::buffer_len`] long.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        packet: &mut Icmpv6Packet<T>,
    ) -> Result<(), Error> {
        let (msg_type, code, rest, target, data) = self.fields();
        let header_len = self.header_len();
        crate::bytes::ensure_room(packet.as_bytes(), header_len + data.len())?;
        if let Icmpv6Repr::NeighborAdvert { flags, .. } = self
            && flags & 0x1f != 0
        {
            return Err(malformed(
                Icmpv6::NAME,
                "neighbor advertisement flags outside R/S/O",
            ));
        }
        packet.set_msg_type(msg_type.into());
        packet.set_code(code);
        packet.set_rest_of_header(rest);
        let buf = packet.buffer.as_mut();
        if let Some(target) = target {
            buf[field::TARGET..ND_LEN].copy_from_slice(&target.octets());
        }
        buf[header_len..header_len + data.len()].copy_from_slice(data);
        packet.fill_checksum(src, dst);
        Ok(())
    }
}

/// Writes a link-layer address ND option (8 bytes) at the start of `buf`.
pub fn emit_link_addr_option(
    buf: &mut [u8],
    option_type: u8,
    mac: MacAddr,
) -> Result<usize, Error> {
    crate::bytes::ensure_room(buf, 8)?;
    buf[0] = option_type;
    buf[1] = 1; // length in units of 8 bytes
    buf[2..8].copy_from_slice(&mac.0);
    Ok(8)
}

/// Finds a link-layer address option of `option_type` in raw ND options.
/// Malformed options (length 0, past the end) end the search.
pub fn find_link_addr_option(options: &[u8], option_type: u8) -> Option<MacAddr> {
    let mut rest = options;
    while rest.len() >= 2 {
        let len = usize::from(rest[1]) * 8;
        if len == 0 || len > rest.len() {
            return None;
        }
        if rest[0] == option_type && len == 8 {
            return Some(MacAddr(read_array(rest, 2)));
        }
        rest = &rest[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    // A neighbor solicitation for fe80::1 from fe80::2 (to the solicited-node
    // group), with a source link-layer address option, checksum zeroed.
    fn solicitation() -> Vec<u8> {
        let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&addr("fe80::1").octets());
        m.extend_from_slice(&[1, 1, 0x02, 0, 0, 0, 0, 0x02]);
        m
    }

    #[test]
    fn neighbor_solicitation() {
        let (src, dst) = (addr("fe80::2"), addr("ff02::1:ff00:1"));
        let mut bytes = solicitation();
        let mut p = Icmpv6Packet::new_checked(&mut bytes[..]).unwrap();
        p.fill_checksum(src, dst);
        assert!(p.verify_checksum(src, dst));
        assert!(!p.verify_checksum(src, addr("ff02::1")));
        let p = Icmpv6Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.msg_type(), Icmpv6Message::NeighborSolicit);
        assert_eq!(p.target_addr(), Some(addr("fe80::1")));
        let Icmpv6Repr::NeighborSolicit { target, options } = Icmpv6Repr::parse(&p).unwrap() else {
            panic!("not NS")
        };
        assert_eq!(target, addr("fe80::1"));
        assert_eq!(
            find_link_addr_option(options, nd_option::SOURCE_LINK_ADDR),
            Some(MacAddr([2, 0, 0, 0, 0, 2]))
        );
        // Truncated ND body is an error, not a panic.
        let short = Icmpv6Packet::new_checked(&bytes[..20]).unwrap();
        assert!(matches!(
            Icmpv6Repr::parse(&short),
            Err(Error::Truncated { .. })
        ));
        assert_eq!(short.target_addr(), None);
    }

    #[test]
    fn reprs_round_trip() {
        let (src, dst) = (addr("2001:db8::1"), addr("2001:db8::2"));
        let mut opt = [0u8; 8];
        emit_link_addr_option(
            &mut opt,
            nd_option::TARGET_LINK_ADDR,
            MacAddr([2, 1, 2, 3, 4, 5]),
        )
        .unwrap();
        let reprs = [
            Icmpv6Repr::EchoRequest {
                ident: 7,
                seq_no: 9,
                data: b"ping",
            },
            Icmpv6Repr::EchoReply {
                ident: 7,
                seq_no: 9,
                data: b"",
            },
            Icmpv6Repr::DstUnreachable {
                code: unreachable::PORT,
                data: &[0x60; 48],
            },
            Icmpv6Repr::PacketTooBig {
                mtu: 1280,
                data: &[1; 40],
            },
            Icmpv6Repr::TimeExceeded {
                code: time_exceeded::HOP_LIMIT,
                data: &[2; 40],
            },
            Icmpv6Repr::ParamProblem {
                code: 1,
                pointer: 40,
                data: &[3; 48],
            },
            Icmpv6Repr::NeighborSolicit {
                target: dst,
                options: &[],
            },
            Icmpv6Repr::NeighborAdvert {
                flags: na_flags::SOLICITED | na_flags::OVERRIDE,
                target: src,
                options: &opt,
            },
            Icmpv6Repr::Other {
                msg_type: 134,
                code: 0,
                rest: [64, 0, 7, 8],
                data: &[0; 8],
            },
            Icmpv6Repr::Other {
                msg_type: 1,
                code: 0,
                rest: [0, 0, 0, 1],
                data: &[],
            },
        ];
        for repr in reprs {
            let mut buf = [0u8; 128];
            let len = repr.buffer_len();
            repr.emit(src, dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..len]))
                .unwrap();
            let p = Icmpv6Packet::new_checked(&buf[..len]).unwrap();
            assert!(p.verify_checksum(src, dst), "{repr:?}");
            assert_eq!(Icmpv6Repr::parse(&p).unwrap(), repr);
        }
    }

    #[test]
    fn garbage_options_do_not_panic() {
        assert_eq!(find_link_addr_option(&[1, 0, 1, 2], 1), None);
        assert_eq!(find_link_addr_option(&[1, 2, 0, 0, 0, 0, 0, 0], 1), None);
        assert_eq!(find_link_addr_option(&[1], 1), None);
    }

    #[test]
    fn address_update() {
        let (src, dst, new) = (addr("fe80::2"), addr("ff02::1"), addr("2001:db8::99"));
        let mut bytes = solicitation();
        let mut p = Icmpv6Packet::new_checked(&mut bytes[..]).unwrap();
        p.fill_checksum(src, dst);
        p.update_checksum_for_addr(src, new);
        assert!(p.verify_checksum(new, dst));
    }
}
