//! Property tests of the operator layer: random frames (built by
//! `netfn_wire::PacketBuilder` from random fields, then with random bytes
//! overwritten, truncated or padded) go through header-parsing pipelines.
//! The pipelines must never panic, and what the cursors show (where each
//! header starts, how long it is, where its payload starts and ends) must
//! agree with an independent parse by etherparse. A `transform` that
//! decrements the IPv4 TTL must produce the bytes etherparse's model does.
//!
//! The model states where netfn deliberately differs from etherparse:
//! * an IPv4 AH is the upper layer for netfn (etherparse steps over it);
//! * an IPv6 payload length of 0 means an empty payload (etherparse takes
//!   the rest of the frame, for jumbograms);
//! * a UDP length below 8 is malformed (etherparse takes 0 as "to the end");
//! * an IPv6 chain of more than 8 extension headers is malformed.

use std::cell::{Cell, RefCell};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

use etherparse as ep;
use netfn_core::ops::{self, Cursor, Op, Terminal};
use netfn_core::testing::Harness;
use netfn_core::{DropReason, Nf};
use netfn_wire::{
    Header, IpProtocol, Ipv4, Ipv4Packet, Ipv6, MacAddr, PacketBuilder, PacketTemplate, Tcp,
    TcpFlags, TcpOption, Udp, Vlan,
};
use proptest::prelude::*;

// ---------------------------------------------------------------- frames

#[derive(Debug, Clone)]
enum Upper {
    Udp(u16, u16),
    Tcp(u16, u16, u32, u8, bool),
    Icmp,
    Raw(u8),
    /// IPv6 only: extension headers (kind, length in 8-byte units after
    /// the first 8, fragment offset for kind 44) in front of a UDP header.
    Ipv6Exts(Vec<(u8, u8, u16)>),
}

#[derive(Debug, Clone)]
enum Net {
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        ident: u16,
        dont_frag: bool,
    },
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
    },
    Arp,
    Other(u16),
}

#[derive(Debug, Clone)]
struct FrameSpec {
    macs: ([u8; 6], [u8; 6]),
    vlans: Vec<u16>,
    net: Net,
    upper: Upper,
    /// IPv4 option words (NOPs) inserted after the builder ran.
    ipv4_options: u8,
    payload: Vec<u8>,
    /// (position, new byte); positions are taken modulo the frame length.
    mutations: Vec<(usize, u8)>,
    /// Cut the frame to this fraction (in 1/256) of its length.
    cut: Option<u8>,
    pad: usize,
}

fn upper() -> impl Strategy<Value = Upper> {
    prop_oneof![
        3 => any::<(u16, u16)>().prop_map(|(s, d)| Upper::Udp(s, d)),
        3 => any::<(u16, u16, u32, u8, bool)>().prop_map(|(s, d, q, f, o)| Upper::Tcp(s, d, q, f, o)),
        1 => Just(Upper::Icmp),
        1 => any::<u8>().prop_map(Upper::Raw),
        2 => proptest::collection::vec(
            (prop_oneof![Just(0u8), Just(43), Just(44), Just(60), Just(51)], 0u8..3, any::<u16>()),
            1..4,
        )
        .prop_map(Upper::Ipv6Exts),
    ]
}

fn net() -> impl Strategy<Value = Net> {
    prop_oneof![
        5 => (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<u8>(), any::<u16>(), any::<bool>())
            .prop_map(|(s, d, ttl, ident, dont_frag)| Net::V4 {
                src: s.into(),
                dst: d.into(),
                ttl,
                ident,
                dont_frag,
            }),
        4 => (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u8>())
            .prop_map(|(s, d, hop_limit)| Net::V6 { src: s.into(), dst: d.into(), hop_limit }),
        1 => Just(Net::Arp),
        1 => any::<u16>().prop_map(Net::Other),
    ]
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    (
        any::<([u8; 6], [u8; 6])>(),
        prop_oneof![7 => Just(0usize), 2 => Just(1), 1 => Just(2)]
            .prop_flat_map(|n| proptest::collection::vec(0u16..4096, n)),
        net(),
        upper(),
        prop_oneof![3 => Just(0u8), 1 => 1u8..=10],
        proptest::collection::vec(any::<u8>(), 0..120),
        // Mostly in the headers, where a change matters.
        proptest::collection::vec((0usize..96, any::<u8>()), 0..3),
        proptest::option::weighted(0.2, any::<u8>()),
        prop_oneof![4 => Just(0usize), 1 => 1usize..20],
    )
        .prop_map(
            |(macs, vlans, net, upper, ipv4_options, payload, mutations, cut, pad)| FrameSpec {
                macs,
                vlans,
                net,
                upper,
                ipv4_options,
                payload,
                mutations,
                cut,
                pad,
            },
        )
}

