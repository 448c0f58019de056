//! Whole-packet builder: headers, lengths and checksums from a few
//! parameters, written into a caller's buffer without allocating.
//!
//! The stages are types, so only sensible stacks compile:
//!
//! ```
//! use netfn_wire::{MacAddr, PacketBuilder};
//! use std::net::Ipv4Addr;
//!
//! let template = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr::BROADCAST)
//!     .ipv4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 64)
//!     .ident(7)
//!     .udp(1234, 53);
//! let mut buf = [0u8; 128];
//! let len = template.write(&mut buf, b"hello").unwrap();
//! assert_eq!(len, template.size(5));
//! assert_eq!(len, 14 + 20 + 8 + 5);
//! ```
//!
//! A [`PacketTemplate`] is `Copy` and small: build it once, then
//! [`PacketTemplate::write`] it per packet (or
//! [`PacketTemplate::write_in_place`] when the payload is already in the
//! buffer, as for an ICMP error quoting the packet it answers).
//! Every length field and checksum is computed at write time.

use std::net::{IpAddr, Ipv4Addr};

use crate::bytes::{ensure_room, malformed};
use crate::ethernet::{self, EtherType, EthernetFrame, EthernetRepr, MacAddr};
use crate::ipv4::{self, IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::tcp::{self, TcpFlags, TcpOption, TcpPacket, TcpRepr};
use crate::udp::{self, UdpPacket, UdpRepr};
use crate::{Error, Header};

/// Entry point: pick the outermost header.
#[derive(Debug, Clone, Copy)]
pub struct PacketBuilder;

impl PacketBuilder {
    /// Starts an Ethernet II frame.
    pub fn ethernet(src: MacAddr, dst: MacAddr) -> EthernetBuilder {
        EthernetBuilder {
            link: Link { src, dst },
        }
    }

    /// Starts a bare IPv4 packet (no link layer, for TUN-like ports).
    pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Ipv4Builder {
        Ipv4Builder::new(None, src, dst, ttl)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    src: MacAddr,
    dst: MacAddr,
}

impl Link {
    fn len(&self) -> usize {
        ethernet::HEADER_LEN
    }

    fn emit(&self, buf: &mut [u8], ethertype: EtherType) {
        let repr = EthernetRepr {
            src_addr: self.src,
            dst_addr: self.dst,
            ethertype,
        };
        repr.emit(&mut EthernetFrame::new_unchecked(buf));
    }
}

/// An Ethernet frame being built: add VLAN tags, then pick the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetBuilder {
    link: Link,
}

impl EthernetBuilder {
    /// IPv4 over this frame.
    pub fn ipv4(self, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Ipv4Builder {
        Ipv4Builder::new(Some(self.link), src, dst, ttl)
    }

    /// Opaque payload of `ethertype` (the payload passed to `write`).
    pub fn ethertype(self, ethertype: EtherType) -> PacketTemplate {
        PacketTemplate {
            link: Some(self.link),
            net: Net::Raw(ethertype),
            top: Top::Raw,
        }
    }
}

/// An IPv4 header being built: set optional fields, then pick the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Builder {
    link: Option<Link>,
    ip: Ipv4Repr,
}

impl Ipv4Builder {
    fn new(link: Option<Link>, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Self {
        Ipv4Builder {
            link,
            ip: Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                protocol: IpProtocol::Unknown(255),
                payload_len: 0,
                ttl,
                dscp: 0,
                ecn: 0,
                ident: 0,
                dont_frag: false,
                more_frags: false,
                frag_offset: 0,
            },
        }
    }

    /// Identification field (default 0).
    pub fn ident(mut self, ident: u16) -> Self {
        self.ip.ident = ident;
        self
    }

    /// DSCP, 6 bits (default 0).
    pub fn dscp(mut self, dscp: u8) -> Self {
        self.ip.dscp = dscp & 0x3f;
        self
    }

    /// ECN, 2 bits (default 0).
    pub fn ecn(mut self, ecn: u8) -> Self {
        self.ip.ecn = ecn & 0x03;
        self
    }

    /// Don't Fragment flag (default clear).
    pub fn dont_frag(mut self, on: bool) -> Self {
        self.ip.dont_frag = on;
        self
    }

    fn finish(mut self, protocol: IpProtocol, top: Top) -> PacketTemplate {
        self.ip.protocol = protocol;
        PacketTemplate {
            link: self.link,
            net: Net::Ipv4(self.ip),
            top,
        }
    }

    /// UDP over this packet.
    pub fn udp(self, src_port: u16, dst_port: u16) -> PacketTemplate {
        self.finish(IpProtocol::Udp, Top::Udp { src_port, dst_port })
    }

    /// TCP (no options) over this packet.
    pub fn tcp(
        self,
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
    ) -> PacketTemplate {
        self.finish(
            IpProtocol::Tcp,
            Top::Tcp(TcpHeader::new(src_port, dst_port, seq, ack, flags, window)),
        )
    }

    /// TCP with options (at most 40 bytes once encoded).
    #[allow(clippy::too_many_arguments)] // mirrors the header fields
    pub fn tcp_with_options(
        self,
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
        options: &[TcpOption<'_>],
    ) -> Result<PacketTemplate, Error> {
        let mut tcp = TcpHeader::new(src_port, dst_port, seq, ack, flags, window);
        tcp.set_options(options)?;
        Ok(self.finish(IpProtocol::Tcp, Top::Tcp(tcp)))
    }

    /// Opaque payload of `protocol` (the payload passed to `write`).
    pub fn protocol(self, protocol: IpProtocol) -> PacketTemplate {
        self.finish(protocol, Top::Raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    /// No IP layer: an opaque payload of this EtherType.
    Raw(EtherType),
    Ipv4(Ipv4Repr),
}

/// TCP header fields with inline option storage (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TcpHeader {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: [u8; tcp::MAX_HEADER_LEN - tcp::HEADER_LEN],
    options_len: u8,
}

impl TcpHeader {
    fn new(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: TcpFlags, window: u16) -> Self {
        TcpHeader {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            options: [0; 40],
            options_len: 0,
        }
    }

    fn set_options(&mut self, options: &[TcpOption<'_>]) -> Result<(), Error> {
        let mut at = 0;
        for option in options {
            at += option
                .emit(&mut self.options[at..])
                .map_err(|_| malformed(tcp::Tcp::NAME, "options longer than 40 bytes"))?;
        }
        self.options_len = at as u8;
        Ok(())
    }

    fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq_number: self.seq,
            ack_number: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: &self.options[..usize::from(self.options_len)],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Top {
    /// The payload is all there is above the network layer.
    Raw,
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    Tcp(TcpHeader),
}

/// A complete description of a packet's headers. Write it with a payload
/// as many times as needed; nothing allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketTemplate {
    link: Option<Link>,
    net: Net,
    top: Top,
}

impl PacketTemplate {
    fn link_len(&self) -> usize {
        self.link.map_or(0, |l| l.len())
    }

    fn net_len(&self) -> usize {
        match self.net {
            Net::Raw(_) => 0,
            Net::Ipv4(_) => ipv4::HEADER_LEN,
        }
    }

    fn top_len(&self) -> usize {
        match &self.top {
            Top::Raw => 0,
            Top::Udp { .. } => udp::HEADER_LEN,
            Top::Tcp(t) => t.repr().header_len(),
        }
    }

    /// Length of all headers (where the payload starts).
    pub fn header_len(&self) -> usize {
        self.link_len() + self.net_len() + self.top_len()
    }

    /// Length of the packet with `payload_len` bytes of payload.
    pub fn size(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// Copies `payload` after the headers, writes the headers, and returns
    /// the packet length.
    pub fn write(&self, buf: &mut [u8], payload: &[u8]) -> Result<usize, Error> {
        let start = self.header_len();
        ensure_room(buf, start + payload.len())?;
        buf[start..start + payload.len()].copy_from_slice(payload);
        self.write_in_place(buf, payload.len())
    }

    /// Writes the headers in front of a payload already at
    /// `buf[self.header_len()..][..payload_len]`; returns the packet length.
    pub fn write_in_place(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, Error> {
        let total = self.size(payload_len);
        ensure_room(buf, total)?;
        let buf = &mut buf[..total];
        let link_len = self.link_len();
        let (link_buf, rest) = buf.split_at_mut(link_len);
        if let Some(link) = &self.link {
            let ethertype = match self.net {
                Net::Raw(ethertype) => ethertype,
                Net::Ipv4(_) => EtherType::Ipv4,
            };
            link.emit(link_buf, ethertype);
        }
        let net_len = self.net_len();
        let upper_len = rest.len() - net_len;
        let (net_buf, upper) = rest.split_at_mut(net_len);
        let (src, dst): (IpAddr, IpAddr) = match self.net {
            Net::Raw(_) => {
                // Nothing to checksum against: only raw payloads get here.
                return Ok(total);
            }
            Net::Ipv4(mut ip) => {
                ip.payload_len = u16::try_from(upper_len)
                    .map_err(|_| malformed(ipv4::Ipv4::NAME, "packet longer than 65535 bytes"))?;
                ip.emit(&mut Ipv4Packet::new_unchecked(&mut *net_buf))?;
                (ip.src_addr.into(), ip.dst_addr.into())
            }
        };
        match &self.top {
            Top::Raw => {}
            Top::Udp { src_port, dst_port } => {
                let repr = UdpRepr {
                    src_port: *src_port,
                    dst_port: *dst_port,
                    payload_len: (upper_len - udp::HEADER_LEN) as u16,
                };
                let mut packet = UdpPacket::new_unchecked(&mut *upper);
                repr.emit(&mut packet)?;
                packet.fill_checksum(src, dst);
            }
            Top::Tcp(t) => {
                let mut packet = TcpPacket::new_unchecked(&mut *upper);
                t.repr().emit(&mut packet)?;
                packet.fill_checksum(src, dst);
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetHeaders, PacketHeaders, TransportHeader};

    const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xaa]);
    const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xbb]);
    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    #[test]
    fn ethernet_ipv4_udp_agrees_with_etherparse() {
        let template = PacketBuilder::ethernet(A, B)
            .ipv4(SRC, DST, 33)
            .ident(0x1234)
            .dscp(10)
            .dont_frag(true)
            .udp(4000, 53);
        let mut buf = [0u8; 64];
        let len = template.write(&mut buf, b"payload").unwrap();
        assert_eq!(len, 14 + 20 + 8 + 7);
        let headers = PacketHeaders::from_ethernet_slice(&buf[..len]).unwrap();
        let eth = headers.link.unwrap().ethernet2().unwrap();
        assert_eq!((eth.source, eth.destination), (A.0, B.0));
        let Some(NetHeaders::Ipv4(ip, _)) = headers.net else {
            panic!("not ipv4")
        };
        assert_eq!(ip.identification, 0x1234);
        assert_eq!(ip.time_to_live, 33);
        assert!(ip.dont_fragment);
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        let Some(TransportHeader::Udp(udp)) = headers.transport else {
            panic!("not udp")
        };
        assert_eq!(
            (udp.source_port, udp.destination_port, udp.length),
            (4000, 53, 15)
        );
        assert_eq!(
            udp.checksum,
            udp.calc_checksum_ipv4(&ip, b"payload").unwrap()
        );
        assert_eq!(headers.payload.slice(), b"payload");
    }

    #[test]
    fn ethernet_ipv4_tcp_with_options() {
        let template = PacketBuilder::ethernet(A, B)
            .ipv4(SRC, DST, 64)
            .tcp_with_options(
                1,
                2,
                3,
                4,
                TcpFlags::SYN,
                5,
                &[TcpOption::MaxSegmentSize(1460), TcpOption::WindowScale(7)],
            )
            .unwrap();
        let mut buf = [0u8; 128];
        let len = template.write(&mut buf, &[9; 10]).unwrap();
        assert_eq!(len, 14 + 20 + 28 + 10);
        let headers = PacketHeaders::from_ethernet_slice(&buf[..len]).unwrap();
        let Some(NetHeaders::Ipv4(ip, _)) = headers.net else {
            panic!("not ipv4")
        };
        let Some(TransportHeader::Tcp(tcp)) = headers.transport else {
            panic!("not tcp")
        };
        assert!(tcp.syn && !tcp.ack);
        assert_eq!(
            (
                tcp.sequence_number,
                tcp.acknowledgment_number,
                tcp.window_size
            ),
            (3, 4, 5)
        );
        assert_eq!(tcp.checksum, tcp.calc_checksum_ipv4(&ip, &[9; 10]).unwrap());
    }

    #[test]
    fn too_small_and_too_long() {
        let template = PacketBuilder::ipv4(SRC, DST, 1).udp(1, 2);
        assert_eq!(template.size(0), 28);
        let mut buf = [0u8; 27];
        assert_eq!(
            template.write(&mut buf, &[]),
            Err(Error::BufferTooSmall {
                needed: 28,
                available: 27
            })
        );
        let mut big = vec![0u8; 70_000];
        assert!(matches!(
            template.write_in_place(&mut big, 65_508),
            Err(Error::Malformed { .. })
        ));
        assert_eq!(template.write_in_place(&mut big, 65_507), Ok(65_535));
    }

    #[test]
    fn raw_ethertype() {
        let template = PacketBuilder::ethernet(A, B).ethertype(EtherType::Unknown(0x88b5));
        let mut buf = [0u8; 20];
        assert_eq!(template.write(&mut buf, &[1, 2]).unwrap(), 16);
        assert_eq!(&buf[12..16], &[0x88, 0xb5, 1, 2]);
    }
}
