//! ICMP error translation (RFC 5508 §4): the packet quoted in an error
//! is found and rewritten together with every checksum that covers it.

use std::net::Ipv4Addr;

use crate::frame::{BadHeader, End};
use netfn_wire::checksum::{update16, update32};
use netfn_wire::{Icmpv4Packet, Ipv4Packet, TcpPacket, UdpPacket};

use super::{ICMP, Parsed, TCP, UDP};

/// The packet quoted in an ICMP error: offsets into the frame and its
/// tuple as it was sent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Quoted {
    /// Offset of the ICMP message and the end of the IP payload.
    pub(super) icmp: usize,
    pub(super) end: usize,
    pub(super) src: u32,
    pub(super) dst: u32,
    pub(super) sport: u16,
    pub(super) dport: u16,
    pub(super) proto: u8,
    /// The quoted packet is an ICMP query (`sport`/`dport`: identifier).
    pub(super) query: bool,
}

impl Quoted {
    pub(super) fn new(frame: &[u8], p: &Parsed) -> Result<Quoted, BadHeader> {
        let icmp = &frame[p.l4_at..p.end];
        let inner = icmp
            .get(netfn_wire::icmpv4::HEADER_LEN..)
            .ok_or(BadHeader)?;
        if inner.len() < netfn_wire::ipv4::HEADER_LEN || inner[0] >> 4 != 4 {
            return Err(BadHeader);
        }
        let ip = Ipv4Packet::new_unchecked(inner);
        let hl = ip.header_len();
        // RFC 792: the header and at least 8 bytes of the datagram.
        if hl < netfn_wire::ipv4::HEADER_LEN || inner.len() < hl + 8 || ip.frag_offset() != 0 {
            return Err(BadHeader);
        }
        let l4 = &inner[hl..];
        let be = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
        let proto = u8::from(ip.protocol());
        let (sport, dport, query) = match proto {
            TCP | UDP => (be(0), be(2), false),
            ICMP if matches!(l4[0], 0 | 8 | 13 | 14) => (be(4), be(4), true),
            _ => return Err(BadHeader),
        };
        Ok(Quoted {
            icmp: p.l4_at,
            end: p.end,
            src: ip.src_addr().to_bits(),
            dst: ip.dst_addr().to_bits(),
            sport,
            dport,
            proto,
            query,
        })
    }
}

/// Rewrites one end of the packet quoted in the ICMP error message `icmp`
/// (already checked by [`Quoted::new`]), patching the quoted IP header
/// checksum, the quoted transport checksum when it is in the quote (UDP if
/// nonzero, TCP if the quote reaches it, the quoted ICMP query's), and the
/// ICMP checksum over all of it, incrementally.
pub(super) fn rewrite_quoted(icmp: &mut [u8], end: End, addr: Ipv4Addr, port: u16) {
    let mut csum = Icmpv4Packet::new_unchecked(&*icmp).checksum();
    let inner = &mut icmp[netfn_wire::icmpv4::HEADER_LEN..];
    let hl = Ipv4Packet::new_unchecked(&*inner).header_len();
    let proto;
    let old_addr;
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut inner[..hl]);
        proto = u8::from(ip.protocol());
        let old_ck = ip.checksum();
        old_addr = match end {
            End::Src => ip.src_addr(),
            End::Dst => ip.dst_addr(),
        };
        match end {
            End::Src => ip.update_src_addr(addr),
            End::Dst => ip.update_dst_addr(addr),
        }
        csum = update32(csum, old_addr.to_bits(), addr.to_bits());
        csum = update16(csum, old_ck, ip.checksum());
    }
    let l4 = &mut inner[hl..];
    match proto {
        TCP => {
            let mut tcp = TcpPacket::new_unchecked(&mut *l4);
            let old_port = match end {
                End::Src => tcp.src_port(),
                End::Dst => tcp.dst_port(),
            };
            match end {
                End::Src => tcp.set_src_port(port),
                End::Dst => tcp.set_dst_port(port),
            }
            csum = update16(csum, old_port, port);
            if l4.len() >= netfn_wire::tcp::HEADER_LEN {
                let mut tcp = TcpPacket::new_unchecked(&mut *l4);
                let old_ck = tcp.checksum();
                let new_ck = update16(
                    update32(old_ck, old_addr.to_bits(), addr.to_bits()),
                    old_port,
                    port,
                );
                tcp.set_checksum(new_ck);
                csum = update16(csum, old_ck, new_ck);
            }
        }
        UDP => {
            let mut udp = UdpPacket::new_unchecked(&mut *l4);
            let old_port = match end {
                End::Src => udp.src_port(),
                End::Dst => udp.dst_port(),
            };
            match end {
                End::Src => udp.set_src_port(port),
                End::Dst => udp.set_dst_port(port),
            }
            csum = update16(csum, old_port, port);
            let old_ck = udp.checksum();
            if old_ck != 0 {
                let mut new_ck = update16(
                    update32(old_ck, old_addr.to_bits(), addr.to_bits()),
                    old_port,
                    port,
                );
                if new_ck == 0 {
                    new_ck = 0xffff;
                }
                udp.set_checksum(new_ck);
                csum = update16(csum, old_ck, new_ck);
            }
        }
        _ => {
            let mut q = Icmpv4Packet::new_unchecked(&mut *l4);
            let (old_id, old_ck) = (q.echo_ident(), q.checksum());
            q.update_echo_ident(port);
            csum = update16(csum, old_id, port);
            csum = update16(csum, old_ck, q.checksum());
        }
    }
    Icmpv4Packet::new_unchecked(icmp).set_checksum(csum);
}