/// The IPv6 extension chain of `Upper::Ipv6Exts` plus a UDP header, as
/// raw bytes; returns (first next-header value, bytes).
fn ipv6_exts(exts: &[(u8, u8, u16)], payload: &[u8]) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    for (i, &(kind, units, frag)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(17, |e| e.0);
        match kind {
            44 => {
                out.extend_from_slice(&[next, 0]);
                out.extend_from_slice(&(frag & 0xfff9).to_be_bytes());
                out.extend_from_slice(&[0, 0, 0, 1]);
            }
            51 => {
                // AH: length in 4-byte units minus 2; 12 bytes minimum.
                out.extend_from_slice(&[next, 1 + 2 * units, 0, 0]);
                out.extend(std::iter::repeat_n(0xa5, 8 + 8 * usize::from(units)));
            }
            _ => {
                out.extend_from_slice(&[next, units]);
                out.extend(std::iter::repeat_n(0, 6 + 8 * usize::from(units)));
            }
        }
    }
    let udp_len = (8 + payload.len()) as u16;
    out.extend_from_slice(&[0x30, 0x39, 0x00, 0x35]);
    out.extend_from_slice(&udp_len.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    (exts[0].0, out)
}

fn build(spec: &FrameSpec) -> Vec<u8> {
    let mut eth = PacketBuilder::ethernet(MacAddr(spec.macs.0), MacAddr(spec.macs.1));
    for &vid in &spec.vlans {
        eth = eth.vlan(vid).expect("vid below 4096");
    }
    let mut payload = spec.payload.clone();
    let template: PacketTemplate = match &spec.net {
        Net::Arp => eth.arp_request([10, 0, 0, 1].into(), [10, 0, 0, 2].into()),
        Net::Other(t) => eth.ethertype((*t).into()),
        Net::V4 {
            src,
            dst,
            ttl,
            ident,
            dont_frag,
        } => {
            let ip = eth
                .ipv4(*src, *dst, *ttl)
                .ident(*ident)
                .dont_frag(*dont_frag);
            match &spec.upper {
                Upper::Udp(s, d) => ip.udp(*s, *d),
                Upper::Tcp(s, d, seq, flags, mss) => {
                    let options = [TcpOption::MaxSegmentSize(1460)];
                    let options: &[TcpOption<'_>] = if *mss { &options } else { &[] };
                    ip.tcp_with_options(*s, *d, *seq, 0, TcpFlags::from_bits(*flags), 1024, options)
                        .expect("options fit")
                }
                Upper::Icmp => ip.icmpv4_echo_request(1, 2),
                Upper::Raw(p) => ip.protocol(IpProtocol::from(*p)),
                Upper::Ipv6Exts(_) => ip.udp(1, 2),
            }
        }
        Net::V6 {
            src,
            dst,
            hop_limit,
        } => {
            let ip = eth.ipv6(*src, *dst, *hop_limit);
            match &spec.upper {
                Upper::Udp(s, d) => ip.udp(*s, *d),
                Upper::Tcp(s, d, seq, flags, _) => {
                    ip.tcp(*s, *d, *seq, 0, TcpFlags::from_bits(*flags), 1024)
                }
                Upper::Icmp => ip.icmpv6_echo_request(1, 2),
                Upper::Raw(p) => ip.protocol(IpProtocol::from(*p)),
                Upper::Ipv6Exts(exts) => {
                    let (first, bytes) = ipv6_exts(exts, &payload);
                    payload = bytes;
                    ip.protocol(IpProtocol::from(first))
                }
            }
        }
    };
    let mut frame = vec![0; template.size(payload.len())];
    template.write(&mut frame, &payload).expect("template fits");
    let l3 = 14 + 4 * spec.vlans.len();
    if matches!(spec.net, Net::V4 { .. }) && spec.ipv4_options > 0 {
        let words = usize::from(spec.ipv4_options);
        frame.splice(l3 + 20..l3 + 20, std::iter::repeat_n(1, 4 * words));
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[l3..]);
        ip.set_version_ihl(5 + spec.ipv4_options);
        ip.set_total_len(ip.total_len() + 4 * u16::from(spec.ipv4_options));
        ip.fill_checksum();
    }
    let len = frame.len();
    for &(at, byte) in &spec.mutations {
        frame[at % len] = byte;
    }
    if let Some(cut) = spec.cut {
        frame.truncate(len * usize::from(cut) / 256);
    }
    frame.extend(std::iter::repeat_n(0, spec.pad));
    frame
}

