//! ICMP for IPv4 (RFC 792).
//!
//! Invariant of a checked [`Icmpv4Packet`]: at least the 8-byte header
//! (type, code, checksum, and 4 type-specific bytes). The message is the
//! whole buffer, which must be trimmed to the IPv4 payload; for error
//! messages [`Icmpv4Packet::payload`] is the quoted original datagram.
//! The checksum covers the message only (no pseudo-header).

use crate::bytes::{read_array, read_u16, truncated, write_u16};
use crate::checksum;
use crate::{Error, Extent, Header};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const REST: usize = 4;
    pub const IDENT: usize = 4;
    pub const SEQ: usize = 6;
    pub const MTU: usize = 6;
}

/// Length of the ICMP header (including the 4 type-specific bytes).
pub const HEADER_LEN: usize = 8;

/// Destination Unreachable codes (RFC 792, RFC 1812).
pub mod unreachable {
    /// Net unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (carries the next-hop MTU).
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited (a firewall said no).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Time Exceeded codes.
pub mod time_exceeded {
    /// TTL reached zero in transit.
    pub const TTL: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const REASSEMBLY: u8 = 1;
}

/// ICMPv4 message type. Unknown values round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Message {
    /// 0.
    EchoReply,
    /// 3.
    DstUnreachable,
    /// 5.
    Redirect,
    /// 8.
    EchoRequest,
    /// 9.
    RouterAdvert,
    /// 10.
    RouterSolicit,
    /// 11.
    TimeExceeded,
    /// 12.
    ParamProblem,
    /// 13.
    Timestamp,
    /// 14.
    TimestampReply,
    /// Anything else.
    Unknown(u8),
}

impl Icmpv4Message {
    /// An error message, which quotes the datagram that caused it (and must
    /// never be sent in answer to another error).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Icmpv4Message::DstUnreachable
                | Icmpv4Message::Redirect
                | Icmpv4Message::TimeExceeded
                | Icmpv4Message::ParamProblem
        )
    }
}

impl From<u8> for Icmpv4Message {
    fn from(value: u8) -> Self {
        match value {
            0 => Icmpv4Message::EchoReply,
            3 => Icmpv4Message::DstUnreachable,
            5 => Icmpv4Message::Redirect,
            8 => Icmpv4Message::EchoRequest,
            9 => Icmpv4Message::RouterAdvert,
            10 => Icmpv4Message::RouterSolicit,
            11 => Icmpv4Message::TimeExceeded,
            12 => Icmpv4Message::ParamProblem,
            13 => Icmpv4Message::Timestamp,
            14 => Icmpv4Message::TimestampReply,
            other => Icmpv4Message::Unknown(other),
        }
    }
}

impl From<Icmpv4Message> for u8 {
    fn from(value: Icmpv4Message) -> Self {
        match value {
            Icmpv4Message::EchoReply => 0,
            Icmpv4Message::DstUnreachable => 3,
            Icmpv4Message::Redirect => 5,
            Icmpv4Message::EchoRequest => 8,
            Icmpv4Message::RouterAdvert => 9,
            Icmpv4Message::RouterSolicit => 10,
            Icmpv4Message::TimeExceeded => 11,
            Icmpv4Message::ParamProblem => 12,
            Icmpv4Message::Timestamp => 13,
            Icmpv4Message::TimestampReply => 14,
            Icmpv4Message::Unknown(other) => other,
        }
    }
}

/// Marker for ICMPv4; its view is [`Icmpv4Packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Icmpv4;

impl Header for Icmpv4 {
    const NAME: &'static str = "icmpv4";
    type View<T: AsRef<[u8]>> = Icmpv4Packet<T>;

    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < HEADER_LEN {
            return Err(truncated(Self::NAME, HEADER_LEN, buf.len()));
        }
        Ok(Extent {
            header_len: HEADER_LEN,
            end: buf.len(),
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> Icmpv4Packet<T> {
        Icmpv4Packet::new_unchecked(buf)
    }
}

/// A view over an ICMPv4 message.
#[derive(Debug, Clone, Copy)]
pub struct Icmpv4Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without checking; accessors may panic if it is shorter
    /// than 8 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps `buffer` after [`Icmpv4::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Icmpv4::check(buffer.as_ref())?;
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
    pub fn msg_type(&self) -> Icmpv4Message {
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

    /// The 4 type-specific header bytes ("rest of header").
    pub fn rest_of_header(&self) -> [u8; 4] {
        read_array(self.buffer.as_ref(), field::REST)
    }

    /// Echo identifier (echo request/reply).
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Echo sequence number (echo request/reply).
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SEQ)
    }

    /// Next-hop MTU (Destination Unreachable, fragmentation needed).
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::MTU)
    }

    /// Data after the header: echo data, or for errors the quoted IP header
    /// and first bytes of the offending datagram.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Checks the checksum over the whole message.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, msg_type: Icmpv4Message) {
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

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, seq: u16) {
        write_u16(self.buffer.as_mut(), field::SEQ, seq);
    }

    /// Data after the header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes and writes the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let csum = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(csum);
    }

    /// Sets the echo identifier and patches the checksum (ICMP NAT).
    pub fn update_echo_ident(&mut self, ident: u16) {
        let old = self.echo_ident();
        self.set_echo_ident(ident);
        self.set_checksum(checksum::update16(self.checksum(), old, ident));
    }
}

