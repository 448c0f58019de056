//! What the tunnel NFs (`vxlan`, `gre`) share: finding and validating the
//! outer IP header on decapsulation, the outer headers written on
//! encapsulation, the inner flow hash, and the counters and verdicts both
//! keep.
//!
//! Encapsulation writes the same outer headers in front of every frame but
//! for a few fields, so [`OuterHeaders`] renders them once from the NF's
//! [`PacketTemplate`] (at construction: a configuration change builds a new
//! NF) and per packet copies the bytes and patches the IP length and the
//! IPv4 header checksum (a fold of the sum precomputed without the length).
//! Each NF then patches its own header (UDP length and source port, GRE
//! sequence and checksum) through the header views. The result is byte for
//! byte what `PacketTemplate::write_in_place` writes (pinned by a test
//! below and by the golden captures).

use std::net::IpAddr;

use netfn_core::{Batch, DropReason, Packet, Verdict};
use netfn_wire::checksum;
use netfn_wire::{
    EtherType, Header, IpProtocol, Ipv4, Ipv4Packet, Ipv6, Ipv6Packet, PacketTemplate,
};

use crate::frame::locate_l3;

/// The outer IP header of a tunnel packet, validated for decapsulation
/// (offsets into the frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OuterIp {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Where the IP payload (the tunnel's UDP or GRE header) starts.
    pub payload: usize,
    /// Where the IP packet ends (Ethernet padding excluded).
    pub end: usize,
}

/// Why a frame is not a tunnel packet to decapsulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotTunnel {
    /// Not IP, or IP of another protocol: not this tunnel's traffic.
    Other,
    /// The outer IP header is invalid (bad length, bad IPv4 checksum).
    Malformed,
    /// A fragment of this protocol: there is no reassembly here.
    Fragment,
}

/// Finds and validates the outer IPv4 or IPv6 header (behind Ethernet and up
/// to two VLAN tags) of a packet carrying `protocol`: the IPv4 header
/// checksum must be right (what a host's IP layer checks before handing the
/// payload to a tunnel), and fragments are refused.
pub fn outer_ip(frame: &[u8], protocol: IpProtocol) -> Result<OuterIp, NotTunnel> {
    let (ethertype, l3) = locate_l3(frame).ok_or(NotTunnel::Other)?;
    let ip = &frame[l3..];
    match ethertype {
        EtherType::Ipv4 => {
            let ext = Ipv4::check(ip).map_err(|_| NotTunnel::Malformed)?;
            let pkt = Ipv4Packet::new_unchecked(&ip[..ext.end]);
            if pkt.protocol() != protocol {
                return Err(NotTunnel::Other);
            }
            if !pkt.verify_checksum() {
                return Err(NotTunnel::Malformed);
            }
            if pkt.is_fragment() {
                return Err(NotTunnel::Fragment);
            }
            Ok(OuterIp {
                src: pkt.src_addr().into(),
                dst: pkt.dst_addr().into(),
                payload: l3 + ext.header_len,
                end: l3 + ext.end,
            })
        }
        EtherType::Ipv6 => {
            let ext = Ipv6::check(ip).map_err(|_| NotTunnel::Malformed)?;
            let pkt = Ipv6Packet::new_unchecked(&ip[..ext.end]);
            let (proto, at) = pkt.upper_layer().map_err(|_| NotTunnel::Malformed)?;
            if pkt.is_fragment() {
                return Err(if proto == protocol || proto == IpProtocol::Ipv6Frag {
                    NotTunnel::Fragment
                } else {
                    NotTunnel::Other
                });
            }
            if proto != protocol {
                return Err(NotTunnel::Other);
            }
            Ok(OuterIp {
                src: pkt.src_addr().into(),
                dst: pkt.dst_addr().into(),
                payload: l3 + at,
                end: l3 + ext.end,
            })
        }
        _ => Err(NotTunnel::Other),
    }
}

/// Whether a decapsulating NF configured with `local` and `remote` (the
/// unspecified address: any) accepts a packet from `outer.src` to
/// `outer.dst`.
pub fn tunnel_endpoints_match(outer: &OuterIp, local: IpAddr, remote: IpAddr) -> bool {
    (local.is_unspecified() || outer.dst == local)
        && (remote.is_unspecified() || outer.src == remote)
}