// ------------------------------------------------------ what the cursor shows

/// One header as a cursor shows it, in packet offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layer {
    offset: usize,
    header_len: usize,
    /// Payload start and end (the end of the protocol unit).
    payload: (usize, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L4 {
    Udp { src: u16, dst: u16 },
    Tcp { src: u16, dst: u16, seq: u32 },
}

/// What one packet's pipeline saw: its IP layer and, where carried, the
/// TCP or UDP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    ip: Layer,
    l4: Option<(L4, Layer)>,
}

fn layer<H: Header, S>(c: &Cursor<'_, H, S>) -> Layer {
    let base = c.packet().data().as_ptr() as usize;
    let start = c.payload().as_ptr() as usize - base;
    Layer {
        offset: c.offset(),
        header_len: c.header_len(),
        payload: (start, start + c.payload().len()),
    }
}

type Log = Rc<RefCell<Vec<(u64, Seen)>>>;

/// Ethernet [-> one VLAN tag] -> IPv4/IPv6 -> UDP/TCP, with fallbacks for
/// IP packets that carry neither (or are non-first fragments): each path
/// records what its cursors saw, keyed by the packet's index (user
/// metadata). Paths are tried in order (`or`) until one does not skip.
fn parser(log: Log) -> impl Nf {
    let pending = Rc::new(Cell::new(None::<Layer>));
    macro_rules! l4_path {
        ($start:expr, $ip:ty, $l4:ty, $make:expr) => {{
            let (log, p1, p2) = (log.clone(), pending.clone(), pending.clone());
            $start
                .parse_or_skip::<$ip>()
                .map(move |ip, _| p1.set(Some(layer(ip))))
                .parse_or_skip::<$l4>()
                .map(move |c, _| {
                    let ip = p2.take().expect("the IP stage ran");
                    let l4 = $make(&c.header());
                    log.borrow_mut().push((
                        c.packet().user_meta(),
                        Seen {
                            ip,
                            l4: Some((l4, layer(c))),
                        },
                    ));
                })
                .done()
        }};
    }
    macro_rules! ip_path {
        ($start:expr, $ip:ty) => {{
            let log = log.clone();
            $start
                .parse_or_skip::<$ip>()
                .map(move |ip, _| {
                    log.borrow_mut().push((
                        ip.packet().user_meta(),
                        Seen {
                            ip: layer(ip),
                            l4: None,
                        },
                    ));
                })
                .done()
        }};
    }
    let udp = |u: &netfn_wire::UdpPacket<&[u8]>| L4::Udp {
        src: u.src_port(),
        dst: u.dst_port(),
    };
    let tcp = |t: &netfn_wire::TcpPacket<&[u8]>| L4::Tcp {
        src: t.src_port(),
        dst: t.dst_port(),
        seq: t.seq_number(),
    };
    let eth = ops::ethernet;
    let vlan = || ops::ethernet().parse_or_skip::<Vlan>();
    l4_path!(eth(), Ipv4, Udp, udp)
        .or(l4_path!(eth(), Ipv4, Tcp, tcp))
        .or(l4_path!(eth(), Ipv6, Udp, udp))
        .or(l4_path!(eth(), Ipv6, Tcp, tcp))
        .or(ip_path!(eth(), Ipv4))
        .or(ip_path!(eth(), Ipv6))
        .or(l4_path!(vlan(), Ipv4, Udp, udp))
        .or(l4_path!(vlan(), Ipv4, Tcp, tcp))
        .or(l4_path!(vlan(), Ipv6, Udp, udp))
        .or(l4_path!(vlan(), Ipv6, Tcp, tcp))
        .or(ip_path!(vlan(), Ipv4))
        .or(ip_path!(vlan(), Ipv6))
        .compose()
}

