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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::arp::{self, ArpPacket, ArpRepr};
use crate::bytes::{ensure_room, malformed};
use crate::ethernet::{self, EtherType, EthernetFrame, EthernetRepr, MacAddr};
use crate::gre::{GrePacket, GreRepr};
use crate::icmpv4::{self, Icmpv4Packet};
use crate::icmpv6::{self, Icmpv6Packet};
use crate::ipv4::{self, IpProtocol, Ipv4Packet, Ipv4Repr};
use crate::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::tcp::{self, TcpFlags, TcpOption, TcpPacket, TcpRepr};
use crate::udp::{self, UdpPacket, UdpRepr};
use crate::vlan::{self, VlanRepr, VlanTag};
use crate::vxlan::{self, VxlanPacket, VxlanRepr};
use crate::{Error, Header};

/// Most VLAN tags a builder stacks (QinQ plus headroom for odd setups).
pub const MAX_VLAN_TAGS: usize = 4;

/// Entry point: pick the outermost header.
#[derive(Debug, Clone, Copy)]
pub struct PacketBuilder;

impl PacketBuilder {
    /// Starts an Ethernet II frame.
    pub fn ethernet(src: MacAddr, dst: MacAddr) -> EthernetBuilder {
        EthernetBuilder {
            link: Link {
                src,
                dst,
                tags: [(EtherType::Vlan, 0); MAX_VLAN_TAGS],
                n_tags: 0,
            },
        }
    }

    /// Starts a bare IPv4 packet (no link layer, for TUN-like ports).
    pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Ipv4Builder {
        Ipv4Builder::new(None, src, dst, ttl)
    }

    /// Starts a bare IPv6 packet (no link layer).
    pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Ipv6Builder {
        Ipv6Builder::new(None, src, dst, hop_limit)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    src: MacAddr,
    dst: MacAddr,
    /// (TPID, TCI) of each tag, outermost first.
    tags: [(EtherType, u16); MAX_VLAN_TAGS],
    n_tags: u8,
}

impl Link {
    fn tags(&self) -> &[(EtherType, u16)] {
        &self.tags[..usize::from(self.n_tags)]
    }

    fn len(&self) -> usize {
        ethernet::HEADER_LEN + self.tags().len() * vlan::HEADER_LEN
    }

    /// Writes the Ethernet header and tags; `ethertype` is the payload's.
    fn emit(&self, buf: &mut [u8], ethertype: EtherType) {
        let tags = self.tags();
        let first = tags.first().map_or(ethertype, |&(tpid, _)| tpid);
        let repr = EthernetRepr {
            src_addr: self.src,
            dst_addr: self.dst,
            ethertype: first,
        };
        // The caller sized `buf` with `len()`, so this cannot fail.
        let _ = repr.emit(&mut EthernetFrame::new_unchecked(&mut *buf));
        let mut at = ethernet::HEADER_LEN;
        for (i, &(_, tci)) in tags.iter().enumerate() {
            let inner = tags.get(i + 1).map_or(ethertype, |&(tpid, _)| tpid);
            let mut tag = VlanTag::new_unchecked(&mut buf[at..at + vlan::HEADER_LEN]);
            tag.set_tci(tci);
            tag.set_ethertype(inner);
            at += vlan::HEADER_LEN;
        }
    }
}

/// An Ethernet frame being built: add VLAN tags, then pick the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetBuilder {
    link: Link,
}

impl EthernetBuilder {
    /// Adds an 802.1Q tag (TPID 0x8100) with priority 0 inside the tags
    /// already added. Fails for a VID above 4095 or more than
    /// [`MAX_VLAN_TAGS`] tags.
    pub fn vlan(self, vid: u16) -> Result<Self, Error> {
        self.vlan_tag(EtherType::Vlan, 0, false, vid)
    }