/// Longest outer headers: Ethernet, IPv6, and the longer of UDP + VXLAN
/// (16) and GRE with checksum, key and sequence (16).
const MAX_OUTER_LEN: usize = netfn_wire::ethernet::HEADER_LEN
    + netfn_wire::vlan::HEADER_LEN * 2
    + netfn_wire::ipv6::HEADER_LEN
    + netfn_wire::gre::MAX_HEADER_LEN;

/// The outer IP header's per-packet fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OuterFamily {
    /// `sum`: the ones' complement sum of the header with total length
    /// and checksum zero; the checksum is `!fold(sum + total length)`.
    Ipv4 {
        sum: u32,
    },
    Ipv6,
}

/// The outer headers of an encapsulating tunnel, rendered once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OuterHeaders {
    bytes: [u8; MAX_OUTER_LEN],
    len: usize,
    /// Offset of the IP header.
    l3: usize,
    /// Offset of the tunnel header (UDP or GRE) after the IP header.
    upper: usize,
    family: OuterFamily,
    /// Largest outer IP packet.
    mtu: usize,
}

/// A frame just encapsulated: the whole new frame, outer headers first.
/// The IP header is final; the tunnel header at `upper` is the template's
/// (the NF patches what varies per packet).
#[derive(Debug)]
pub struct Encapsulated<'a> {
    pub frame: &'a mut [u8],
    /// Offset of the tunnel header (UDP or GRE).
    pub upper: usize,
}

impl Encapsulated<'_> {
    /// The tunnel header and everything after it.
    pub fn upper_mut(&mut self) -> &mut [u8] {
        &mut self.frame[self.upper..]
    }
}

impl OuterHeaders {
    /// Renders `template` (Ethernet, optional VLAN tags, IPv4 without
    /// options or IPv6 without extension headers, then the tunnel header)
    /// for packets whose outer IP packet may be up to `mtu` bytes.
    ///
    /// # Panics
    /// If `template` is not such a template (a bug of the calling NF).
    pub fn new(template: &PacketTemplate, mtu: usize) -> OuterHeaders {
        let len = template.header_len();
        assert!(len <= MAX_OUTER_LEN, "tunnel template of {len} bytes");
        let mut bytes = [0; MAX_OUTER_LEN];
        template
            .write_in_place(&mut bytes, 0)
            .expect("outer headers fit");
        let (ethertype, l3) = locate_l3(&bytes[..len]).expect("outer Ethernet header");
        let (family, ip_len) = match ethertype {
            EtherType::Ipv4 => {
                let mut ip = Ipv4Packet::new_unchecked(&mut bytes[l3..len]);
                ip.set_total_len(0);
                ip.set_checksum(0);
                let header_len = ip.header_len();
                let sum = checksum::sum(&bytes[l3..l3 + header_len]);
                (OuterFamily::Ipv4 { sum }, header_len)
            }
            EtherType::Ipv6 => (OuterFamily::Ipv6, netfn_wire::ipv6::HEADER_LEN),
            other => panic!("tunnel template over {other:?}"),
        };
        OuterHeaders {
            bytes,
            len,
            l3,
            upper: l3 + ip_len,
            family,
            mtu,
        }
    }

    /// Length of the outer headers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never: there is at least an Ethernet and an IP header.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tunnel header as rendered (for a field fixed at configuration,
    /// like VXLAN's UDP destination port).
    pub fn upper_template_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.upper..self.len]
    }

    /// Prepends the outer headers to `pkt` in the pool's headroom, with the
    /// IP length (and IPv4 checksum) for its size. Fails, leaving the packet
    /// unchanged, with `Malformed` for a frame shorter than an Ethernet
    /// header, `TooBig` when the outer IP packet would exceed the MTU or its
    /// length field (no fragmentation), and `Other` when the frame has too
    /// little headroom.
    pub fn encapsulate<'a>(&self, pkt: &'a mut Packet) -> Result<Encapsulated<'a>, DropReason> {
        let inner = pkt.len();
        if inner < netfn_wire::ethernet::HEADER_LEN {
            return Err(DropReason::Malformed);
        }
        let ip_len = self.len - self.l3 + inner;
        if ip_len > self.mtu {
            return Err(DropReason::TooBig);
        }
        let (ip_field, ipv4_sum) = match self.family {
            OuterFamily::Ipv4 { sum } => (ip_len, Some(sum)),
            OuterFamily::Ipv6 => (ip_len - netfn_wire::ipv6::HEADER_LEN, None),
        };
        let Ok(ip_field) = u16::try_from(ip_field) else {
            return Err(DropReason::TooBig);
        };
        if pkt.push_front(self.len).is_err() {
            return Err(DropReason::Other);
        }
        let frame = pkt.data_mut();
        frame[..self.len].copy_from_slice(&self.bytes[..self.len]);
        let ip = &mut frame[self.l3..self.upper];
        match ipv4_sum {
            Some(sum) => {
                let mut ip = Ipv4Packet::new_unchecked(ip);
                ip.set_total_len(ip_field);
                ip.set_checksum(!checksum::fold(sum + u32::from(ip_field)));
            }
            None => Ipv6Packet::new_unchecked(ip).set_payload_len(ip_field),
        }
        Ok(Encapsulated {
            frame,
            upper: self.upper,
        })
    }
}

