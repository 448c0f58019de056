//! Shared by the policer, vlan, vxlan and gre tests: traffic, the golden
//! pcap runner and mangled frames.

use super::golden::{Golden, refs};
use netfn_core::testing::Harness;
use netfn_core::{DropReason, Nf};
use netfn_wire::{EtherType, MacAddr, PacketBuilder, TcpFlags};

pub const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
pub const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);

pub fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, len: usize) -> Vec<u8> {
    let t = PacketBuilder::ethernet(A, B)
        .ipv4(src.into(), dst.into(), 64)
        .udp(sport, dport);
    let mut buf = vec![0; t.size(len)];
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    t.write(&mut buf, &payload).unwrap();
    buf
}

/// Inner traffic of every kind an L2 tunnel or tagger must carry: IPv4
/// UDP/TCP, IPv6, a VLAN-tagged and a QinQ frame, ARP, an unknown
/// EtherType, and a frame with Ethernet padding.
pub fn inner_traffic() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for i in 0..4u8 {
        v.push(udp4(
            [10, 0, 0, i + 1],
            1000 + u16::from(i),
            [10, 9, 0, 1],
            53,
            18,
        ));
    }
    let t = PacketBuilder::ethernet(A, B)
        .ipv4([10, 0, 1, 1].into(), [10, 9, 0, 2].into(), 64)
        .tcp(40000, 443, 7, 0, TcpFlags::SYN, 65535);
    let mut buf = vec![0; t.size(0)];
    t.write(&mut buf, &[]).unwrap();
    v.push(buf);
    let t = PacketBuilder::ethernet(A, B)
        .ipv6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), 64)
        .udp(5353, 5353);
    let mut buf = vec![0; t.size(40)];
    t.write(&mut buf, &[6; 40]).unwrap();
    v.push(buf);
    let t = PacketBuilder::ethernet(A, B)
        .vlan(7)
        .unwrap()
        .ipv4([10, 0, 2, 2].into(), [10, 9, 0, 3].into(), 64)
        .udp(1, 2);
    let mut buf = vec![0; t.size(10)];
    t.write(&mut buf, &[1; 10]).unwrap();
    v.push(buf);
    let t = PacketBuilder::ethernet(A, B)
        .vlan_tag(EtherType::QinQ, 2, false, 300)
        .unwrap()
        .vlan(30)
        .unwrap()
        .ipv6("fd00::3".parse().unwrap(), "fd00::4".parse().unwrap(), 9)
        .udp(3, 4);
    let mut buf = vec![0; t.size(2)];
    t.write(&mut buf, &[2; 2]).unwrap();
    v.push(buf);
    let arp = PacketBuilder::ethernet(A, MacAddr::BROADCAST)
        .arp_request([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
    let mut buf = vec![0; arp.size(0)];
    arp.write(&mut buf, &[]).unwrap();
    v.push(buf);
    let mut raw = vec![0x55; 64];
    raw[..6].copy_from_slice(&B.0);
    raw[6..12].copy_from_slice(&A.0);
    raw[12..14].copy_from_slice(&[0x88, 0xb5]);
    v.push(raw);
    let mut padded = udp4([10, 0, 3, 3], 9, [10, 9, 0, 4], 9, 1);
    padded.resize(60, 0);
    v.push(padded);
    v
}

/// Runs `nf` over `input` (which must equal the committed
/// `golden/<dir>/<name>.in.pcap`) and checks that what it forwards equals
/// `<name>.out.pcap` frame by frame (`UPDATE_GOLDEN=1` writes both).
/// Returns the forwarded frames and the drop reasons, in order.
pub fn golden(
    dir: &str,
    name: &str,
    input: &[Vec<u8>],
    nf: impl Nf,
) -> (Vec<Vec<u8>>, Vec<DropReason>) {
    let g = Golden::new(dir);
    let committed = g.committed(&format!("{name}.in.pcap"), input);
    let mut h = Harness::new(nf);
    let out = h.process_bytes(0, &refs(&committed));
    let forwarded = out.on(0);
    g.compare(&format!("{name}.out.pcap"), &forwarded);
    (forwarded, out.drop_reasons())
}
