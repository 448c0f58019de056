//! Small NFs that exercise the core: `ttl`, `macswap`, `counter`, `tee`,
//! `merge`.

use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::ops::{self, Op, Stop, Terminal};
use netfn_core::{Batch, Ctx, DropReason, Nf};
use netfn_wire::{Ipv4, Ipv6};

/// Decrements the IPv4 TTL (incremental checksum, RFC 1624) or the IPv6
/// hop limit; drops packets that arrive with 1 or less (`ttl-exceeded`).
/// Other packets pass unchanged.
pub fn ttl() -> impl Nf {
    let v4 = ops::ethernet()
        .parse_or_skip::<Ipv4>()
        .try_transform(|ip, _| {
            if ip.header().ttl() <= 1 {
                return Err(Stop::from(DropReason::TtlExceeded));
            }
            ip.header_mut().decrement_ttl();
            Ok(())
        })
        .done();
    let v6 = ops::ethernet()
        .parse_or_skip::<Ipv6>()
        .try_transform(|ip, _| {
            if ip.header().hop_limit() <= 1 {
                return Err(Stop::from(DropReason::TtlExceeded));
            }
            ip.header_mut().decrement_hop_limit();
            Ok(())
        })
        .done();
    v4.or(v6).compose()
}

/// Swaps source and destination MAC addresses (reflects frames back).
pub fn macswap() -> impl Nf {
    ops::ethernet()
        .transform(|eth, _| {
            let mut h = eth.header_mut();
            let (src, dst) = (h.src_addr(), h.dst_addr());
            h.set_src_addr(dst);
            h.set_dst_addr(src);
        })
        .compose()
}

/// Counts packets and bytes passing through (Click's `Counter`); the counts
/// appear among the node's counters.
#[derive(Debug, Default)]
pub struct Counter {
    packets: u64,
    bytes: u64,
}

impl Nf for Counter {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        self.packets += batch.len() as u64;
        self.bytes += batch.iter().map(|p| p.len() as u64).sum::<u64>();
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        report("count", self.packets);
        report("byte_count", self.bytes);
    }

    fn adopt(&mut self, old: Box<dyn Nf>) {
        if let Some(old) = netfn_core::nf::downcast::<Counter>(old) {
            *self = *old;
        }
    }
}

/// Copies every packet to outputs 1..n; the original leaves on output 0.
#[derive(Debug)]
pub struct TeeNf {
    copies: u16,
}

impl TeeNf {
    pub fn new(outputs: u16) -> Self {
        TeeNf {
            copies: outputs.saturating_sub(1),
        }
    }
}

impl Nf for TeeNf {
    fn process(&mut self, _input: usize, batch: &mut Batch, ctx: &mut Ctx<'_>) {
        for p in batch.iter() {
            for k in 1..=self.copies {
                match p.copy() {
                    Some(c) => ctx.emit(k, c),
                    None => ctx.count_lost(DropReason::PoolExhausted),
                }
            }
        }
    }
}

/// Passes packets from any input to output 0 (an explicit merge point).
#[derive(Debug, Default)]
pub struct Merge;

