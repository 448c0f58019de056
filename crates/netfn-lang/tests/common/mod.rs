//! A catalog for the language tests: dummy NFs and ports with the shapes
//! (parameters, arities) of the real ones.

#![allow(dead_code)]

use netfn_core::config::{
    Arity, Build, Catalog, ConfigError, ElementSpec, ParamSpec, ParamType, Params,
};
use netfn_core::{Batch, Ctx, Nf, Port, PortCtx, RecvStatus};

/// An NF that forwards everything.
struct Pass;

impl Nf for Pass {
    fn process(&mut self, _input: usize, _batch: &mut Batch, _ctx: &mut Ctx<'_>) {}
}

/// A port that never receives and swallows what it is sent.
struct Null;

impl Port for Null {
    fn recv(&mut self, _batch: &mut Batch, _ctx: &mut PortCtx<'_>) -> RecvStatus {
        RecvStatus::Exhausted
    }
    fn send(&mut self, batch: &mut Batch, _ctx: &mut PortCtx<'_>) {
        batch.clear();
    }
}

fn pass(_: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    Ok(Box::new(Pass))
}

fn null(_: &Params) -> Result<Box<dyn Port>, ConfigError> {
    Ok(Box::new(Null))
}

/// Like a real firewall: the rules file must be readable.
fn firewall(params: &Params) -> Result<Box<dyn Nf>, ConfigError> {
    let path = params.str("rules")?;
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::param("rules", format!("cannot read `{path}`: {}", e.kind())))?;
    Ok(Box::new(Pass))
}

/// Like a pcap reader: the file must exist.
fn pcap_in(params: &Params) -> Result<Box<dyn Port>, ConfigError> {
    let path = params.str("file")?;
    std::fs::metadata(path)
        .map_err(|e| ConfigError::param("file", format!("cannot open `{path}`: {}", e.kind())))?;
    Ok(Box::new(Null))
}

static PORT_NUMBER: ParamType = ParamType::Int { min: 0, max: 65535 };
static PREFIX: ParamType = ParamType::Prefix;

