//! Port backends: the traffic generator, sinks, queues, capture files,
//! standard input/output pipes, TAP interfaces and AF_PACKET sockets (and,
//! AF_XDP sockets over the frame pool), all behind `netfn_core::Port`.
//!
//! `unsafe` is confined to the system-call backends (`sys`, `afpacket`,
//! `afxdp`, `tap`), each block with its `SAFETY:` argument.

use netfn_core::Port;
use netfn_core::config::{Arity, Build, ConfigError, ElementSpec, ParamSpec, ParamType};

pub mod afpacket;
pub mod afxdp;
pub mod generator;
pub mod latency;
pub mod pcap;
pub mod pipe;
pub mod queue;
pub mod sink;
mod sys;
pub mod tap;

pub use afpacket::{AfPacket, AfPacketConfig};
pub use afxdp::{AfXdp, AfXdpConfig};
pub use pipe::{PipeFormat, StdinPort, StdoutPort};
pub use sys::poll_readable;
pub use tap::Tap;

pub use generator::{Generator, GeneratorConfig};
pub use pcap::{PcapSink, PcapSource};
pub use queue::Queue;
pub use sink::{Check, Sink};

fn boxed<P: Port>(r: Result<P, ConfigError>) -> Result<Box<dyn Port>, ConfigError> {
    r.map(|p| Box::new(p) as Box<dyn Port>)
}

const SOURCE: Arity = Arity::Between(0, 1);
const PORT_IN: Arity = Arity::Between(0, 1);

/// Every port kind of this crate.
pub fn catalog() -> impl Iterator<Item = &'static ElementSpec> {
    SPECS.iter()
}

