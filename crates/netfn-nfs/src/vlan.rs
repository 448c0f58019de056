//! `vlan`: IEEE 802.1Q / 802.1ad tag push, pop and VID translation (what
//! Linux `tc action vlan push|pop|modify` and VPP's tag rewrite do).
//!
//! * `push` inserts a tag right after the MAC addresses: TPID 0x8100
//!   (`tpid = dot1q`) or 0x88a8 (`dot1ad`, a QinQ service tag), with `vid`,
//!   `pcp` and `dei`; the frame grows by 4 bytes into the pool's headroom
//!   (the MAC addresses move, nothing else is copied). Pushing onto a
//!   tagged frame stacks the new tag outside the old one.
//! * `pop` removes the outer tag (of either TPID); the frame shrinks by 4.
//! * `rewrite` translates the outer tag's VID through `map` (`"from:to"`
//!   pairs, one entry per VID, looked up in a 4096-entry table) and keeps
//!   its PCP and DEI; VIDs not in the map pass unchanged or are dropped
//!   (`unmapped = drop`: `filtered`).
//!
//! Untagged frames pass `pop` and `rewrite` unchanged (or are dropped,
//! `untagged = drop`: `filtered`); frames shorter than an Ethernet header,
//! or with a truncated tag, are `malformed`. No FCS is kept, so nothing
//! needs recomputing; the frame may exceed 1514 bytes after a push, as
//! 802.1Q allows (1518 + 4 per tag).

use crate::frame::BadHeader;
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType, Params};
use netfn_core::{Batch, Ctx, DropReason, Nf, Packet, Verdict};
use netfn_wire::vlan::{self, MAX_VID};
use netfn_wire::{EtherType, Ethernet, EthernetFrame, Header, Vlan, VlanRepr, VlanTag};

const MACS: usize = 12;
const UNMAPPED: u16 = u16::MAX;

/// What the NF does to each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlanAction {
    /// Push a tag with this TPID and TCI.
    Push { tpid: EtherType, tci: u16 },
    /// Pop the outer tag.
    Pop,
    /// Translate the outer VID through the map.
    Rewrite,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    pushed: u64,
    popped: u64,
    rewritten: u64,
    untagged: u64,
    unmapped: u64,
    malformed: u64,
}

/// The `vlan` NF.
#[derive(Debug)]
pub struct VlanNf {
    action: VlanAction,
    /// `map[from] = to`, or `UNMAPPED`.
    map: Box<[u16]>,
    drop_untagged: bool,
    drop_unmapped: bool,
    counters: Counters,
}

impl VlanNf {
    /// A `push` NF (`tpid` must be a VLAN TPID).
    pub fn push(tpid: EtherType, repr: VlanRepr) -> Result<Self, ConfigError> {
        if !tpid.is_vlan() {
            return Err(ConfigError::param(
                "tpid",
                "not a VLAN TPID (0x8100, 0x88a8)",
            ));
        }
        let tci = repr
            .tci()
            .map_err(|e| ConfigError::param("vid", e.to_string()))?;
        Ok(Self::with(VlanAction::Push { tpid, tci }))
    }

    /// A `pop` NF.
    pub fn pop(drop_untagged: bool) -> Self {
        VlanNf {
            drop_untagged,
            ..Self::with(VlanAction::Pop)
        }
    }

    /// A `rewrite` NF over `(from, to)` VID pairs.
    pub fn rewrite(
        pairs: &[(u16, u16)],
        drop_untagged: bool,
        drop_unmapped: bool,
    ) -> Result<Self, ConfigError> {
        if pairs.is_empty() {
            return Err(ConfigError::param(
                "map",
                "rewrite needs at least one \"from:to\" VID pair",
            ));
        }
        let mut nf = Self::with(VlanAction::Rewrite);
        for &(from, to) in pairs {
            if from > MAX_VID || to > MAX_VID {
                return Err(ConfigError::param(
                    "map",
                    format!("{from}:{to}: VLAN ids are 0..={MAX_VID}"),
                ));
            }
            if nf.map[usize::from(from)] != UNMAPPED {
                return Err(ConfigError::param(
                    "map",
                    format!("VID {from} is mapped twice"),
                ));
            }
            nf.map[usize::from(from)] = to;
        }
        nf.drop_untagged = drop_untagged;
        nf.drop_unmapped = drop_unmapped;
        Ok(nf)
    }

    fn with(action: VlanAction) -> Self {
        VlanNf {
            action,
            map: vec![UNMAPPED; usize::from(MAX_VID) + 1].into_boxed_slice(),
            drop_untagged: false,
            drop_unmapped: false,
            counters: Counters::default(),
        }
    }

