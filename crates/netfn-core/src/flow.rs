//! Flow keys and flow hashes: the 5-tuple of a frame, its reverse, a
//! direction-independent (symmetric) form, and fast fixed-seed hashes so
//! every core and process agrees on a flow's hash.
//!
//! Extraction walks Ethernet, up to two VLAN tags, IPv4 or IPv6 (with
//! extension headers) and TCP/UDP ports; for ICMP echo the identifier stands
//! in for both ports. Non-first fragments have no ports (0).

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

use netfn_wire::{
    EtherType, Ethernet, EthernetFrame, Header, IpProtocol, Ipv4, Ipv4Packet, Ipv6, Ipv6Packet,
    Vlan, VlanTag,
};

use crate::pool::Packet;

/// A transport 5-tuple.
///
/// Its [`Hash`] is a fast one for hash tables (two words for IPv4); the
/// stable flow hash is [`FlowKey::hash32`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
}

/// Fixed seed: a flow hashes the same on every core and in every process.
const SEED: u64 = 0x6e65_7466_6e5f_666c;

impl FlowKey {
    /// The 5-tuple of an Ethernet frame; `None` if it is not (valid) IP.
    pub fn from_frame(frame: &[u8]) -> Option<FlowKey> {
        let mut ethertype = Ethernet::check(frame)
            .ok()
            .map(|_| EthernetFrame::new_unchecked(frame).ethertype())?;
        let mut at = netfn_wire::ethernet::HEADER_LEN;
        for _ in 0..2 {
            if !ethertype.is_vlan() {
                break;
            }
            let rest = frame.get(at..)?;
            Vlan::check(rest).ok()?;
            ethertype = VlanTag::new_unchecked(rest).ethertype();
            at += 4;
        }
        let ip = frame.get(at..)?;
        match ethertype {
            EtherType::Ipv4 => Self::from_ipv4(ip),
            EtherType::Ipv6 => Self::from_ipv6(ip),
            _ => None,
        }
    }

    /// The 5-tuple of a buffer starting at an IPv4 header.
    pub fn from_ipv4(buf: &[u8]) -> Option<FlowKey> {
        let ext = Ipv4::check(buf).ok()?;
        let buf = &buf[..ext.end];
        let ip = Ipv4Packet::new_unchecked(buf);
        let upper = ip.is_first_fragment().then(|| &buf[ext.header_len..]);
        Some(FlowKey::of_upper_layer(
            ip.src_addr().into(),
            ip.dst_addr().into(),
            ip.protocol(),
            upper,
        ))
    }

    /// The 5-tuple of a buffer starting at an IPv6 header.
    pub fn from_ipv6(buf: &[u8]) -> Option<FlowKey> {
        let ext = Ipv6::check(buf).ok()?;
        let buf = &buf[..ext.end];
        let ip = Ipv6Packet::new_unchecked(buf);
        let (proto, offset) = ip.upper_layer().ok()?;
        let first = ip.fragment().is_none_or(|f| f.offset == 0);
        let upper = if first {
            Some(buf.get(offset..)?)
        } else {
            None
        };
        Some(FlowKey::of_upper_layer(
            ip.src_addr().into(),
            ip.dst_addr().into(),
            proto,
            upper,
        ))
    }

    /// The key of a packet from `src` to `dst` whose upper layer is
    /// `protocol`, with `upper` its header and payload (`None` in a
    /// non-first fragment: no ports). For callers that located the IP
    /// header themselves.
    #[inline]
    pub fn of_upper_layer(
        src: IpAddr,
        dst: IpAddr,
        protocol: IpProtocol,
        upper: Option<&[u8]>,
    ) -> FlowKey {
        let (src_port, dst_port) = upper.map_or((0, 0), |l4| ports(protocol, l4));
        FlowKey {
            src,
            dst,
            src_port,
            dst_port,
            protocol: protocol.into(),
        }
    }