// ------------------------------------------------------- etherparse's view

/// What the pipeline should do with a frame: drop it as malformed, or pass
/// it, having seen `Seen` (nothing for non-IP frames).
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Malformed,
    Pass(Option<Seen>),
}

fn transport(
    ip_number: u8,
    base: usize,
    l4: &[u8],
    fragment_zero: bool,
) -> Option<Result<(L4, Layer), ()>> {
    if !fragment_zero {
        return None;
    }
    let end = base + l4.len();
    match ip_number {
        17 => Some((|| {
            let u = ep::UdpHeaderSlice::from_slice(l4).map_err(drop)?;
            let len = usize::from(u.length());
            if len < 8 || len > l4.len() {
                return Err(());
            }
            Ok((
                L4::Udp {
                    src: u.source_port(),
                    dst: u.destination_port(),
                },
                Layer {
                    offset: base,
                    header_len: 8,
                    payload: (base + 8, base + len),
                },
            ))
        })()),
        6 => Some(ep::TcpHeaderSlice::from_slice(l4).map_err(drop).map(|t| {
            let hl = t.slice().len();
            (
                L4::Tcp {
                    src: t.source_port(),
                    dst: t.destination_port(),
                    seq: t.sequence_number(),
                },
                Layer {
                    offset: base,
                    header_len: hl,
                    payload: (base + hl, end),
                },
            )
        })),
        _ => None,
    }
}

fn finish(ip: Layer, l4: Option<Result<(L4, Layer), ()>>) -> Expect {
    match l4 {
        Some(Err(())) => Expect::Malformed,
        Some(Ok(l4)) => Expect::Pass(Some(Seen { ip, l4: Some(l4) })),
        None => Expect::Pass(Some(Seen { ip, l4: None })),
    }
}

fn expect(frame: &[u8]) -> Expect {
    let Ok(eth) = ep::Ethernet2HeaderSlice::from_slice(frame) else {
        return Expect::Malformed;
    };
    let (ethertype, l2) = match eth.ether_type() {
        ep::EtherType::VLAN_TAGGED_FRAME | ep::EtherType::PROVIDER_BRIDGING => {
            let Ok(tag) = ep::SingleVlanHeaderSlice::from_slice(&frame[14..]) else {
                return Expect::Malformed;
            };
            (tag.ether_type(), 18)
        }
        other => (other, 14),
    };
    match ethertype {
        ep::EtherType::IPV4 => expect_ipv4(frame, l2),
        ep::EtherType::IPV6 => expect_ipv6(frame, l2),
        _ => Expect::Pass(None),
    }
}

fn expect_ipv4(frame: &[u8], l2: usize) -> Expect {
    let l3 = &frame[l2..];
    // Hide an AH from etherparse: for netfn it is the upper layer.
    let mut hidden = l3.to_vec();
    if hidden.len() > 9 && hidden[9] == 51 {
        hidden[9] = 253;
    }
    let Ok(ip) = ep::Ipv4Slice::from_slice(&hidden) else {
        return Expect::Malformed;
    };
    let h = ip.header();
    let hl = h.slice().len();
    let end = l2 + usize::from(h.total_len());
    let ip_layer = Layer {
        offset: l2,
        header_len: hl,
        payload: (l2 + hl, end),
    };
    let first = h.fragments_offset().value() == 0;
    finish(
        ip_layer,
        transport(l3[9], l2 + hl, &frame[l2 + hl..end], first),
    )
}