    pub fn from_params(p: &Params) -> Result<Self, ConfigError> {
        let drop_untagged = p.str("untagged")? == "drop";
        match p.str("action")? {
            "push" => {
                let vid = p.int("vid")?;
                if vid < 0 {
                    return Err(ConfigError::param(
                        "vid",
                        "push needs the VLAN id to write (0..=4095)",
                    ));
                }
                let tpid = if p.str("tpid")? == "dot1ad" {
                    EtherType::QinQ
                } else {
                    EtherType::Vlan
                };
                VlanNf::push(
                    tpid,
                    VlanRepr {
                        pcp: p.int("pcp")? as u8,
                        dei: p.bool("dei")?,
                        vid: vid as u16,
                        ethertype: EtherType::Vlan,
                    },
                )
            }
            "pop" => Ok(VlanNf::pop(drop_untagged)),
            _ => {
                let mut pairs = Vec::new();
                for (i, item) in p.list("map")?.iter().enumerate() {
                    let pair = match item {
                        netfn_core::config::Value::Str(s) => parse_pair(s),
                        _ => None,
                    };
                    pairs.push(pair.ok_or_else(|| {
                        ConfigError::param(
                            "map",
                            format!(
                                "item {}: `{item}` is not \"<from>:<to>\" with VLAN ids 0..={MAX_VID}",
                                i + 1
                            ),
                        )
                    })?);
                }
                VlanNf::rewrite(&pairs, drop_untagged, p.str("unmapped")? == "drop")
            }
        }
    }

    fn untagged(&mut self) -> Verdict {
        self.counters.untagged += 1;
        if self.drop_untagged {
            Verdict::drop(DropReason::Filtered)
        } else {
            Verdict::PASS
        }
    }

    fn handle(&mut self, pkt: &mut Packet) -> Result<Verdict, BadHeader> {
        Ethernet::check(pkt.data()).map_err(|_| BadHeader)?;
        let outer = EthernetFrame::new_unchecked(pkt.data()).ethertype();
        match self.action {
            VlanAction::Push { tpid, tci } => {
                // The headroom is at least 4 bytes in any pool this
                // runtime makes; a frame without it cannot grow.
                pkt.push_front(vlan::HEADER_LEN).map_err(|_| BadHeader)?;
                let data = pkt.data_mut();
                data.copy_within(vlan::HEADER_LEN..vlan::HEADER_LEN + MACS, 0);
                // data[16..18] already holds the old EtherType: it becomes
                // the new tag's.
                EthernetFrame::new_unchecked(&mut *data).set_ethertype(tpid);
                VlanTag::new_unchecked(&mut data[14..18]).set_tci(tci);
                self.counters.pushed += 1;
                Ok(Verdict::PASS)
            }
            _ if !outer.is_vlan() => Ok(self.untagged()),
            VlanAction::Pop => {
                Vlan::check(&pkt.data()[14..]).map_err(|_| BadHeader)?;
                pkt.data_mut().copy_within(0..MACS, vlan::HEADER_LEN);
                pkt.pull_front(vlan::HEADER_LEN).map_err(|_| BadHeader)?;
                self.counters.popped += 1;
                Ok(Verdict::PASS)
            }
            VlanAction::Rewrite => {
                let mut tag =
                    VlanTag::new_checked(&mut pkt.data_mut()[14..]).map_err(|_| BadHeader)?;
                let to = self.map[usize::from(tag.vid())];
                if to == UNMAPPED {
                    self.counters.unmapped += 1;
                    return Ok(if self.drop_unmapped {
                        Verdict::drop(DropReason::Filtered)
                    } else {
                        Verdict::PASS
                    });
                }
                tag.set_vid(to);
                self.counters.rewritten += 1;
                Ok(Verdict::PASS)
            }
        }
    }
}

/// `"100:200"` → `(100, 200)`.
fn parse_pair(s: &str) -> Option<(u16, u16)> {
    let (from, to) = s.split_once(':')?;
    let vid = |t: &str| t.trim().parse::<u16>().ok().filter(|v| *v <= MAX_VID);
    Some((vid(from)?, vid(to)?))
}