    /// The key of the reply direction.
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }

    /// The same key for both directions (the lower endpoint first, in the
    /// order of `(IpAddr, port)`).
    pub fn canonical(&self) -> FlowKey {
        if endpoint_order(self.src, self.src_port) <= endpoint_order(self.dst, self.dst_port) {
            *self
        } else {
            self.reversed()
        }
    }

    /// A fast hash of the 5-tuple (direction-dependent). Its values are
    /// fixed (they pick backends and tunnel source ports): it hashes the
    /// fields one by one, as `#[derive(Hash)]` does, whatever [`Hash`] for
    /// `FlowKey` does.
    pub fn hash32(&self) -> u32 {
        let h = foldhash::fast::FixedState::with_seed(SEED).hash_one(FieldByField(self));
        (h ^ (h >> 32)) as u32
    }

    /// A hash that is the same for both directions of a flow.
    pub fn symmetric_hash32(&self) -> u32 {
        self.canonical().hash32()
    }
}

/// `(addr, port)` as integers that order exactly as the tuple does
/// (IPv4 before IPv6, addresses by their bits), so comparing them is a few
/// integer compares instead of `IpAddr`'s enum and octet comparison.
#[inline]
fn endpoint_order(addr: IpAddr, port: u16) -> (bool, u128, u16) {
    match addr {
        IpAddr::V4(a) => (false, u128::from(a.to_bits()), port),
        IpAddr::V6(a) => (true, a.to_bits(), port),
    }
}

impl Hash for FlowKey {
    /// Packs the key into few words (for flow tables: one hash per
    /// packet). Equal keys write equal words.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let meta = u64::from(self.src_port) << 48
            | u64::from(self.dst_port) << 32
            | u64::from(self.protocol) << 8;
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                state.write_u64(u64::from(s.to_bits()) << 32 | u64::from(d.to_bits()));
                state.write_u64(meta);
            }
            (s, d) => {
                let bits = |a: IpAddr| match a {
                    IpAddr::V4(a) => u128::from(a.to_bits()),
                    IpAddr::V6(a) => a.to_bits(),
                };
                let family = u64::from(s.is_ipv6()) << 1 | u64::from(d.is_ipv6());
                state.write_u128(bits(s));
                state.write_u128(bits(d));
                state.write_u64(meta | family);
            }
        }
    }
}

/// Hashes a key the way `#[derive(Hash)]` would: each field in order, with
/// its own `Hash` (the input of [`FlowKey::hash32`], whose values must not
/// change).
struct FieldByField<'a>(&'a FlowKey);

impl Hash for FieldByField<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let k = self.0;
        k.src.hash(state);
        k.dst.hash(state);
        k.src_port.hash(state);
        k.dst_port.hash(state);
        k.protocol.hash(state);
    }
}

