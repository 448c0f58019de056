//! Shared by the NF integration tests: golden pcaps (`golden`), the
//! steady-state allocation harness (`alloc`), config-error `Params`
//! (`params`), tunnel/tagger traffic (`encap`), random and mutated
//! frames (`fuzz`), and here independent
//! models of the trivial NFs, on etherparse.
#![allow(dead_code)] // each test binary uses a different subset

pub mod alloc;
pub mod encap;
pub mod fuzz;
pub mod golden;
pub mod params;

use etherparse as ep;
use netfn_core::DropReason;

/// The checksum of an IPv4 header with its checksum field taken as zero,
/// by etherparse's one's-complement sum over the raw bytes (etherparse's
/// `Ipv4Header` would drop the reserved flag).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    ep::checksum::Sum16BitWords::new()
        .add_slice(&header[..10])
        .add_slice(&header[12..])
        .ones_complement()
        .to_be() // the sum is kept in native byte order
}

/// `ttl` as etherparse sees it: an IPv4 or IPv6 packet directly behind
/// Ethernet leaves with its TTL / hop limit one lower (dropped at 1 or 0)
/// and, for IPv4, the header checksum recomputed from scratch; frames that
/// are neither (ARP, VLAN-tagged, unknown) pass unchanged.
///
/// The flag is false for an IPv4 header whose checksum was already wrong:
/// it must stay wrong (a router does not launder corruption), so only the
/// TTL byte is modelled and the caller checks the checksum still fails.
///
/// Where netfn deliberately differs from etherparse, the model follows
/// netfn: an IPv4 AH is not stepped over (it is the upper layer), an IPv6
/// payload length of 0 means no payload (no jumbograms), and more than 8
/// IPv6 extension headers are malformed.
pub fn model_ttl(frame: &[u8]) -> Result<(Vec<u8>, bool), DropReason> {
    let eth = ep::Ethernet2HeaderSlice::from_slice(frame).map_err(|_| DropReason::Malformed)?;
    let mut out = frame.to_vec();
    match eth.ether_type() {
        ep::EtherType::IPV4 => {
            let mut hidden = frame[14..].to_vec();
            if hidden.len() > 9 && hidden[9] == 51 {
                hidden[9] = 253;
            }
            let ip = ep::Ipv4Slice::from_slice(&hidden).map_err(|_| DropReason::Malformed)?;
            let (ttl, hl) = (ip.header().ttl(), ip.header().slice().len());
            if ttl <= 1 {
                return Err(DropReason::TtlExceeded);
            }
            let header = &mut out[14..14 + hl];
            let valid = ipv4_header_checksum(header) == ip.header().header_checksum();
            header[8] = ttl - 1;
            if valid {
                let csum = ipv4_header_checksum(header);
                header[10..12].copy_from_slice(&csum.to_be_bytes());
            }
            Ok((out, valid))
        }
        ep::EtherType::IPV6 => {
            let l3 = &frame[14..];
            let l3 = if l3.len() >= 40 && l3[4..6] == [0, 0] {
                &l3[..40]
            } else {
                l3
            };
            let ip = ep::Ipv6Slice::from_slice(l3).map_err(|_| DropReason::Malformed)?;
            if ip.extensions().clone().into_iter().count() > 8 {
                return Err(DropReason::Malformed);
            }
            let hop_limit = ip.header().hop_limit();
            if hop_limit <= 1 {
                return Err(DropReason::TtlExceeded);
            }
            out[14 + 7] = hop_limit - 1;
            Ok((out, true))
        }
        _ => Ok((out, true)),
    }
}

/// `macswap`: source and destination MAC exchanged; runts are malformed.
pub fn model_macswap(frame: &[u8]) -> Result<Vec<u8>, DropReason> {
    let eth = ep::Ethernet2HeaderSlice::from_slice(frame).map_err(|_| DropReason::Malformed)?;
    let mut out = frame.to_vec();
    out[0..6].copy_from_slice(&eth.source());
    out[6..12].copy_from_slice(&eth.destination());
    Ok(out)
}

/// A boxed NF as an NF, so a harness of an `impl Nf` can live in a
/// `thread_local` (one harness for all cases of a property test: a new one
/// per case would zero an 8 MiB pool each time).
pub struct Dyn(pub Box<dyn netfn_core::Nf>);

impl netfn_core::Nf for Dyn {
    fn process(
        &mut self,
        input: usize,
        batch: &mut netfn_core::Batch,
        ctx: &mut netfn_core::Ctx<'_>,
    ) {
        self.0.process(input, batch, ctx);
    }
}