pub static SPECS: [ElementSpec; 11] = [
    ElementSpec {
        kind: "generator",
        doc: "Built-in traffic generator: synthetic Ethernet/IP flows, no root or network needed",
        params: &[
            ParamSpec::optional(
                "size",
                ParamType::List(&ParamType::Size),
                "[64B]",
                "frame sizes (without FCS), picked evenly",
            ),
            ParamSpec::optional(
                "imix",
                ParamType::Bool,
                "false",
                "simple IMIX: 64/576/1500 bytes at 7:4:1 (overrides size)",
            ),
            ParamSpec::optional(
                "flows",
                ParamType::Int {
                    min: 1,
                    max: 1_000_000,
                },
                "1",
                "distinct 5-tuples",
            ),
            ParamSpec::optional(
                "udp",
                ParamType::Int { min: 0, max: 1000 },
                "1",
                "weight of UDP flows",
            ),
            ParamSpec::optional(
                "tcp",
                ParamType::Int { min: 0, max: 1000 },
                "0",
                "weight of TCP flows",
            ),
            ParamSpec::optional(
                "icmp",
                ParamType::Int { min: 0, max: 1000 },
                "0",
                "weight of ICMP echo flows",
            ),
            ParamSpec::optional(
                "ipv6",
                ParamType::Int { min: 0, max: 100 },
                "0",
                "percentage of flows that are IPv6",
            ),
            ParamSpec::optional(
                "seed",
                ParamType::Int {
                    min: 0,
                    max: i64::MAX,
                },
                "1",
                "seed of the flow and size choices",
            ),
            ParamSpec::optional(
                "rate",
                ParamType::Int {
                    min: 0,
                    max: i64::MAX,
                },
                "0",
                "packets per second (0 = as fast as possible)",
            ),
            ParamSpec::optional(
                "count",
                ParamType::Int {
                    min: 0,
                    max: i64::MAX,
                },
                "0",
                "stop after this many packets (0 = never)",
            ),
            ParamSpec::optional(
                "src",
                ParamType::Prefix,
                "10.0.0.0/16",
                "IPv4 source addresses",
            ),
            ParamSpec::optional(
                "dst",
                ParamType::Prefix,
                "10.1.0.0/16",
                "IPv4 destination addresses",
            ),
            ParamSpec::optional(
                "src6",
                ParamType::Prefix,
                "fd00:0:0:1::/64",
                "IPv6 source addresses",
            ),
            ParamSpec::optional(
                "dst6",
                ParamType::Prefix,
                "fd00:0:0:2::/64",
                "IPv6 destination addresses",
            ),
            ParamSpec::optional(
                "src_mac",
                ParamType::Mac,
                "02:00:00:00:00:01",
                "source MAC address",
            ),
            ParamSpec::optional(
                "dst_mac",
                ParamType::Mac,
                "02:00:00:00:00:02",
                "destination MAC address",
            ),
            ParamSpec::optional(
                "sequence",
                ParamType::Bool,
                "false",
                "stamp a 64-bit sequence number at the start of each payload",
            ),
            ParamSpec::optional(
                "timestamp",
                ParamType::Word(&["round", "precise"]),
                "round",
                "packet timestamps: the runtime's round clock, or a clock read per batch that sink(latency = true) measures against",
            ),
        ],
        inputs: PORT_IN,
        outputs: SOURCE,
        build: Build::Port(|p| boxed(Generator::from_params(p))),
    },
    ElementSpec {
        kind: "sink",
        doc: "Discard packets, counting them; optionally check checksums or generator sequence numbers, or measure latency",
        params: &[
            ParamSpec::optional(
                "check",
                ParamType::Word(&["none", "checksum", "sequence"]),
                "none",
                "what to verify in each packet",
            ),
            ParamSpec::optional(
                "latency",
                ParamType::Bool,
                "false",
                "histogram of the time since generator(timestamp = precise) stamped each packet (same process); counters latency_p50_ns, _p99_ns, _p999_ns, _max_ns",
            ),
            ParamSpec::optional(
                "warmup",
                ParamType::Duration,
                "0s",
                "with latency: ignore packets arriving in this first part of the run",
            ),
        ],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(0),
        build: Build::Port(|p| boxed(Sink::from_params(p))),
    },
    ElementSpec {
        kind: "queue",
        doc: "Bounded FIFO: packets sent to it are received from it later (breaks cycles)",
        params: &[ParamSpec::optional(
            "capacity",
            ParamType::Int {
                min: 1,
                max: 1 << 20,
            },
            "1024",
            "packets held at most",
        )],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(1),
        build: Build::Port(|p| boxed(Queue::from_params(p))),
    },
    ElementSpec {
        kind: "pcap_in",
        doc: "Replay a pcap or pcapng capture (Ethernet)",
        params: &[
            ParamSpec::required("file", ParamType::Path, "capture to read"),
            ParamSpec::optional(
                "pace",
                ParamType::Bool,
                "false",
                "replay at the recorded pace instead of flat out",
            ),
            ParamSpec::optional(
                "speed",
                ParamType::Int { min: 1, max: 1000 },
                "1",
                "with pace: speed-up factor",
            ),
            ParamSpec::optional(
                "repeat",
                ParamType::Int {
                    min: 0,
                    max: i64::MAX,
                },
                "1",
                "passes over the file (0 = forever)",
            ),
        ],
        inputs: Arity::Exactly(0),
        outputs: Arity::Exactly(1),
        build: Build::Port(|p| boxed(PcapSource::from_params(p))),
    },
    ElementSpec {
        kind: "pcap_out",
        doc: "Record packets into a pcap or pcapng file",
        params: &[
            ParamSpec::required("file", ParamType::Path, "capture to write"),
            ParamSpec::optional(
                "format",
                ParamType::Word(&["pcap", "pcapng"]),
                "pcap",
                "file format",
            ),
        ],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(0),
        build: Build::Port(|p| boxed(PcapSink::from_params(p))),
    },
    ElementSpec {
        kind: "afpacket",
        doc: "A Linux interface through AF_PACKET: TPACKET_V2 (or V3) receive ring, sendmmsg transmit (needs root)",
        params: &[
            ParamSpec::required(
                "dev",
                ParamType::Str,
                "interface name (in netfn's network namespace)",
            ),
            ParamSpec::optional(
                "fanout",
                ParamType::Int { min: 0, max: 65535 },
                "0",
                "PACKET_FANOUT group shared by flow hash with other sockets (0 = none)",
            ),
            ParamSpec::optional(
                "promisc",
                ParamType::Bool,
                "true",
                "promiscuous mode while open",
            ),
            ParamSpec::optional(
                "ring",
                ParamType::Word(&["frames", "blocks"]),
                "frames",
                "receive ring: frames = TPACKET_V2, 2KiB slots handed over at once (low latency); blocks = TPACKET_V3, frames packed into blocks handed over when full or after block_timeout (jumbo frames)",
            ),
            ParamSpec::optional(
                "frames",
                ParamType::Int {
                    min: 32,
                    max: 1 << 20,
                },
                "1024",
                "receive ring slots with ring = frames (rounded up to a multiple of 32): the queue's depth",
            ),
            ParamSpec::optional(
                "blocks",
                ParamType::Int { min: 2, max: 4096 },
                "64",
                "receive ring blocks (ring = blocks)",
            ),
            ParamSpec::optional(
                "block_size",
                ParamType::Size,
                "256KiB",
                "bytes per ring block (ring = blocks; power of two, 4KiB..16MiB)",
            ),
            ParamSpec::optional(
                "block_timeout",
                ParamType::Duration,
                "1ms",
                "ring = blocks: hand over a partly filled block after this long (what a packet may wait at low rates; 1ms at least)",
            ),
            ParamSpec::optional(
                "qdisc_bypass",
                ParamType::Bool,
                "false",
                "transmit straight to the driver, past qdiscs and taps (PACKET_QDISC_BYPASS)",
            ),
        ],
        inputs: PORT_IN,
        outputs: SOURCE,
        build: Build::Port(|p| boxed(AfPacket::from_params(p))),
    },
    ElementSpec {
        kind: "tap",
        doc: "A TAP interface (created or attached): the graph as a virtual Ethernet interface of the host (needs root)",
        params: &[
            ParamSpec::required(
                "name",
                ParamType::Str,
                "interface name (`tap%d`: the kernel picks)",
            ),
            ParamSpec::optional("up", ParamType::Bool, "true", "bring the interface up"),
        ],
        inputs: PORT_IN,
        outputs: SOURCE,
        build: Build::Port(|p| boxed(Tap::from_params(p))),
    },
    ElementSpec {
        kind: "stdin",
        doc: "Frames from standard input: a pcap/pcapng stream, or EtherPIPE hex lines (`DST SRC TYPE XX ..`)",
        params: &[
            ParamSpec::optional(
                "format",
                ParamType::Word(&["pcap", "hex"]),
                "pcap",
                "pcap (pcapng detected too) or hex, one frame per line",
            ),
            ParamSpec::optional(
                "path",
                ParamType::Path,
                "\"-\"",
                "read this file or named pipe instead (\"-\": standard input)",
            ),
        ],
        inputs: Arity::Exactly(0),
        outputs: Arity::Exactly(1),
        build: Build::Port(|p| boxed(StdinPort::from_params(p))),
    },
    ElementSpec {
        kind: "stdout",
        doc: "Frames to standard output: a pcap stream (| tcpdump -r -) or EtherPIPE hex lines (| grep -v ..)",
        params: &[
            ParamSpec::optional(
                "format",
                ParamType::Word(&["pcap", "pcapng", "hex"]),
                "pcap",
                "pcap or pcapng stream (flushed per batch), or hex, one frame per line",
            ),
            ParamSpec::optional(
                "path",
                ParamType::Path,
                "\"-\"",
                "write this file or named pipe instead (\"-\": standard output)",
            ),
        ],
        inputs: Arity::Exactly(1),
        outputs: Arity::Exactly(0),
        build: Build::Port(|p| boxed(StdoutPort::from_params(p))),
    },
    ElementSpec {
        kind: "pcap",
        doc: "A pcap/pcapng capture: replay it (read = ..., at a multiple of its recorded pace) or record into it (write = ...)",
        params: &[
            ParamSpec::optional("read", ParamType::Path, "\"-\"", "capture to replay"),
            ParamSpec::optional("write", ParamType::Path, "\"-\"", "capture to record"),
            ParamSpec::optional(
                "pace",
                ParamType::Str,
                "0",
                "reading: multiple of the recorded pace (1.0 as recorded, 2.5 faster), 0 = flat out",
            ),
            ParamSpec::optional(
                "repeat",
                ParamType::Int {
                    min: 0,
                    max: i64::MAX,
                },
                "1",
                "reading: passes over the file (0 = forever)",
            ),
            ParamSpec::optional(
                "format",
                ParamType::Word(&["pcap", "pcapng"]),
                "pcap",
                "writing: file format",
            ),
        ],
        inputs: PORT_IN,
        outputs: SOURCE,
        build: Build::Port(pcap::pcap_port),
    },
    ElementSpec {
        kind: "afxdp",
        doc: "An interface queue through AF_XDP (copy mode) with netfn's pool as UMEM; attaches its own XDP redirect program (needs root)",
        params: &[
            ParamSpec::required("dev", ParamType::Str, "interface name"),
            ParamSpec::optional(
                "queue",
                ParamType::Int { min: 0, max: 63 },
                "0",
                "receive queue to serve",
            ),
            ParamSpec::optional(
                "mode",
                ParamType::Word(&["native", "generic"]),
                "native",
                "native (driver) XDP or generic (skb) XDP",
            ),
            ParamSpec::optional(
                "ring",
                ParamType::Int {
                    min: 64,
                    max: 16384,
                },
                "2048",
                "entries of each ring (power of two)",
            ),
        ],
        inputs: PORT_IN,
        outputs: SOURCE,
        build: Build::Port(|p| boxed(AfXdp::from_params(p))),
    },
];