    /// Adds a tag with an explicit TPID (`QinQ` for an 802.1ad service
    /// tag), priority and drop-eligible bit.
    pub fn vlan_tag(
        mut self,
        tpid: EtherType,
        pcp: u8,
        dei: bool,
        vid: u16,
    ) -> Result<Self, Error> {
        let tci = VlanRepr {
            pcp,
            dei,
            vid,
            ethertype: tpid,
        }
        .tci()?;
        let n = usize::from(self.link.n_tags);
        if n == MAX_VLAN_TAGS {
            return Err(malformed(vlan::Vlan::NAME, "too many VLAN tags"));
        }
        self.link.tags[n] = (tpid, tci);
        self.link.n_tags += 1;
        Ok(self)
    }

    /// IPv4 over this frame.
    pub fn ipv4(self, src: Ipv4Addr, dst: Ipv4Addr, ttl: u8) -> Ipv4Builder {
        Ipv4Builder::new(Some(self.link), src, dst, ttl)
    }

    /// IPv6 over this frame.
    pub fn ipv6(self, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Ipv6Builder {
        Ipv6Builder::new(Some(self.link), src, dst, hop_limit)
    }

    /// An ARP packet (the payload passed to `write` should be empty).
    pub fn arp(self, repr: ArpRepr) -> PacketTemplate {
        PacketTemplate {
            link: Some(self.link),
            net: Net::Arp(repr),
            top: Top::Raw,
        }
    }

    /// ARP request "who has `target_ip`", from this frame's source MAC.
    pub fn arp_request(self, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> PacketTemplate {
        let src = self.link.src;
        self.arp(ArpRepr::request(src, sender_ip, target_ip))
    }

    /// ARP reply "`sender_ip` is at this frame's source MAC", to
    /// `target_mac`/`target_ip`.
    pub fn arp_reply(
        self,
        sender_ip: Ipv4Addr,
        target_mac: MacAddr,
        target_ip: Ipv4Addr,
    ) -> PacketTemplate {
        let repr = ArpRepr {
            operation: arp::ArpOperation::Reply,
            sender_mac: self.link.src,
            sender_ip,
            target_mac,
            target_ip,
        };
        self.arp(repr)
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

/// Builders for TCP and UDP, shared by the IPv4 and IPv6 stages.
macro_rules! transport_methods {
    () => {
        /// UDP over this packet.
        pub fn udp(self, src_port: u16, dst_port: u16) -> PacketTemplate {
            self.finish(IpProtocol::Udp, Top::Udp { src_port, dst_port })
        }

        /// TCP (no options, urgent pointer 0) over this packet.
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

        /// TCP with options (at most 40 bytes once encoded; padded with
        /// End of List to a multiple of 4).
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

        /// UDP to port 4789 and a VXLAN header (RFC 7348); the payload is
        /// the inner Ethernet frame. The UDP checksum is zero over IPv4
        /// (RFC 7348 §5.1 says it SHOULD be) and computed over IPv6, where
        /// it is mandatory. Fails for a VNI above 2^24 - 1.
        pub fn vxlan(self, src_port: u16, vni: u32) -> Result<PacketTemplate, Error> {
            if vni > vxlan::MAX_VNI {
                return Err(malformed(vxlan::Vxlan::NAME, "VNI above 2^24 - 1"));
            }
            Ok(self.finish(IpProtocol::Udp, Top::Vxlan { src_port, vni }))
        }

        /// A GRE header (RFC 2784/2890) with the optional fields of `repr`;
        /// the payload is of `repr.protocol`. The GRE checksum (if `repr`
        /// asks for one) is computed over header and payload.
        pub fn gre(self, repr: GreRepr) -> PacketTemplate {
            self.finish(IpProtocol::Gre, Top::Gre(repr))
        }
    };
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

    transport_methods!();

    fn icmp(self, msg_type: u8, code: u8, rest: [u8; 4]) -> PacketTemplate {
        let mut header = [0u8; icmpv4::HEADER_LEN];
        header[0] = msg_type;
        header[1] = code;
        header[4..].copy_from_slice(&rest);
        self.finish(IpProtocol::Icmp, Top::Icmpv4(header))
    }

    /// ICMP echo request (ping); the payload is the echo data.
    pub fn icmpv4_echo_request(self, ident: u16, seq_no: u16) -> PacketTemplate {
        self.icmp(8, 0, words(ident, seq_no))
    }

    /// ICMP echo reply; the payload is the echo data.
    pub fn icmpv4_echo_reply(self, ident: u16, seq_no: u16) -> PacketTemplate {
        self.icmp(0, 0, words(ident, seq_no))
    }

    /// ICMP destination unreachable (codes in [`icmpv4::unreachable`](mod@icmpv4::unreachable)); the
    /// payload is the quoted datagram. `next_hop_mtu` is for code 4.
    pub fn icmpv4_dst_unreachable(self, code: u8, next_hop_mtu: u16) -> PacketTemplate {
        self.icmp(3, code, words(0, next_hop_mtu))
    }

    /// ICMP time exceeded (codes in [`icmpv4::time_exceeded`]); the payload
    /// is the quoted datagram.
    pub fn icmpv4_time_exceeded(self, code: u8) -> PacketTemplate {
        self.icmp(11, code, [0; 4])
    }

    /// Any ICMP message, from raw header fields.
    pub fn icmpv4_raw(self, msg_type: u8, code: u8, rest: [u8; 4]) -> PacketTemplate {
        self.icmp(msg_type, code, rest)
    }
}

/// An IPv6 header being built: set optional fields, then pick the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Builder {
    link: Option<Link>,
    ip: Ipv6Repr,
}

impl Ipv6Builder {
    fn new(link: Option<Link>, src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8) -> Self {
        Ipv6Builder {
            link,
            ip: Ipv6Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: IpProtocol::Ipv6NoNext,
                payload_len: 0,
                hop_limit,
                traffic_class: 0,
                flow_label: 0,
            },
        }
    }

    /// Traffic class (default 0).
    pub fn traffic_class(mut self, traffic_class: u8) -> Self {
        self.ip.traffic_class = traffic_class;
        self
    }

    /// Flow label, 20 bits (default 0).
    pub fn flow_label(mut self, flow_label: u32) -> Self {
        self.ip.flow_label = flow_label & 0x000f_ffff;
        self
    }

    fn finish(mut self, next_header: IpProtocol, top: Top) -> PacketTemplate {
        self.ip.next_header = next_header;
        PacketTemplate {
            link: self.link,
            net: Net::Ipv6(self.ip),
            top,
        }
    }

    transport_methods!();

    fn icmp(self, msg_type: u8, code: u8, rest: [u8; 4]) -> PacketTemplate {
        let mut header = [0u8; ICMPV6_MAX_HEADER];
        header[0] = msg_type;
        header[1] = code;
        header[4..8].copy_from_slice(&rest);
        self.finish(
            IpProtocol::Icmpv6,
            Top::Icmpv6 {
                header,
                len: icmpv6::HEADER_LEN as u8,
            },
        )
    }

    fn neighbor(
        self,
        msg_type: u8,
        flags: u8,
        target: Ipv6Addr,
        option: Option<(u8, MacAddr)>,
    ) -> PacketTemplate {
        let mut header = [0u8; ICMPV6_MAX_HEADER];
        header[0] = msg_type;
        header[4] = flags;
        header[8..icmpv6::ND_LEN].copy_from_slice(&target.octets());
        let mut len = icmpv6::ND_LEN;
        if let Some((option_type, mac)) = option {
            // Cannot fail: the header array has room for one option.
            len += icmpv6::emit_link_addr_option(&mut header[len..], option_type, mac).unwrap_or(0);
        }
        self.finish(
            IpProtocol::Icmpv6,
            Top::Icmpv6 {
                header,
                len: len as u8,
            },
        )
    }

    /// ICMPv6 echo request; the payload is the echo data.
    pub fn icmpv6_echo_request(self, ident: u16, seq_no: u16) -> PacketTemplate {
        self.icmp(128, 0, words(ident, seq_no))
    }

    /// ICMPv6 echo reply; the payload is the echo data.
    pub fn icmpv6_echo_reply(self, ident: u16, seq_no: u16) -> PacketTemplate {
        self.icmp(129, 0, words(ident, seq_no))
    }

    /// ICMPv6 destination unreachable (codes in [`icmpv6::unreachable`](mod@icmpv6::unreachable));
    /// the payload is the quoted packet.
    pub fn icmpv6_dst_unreachable(self, code: u8) -> PacketTemplate {
        self.icmp(1, code, [0; 4])
    }

    /// ICMPv6 packet too big; the payload is the quoted packet.
    pub fn icmpv6_packet_too_big(self, mtu: u32) -> PacketTemplate {
        self.icmp(2, 0, mtu.to_be_bytes())
    }

    /// ICMPv6 time exceeded (codes in [`icmpv6::time_exceeded`]).
    pub fn icmpv6_time_exceeded(self, code: u8) -> PacketTemplate {
        self.icmp(3, code, [0; 4])
    }

    /// ICMPv6 parameter problem pointing at byte `pointer`.
    pub fn icmpv6_param_problem(self, code: u8, pointer: u32) -> PacketTemplate {
        self.icmp(4, code, pointer.to_be_bytes())
    }

    /// Neighbor solicitation for `target`, with a source link-layer address
    /// option when `source_mac` is given; the payload is further options.
    pub fn icmpv6_neighbor_solicit(
        self,
        target: Ipv6Addr,
        source_mac: Option<MacAddr>,
    ) -> PacketTemplate {
        let option = source_mac.map(|m| (icmpv6::nd_option::SOURCE_LINK_ADDR, m));
        self.neighbor(135, 0, target, option)
    }

    /// Neighbor advertisement for `target` with [`icmpv6::na_flags`] (only
    /// the R/S/O bits are kept), with a target link-layer address option
    /// when `target_mac` is given.
    pub fn icmpv6_neighbor_advert(
        self,
        flags: u8,
        target: Ipv6Addr,
        target_mac: Option<MacAddr>,
    ) -> PacketTemplate {
        let option = target_mac.map(|m| (icmpv6::nd_option::TARGET_LINK_ADDR, m));
        self.neighbor(136, flags & 0xe0, target, option)
    }

    /// Any ICMPv6 message, from raw header fields.
    pub fn icmpv6_raw(self, msg_type: u8, code: u8, rest: [u8; 4]) -> PacketTemplate {
        self.icmp(msg_type, code, rest)
    }
}

fn words(a: u16, b: u16) -> [u8; 4] {
    let (a, b) = (a.to_be_bytes(), b.to_be_bytes());
    [a[0], a[1], b[0], b[1]]
}

/// ND header (24) plus one link-layer address option (8).
const ICMPV6_MAX_HEADER: usize = icmpv6::ND_LEN + 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    /// No IP layer: an opaque payload of this EtherType.
    Raw(EtherType),
    Arp(ArpRepr),
    Ipv4(Ipv4Repr),
    Ipv6(Ipv6Repr),
}

impl Net {
    fn ethertype(&self) -> EtherType {
        match self {
            Net::Raw(ethertype) => *ethertype,
            Net::Arp(_) => EtherType::Arp,
            Net::Ipv4(_) => EtherType::Ipv4,
            Net::Ipv6(_) => EtherType::Ipv6,
        }
    }