fn expect_ipv6(frame: &[u8], l2: usize) -> Expect {
    let l3 = &frame[l2..];
    // Payload length 0: no payload (no jumbograms).
    let l3 = if l3.len() >= 40 && l3[4..6] == [0, 0] {
        &l3[..40]
    } else {
        l3
    };
    let Ok(ip) = ep::Ipv6Slice::from_slice(l3) else {
        return Expect::Malformed;
    };
    let exts = ip.extensions().clone().into_iter().collect::<Vec<_>>();
    if exts.len() > 8 {
        return Expect::Malformed;
    }
    let first = exts.iter().all(|e| match e {
        ep::Ipv6ExtensionSlice::Fragment(f) => f.fragment_offset().value() == 0,
        _ => true,
    });
    let payload = ip.payload().payload;
    let start = l2 + (payload.as_ptr() as usize - l3.as_ptr() as usize);
    let end = l2 + 40 + usize::from(ip.header().payload_length());
    let ip_layer = Layer {
        offset: l2,
        header_len: start - l2,
        payload: (start, end),
    };
    finish(
        ip_layer,
        transport(ip.payload().ip_number.0, start, payload, first),
    )
}

/// A boxed NF, so a harness of it can live in a `thread_local`: building a
/// harness per case would allocate and zero its 8 MiB pool 512 times.
struct Dyn(Box<dyn Nf>);

impl Nf for Dyn {
    fn process(
        &mut self,
        input: usize,
        batch: &mut netfn_core::Batch,
        ctx: &mut netfn_core::Ctx<'_>,
    ) {
        self.0.process(input, batch, ctx);
    }
}

thread_local! {
    static PARSER: (Log, RefCell<Harness<Dyn>>) = {
        let log = Log::default();
        let h = Harness::new(Dyn(Box::new(parser(log.clone()))));
        (log, RefCell::new(h))
    };
    static TTL: RefCell<Harness<Dyn>> = RefCell::new(Harness::new(Dyn(Box::new(ttl_op()))));
}

fn check_parser(frames: &[Vec<u8>]) -> Result<(), TestCaseError> {
    PARSER.with(|(log, h)| {
        log.borrow_mut().clear();
        check_parser_with(frames, log, &mut h.borrow_mut())
    })
}

fn check_parser_with(
    frames: &[Vec<u8>],
    log: &Log,
    h: &mut Harness<Dyn>,
) -> Result<(), TestCaseError> {
    let packets = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut p = h.packet(f);
            p.set_user_meta(i as u64);
            p
        })
        .collect();
    let out = h.process(0, packets);
    let dropped: Vec<u64> = out
        .dropped
        .iter()
        .map(|(r, p)| {
            assert_eq!(*r, DropReason::Malformed);
            p.user_meta()
        })
        .collect();
    let log = log.borrow();
    for (i, frame) in frames.iter().enumerate() {
        let i64_ = i as u64;
        let got = if dropped.contains(&i64_) {
            Expect::Malformed
        } else {
            let seen: Vec<Seen> = log
                .iter()
                .filter(|(k, _)| *k == i64_)
                .map(|(_, s)| *s)
                .collect();
            prop_assert!(seen.len() <= 1, "frame {i} recorded twice: {seen:?}");
            Expect::Pass(seen.first().copied())
        };
        prop_assert_eq!(got, expect(frame), "frame {} = {:02x?}", i, frame);
    }
    prop_assert_eq!(out.forwarded.len() + out.dropped.len(), frames.len());
    Ok(())
}

// ------------------------------------------------------------------ ttl

/// Decrements the TTL through a `transform`; drops at 1 or 0.
fn ttl_op() -> impl Nf {
    ops::ethernet()
        .parse::<Ipv4>()
        .try_transform(|ip, _| {
            if ip.header().ttl() <= 1 {
                return Err(DropReason::TtlExceeded.into());
            }
            ip.header_mut().decrement_ttl();
            Ok(())
        })
        .compose()
}

/// The checksum of an IPv4 header with its checksum field taken as zero,
/// by etherparse's one's-complement sum (over the raw bytes: etherparse's
/// `Ipv4Header` does not keep the reserved flag).
fn header_checksum(header: &[u8]) -> u16 {
    ep::checksum::Sum16BitWords::new()
        .add_slice(&header[..10])
        .add_slice(&header[12..])
        .ones_complement()
        .to_be() // the sum is kept in native byte order
}