pub static SPECS: &[ElementSpec] = &[
    ElementSpec {
        kind: "tap",
        doc: "a TAP interface, both directions",
        params: &[ParamSpec::required(
            "name",
            ParamType::Str,
            "interface name",
        )],
        inputs: Arity::Between(0, 1),
        outputs: Arity::Between(0, 1),
        build: Build::Port(null),
    },
    ElementSpec {
        kind: "pcap_in",
        doc: "reads packets from a pcap file",
        params: &[
            ParamSpec::required("file", ParamType::Path, "the pcap file"),
            ParamSpec::optional(
                "repeat",
                ParamType::Int {
                    min: 1,
                    max: 1_000_000,
                },
                "1",
                "times to replay",
            ),
        ],
        inputs: Arity::Exactly(0),
        outputs: Arity::Exactly(1),
        build: Build::Port(pcap_in),
    },
    ElementSpec {
        kind: "pcap_out",
        doc: "writes packets to a pcap file",
        params: &[ParamSpec::required(
            "file",
            ParamType::Path,
            "the pcap file",
        )],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(0),
        build: Build::Port(null),
    },
    ElementSpec {
        kind: "queue",
        doc: "a FIFO between two parts of a graph",
        params: &[ParamSpec::optional(
            "capacity",
            ParamType::Int { min: 1, max: 65536 },
            "1024",
            "packets held",
        )],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Port(null),
    },
    ElementSpec {
        kind: "firewall",
        doc: "filters packets by rules",
        params: &[
            ParamSpec::required("rules", ParamType::Path, "the rules file"),
            ParamSpec::optional(
                "default",
                ParamType::Word(&["accept", "drop"]),
                "accept",
                "verdict when no rule matches",
            ),
            ParamSpec::optional("timeout", ParamType::Duration, "30s", "idle flow timeout"),
        ],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Nf(firewall),
    },
    ElementSpec {
        kind: "nat",
        doc: "source NAT",
        params: &[
            ParamSpec::required("external", ParamType::Ip, "the public address"),
            ParamSpec::optional(
                "inside",
                ParamType::Prefix,
                "10.0.0.0/8",
                "addresses translated",
            ),
        ],
        inputs: Arity::Between(1, 2),
        outputs: Arity::Between(1, 2),
        build: Build::Nf(pass),
    },
    ElementSpec {
        kind: "ttl",
        doc: "decrements the TTL, drops expired packets",
        params: &[ParamSpec::optional(
            "limit",
            ParamType::Int { min: 1, max: 255 },
            "64",
            "highest TTL let through",
        )],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Nf(pass),
    },
    ElementSpec {
        kind: "counter",
        doc: "counts packets and bytes",
        params: &[],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Nf(pass),
    },
    ElementSpec {
        kind: "classifier",
        doc: "sends each packet to the output of the first matching pattern",
        params: &[
            ParamSpec::required("n", ParamType::Int { min: 1, max: 16 }, "number of outputs"),
            ParamSpec::optional(
                "ports",
                ParamType::List(&PORT_NUMBER),
                "[]",
                "TCP/UDP ports of output 0",
            ),
            ParamSpec::optional(
                "nets",
                ParamType::List(&PREFIX),
                "[]",
                "destination prefixes of output 0",
            ),
        ],
        inputs: Arity::Exactly(1),
        outputs: Arity::FromParam {
            param: "n",
            extra: 0,
        },
        build: Build::Nf(pass),
    },
    ElementSpec {
        kind: "merge",
        doc: "joins several inputs",
        params: &[],
        inputs: Arity::Between(1, 8),
        outputs: Arity::Exactly(1),
        build: Build::Nf(pass),
    },
    ElementSpec {
        kind: "tee",
        doc: "copies each packet to every output",
        params: &[ParamSpec::required(
            "n",
            ParamType::Int { min: 1, max: 64 },
            "number of outputs",
        )],
        inputs: Arity::Exactly(1),
        outputs: Arity::FromParam {
            param: "n",
            extra: 0,
        },
        build: Build::Nf(pass),
    },
    ElementSpec {
        kind: "policer",
        doc: "limits a rate",
        params: &[
            ParamSpec::optional("burst", ParamType::Size, "64KiB", "bucket size"),
            ParamSpec::optional("interval", ParamType::Duration, "1s", "refill period"),
            ParamSpec::optional("rate", ParamType::Str, "1Mpps", "rate"),
        ],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Nf(pass),
    },
    ElementSpec {
        kind: "rewrite",
        doc: "rewrites addresses",
        params: &[
            ParamSpec::optional("mac", ParamType::Mac, "02:00:00:00:00:01", "new source MAC"),
            ParamSpec::optional("src", ParamType::Ip, "192.0.2.1", "new source IP"),
            ParamSpec::optional(
                "strict",
                ParamType::Bool,
                "false",
                "drop what does not parse",
            ),
        ],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Nf(pass),
    },
    ElementSpec {
        kind: "worker",
        doc: "a Worker process (like the binary's: a file or the graph as text)",
        params: &[
            ParamSpec::optional("graph", ParamType::Path, "\"\"", "graph file"),
            ParamSpec::optional("text", ParamType::Str, "\"\"", "graph text"),
        ],
        inputs: Arity::Exactly(1),
        outputs: Arity::Between(0, 1),
        build: Build::Port(null),
    },
    ElementSpec {
        kind: "ring",
        doc: "a Worker's port to its Master",
        params: &[],
        inputs: Arity::Between(0, 1),
        outputs: Arity::Between(0, 1),
        build: Build::Port(null),
    },
    ElementSpec {
        kind: "discard",
        doc: "drops everything",
        params: &[],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(0),
        build: Build::Nf(pass),
    },
];

pub fn catalog() -> Catalog {
    let mut c = Catalog::new();
    c.extend(SPECS.iter());
    c
}