/// An ICMPv4 message: the kinds NFs build and answer, and everything else
/// as `Other` (which round-trips). `data` is echo data or the quoted
/// datagram. `parse` does not verify the checksum; `emit` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    /// Echo request (ping).
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
    /// Destination unreachable; see [`unreachable`](mod@unreachable) for codes.
    DstUnreachable {
        /// Code.
        code: u8,
        /// Next-hop MTU (code 4), else 0.
        next_hop_mtu: u16,
        /// Quoted datagram.
        data: &'a [u8],
    },
    /// Time exceeded; see [`time_exceeded`] for codes.
    TimeExceeded {
        /// Code.
        code: u8,
        /// Quoted datagram.
        data: &'a [u8],
    },
    /// Any other message, kept as raw fields.
    Other {
        /// Type (never one of the kinds above).
        msg_type: u8,
        /// Code.
        code: u8,
        /// The 4 type-specific header bytes.
        rest: [u8; 4],
        /// Data after the header.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a message, checking it first. Reserved bytes that are not zero
    /// make the message `Other`, so nothing is lost.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Icmpv4Packet<&'a T>) -> Result<Self, Error> {
        let bytes: &'a [u8] = packet.buffer.as_ref();
        Icmpv4::check(bytes)?;
        let code = packet.code();
        let rest = packet.rest_of_header();
        let data = &bytes[HEADER_LEN..];
        let ident = packet.echo_ident();
        let seq_no = packet.echo_seq_no();
        Ok(match (packet.msg_type(), code, rest) {
            (Icmpv4Message::EchoRequest, 0, _) => Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            },
            (Icmpv4Message::EchoReply, 0, _) => Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            },
            (Icmpv4Message::DstUnreachable, _, [0, 0, _, _]) => Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu: packet.next_hop_mtu(),
                data,
            },
            (Icmpv4Message::TimeExceeded, _, [0, 0, 0, 0]) => {
                Icmpv4Repr::TimeExceeded { code, data }
            }
            (msg_type, code, rest) => Icmpv4Repr::Other {
                msg_type: msg_type.into(),
                code,
                rest,
                data,
            },
        })
    }

    fn fields(&self) -> (u8, u8, [u8; 4], &'a [u8]) {
        let pair = |a: u16, b: u16| {
            let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
            [a[0], a[1], b[0], b[1]]
        };
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (8, 0, pair(ident, seq_no), data),
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (0, 0, pair(ident, seq_no), data),
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                data,
            } => (3, code, pair(0, next_hop_mtu), data),
            Icmpv4Repr::TimeExceeded { code, data } => (11, code, [0; 4], data),
            Icmpv4Repr::Other {
                msg_type,
                code,
                rest,
                data,
            } => (msg_type, code, rest, data),
        }
    }

    /// Length of the header (8).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus data.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.fields().3.len()
    }

    /// Writes header, data and checksum at the start of `packet` (whose
    /// buffer should be exactly [`Icmpv4Repr::buffer_len`] long, as the
    /// checksum covers all of it).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Icmpv4Packet<T>,
    ) -> Result<(), Error> {
        let (msg_type, code, rest, data) = self.fields();
        crate::bytes::ensure_room(packet.as_bytes(), HEADER_LEN + data.len())?;
        packet.set_msg_type(msg_type.into());
        packet.set_code(code);
        packet.set_rest_of_header(rest);
        packet.payload_mut()[..data.len()].copy_from_slice(data);
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Echo request id 0x1c46 seq 1 with data "aaaaaaaa" (as `ping -p 61 -s 8`
    // sends), checksum field zero; its checksum, by hand: 0800 + 1c46 +
    // 0001 + 4 * 6161 = 1_a9cb, folded a9cc, complemented 5633.
    const PING: [u8; 16] = [
        0x08, 0x00, 0x00, 0x00, 0x1c, 0x46, 0x00, 0x01, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61, 0x61,
        0x61,
    ];

    fn ping() -> [u8; 16] {
        let mut p = PING;
        let c = checksum::checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn parse_echo() {
        let bytes = ping();
        assert_eq!(&bytes[2..4], &[0x56, 0x33]);
        let p = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.msg_type(), Icmpv4Message::EchoRequest);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (0x1c46, 1));
        assert_eq!(
            Icmpv4Repr::parse(&p).unwrap(),
            Icmpv4Repr::EchoRequest {
                ident: 0x1c46,
                seq_no: 1,
                data: b"aaaaaaaa"
            }
        );
        for len in 0..8 {
            assert!(Icmpv4::check(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn reprs_round_trip() {
        let quoted = [
            0x45, 0, 0, 28, 0, 0, 0, 0, 1, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 2, 3, 4, 0, 8, 0,
            0,
        ];
        let reprs = [
            Icmpv4Repr::EchoReply {
                ident: 1,
                seq_no: 2,
                data: b"xyz",
            },
            Icmpv4Repr::DstUnreachable {
                code: unreachable::FRAG_NEEDED,
                next_hop_mtu: 1400,
                data: &quoted,
            },
            Icmpv4Repr::TimeExceeded {
                code: time_exceeded::TTL,
                data: &quoted,
            },
            Icmpv4Repr::Other {
                msg_type: 5,
                code: 1,
                rest: [10, 0, 0, 254],
                data: &quoted,
            },
            Icmpv4Repr::Other {
                msg_type: 3,
                code: 1,
                rest: [1, 0, 0, 0],
                data: &[],
            },
            Icmpv4Repr::Other {
                msg_type: 200,
                code: 9,
                rest: [1, 2, 3, 4],
                data: b"?",
            },
        ];
        for repr in reprs {
            let mut buf = [0u8; 64];
            let len = repr.buffer_len();
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..len]))
                .unwrap();
            let p = Icmpv4Packet::new_checked(&buf[..len]).unwrap();
            assert!(p.verify_checksum());
            assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
        }
    }

    #[test]
    fn ident_update() {
        let mut bytes = ping();
        let mut p = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        p.update_echo_ident(0xffff);
        assert!(p.verify_checksum());
    }
}
