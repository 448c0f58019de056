//! Which header can follow which: the [`Carries`] impls.
//!
//! Each `locate` reads only fields of a buffer already accepted by its own
//! `check`, so it cannot panic; IP layers answer `None` for non-first
//! fragments, whose payload starts mid-datagram. IPv6 locates its upper
//! layer through the extension-header walk.

use crate::bytes::read_u16;
use crate::{
    Arp, Carries, EtherType, Ethernet, Gre, GrePacket, Icmpv4, Icmpv6, IpProtocol, Ipv4,
    Ipv4Packet, Ipv6, Ipv6Packet, Tcp, Udp, UdpPacket, Vlan, Vxlan, VxlanPacket,
};

/// Implements `Carries<$inner>` for a link header whose EtherType field is
/// at `$field` and whose payload starts at `$len`.
macro_rules! by_ethertype {
    ($outer:ty, $field:expr, $len:expr, $inner:ty, $pred:expr) => {
        impl Carries<$inner> for $outer {
            fn locate(buf: &[u8]) -> Option<usize> {
                let pred: fn(EtherType) -> bool = $pred;
                pred(EtherType::from(read_u16(buf, $field))).then_some($len)
            }
        }
    };
}

by_ethertype!(Ethernet, 12, 14, Vlan, EtherType::is_vlan);
by_ethertype!(Ethernet, 12, 14, Arp, |t| t == EtherType::Arp);
by_ethertype!(Ethernet, 12, 14, Ipv4, |t| t == EtherType::Ipv4);
by_ethertype!(Ethernet, 12, 14, Ipv6, |t| t == EtherType::Ipv6);
by_ethertype!(Vlan, 2, 4, Vlan, EtherType::is_vlan);
by_ethertype!(Vlan, 2, 4, Arp, |t| t == EtherType::Arp);
by_ethertype!(Vlan, 2, 4, Ipv4, |t| t == EtherType::Ipv4);
by_ethertype!(Vlan, 2, 4, Ipv6, |t| t == EtherType::Ipv6);

fn ipv4_upper(buf: &[u8], want: IpProtocol) -> Option<usize> {
    let packet = Ipv4Packet::new_unchecked(buf);
    (packet.protocol() == want && packet.is_first_fragment()).then(|| packet.header_len())
}

macro_rules! by_protocol {
    ($inner:ty, $v4:expr, $v6:expr) => {
        impl Carries<$inner> for Ipv4 {
            fn locate(buf: &[u8]) -> Option<usize> {
                ipv4_upper(buf, $v4)
            }
        }
        impl Carries<$inner> for Ipv6 {
            fn locate(buf: &[u8]) -> Option<usize> {
                Ipv6Packet::new_unchecked(buf).locate_upper($v6)
            }
        }
    };
}

by_protocol!(Tcp, IpProtocol::Tcp, IpProtocol::Tcp);
by_protocol!(Udp, IpProtocol::Udp, IpProtocol::Udp);
by_protocol!(Gre, IpProtocol::Gre, IpProtocol::Gre);

/// VXLAN is recognised by its well-known destination port (RFC 7348 §5).
impl Carries<Vxlan> for Udp {
    fn locate(buf: &[u8]) -> Option<usize> {
        (UdpPacket::new_unchecked(buf).dst_port() == crate::vxlan::UDP_PORT)
            .then_some(crate::udp::HEADER_LEN)
    }
}

/// A VXLAN header with a valid VNI (I flag) carries an Ethernet frame.
impl Carries<Ethernet> for Vxlan {
    fn locate(buf: &[u8]) -> Option<usize> {
        VxlanPacket::new_unchecked(buf)
            .has_vni()
            .then_some(crate::vxlan::HEADER_LEN)
    }
}

/// GRE carries Ethernet with protocol type 0x6558 (Transparent Ethernet
/// Bridging).
impl Carries<Ethernet> for Gre {
    fn locate(buf: &[u8]) -> Option<usize> {
        let gre = GrePacket::new_unchecked(buf);
        (u16::from(gre.protocol()) == crate::gre::PROTOCOL_TEB).then(|| gre.header_len())
    }
}

impl Carries<Icmpv4> for Ipv4 {
    fn locate(buf: &[u8]) -> Option<usize> {
        ipv4_upper(buf, IpProtocol::Icmp)
    }
}

impl Carries<Icmpv6> for Ipv6 {
    fn locate(buf: &[u8]) -> Option<usize> {
        Ipv6Packet::new_unchecked(buf).locate_upper(IpProtocol::Icmpv6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Header, MacAddr, PacketBuilder, TcpFlags};
    use std::net::Ipv4Addr;

    #[test]
    fn ipv4_fragments_carry_nothing_after_the_first() {
        let template = PacketBuilder::ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1).tcp(
            1,
            2,
            3,
            4,
            TcpFlags::SYN,
            5,
        );
        let mut buf = [0u8; 40];
        template.write(&mut buf, &[]).unwrap();
        assert_eq!(<Ipv4 as Carries<Tcp>>::locate(&buf), Some(20));
        assert_eq!(<Ipv4 as Carries<Udp>>::locate(&buf), None);
        assert_eq!(<Ipv4 as Carries<Icmpv4>>::locate(&buf), None);
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_more_frags(true);
        assert_eq!(
            <Ipv4 as Carries<Tcp>>::locate(&buf),
            Some(20),
            "first fragment"
        );
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_frag_offset(8);
        assert_eq!(<Ipv4 as Carries<Tcp>>::locate(&buf), None);
    }

    #[test]
    fn ethernet_dispatch() {
        let mut frame = [0u8; 60];
        for (ethertype, expect) in [
            (EtherType::Ipv4, [true, false, false, false]),
            (EtherType::Ipv6, [false, true, false, false]),
            (EtherType::Arp, [false, false, true, false]),
            (EtherType::Vlan, [false, false, false, true]),
            (EtherType::QinQ, [false, false, false, true]),
            (EtherType::Unknown(0x88cc), [false; 4]),
        ] {
            PacketBuilder::ethernet(MacAddr::ZERO, MacAddr::BROADCAST)
                .ethertype(ethertype)
                .write(&mut frame, &[])
                .unwrap();
            assert!(Ethernet::check(&frame).is_ok());
            let got = [
                <Ethernet as Carries<Ipv4>>::locate(&frame).is_some(),
                <Ethernet as Carries<Ipv6>>::locate(&frame).is_some(),
                <Ethernet as Carries<Arp>>::locate(&frame).is_some(),
                <Ethernet as Carries<Vlan>>::locate(&frame).is_some(),
            ];
            assert_eq!(got, expect, "{ethertype}");
        }
    }
}