/// A 32-bit hash of an inner frame for the outer UDP source port: its
/// 5-tuple's hash if it is IP, else FNV-1a over its Ethernet header (so
/// every frame of one L2 conversation takes one underlay path).
pub fn inner_flow_hash(frame: &[u8]) -> u32 {
    if let Some(key) = netfn_core::FlowKey::from_frame(frame) {
        return key.hash32();
    }
    let head = &frame[..frame.len().min(netfn_wire::ethernet::HEADER_LEN)];
    let mut h: u32 = 0x811c_9dc5;
    for &b in head {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Maps a hash onto the ports `min..=max` without division bias of note
/// (Linux's `udp_flow_src_port` does the same multiply-shift).
pub fn port_from_hash(hash: u32, min: u16, max: u16) -> u16 {
    let span = u64::from(max - min) + 1;
    min + ((u64::from(hash) * span) >> 32) as u16
}

/// Sets each packet's verdict to `f(packet)`: a tunnel NF's whole
/// `process`, with `f` its encap or decap.
pub fn each_packet(batch: &mut Batch, mut f: impl FnMut(&mut Packet) -> Verdict) {
    let (packets, verdicts) = batch.split_mut();
    for (pkt, verdict) in packets.iter_mut().zip(verdicts.iter_mut()) {
        *verdict = f(pkt);
    }
}

/// The counters every tunnel NF keeps, and the verdicts that count them.
#[derive(Debug, Default, Clone, Copy)]
pub struct TunnelCounters {
    pub encapsulated: u64,
    pub decapsulated: u64,
    pub too_big: u64,
    /// Frames without room in front for the outer headers (`other`).
    pub no_headroom: u64,
    pub bad_checksum: u64,
    pub fragments: u64,
    pub malformed: u64,
    pub other: u64,
}

impl TunnelCounters {
    /// Counts an encapsulation (or its failure) and gives its verdict.
    pub fn encap(&mut self, result: Result<(), DropReason>) -> Verdict {
        match result {
            Ok(()) => {
                self.encapsulated += 1;
                Verdict::PASS
            }
            Err(reason) => {
                match reason {
                    DropReason::TooBig => self.too_big += 1,
                    DropReason::Malformed => self.malformed += 1,
                    _ => self.no_headroom += 1,
                }
                Verdict::drop(reason)
            }
        }
    }

    /// Traffic that is not this tunnel's: passed, or `filtered` with
    /// `drop_other`.
    pub fn other(&mut self, drop_other: bool) -> Verdict {
        self.other += 1;
        if drop_other {
            Verdict::drop(DropReason::Filtered)
        } else {
            Verdict::PASS
        }
    }

    pub fn malformed(&mut self) -> Verdict {
        self.malformed += 1;
        Verdict::drop(DropReason::Malformed)
    }

    /// The verdict for a frame [`outer_ip`] refused.
    pub fn not_tunnel(&mut self, why: NotTunnel, drop_other: bool) -> Verdict {
        match why {
            NotTunnel::Other => self.other(drop_other),
            NotTunnel::Malformed => self.malformed(),
            NotTunnel::Fragment => {
                self.fragments += 1;
                Verdict::drop(DropReason::Unsupported)
            }
        }
    }

    /// Strips everything outside `inner` (the inner frame's range) from
    /// `pkt` and counts the decapsulation.
    pub fn decapsulate(&mut self, pkt: &mut Packet, inner: std::ops::Range<usize>) -> Verdict {
        pkt.truncate(inner.end);
        if pkt.pull_front(inner.start).is_err() {
            return self.malformed(); // cannot happen: start <= end <= len
        }
        pkt.clear_flow_hash();
        self.decapsulated += 1;
        Verdict::PASS
    }

    /// Reports the counters, with the NF's own (`specific`) after
    /// `no_headroom`.
    pub fn report(&self, specific: &[(&str, u64)], report: &mut dyn FnMut(&str, u64)) {
        report("encapsulated", self.encapsulated);
        report("decapsulated", self.decapsulated);
        report("too_big", self.too_big);
        report("no_headroom", self.no_headroom);
        for &(name, value) in specific {
            report(name, value);
        }
        report("bad_checksum", self.bad_checksum);
        report("fragments", self.fragments);
        report("malformed", self.malformed);
        report("other", self.other);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_core::{Pool, PoolConfig};
    use netfn_wire::{GreRepr, MacAddr, PacketBuilder};

    fn templates() -> Vec<PacketTemplate> {
        let eth = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let (l4, r4) = ([192, 0, 2, 1].into(), [198, 51, 100, 200].into());
        let (l6, r6) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8:ff::2".parse().unwrap(),
        );
        let gre = |checksum, key, sequence| GreRepr {
            protocol: EtherType::Unknown(netfn_wire::gre::PROTOCOL_TEB),
            checksum,
            key,
            sequence,
        };
        vec![
            eth.ipv4(l4, r4, 64)
                .dont_frag(true)
                .vxlan(49152, 7)
                .unwrap(),
            eth.ipv6(l6, r6, 9).vxlan(49152, 0xff_ffff).unwrap(),
            eth.ipv4(l4, r4, 1)
                .dont_frag(true)
                .gre(gre(false, None, None)),
            eth.ipv4(l4, r4, 64).gre(gre(true, Some(42), Some(0))),
            eth.vlan(7)
                .unwrap()
                .ipv6(l6, r6, 255)
                .gre(gre(false, Some(u32::MAX), None)),
        ]
    }

    /// The copied and patched headers equal what the template writes, for
    /// every length (the IPv4 checksum's carries included).
    #[test]
    fn encapsulate_writes_what_the_template_writes() {
        let pool = Pool::new(PoolConfig {
            frames: 2,
            ..Default::default()
        })
        .unwrap();
        for template in templates() {
            let outer = OuterHeaders::new(&template, 1500);
            assert_eq!(outer.len(), template.header_len());
            let max_inner = 1500 - (outer.len() - outer.l3);
            for inner_len in (14..=max_inner).step_by(7).chain([max_inner]) {
                let inner: Vec<u8> = (0..inner_len).map(|i| (i * 31 + 5) as u8).collect();
                let mut want = vec![0; template.size(inner_len)];
                template.write(&mut want, &inner).unwrap();
                let mut pkt = pool.alloc_with(&inner).unwrap();
                let e = outer.encapsulate(&mut pkt).unwrap();
                let upper = e.upper;
                // The tunnel header's own per-packet fields (lengths,
                // checksums) are the NF's: compare up to it.
                assert_eq!(
                    &pkt.data()[..upper],
                    &want[..upper],
                    "{template:?} {inner_len}"
                );
                assert_eq!(&pkt.data()[outer.len()..], &inner[..]);
            }
        }
    }

    #[test]
    fn encapsulate_refuses_and_leaves_the_packet() {
        let pool = Pool::new(PoolConfig {
            frames: 4,
            headroom: 16,
            ..Default::default()
        })
        .unwrap();
        let t = templates()[0];
        let outer = OuterHeaders::new(&t, 100);
        let mut short = pool.alloc_with(&[0; 13]).unwrap();
        assert_eq!(
            outer.encapsulate(&mut short).err(),
            Some(DropReason::Malformed)
        );
        // 100 - 20 - 8 - 8 = 64 bytes of inner frame fit.
        let mut big = pool.alloc_with(&[0; 65]).unwrap();
        assert_eq!(outer.encapsulate(&mut big).err(), Some(DropReason::TooBig));
        let mut fits = pool.alloc_with(&[0; 64]).unwrap();
        assert_eq!(outer.encapsulate(&mut fits).err(), Some(DropReason::Other));
        assert_eq!(fits.len(), 64, "no headroom: unchanged");
    }
}