impl Nf for VlanNf {
    fn process(&mut self, _input: usize, batch: &mut Batch, _ctx: &mut Ctx<'_>) {
        let (packets, verdicts) = batch.split_mut();
        for (pkt, verdict) in packets.iter_mut().zip(verdicts.iter_mut()) {
            *verdict = self.handle(pkt).unwrap_or_else(|BadHeader| {
                self.counters.malformed += 1;
                Verdict::drop(DropReason::Malformed)
            });
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.counters;
        report("pushed", c.pushed);
        report("popped", c.popped);
        report("rewritten", c.rewritten);
        report("untagged", c.untagged);
        report("unmapped", c.unmapped);
        report("malformed", c.malformed);
    }

    fn adopt(&mut self, old: Box<dyn Nf>) {
        if let Some(old) = netfn_core::nf::downcast::<VlanNf>(old) {
            self.counters = old.counters;
        }
    }
}

fn build(p: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(VlanNf::from_params(p)?))
}

pub static SPECS: [ElementSpec; 1] = [ElementSpec {
    kind: "vlan",
    doc: "Push, pop or rewrite (VID translation) the outer 802.1Q/802.1ad VLAN tag",
    params: &[
        ParamSpec::required(
            "action",
            ParamType::Word(&["push", "pop", "rewrite"]),
            "push a tag, pop the outer tag, or rewrite the outer VID through `map`",
        ),
        ParamSpec::optional(
            "vid",
            ParamType::Int {
                min: -1,
                max: MAX_VID as i64,
            },
            "-1",
            "push: the VLAN id written (required; 0 = priority tag)",
        ),
        ParamSpec::optional(
            "tpid",
            ParamType::Word(&["dot1q", "dot1ad"]),
            "dot1q",
            "push: 0x8100 (802.1Q C-tag) or 0x88a8 (802.1ad S-tag)",
        ),
        ParamSpec::optional(
            "pcp",
            ParamType::Int { min: 0, max: 7 },
            "0",
            "push: priority code point",
        ),
        ParamSpec::optional(
            "dei",
            ParamType::Bool,
            "false",
            "push: drop eligible indicator",
        ),
        ParamSpec::optional(
            "map",
            ParamType::List(&ParamType::Str),
            "[]",
            "rewrite: VID translations, each \"<from>:<to>\" (PCP and DEI kept)",
        ),
        ParamSpec::optional(
            "untagged",
            ParamType::Word(&["pass", "drop"]),
            "pass",
            "pop/rewrite: what to do with untagged frames (drop: `filtered`)",
        ),
        ParamSpec::optional(
            "unmapped",
            ParamType::Word(&["pass", "drop"]),
            "pass",
            "rewrite: what to do with VIDs not in `map` (drop: `filtered`)",
        ),
    ],
    inputs: Arity::Exactly(1),
    outputs: Arity::Exactly(1),
    build: Build::Nf(build),
}];

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_core::testing::Harness;

    fn untagged() -> Vec<u8> {
        let mut f: Vec<u8> = (0..60).collect();
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f
    }

    #[test]
    fn push_then_pop_is_identity() {
        let repr = VlanRepr {
            pcp: 5,
            dei: true,
            vid: 100,
            ethertype: EtherType::Vlan,
        };
        let mut push = Harness::new(VlanNf::push(EtherType::QinQ, repr).unwrap());
        let mut pop = Harness::new(VlanNf::pop(false));
        let f = untagged();
        let tagged = push.process_bytes(0, &[&f]).on(0).remove(0);
        assert_eq!(&tagged[..12], &f[..12]);
        assert_eq!(&tagged[12..18], &[0x88, 0xa8, 0xb0, 100, 0x08, 0x00]);
        assert_eq!(&tagged[18..], &f[14..]);
        assert_eq!(pop.process_bytes(0, &[&tagged]).on(0), vec![f.clone()]);
        // Untagged frames pass pop; runts are malformed.
        let out = pop.process_bytes(0, &[&f, &f[..13]]);
        assert_eq!(out.on(0), vec![f]);
        assert_eq!(out.drop_reasons(), vec![DropReason::Malformed]);
    }

    #[test]
    fn rewrite_translates_and_keeps_priority() {
        let mut nf = Harness::new(VlanNf::rewrite(&[(100, 200)], false, true).unwrap());
        let mut f = untagged();
        f.splice(12..12, [0x81, 0x00, 0xe0, 100]);
        let out = nf.process_bytes(0, &[&f]);
        let got = &out.on(0)[0];
        assert_eq!(&got[12..16], &[0x81, 0x00, 0xe0, 200]);
        f[15] = 101;
        assert_eq!(
            nf.process_bytes(0, &[&f]).drop_reasons(),
            vec![DropReason::Filtered]
        );
        assert_eq!(parse_pair("1:4095"), Some((1, 4095)));
        assert_eq!(parse_pair("1:4096"), None);
        assert!(VlanNf::rewrite(&[(1, 2), (1, 3)], false, false).is_err());
    }
}