/// Source and destination ports (ICMP echo: the identifier twice).
fn ports(proto: IpProtocol, l4: &[u8]) -> (u16, u16) {
    let be = |at: usize| {
        l4.get(at..at + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    };
    match proto {
        IpProtocol::Tcp | IpProtocol::Udp => (be(0), be(2)),
        // Echo request/reply (v4: 8/0, v6: 128/129): identifier at offset 4.
        IpProtocol::Icmp if matches!(l4.first(), Some(0 | 8)) => (be(4), be(4)),
        IpProtocol::Icmpv6 if matches!(l4.first(), Some(128 | 129)) => (be(4), be(4)),
        _ => (0, 0),
    }
}

/// The packet's flow hash: the cached one if a port or NF set it, else
/// computed from its 5-tuple (and cached). `None` for non-IP frames.
pub fn flow_hash(pkt: &mut Packet) -> Option<u32> {
    if let Some(h) = pkt.flow_hash() {
        return Some(h);
    }
    let h = FlowKey::from_frame(pkt.data())?.hash32();
    pkt.set_flow_hash(h);
    Some(h)
}

/// Like [`flow_hash`] but the same for both directions of a flow.
pub fn symmetric_flow_hash(pkt: &Packet) -> Option<u32> {
    Some(FlowKey::from_frame(pkt.data())?.symmetric_hash32())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_wire::{MacAddr, PacketBuilder, TcpFlags};
    use std::net::Ipv4Addr;

    fn tcp(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, vlan: bool) -> Vec<u8> {
        let eth = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let eth = if vlan { eth.vlan(7).unwrap() } else { eth };
        let t = eth.ipv4(Ipv4Addr::from(src), Ipv4Addr::from(dst), 64).tcp(
            sp,
            dp,
            1,
            0,
            TcpFlags::SYN,
            1000,
        );
        let mut buf = vec![0; t.size(0)];
        t.write(&mut buf, &[]).unwrap();
        buf
    }

    #[test]
    fn extracts_ports_in_the_right_order() {
        let k = FlowKey::from_frame(&tcp([10, 0, 0, 1], 1234, [10, 0, 0, 2], 80, false)).unwrap();
        assert_eq!((k.src_port, k.dst_port, k.protocol), (1234, 80, 6));
        assert_eq!(k.src, IpAddr::from([10, 0, 0, 1]));
        let tagged =
            FlowKey::from_frame(&tcp([10, 0, 0, 1], 1234, [10, 0, 0, 2], 80, true)).unwrap();
        assert_eq!(k, tagged);
    }

    #[test]
    fn symmetric_hash_ignores_direction() {
        let a = FlowKey::from_frame(&tcp([10, 0, 0, 1], 1234, [10, 0, 0, 2], 80, false)).unwrap();
        let b = FlowKey::from_frame(&tcp([10, 0, 0, 2], 80, [10, 0, 0, 1], 1234, false)).unwrap();
        assert_eq!(a.reversed(), b);
        assert_eq!(a.symmetric_hash32(), b.symmetric_hash32());
        assert_ne!(a.hash32(), b.hash32());
    }

    /// The derive this replaced, for pinning `hash32` and `canonical`.
    #[derive(Hash, PartialEq, PartialOrd)]
    struct Derived {
        src: IpAddr,
        dst: IpAddr,
        src_port: u16,
        dst_port: u16,
        protocol: u8,
    }

    fn derived(k: &FlowKey) -> Derived {
        Derived {
            src: k.src,
            dst: k.dst,
            src_port: k.src_port,
            dst_port: k.dst_port,
            protocol: k.protocol,
        }
    }

    fn sample_keys() -> Vec<FlowKey> {
        let addrs: [IpAddr; 5] = [
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            [192, 168, 1, 255].into(),
            "fd00::1".parse().unwrap(),
            "2001:db8::ffff:1".parse().unwrap(),
        ];
        let mut keys = Vec::new();
        for &src in &addrs {
            for &dst in &addrs {
                for (sp, dp) in [(1234, 80), (80, 1234), (80, 80), (0, 0)] {
                    for protocol in [6, 17] {
                        keys.push(FlowKey {
                            src,
                            dst,
                            src_port: sp,
                            dst_port: dp,
                            protocol,
                        });
                    }
                }
            }
        }
        keys
    }

    #[test]
    fn hash32_is_the_derived_hash() {
        for k in sample_keys() {
            let h = foldhash::fast::FixedState::with_seed(SEED).hash_one(derived(&k));
            assert_eq!(k.hash32(), (h ^ (h >> 32)) as u32, "{k:?}");
        }
    }

    #[test]
    fn canonical_orders_as_the_tuple_does() {
        for k in sample_keys() {
            let tuple_order = (k.src, k.src_port) <= (k.dst, k.dst_port);
            let want = if tuple_order { k } else { k.reversed() };
            assert_eq!(k.canonical(), want, "{k:?}");
            assert!(derived(&want) == derived(&k.canonical()));
        }
    }

    #[test]
    fn equal_keys_hash_equal() {
        let s = foldhash::fast::FixedState::with_seed(1);
        for k in sample_keys() {
            assert_eq!(s.hash_one(k), s.hash_one(k.reversed().reversed()));
        }
    }

    #[test]
    fn rejects_non_ip_and_garbage() {
        assert_eq!(FlowKey::from_frame(&[0u8; 10]), None);
        let mut f = tcp([1, 1, 1, 1], 1, [2, 2, 2, 2], 2, false);
        f[12] = 0x08;
        f[13] = 0x06;
        assert_eq!(FlowKey::from_frame(&f), None);
        for len in 0..f.len() {
            let _ = FlowKey::from_frame(&f[..len]);
        }
    }
}
