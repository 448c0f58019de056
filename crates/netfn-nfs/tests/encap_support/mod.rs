//! Shared by the policer, vlan, vxlan and gre tests: traffic, the golden
//! pcap runner and the steady-state allocation check.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use netfn_core::ctx::{EmitBuffer, TimerRequests};
use netfn_core::testing::Harness;
use netfn_core::{Batch, Ctx, DropReason, Nf, Pool, PoolConfig};
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

fn golden_dir(nf: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(nf)
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
    let d = golden_dir(dir);
    let (in_path, out_path) = (
        d.join(format!("{name}.in.pcap")),
        d.join(format!("{name}.out.pcap")),
    );
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    if update {
        std::fs::create_dir_all(&d).unwrap();
        netfn_ports::pcap::write_frames(&in_path, input).unwrap();
    }
    let committed = netfn_ports::pcap::read_frames(&in_path).unwrap();
    assert_eq!(
        committed, input,
        "{name}: committed input differs from the generator"
    );
    let mut h = Harness::new(nf);
    let refs: Vec<&[u8]> = committed.iter().map(|f| f.as_slice()).collect();
    let out = h.process_bytes(0, &refs);
    let forwarded = out.on(0);
    if update {
        netfn_ports::pcap::write_frames(&out_path, &forwarded).unwrap();
    }
    let expected = netfn_ports::pcap::read_frames(&out_path).unwrap();
    assert_eq!(forwarded.len(), expected.len(), "{name}: frame count");
    for (i, (got, want)) in forwarded.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "{name}: frame {i} differs");
    }
    (forwarded, out.drop_reasons())
}

/// Runs `nf` over `frames` in batches of 32 at time `now`, once to warm
/// up and then under the allocation counter; returns allocations counted.
pub fn allocations(nf: &mut dyn Nf, frames: &[Vec<u8>], times: &[u64]) -> u64 {
    let pool = Pool::new(PoolConfig {
        frames: 1024,
        ..PoolConfig::default()
    })
    .unwrap();
    let mut rng = fastrand::Rng::with_seed(3);
    let mut emit = EmitBuffer::with_capacity(512);
    let mut timers = TimerRequests::default();
    let mut batch = Batch::with_capacity(32);
    let mut run = |nf: &mut dyn Nf, now: u64| {
        for chunk in frames.chunks(32) {
            for f in chunk {
                batch.push(pool.alloc_with(f).unwrap()).unwrap();
            }
            let mut ctx = Ctx::new(now, &mut rng, &pool, &mut emit, &mut timers);
            nf.process(0, &mut batch, &mut ctx);
            batch.clear();
        }
    };
    run(nf, times[0]);
    let info = allocation_counter::measure(|| {
        for &t in &times[1..] {
            run(nf, t);
        }
    });
    info.count_total
}

/// Random frames and mangled copies of `base` (bytes flipped, cut short).
pub fn mangle(base: &[Vec<u8>], frames: &[Vec<u8>], flips: &[(usize, u8)]) -> Vec<Vec<u8>> {
    let mut all = frames.to_vec();
    for b in base {
        let mut f = b.clone();
        for (at, x) in flips {
            let i = at % f.len();
            f[i] ^= x;
        }
        all.push(f);
        let cut = flips.first().map_or(0, |(a, _)| a % b.len());
        all.push(b[..cut].to_vec());
    }
    all
}