impl Nf for Merge {
    fn process(&mut self, _input: usize, _batch: &mut Batch, _ctx: &mut Ctx<'_>) {}
}

fn no_params(_: &Params) -> Result<(), ConfigError> {
    Ok(())
}

pub static SPECS: [ElementSpec; 5] = [
    ElementSpec {
        kind: "ttl",
        doc: "Decrement the IPv4 TTL (incremental checksum) or IPv6 hop limit; drop at <= 1",
        params: &[],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Nf(|p| no_params(p).map(|()| Box::new(ttl()) as Box<dyn Nf>)),
    },
    ElementSpec {
        kind: "macswap",
        doc: "Swap source and destination MAC addresses",
        params: &[],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Nf(|p| no_params(p).map(|()| Box::new(macswap()) as Box<dyn Nf>)),
    },
    ElementSpec {
        kind: "counter",
        doc: "Count packets and bytes passing through",
        params: &[],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Nf(|p| no_params(p).map(|()| Box::new(Counter::default()) as Box<dyn Nf>)),
    },
    ElementSpec {
        kind: "tee",
        doc: "Copy every packet to each output (output 0 gets the original)",
        params: &[ParamSpec::optional(
            "n",
            ParamType::Int { min: 1, max: 64 },
            "2",
            "number of outputs",
        )],
        inputs: Arity::Exactly(1),
        outputs: Arity::FromParam {
            param: "n",
            extra: 0,
        },
        build: Build::Nf(|p| Ok(Box::new(TeeNf::new(p.int("n")? as u16)))),
    },
    ElementSpec {
        kind: "merge",
        doc: "Pass packets from every input to output 0",
        params: &[],
        inputs: Arity::Between(1, u16::MAX),
        outputs: Arity::Exactly(1),
        build: Build::Nf(|p| no_params(p).map(|()| Box::new(Merge) as Box<dyn Nf>)),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_core::testing::Harness;
    use netfn_wire::{MacAddr, PacketBuilder};
    use std::net::Ipv4Addr;

    fn udp(ttl: u8) -> Vec<u8> {
        let t = PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]))
            .ipv4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), ttl)
            .udp(1000, 2000);
        let mut buf = vec![0; t.size(18)];
        t.write(&mut buf, &[7; 18]).unwrap();
        buf
    }

    #[test]
    fn ttl_decrements_and_keeps_checksum_valid() {
        let mut h = Harness::new(ttl());
        let out = h.process_bytes(0, &[&udp(64), &udp(2), &udp(1), &udp(0)]);
        let fwd = out.on(0);
        assert_eq!(fwd.len(), 2);
        for (frame, want) in fwd.iter().zip([63, 1]) {
            let ip = netfn_wire::Ipv4Packet::new_checked(&frame[14..]).unwrap();
            assert_eq!(ip.ttl(), want);
            assert!(ip.verify_checksum());
        }
        assert_eq!(out.drop_reasons(), vec![DropReason::TtlExceeded; 2]);
    }

    #[test]
    fn ttl_passes_non_ipv4_and_drops_malformed_ipv4() {
        let mut h = Harness::new(ttl());
        let mut arp = udp(64);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut bad = udp(64);
        bad[14] = 0x43; // IHL 3
        let out = h.process_bytes(0, &[&arp, &bad, &udp(64)[..20]]);
        assert_eq!(out.on(0), vec![arp]);
        assert_eq!(
            out.drop_reasons(),
            vec![DropReason::Malformed, DropReason::Malformed]
        );
    }

    #[test]
    fn ttl_decrements_ipv6_hop_limit() {
        let frame = |hl| {
            let t =
                PacketBuilder::ethernet(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]))
                    .ipv6("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap(), hl)
                    .udp(1, 2);
            let mut buf = vec![0; t.size(4)];
            t.write(&mut buf, &[1, 2, 3, 4]).unwrap();
            buf
        };
        let mut h = Harness::new(ttl());
        let out = h.process_bytes(0, &[&frame(64), &frame(1)]);
        let fwd = out.on(0);
        assert_eq!(fwd.len(), 1);
        assert_eq!(
            netfn_wire::Ipv6Packet::new_checked(&fwd[0][14..])
                .unwrap()
                .hop_limit(),
            63
        );
        assert_eq!(out.drop_reasons(), vec![DropReason::TtlExceeded]);
    }

    #[test]
    fn macswap_swaps() {
        let mut h = Harness::new(macswap());
        let out = h.process_bytes(0, &[&udp(9)]);
        let f = &out.on(0)[0];
        assert_eq!(&f[0..6], &[2, 0, 0, 0, 0, 1]);
        assert_eq!(&f[6..12], &[2, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn tee_copies_to_every_output() {
        let mut h = Harness::new(TeeNf::new(3));
        let out = h.process_bytes(0, &[&udp(9), &udp(8)]);
        for k in 0..3 {
            assert_eq!(out.on(k), vec![udp(9), udp(8)], "output {k}");
        }
    }

    #[test]
    fn counter_counts() {
        let mut h = Harness::new(Counter::default());
        h.process_bytes(0, &[&udp(9), &udp(8)]);
        let mut seen = Vec::new();
        h.nf.counters(&mut |n, v| seen.push((n.to_string(), v)));
        assert_eq!(
            seen,
            vec![
                ("count".into(), 2),
                ("byte_count".into(), 2 * udp(9).len() as u64)
            ]
        );
    }
}