    fn len(&self) -> usize {
        match self {
            Net::Raw(_) => 0,
            Net::Arp(_) => arp::ETHERNET_IPV4_LEN,
            Net::Ipv4(_) => ipv4::HEADER_LEN,
            Net::Ipv6(_) => ipv6::HEADER_LEN,
        }
    }
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
    /// Complete header, checksum zero.
    Icmpv4([u8; icmpv4::HEADER_LEN]),
    /// Header (and ND body and option) bytes, checksum zero.
    Icmpv6 {
        header: [u8; ICMPV6_MAX_HEADER],
        len: u8,
    },
    /// UDP to the VXLAN port, then a VXLAN header.
    Vxlan {
        src_port: u16,
        vni: u32,
    },
    Gre(GreRepr),
}

impl Top {
    fn len(&self) -> usize {
        match self {
            Top::Raw => 0,
            Top::Udp { .. } => udp::HEADER_LEN,
            Top::Tcp(t) => t.repr().header_len(),
            Top::Icmpv4(_) => icmpv4::HEADER_LEN,
            Top::Icmpv6 { len, .. } => usize::from(*len),
            Top::Vxlan { .. } => udp::HEADER_LEN + vxlan::HEADER_LEN,
            Top::Gre(repr) => repr.header_len(),
        }
    }
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
    /// Length of all headers (where the payload starts).
    pub fn header_len(&self) -> usize {
        self.link.map_or(0, |l| l.len()) + self.net.len() + self.top.len()
    }