/// etherparse's TTL decrement: the checksum recomputed from scratch. A
/// frame whose checksum was already wrong must stay wrong (a router does
/// not launder corruption), so for those only the TTL byte is modelled and
/// the checksum is checked to still fail; the returned flag says which.
fn ttl_model(frame: &[u8]) -> Result<(Vec<u8>, bool), DropReason> {
    let eth = ep::Ethernet2HeaderSlice::from_slice(frame).map_err(|_| DropReason::Malformed)?;
    if eth.ether_type() != ep::EtherType::IPV4 {
        return Err(DropReason::Unsupported);
    }
    // Hide an AH from etherparse: for netfn it is the upper layer.
    let mut hidden = frame[14..].to_vec();
    if hidden.len() > 9 && hidden[9] == 51 {
        hidden[9] = 253;
    }
    let ip = ep::Ipv4Slice::from_slice(&hidden).map_err(|_| DropReason::Malformed)?;
    let (ttl, hl) = (ip.header().ttl(), ip.header().slice().len());
    if ttl <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    let mut out = frame.to_vec();
    let header = &mut out[14..14 + hl];
    let valid = header_checksum(header) == ip.header().header_checksum();
    header[8] = ttl - 1;
    if valid {
        let csum = header_checksum(header);
        header[10..12].copy_from_slice(&csum.to_be_bytes());
    }
    Ok((out, valid))
}

/// Compares a frame `ttl_op` forwarded with the model's.
fn check_ttl(got: &[u8], want: &[u8], checksum_valid: bool) -> Result<(), TestCaseError> {
    if checksum_valid {
        prop_assert_eq!(got, want);
        return Ok(());
    }
    // Everything but the checksum as modelled; the checksum still wrong.
    prop_assert_eq!(got.len(), want.len());
    prop_assert_eq!(&got[..24], &want[..24]);
    prop_assert_eq!(&got[26..], &want[26..]);
    let h = ep::Ipv4HeaderSlice::from_slice(&got[14..]).unwrap();
    prop_assert_ne!(header_checksum(h.slice()), h.header_checksum());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Cursor views agree with etherparse, and nothing panics.
    #[test]
    fn cursor_views_agree_with_etherparse(specs in proptest::collection::vec(frame_spec(), 1..12)) {
        let frames: Vec<Vec<u8>> = specs.iter().map(build).collect();
        check_parser(&frames)?;
    }

    /// Arbitrary bytes (not built by the builder) never panic the parser.
    #[test]
    fn arbitrary_bytes_never_panic(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..128), 1..12),
        ipv6 in any::<bool>(),
    ) {
        let frames: Vec<Vec<u8>> = frames
            .into_iter()
            .map(|mut f| {
                // Steer half of them past the EtherType.
                if f.len() >= 15 {
                    f[12..14].copy_from_slice(if ipv6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
                    f[14] = (f[14] & 0x0f) | if ipv6 { 0x60 } else { 0x40 };
                }
                f
            })
            .collect();
        check_parser(&frames)?;
    }

    /// A TTL `transform` gives the bytes of etherparse's decrement with a
    /// recomputed checksum (so the incremental update is exact), and keeps
    /// a wrong checksum wrong.
    #[test]
    fn ttl_transform_matches_model(specs in proptest::collection::vec(frame_spec(), 1..12)) {
        let frames: Vec<Vec<u8>> = specs.iter().map(build).collect();
        let frame_refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let out = TTL.with(|h| h.borrow_mut().process_bytes(0, &frame_refs));
        let mut forwarded = out.on(0).into_iter();
        let mut dropped = out.drop_reasons().into_iter();
        for frame in &frames {
            match ttl_model(frame) {
                Ok((want, valid)) => {
                    let got = forwarded.next();
                    prop_assert!(got.is_some(), "{frame:02x?} was not forwarded");
                    check_ttl(&got.unwrap_or_default(), &want, valid)?;
                }
                Err(reason) => prop_assert_eq!(dropped.next(), Some(reason)),
            }
        }
        prop_assert_eq!(forwarded.next(), None);
        prop_assert_eq!(dropped.next(), None);
    }
}
