//! Typed, zero-copy views over packet headers, owned `Repr`s, a packet
//! builder, and Internet checksums (full and incremental).
//!
//! Every view is a thin wrapper over a byte buffer (`T: AsRef<[u8]>`, and
//! `AsMut<[u8]>` for setters), in the style of `smoltcp::wire`:
//! `new_checked` validates once (length fields, header length, version), so
//! accessors never panic afterwards on that buffer. Unknown EtherTypes and
//! protocol numbers are data (`EtherType::Unknown(u16)`,
//! `IpProtocol::Unknown(u8)`) and round-trip exactly.
//!
//! The [`Header`] and [`Carries`] traits let `netfn-core` parse a typed
//! header stack: `Ethernet` carries `Ipv4`, `Ipv4` carries `Tcp`, and so on.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bytes;
mod carries;
mod error;

pub mod arp;
pub mod builder;
pub mod checksum;
pub mod dns;
pub mod ethernet;
pub mod gre;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use arp::{Arp, ArpOperation, ArpPacket, ArpRepr};
pub use builder::{EthernetBuilder, Ipv4Builder, Ipv6Builder, PacketBuilder, PacketTemplate};
pub use dns::{Dns, DnsName, DnsPacket, DnsQuestion, DnsRecord};
pub use error::Error;
pub use ethernet::{EtherType, Ethernet, EthernetFrame, EthernetRepr, MacAddr, MacAddrParseError};
pub use gre::{Gre, GrePacket, GreRepr};
pub use icmpv4::{Icmpv4, Icmpv4Message, Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::{Icmpv6, Icmpv6Message, Icmpv6Packet, Icmpv6Repr};
pub use ipv4::{IpProtocol, Ipv4, Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6, Ipv6FragmentInfo, Ipv6Packet, Ipv6Repr};
pub use tcp::{
    SackBlocks, Tcp, TcpFlags, TcpFlagsParseError, TcpOption, TcpOptions, TcpPacket, TcpRepr,
};
pub use udp::{Udp, UdpPacket, UdpRepr};
pub use vlan::{Vlan, VlanRepr, VlanTag};
pub use vxlan::{Vxlan, VxlanPacket, VxlanRepr};

/// Where a validated header ends, relative to the start of the buffer it was
/// checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Length of the header itself (options and extension headers that
    /// belong to it included), in bytes.
    pub header_len: usize,
    /// End of this protocol unit: for IPv4 the total length, for IPv6 40 +
    /// payload length, for UDP its length field; for Ethernet and others the
    /// end of the buffer. Bytes past it (Ethernet padding) are not payload.
    pub end: usize,
}

/// A protocol header type. Implemented by zero-sized marker types
/// (`Ethernet`, `Ipv4`, ...); the view over the bytes is [`Header::View`].
pub trait Header: 'static {
    /// Short name, used in diagnostics and drop counters ("ipv4").
    const NAME: &'static str;
    /// The typed view over a buffer that starts at this header.
    type View<T: AsRef<[u8]>>;
    /// Validates `buf` (which starts at this header) and says where the
    /// header and its protocol unit end. Never panics.
    fn check(buf: &[u8]) -> Result<Extent, Error>;
    /// Wraps `buf` without checking. Only call on a buffer for which
    /// [`Header::check`] succeeded (accessors may panic otherwise).
    fn view<T: AsRef<[u8]>>(buf: T) -> Self::View<T>;
}

/// `Self` can carry a `N` as its payload (Ethernet carries IPv4, IPv4
/// carries TCP, ...). This is what makes `parse::<Ipv4>()` legal only after a
/// header that can carry IPv4.
pub trait Carries<N: Header>: Header {
    /// Given a buffer that starts at this header, was accepted by
    /// [`Header::check`], and is trimmed to its [`Extent::end`]: if the
    /// payload is an `N`, the offset at which it starts. `None` when the
    /// protocol field names something else (or, for IPv4/IPv6, when this is a
    /// non-first fragment, which carries no upper-layer header).
    fn locate(buf: &[u8]) -> Option<usize>;
}