    /// Length of the packet with `payload_len` bytes of payload.
    pub fn size(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// Changes the UDP or TCP source port (including VXLAN's, which varies
    /// with the inner flow); other templates are left alone.
    pub fn set_src_port(&mut self, port: u16) {
        match &mut self.top {
            Top::Udp { src_port, .. } | Top::Vxlan { src_port, .. } => *src_port = port,
            Top::Tcp(t) => t.src_port = port,
            _ => {}
        }
    }

    /// Changes the GRE sequence number (a no-op for templates without one).
    pub fn set_gre_sequence(&mut self, sequence: u32) {
        if let Top::Gre(GreRepr {
            sequence: Some(s), ..
        }) = &mut self.top
        {
            *s = sequence;
        }
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
    /// Fails (writing nothing) if `buf` is too small or a length field would
    /// overflow.
    pub fn write_in_place(&self, buf: &mut [u8], payload_len: usize) -> Result<usize, Error> {
        let total = self.size(payload_len);
        ensure_room(buf, total)?;
        let link_len = self.link.map_or(0, |l| l.len());
        let net_len = self.net.len();
        let upper_len = total - link_len - net_len;
        // Validate every length before writing anything.
        let ip_payload_len = match self.net {
            Net::Ipv4(_) => Some(upper_len + ipv4::HEADER_LEN),
            Net::Ipv6(_) => Some(upper_len),
            Net::Raw(_) | Net::Arp(_) => None,
        };
        if ip_payload_len.is_some_and(|l| l > usize::from(u16::MAX)) {
            return Err(malformed(
                "builder",
                "IP packet longer than its length field allows",
            ));
        }
        let buf = &mut buf[..total];
        let (link_buf, rest) = buf.split_at_mut(link_len);
        if let Some(link) = &self.link {
            link.emit(link_buf, self.net.ethertype());
        }
        let (net_buf, upper) = rest.split_at_mut(net_len);
        let (src, dst): (IpAddr, IpAddr) = match self.net {
            Net::Raw(_) => return Ok(total),
            Net::Arp(repr) => {
                repr.emit(&mut ArpPacket::new_unchecked(net_buf))?;
                return Ok(total);
            }
            Net::Ipv4(mut ip) => {
                ip.payload_len = upper_len as u16;
                ip.emit(&mut Ipv4Packet::new_unchecked(net_buf))?;
                (ip.src_addr.into(), ip.dst_addr.into())
            }
            Net::Ipv6(mut ip) => {
                ip.payload_len = upper_len as u16;
                ip.emit(&mut Ipv6Packet::new_unchecked(net_buf))?;
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
                let mut packet = UdpPacket::new_unchecked(upper);
                repr.emit(&mut packet)?;
                packet.fill_checksum(src, dst);
            }
            Top::Tcp(t) => {
                let mut packet = TcpPacket::new_unchecked(upper);
                t.repr().emit(&mut packet)?;
                packet.fill_checksum(src, dst);
            }
            Top::Icmpv4(header) => {
                upper[..header.len()].copy_from_slice(header);
                Icmpv4Packet::new_unchecked(upper).fill_checksum();
            }
            Top::Icmpv6 { header, len } => {
                let len = usize::from(*len);
                upper[..len].copy_from_slice(&header[..len]);
                if let (IpAddr::V6(src), IpAddr::V6(dst)) = (src, dst) {
                    Icmpv6Packet::new_unchecked(upper).fill_checksum(src, dst);
                }
            }
            Top::Vxlan { src_port, vni } => {
                let repr = UdpRepr {
                    src_port: *src_port,
                    dst_port: vxlan::UDP_PORT,
                    payload_len: (upper_len - udp::HEADER_LEN) as u16,
                };
                VxlanRepr { vni: *vni }.emit(&mut VxlanPacket::new_unchecked(
                    &mut upper[udp::HEADER_LEN..],
                ))?;
                let mut packet = UdpPacket::new_unchecked(upper);
                repr.emit(&mut packet)?;
                if src.is_ipv6() {
                    packet.fill_checksum(src, dst);
                }
            }
            Top::Gre(repr) => {
                let mut packet = GrePacket::new_unchecked(upper);
                repr.emit(&mut packet)?;
                packet.fill_checksum();
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
    fn vxlan_over_ipv4_and_ipv6_agrees_with_etherparse() {
        let inner = [0x5au8; 60];
        let mut t = PacketBuilder::ethernet(A, B)
            .ipv4(SRC, DST, 64)
            .dont_frag(true)
            .vxlan(1, 5000)
            .unwrap();
        t.set_src_port(50_000);
        let mut buf = [0u8; 256];
        let len = t.write(&mut buf, &inner).unwrap();
        assert_eq!(len, 14 + 20 + 8 + 8 + 60);
        let h = PacketHeaders::from_ethernet_slice(&buf[..len]).unwrap();
        let Some(NetHeaders::Ipv4(ip, _)) = h.net else {
            panic!("not ipv4")
        };
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        assert_eq!(usize::from(ip.total_len), len - 14);
        let Some(TransportHeader::Udp(udp)) = h.transport else {
            panic!("not udp")
        };
        assert_eq!(
            (udp.source_port, udp.destination_port, udp.checksum),
            (50_000, 4789, 0)
        );
        assert_eq!(&h.payload.slice()[..8], &[8, 0, 0, 0, 0, 0x13, 0x88, 0]);
        assert_eq!(&h.payload.slice()[8..], &inner);

        let (s6, d6): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let t = PacketBuilder::ethernet(A, B)
            .ipv6(s6, d6, 64)
            .vxlan(7, 1)
            .unwrap();
        let len = t.write(&mut buf, &inner).unwrap();
        let h = PacketHeaders::from_ethernet_slice(&buf[..len]).unwrap();
        let Some(NetHeaders::Ipv6(ip, _)) = h.net else {
            panic!("not ipv6")
        };
        let Some(TransportHeader::Udp(udp)) = h.transport else {
            panic!("not udp")
        };
        let payload = &buf[14 + 40 + 8..len];
        assert_eq!(udp.checksum, udp.calc_checksum_ipv6(&ip, payload).unwrap());
        assert!(PacketBuilder::ipv4(SRC, DST, 1).vxlan(1, 1 << 24).is_err());
    }

    #[test]
    fn gre_with_key_and_checksum_agrees_with_etherparse() {
        let mut t = PacketBuilder::ethernet(A, B)
            .ipv4(SRC, DST, 64)
            .gre(GreRepr {
                protocol: EtherType::Unknown(crate::gre::PROTOCOL_TEB),
                checksum: true,
                key: Some(0x0102_0304),
                sequence: Some(0),
            });
        t.set_gre_sequence(77);
        let mut buf = [0u8; 128];
        let len = t.write(&mut buf, &[1, 2, 3]).unwrap();
        assert_eq!(len, 14 + 20 + 16 + 3);
        let h = PacketHeaders::from_ethernet_slice(&buf[..len]).unwrap();
        let Some(NetHeaders::Ipv4(ip, _)) = h.net else {
            panic!("not ipv4")
        };
        assert_eq!(ip.protocol, etherparse::IpNumber::GRE);
        assert_eq!(ip.header_checksum, ip.calc_header_checksum());
        let gre = GrePacket::new_checked(&buf[34..len]).unwrap();
        assert_eq!((gre.key(), gre.sequence()), (Some(0x0102_0304), Some(77)));
        assert!(gre.verify_checksum());
        assert_eq!(gre.payload(), &[1, 2, 3]);
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
    fn qinq_ipv6_udp_agrees_with_etherparse() {
        let (s6, d6): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let template = PacketBuilder::ethernet(A, B)
            .vlan_tag(EtherType::QinQ, 5, true, 100)
            .unwrap()
            .vlan(200)
            .unwrap()
            .ipv6(s6, d6, 7)
            .traffic_class(0xb8)
            .flow_label(0x12345)
            .udp(546, 547);
        let mut buf = [0u8; 128];
        let len = template.write(&mut buf, b"dhcp").unwrap();
        assert_eq!(len, 14 + 8 + 40 + 8 + 4);
        assert_eq!(&buf[12..14], &[0x88, 0xa8]);
        let headers = PacketHeaders::from_ethernet_slice(&buf[..len]).unwrap();
        assert_eq!(headers.link_exts.len(), 2);
        let etherparse::LinkExtHeader::Vlan(outer) = &headers.link_exts[0] else {
            panic!()
        };
        let etherparse::LinkExtHeader::Vlan(inner) = &headers.link_exts[1] else {
            panic!()
        };
        assert_eq!(
            (
                outer.vlan_id.value(),
                outer.pcp.value(),
                outer.drop_eligible_indicator
            ),
            (100, 5, true)
        );
        assert_eq!(inner.vlan_id.value(), 200);
        let Some(NetHeaders::Ipv6(ip, _)) = headers.net else {
            panic!("not ipv6")
        };
        assert_eq!(
            (
                ip.traffic_class,
                ip.flow_label.value(),
                ip.hop_limit,
                ip.payload_length
            ),
            (0xb8, 0x12345, 7, 12)
        );
        let Some(TransportHeader::Udp(udp)) = headers.transport else {
            panic!("not udp")
        };
        assert_eq!(udp.checksum, udp.calc_checksum_ipv6(&ip, b"dhcp").unwrap());
        assert!(matches!(
            PacketBuilder::ethernet(A, B).vlan(4096),
            Err(Error::Malformed { header: "vlan", .. })
        ));
        let mut five = PacketBuilder::ethernet(A, B);
        for _ in 0..MAX_VLAN_TAGS {
            five = five.vlan(1).unwrap();
        }
        assert!(five.vlan(1).is_err());
    }

    #[test]
    fn icmp_checksums_agree_with_etherparse() {
        let mut buf = [0u8; 256];
        let len = PacketBuilder::ethernet(A, B)
            .ipv4(SRC, DST, 64)
            .icmpv4_echo_request(0x42, 7)
            .write(&mut buf, b"0123456789")
            .unwrap();
        let headers = PacketHeaders::from_ethernet_slice(&buf[..len]).unwrap();
        let Some(TransportHeader::Icmpv4(icmp)) = headers.transport else {
            panic!("not icmp")
        };
        let mut expected = icmp.clone();
        expected.update_checksum(b"0123456789");
        assert_eq!(icmp.checksum, expected.checksum);
        assert!(matches!(
            icmp.icmp_type,
            etherparse::Icmpv4Type::EchoRequest(etherparse::IcmpEchoHeader { id: 0x42, seq: 7 })
        ));

        let (s6, d6): (Ipv6Addr, Ipv6Addr) =
            ("fe80::1".parse().unwrap(), "fe80::2".parse().unwrap());
        for template in [
            PacketBuilder::ipv6(s6, d6, 64).icmpv6_echo_request(1, 2),
            PacketBuilder::ipv6(s6, d6, 64).icmpv6_packet_too_big(1280),
            PacketBuilder::ipv6(s6, d6, 255).icmpv6_neighbor_solicit(d6, Some(A)),
            PacketBuilder::ipv6(s6, d6, 255).icmpv6_neighbor_advert(0xe0, s6, Some(A)),
        ] {
            let len = template.write(&mut buf, b"data").unwrap();
            let headers = PacketHeaders::from_ip_slice(&buf[..len]).unwrap();
            let Some(TransportHeader::Icmpv6(icmp)) = headers.transport else {
                panic!("not icmpv6")
            };
            let mut expected = icmp.clone();
            expected
                .update_checksum(s6.octets(), d6.octets(), headers.payload.slice())
                .unwrap();
            assert_eq!(icmp.checksum, expected.checksum, "{template:?}");
            let ours = Icmpv6Packet::new_checked(&buf[40..len]).unwrap();
            assert!(ours.verify_checksum(s6, d6));
        }
    }

    #[test]
    fn icmp_error_in_place() {
        // An ICMP error quoting a packet already copied into place.
        let template = PacketBuilder::ethernet(A, B)
            .ipv4(DST, SRC, 64)
            .icmpv4_time_exceeded(crate::icmpv4::time_exceeded::TTL);
        let mut buf = [0u8; 128];
        let quoted = [0x45u8; 28];
        let at = template.header_len();
        buf[at..at + 28].copy_from_slice(&quoted);
        let len = template.write_in_place(&mut buf, 28).unwrap();
        let icmp = crate::Icmpv4Packet::new_checked(&buf[34..len]).unwrap();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.payload(), &quoted);
        let repr = crate::Icmpv4Repr::parse(&icmp).unwrap();
        assert_eq!(
            repr,
            crate::Icmpv4Repr::TimeExceeded {
                code: 0,
                data: &quoted
            }
        );
    }

    #[test]
    fn arp_request_and_reply() {
        let mut buf = [0u8; 64];
        let len = PacketBuilder::ethernet(A, MacAddr::BROADCAST)
            .vlan(10)
            .unwrap()
            .arp_request(SRC, DST)
            .write(&mut buf, &[])
            .unwrap();
        assert_eq!(len, 14 + 4 + 28);
        let arp = ArpPacket::new_checked(&buf[18..len]).unwrap();
        let repr = ArpRepr::parse(&arp).unwrap();
        assert_eq!(repr, ArpRepr::request(A, SRC, DST));
        let len = PacketBuilder::ethernet(B, A)
            .arp_reply(DST, A, SRC)
            .write(&mut buf, &[])
            .unwrap();
        let headers = PacketHeaders::from_ethernet_slice(&buf[..len]).unwrap();
        let Some(NetHeaders::Arp(arp)) = headers.net else {
            panic!("not arp")
        };
        let arp = arp.try_eth_ipv4().unwrap();
        assert_eq!(arp.operation, etherparse::ArpOperation::REPLY);
        assert_eq!(
            (
                arp.sender_mac,
                arp.sender_ipv4,
                arp.target_mac,
                arp.target_ipv4
            ),
            (B.0, DST.octets(), A.0, SRC.octets())
        );
    }

    #[test]
    fn raw_ethertype() {
        let template = PacketBuilder::ethernet(A, B).ethertype(EtherType::Unknown(0x88b5));
        let mut buf = [0u8; 20];
        assert_eq!(template.write(&mut buf, &[1, 2]).unwrap(), 16);
        assert_eq!(&buf[12..16], &[0x88, 0xb5, 1, 2]);
    }
}
