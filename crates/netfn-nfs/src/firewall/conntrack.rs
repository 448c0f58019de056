//! Connection tracking for the stateful `firewall`: which connections the
//! rules allowed, so their packets (both directions) pass without asking
//! the rules again, as pf's `keep state` does.
//!
//! One entry per connection in a [`FlowTable`], keyed by the canonical
//! 5-tuple (so both directions find it with one lookup), remembering which
//! side opened it, the rule that allowed it, and its state; the state's
//! timeout class is the entry's class in the table.
//!
//! * TCP follows Linux's `nf_conntrack_proto_tcp.c` state table
//!   (`tcp_conntracks[dir][flags][state]`) and its valid flag combinations
//!   (`tcp_valid_flags`), without its sequence-window checks
//!   (`tcp_in_window`). Only a SYN opens a connection (Linux with
//!   `nf_conntrack_tcp_loose = 0`; pf's `flags S/SA`), so RSTs, stray ACKs
//!   and invalid flag combinations never create state. A SYN on a
//!   connection in TIME_WAIT or CLOSE ends it; the SYN is then a new
//!   connection, decided by the rules again. With `tcp_loose` an ACK also
//!   opens one, as ESTABLISHED (Linux's default `nf_conntrack_tcp_loose =
//!   1`, for connections that were open before the firewall started). Timeouts are Linux's, except
//!   ESTABLISHED (Linux: 5 days; here `tcp_established`, 2 h by default).
//! * UDP: 30 s until a reply is seen, then 120 s (Linux's `udp_timeout` and
//!   `udp_timeout_stream`).
//! * ICMP/ICMPv6 echo: request and reply matched by identifier, 30 s.
//!   ICMP errors (destination unreachable, time exceeded, packet too big,
//!   parameter problem) are *related* to the tracked connection of the
//!   header they quote and pass with it (Linux's RELATED).
//! * Other protocols: by address pair and protocol, 600 s (Linux's
//!   generic timeout).
//!
//! Call order per packet: [`Conntrack::track`]; if the packet has no
//! connection, `related` (for ICMP errors), then the rules, then
//! [`Conntrack::create`] for packets an allow rule keeps state for.

use std::time::Duration;

use netfn_core::FlowKey;
use netfn_core::flowtable::FlowTable;

use super::rules::{PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, PROTO_UDP};

/// A connection's state; its number is its timeout class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    SynSent = 0,
    SynRecv = 1,
    Established = 2,
    FinWait = 3,
    CloseWait = 4,
    LastAck = 5,
    TimeWait = 6,
    Close = 7,
    /// Simultaneous open: a SYN from both sides.
    SynSent2 = 8,
    UdpUnreplied = 9,
    UdpReplied = 10,
    Icmp = 11,
    Other = 12,
}

const STATES: [State; 13] = [
    State::SynSent,
    State::SynRecv,
    State::Established,
    State::FinWait,
    State::CloseWait,
    State::LastAck,
    State::TimeWait,
    State::Close,
    State::SynSent2,
    State::UdpUnreplied,
    State::UdpReplied,
    State::Icmp,
    State::Other,
];

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::SynSent => "SYN_SENT",
            State::SynRecv => "SYN_RECV",
            State::Established => "ESTABLISHED",
            State::FinWait => "FIN_WAIT",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
            State::TimeWait => "TIME_WAIT",
            State::Close => "CLOSE",
            State::SynSent2 => "SYN_SENT2",
            State::UdpUnreplied => "UDP_UNREPLIED",
            State::UdpReplied => "UDP_REPLIED",
            State::Icmp => "ICMP",
            State::Other => "OTHER",
        }
    }
}

/// Idle timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_established: Duration,
    pub udp_unreplied: Duration,
    pub udp_replied: Duration,
    pub icmp: Duration,
    pub other: Duration,
    /// Pick up connections already under way: an ACK without state opens
    /// one as ESTABLISHED (Linux's `nf_conntrack_tcp_loose = 1`).
    pub tcp_loose: bool,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_established: Duration::from_secs(2 * 3600),
            udp_unreplied: Duration::from_secs(30),
            udp_replied: Duration::from_secs(120),
            icmp: Duration::from_secs(30),
            other: Duration::from_secs(600),
            tcp_loose: false,
        }
    }
}

impl Timeouts {
    /// The timeout of every state, in [`State`] order.
    fn classes(&self) -> [Duration; 13] {
        let s = Duration::from_secs;
        STATES.map(|st| match st {
            State::SynSent | State::SynSent2 | State::FinWait | State::TimeWait => s(120),
            State::SynRecv | State::CloseWait => s(60),
            State::LastAck => s(30),
            State::Close => s(10),
            State::Established => self.tcp_established,
            State::UdpUnreplied => self.udp_unreplied,
            State::UdpReplied => self.udp_replied,
            State::Icmp => self.icmp,
            State::Other => self.other,
        })
    }
}

/// A tracked connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    pub state: State,
    /// The opener's packets have the canonical key (lower endpoint first).
    pub opener_is_canonical: bool,
    /// The rule that allowed it ([`NO_RULE`] after a reload dropped it).
    pub rule: u32,
}

/// [`Conn::rule`] of a connection whose rule no longer exists.
pub const NO_RULE: u32 = u32::MAX;

/// What the table says about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// Part of a connection (allowed by this rule).
    Pass(u32),
    /// Part of a connection, but not a valid segment in its state.
    Invalid,
    /// No connection.
    New,
}

/// Why no state was created for a packet an allow rule keeps state for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCreated {
    /// Not a connection opener (a TCP segment other than SYN).
    NotOpener,
    /// Nothing to track (an ICMP message that is not an echo request).
    Untracked,
    /// The table is full.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Syn = 0,
    SynAck = 1,
    Fin = 2,
    Ack = 3,
    Rst = 4,
}

/// Linux's `tcp_valid_flags`: the combinations of FIN, SYN, RST, ACK and
/// URG (ECE, CWR and PSH ignored) a real stack sends; `None` for the rest.
fn event(flags: u8) -> Option<Event> {
    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    const URG: u8 = 0x20;
    match flags & (FIN | SYN | RST | ACK | URG) {
        f if f == SYN || f == SYN | URG => Some(Event::Syn),
        f if f == SYN | ACK => Some(Event::SynAck),
        f if f == RST || f == RST | ACK => Some(Event::Rst),
        f if f == FIN | ACK || f == FIN | ACK | URG => Some(Event::Fin),
        f if f == ACK || f == ACK | URG => Some(Event::Ack),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    To(State),
    /// Pass, state unchanged (Linux's sIG).
    Ignore,
    /// Not valid in this state (Linux's sIV).
    Invalid,
}

/// `tcp_conntracks[dir][event][state]` (Linux), for existing connections.
fn tcp_next(reply: bool, ev: Event, st: State) -> Next {
    use Next::{Ignore as IG, Invalid as IV, To};
    use State::*;
    let (ss, sr, es, fw, cw, la, tw, cl, s2) = (
        To(SynSent),
        To(SynRecv),
        To(Established),
        To(FinWait),
        To(CloseWait),
        To(LastAck),
        To(TimeWait),
        To(Close),
        To(SynSent2),
    );
    // Columns: SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT,
    // LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2.
    let row: [Next; 9] = match (reply, ev) {
        (false, Event::Syn) => [ss, IG, IG, IG, IG, IG, ss, ss, s2],
        (false, Event::SynAck) => [IV, IG, IG, IG, IG, IG, IG, IG, sr],
        (false, Event::Fin) => [IV, fw, fw, la, la, la, tw, cl, IV],
        (false, Event::Ack) => [IV, es, es, cw, cw, tw, tw, cl, IV],
        (false, Event::Rst) => [cl, cl, cl, cl, cl, cl, cl, cl, cl],
        (true, Event::Syn) => [s2, IV, IV, IV, IV, IV, IV, IV, s2],
        (true, Event::SynAck) => [sr, IG, IG, IG, IG, IG, IG, IG, sr],
        (true, Event::Fin) => [IV, fw, fw, la, la, la, tw, cl, IV],
        (true, Event::Ack) => [IG, sr, es, cw, cw, tw, tw, cl, IG],
        (true, Event::Rst) => [cl, cl, cl, cl, cl, cl, cl, cl, cl],
    };
    match st {
        SynSent => row[0],
        SynRecv => row[1],
        Established => row[2],
        FinWait => row[3],
        CloseWait => row[4],
        LastAck => row[5],
        TimeWait => row[6],
        Close => row[7],
        SynSent2 => row[8],
        _ => IV,
    }
}

/// The connection table.
#[derive(Debug)]
pub struct Conntrack {
    table: FlowTable<FlowKey, Conn>,
    timeouts: Timeouts,
}

/// The parts of a packet tracking looks at.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub key: FlowKey,
    /// TCP flags (TCP only).
    pub tcp_flags: u8,
    /// ICMP(v6) type (ICMP only).
    pub icmp_type: u8,
    /// The transport header is present (not a non-first fragment).
    pub l4: bool,
}

impl Segment {
    /// Whether this packet can belong to a tracked connection at all.
    fn trackable(&self) -> bool {
        match self.key.protocol {
            PROTO_TCP | PROTO_UDP => self.l4,
            PROTO_ICMP => self.l4 && matches!(self.icmp_type, 0 | 8),
            PROTO_ICMP6 => self.l4 && matches!(self.icmp_type, 128 | 129),
            _ => true,
        }
    }
}

impl Conntrack {
    pub fn new(capacity: usize, timeouts: Timeouts) -> Conntrack {
        Conntrack {
            table: FlowTable::new(capacity.max(1), &timeouts.classes()),
            timeouts,
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Removes idle connections; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        self.table.expire(now, |_, _| {})
    }

    /// The connection of a packet, updating its state.
    pub fn track(&mut self, seg: &Segment, now: u64) -> Tracked {
        if !seg.trackable() {
            return Tracked::New;
        }
        let canonical = seg.key.canonical();
        let Some(slot) = self.table.find(&canonical) else {
            return Tracked::New;
        };
        let conn = *self.table.value(slot);
        let reply = (canonical == seg.key) != conn.opener_is_canonical;
        let next = match conn.state {
            State::UdpUnreplied if reply => State::UdpReplied,
            State::UdpUnreplied | State::UdpReplied | State::Icmp | State::Other => conn.state,
            tcp => {
                let Some(ev) = event(seg.tcp_flags) else {
                    return Tracked::Invalid;
                };
                if ev == Event::Syn && matches!(tcp, State::TimeWait | State::Close) {
                    // The old connection is over; this SYN opens a new one.
                    self.table.remove_slot(slot);
                    return Tracked::New;
                }
                match tcp_next(reply, ev, tcp) {
                    Next::To(s) => s,
                    Next::Ignore => tcp,
                    Next::Invalid => return Tracked::Invalid,
                }
            }
        };
        if next != conn.state {
            self.table.value_mut(slot).state = next;
            self.table.set_class(slot, next as u8, now);
        } else {
            self.table.touch(slot, now);
        }
        Tracked::Pass(conn.rule)
    }

    /// Whether an ICMP error quoting `inner` (the header of a packet of a
    /// tracked connection) belongs to it; refreshes nothing.
    pub fn related(&self, inner: &FlowKey) -> Option<u32> {
        self.table.peek(&inner.canonical()).map(|c| c.rule)
    }

    /// Starts tracking the connection `seg` opens, allowed by `rule`.
    pub fn create(&mut self, seg: &Segment, rule: u32, now: u64) -> Result<(), NotCreated> {
        if !seg.trackable() {
            return Err(NotCreated::Untracked);
        }
        let state = match seg.key.protocol {
            PROTO_TCP => match event(seg.tcp_flags) {
                Some(Event::Syn) => State::SynSent,
                Some(Event::Ack) if self.timeouts.tcp_loose => State::Established,
                _ => return Err(NotCreated::NotOpener),
            },
            PROTO_UDP => State::UdpUnreplied,
            PROTO_ICMP | PROTO_ICMP6 => {
                // Only a request opens; a reply with no state passes (the
                // rule allowed it) without creating any.
                if !matches!(seg.icmp_type, 8 | 128) {
                    return Err(NotCreated::Untracked);
                }
                State::Icmp
            }
            _ => State::Other,
        };
        let canonical = seg.key.canonical();
        let conn = Conn {
            state,
            opener_is_canonical: canonical == seg.key,
            rule,
        };
        self.table
            .insert(canonical, conn, state as u8, now)
            .map(|_| ())
            .map_err(|_| NotCreated::Full)
    }

    /// Every connection with its last-seen time (for a reload).
    pub fn entries(&self) -> Vec<(u64, FlowKey, Conn)> {
        let mut v: Vec<_> = self
            .table
            .iter()
            .map(|(slot, k, c)| (self.table.last_seen(slot), *k, *c))
            .collect();
        v.sort_by_key(|e| e.0);
        v
    }

    /// Re-inserts a connection taken from [`Conntrack::entries`].
    pub fn restore(&mut self, seen: u64, key: FlowKey, conn: Conn) -> bool {
        self.table.insert(key, conn, conn.state as u8, seen).is_ok()
    }

    /// The state of the connection a packet with this key belongs to.
    pub fn state_of(&self, key: &FlowKey) -> Option<State> {
        self.table.peek(&key.canonical()).map(|c| c.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const S: u64 = 1_000_000_000;
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const FIN: u8 = 0x01;
    const RST: u8 = 0x04;

    fn seg(reply: bool, proto: u8, flags: u8) -> Segment {
        let key = FlowKey {
            src: IpAddr::from([10, 0, 0, 9]),
            dst: IpAddr::from([10, 0, 0, 1]),
            src_port: 40000,
            dst_port: 80,
            protocol: proto,
        };
        Segment {
            key: if reply { key.reversed() } else { key },
            tcp_flags: flags,
            icmp_type: 8,
            l4: true,
        }
    }

    #[test]
    fn tcp_handshake_data_and_close() {
        let mut ct = Conntrack::new(16, Timeouts::default());
        assert_eq!(
            ct.create(&seg(false, 6, ACK), 0, 0),
            Err(NotCreated::NotOpener)
        );
        assert_eq!(
            ct.create(&seg(false, 6, RST), 0, 0),
            Err(NotCreated::NotOpener)
        );
        assert_eq!(
            ct.create(&seg(false, 6, SYN | FIN), 0, 0),
            Err(NotCreated::NotOpener)
        );
        ct.create(&seg(false, 6, SYN), 3, 0).unwrap();
        let k = seg(false, 6, 0).key;
        assert_eq!(ct.state_of(&k), Some(State::SynSent));
        assert_eq!(ct.track(&seg(true, 6, SYN | ACK), 1), Tracked::Pass(3));
        assert_eq!(ct.state_of(&k), Some(State::SynRecv));
        assert_eq!(ct.track(&seg(false, 6, ACK), 2), Tracked::Pass(3));
        assert_eq!(ct.state_of(&k), Some(State::Established));
        // Invalid flag combinations do not pass.
        assert_eq!(ct.track(&seg(true, 6, SYN | FIN), 3), Tracked::Invalid);
        assert_eq!(ct.track(&seg(true, 6, 0), 3), Tracked::Invalid);
        assert_eq!(ct.track(&seg(false, 6, FIN | ACK), 4), Tracked::Pass(3));
        assert_eq!(ct.state_of(&k), Some(State::FinWait));
        assert_eq!(ct.track(&seg(true, 6, ACK), 5), Tracked::Pass(3));
        assert_eq!(ct.state_of(&k), Some(State::CloseWait));
        assert_eq!(ct.track(&seg(true, 6, FIN | ACK), 6), Tracked::Pass(3));
        assert_eq!(ct.state_of(&k), Some(State::LastAck));
        assert_eq!(ct.track(&seg(false, 6, ACK), 7), Tracked::Pass(3));
        assert_eq!(ct.state_of(&k), Some(State::TimeWait));
        // TIME_WAIT lasts 2 minutes.
        assert_eq!(ct.expire(7 + 119 * S), 0);
        assert_eq!(ct.expire(7 + 120 * S), 1);
        assert!(ct.is_empty());
    }

    #[test]
    fn rst_closes_and_syn_reopens() {
        let mut ct = Conntrack::new(16, Timeouts::default());
        ct.create(&seg(false, 6, SYN), 0, 0).unwrap();
        assert_eq!(ct.track(&seg(true, 6, RST | ACK), 1), Tracked::Pass(0));
        let k = seg(false, 6, 0).key;
        assert_eq!(ct.state_of(&k), Some(State::Close));
        assert_eq!(ct.track(&seg(false, 6, SYN), 2), Tracked::New);
        assert_eq!(ct.state_of(&k), None);
        // An ACK from the responder before its SYN-ACK is ignored, a
        // SYN-ACK from the opener is invalid.
        ct.create(&seg(false, 6, SYN), 0, 3).unwrap();
        assert_eq!(ct.track(&seg(true, 6, ACK), 4), Tracked::Pass(0));
        assert_eq!(ct.state_of(&k), Some(State::SynSent));
        assert_eq!(ct.track(&seg(false, 6, SYN | ACK), 4), Tracked::Invalid);
        // Established lasts tcp_established.
        assert_eq!(ct.track(&seg(true, 6, SYN | ACK), 5), Tracked::Pass(0));
        assert_eq!(ct.track(&seg(false, 6, ACK), 6), Tracked::Pass(0));
        assert_eq!(ct.expire(6 + 7199 * S), 0);
        assert_eq!(ct.expire(6 + 7200 * S), 1);
        let mut loose = Conntrack::new(
            4,
            Timeouts {
                tcp_loose: true,
                ..Timeouts::default()
            },
        );
        loose.create(&seg(false, 6, ACK), 0, 0).unwrap();
        assert_eq!(loose.state_of(&k), Some(State::Established));
        assert_eq!(
            loose.create(&seg(true, 6, RST), 0, 0),
            Err(NotCreated::NotOpener)
        );
    }

    #[test]
    fn udp_timeouts_and_full_table() {
        let mut ct = Conntrack::new(1, Timeouts::default());
        ct.create(&seg(false, 17, 0), 1, 0).unwrap();
        let k = seg(false, 17, 0).key;
        assert_eq!(ct.expire(29 * S), 0);
        assert_eq!(ct.track(&seg(true, 17, 0), 29 * S), Tracked::Pass(1));
        assert_eq!(ct.state_of(&k), Some(State::UdpReplied));
        assert_eq!(ct.expire(29 * S + 119 * S), 0);
        let mut other = seg(false, 17, 0);
        other.key.src_port = 1;
        assert_eq!(ct.create(&other, 1, 30 * S), Err(NotCreated::Full));
        assert_eq!(ct.expire(29 * S + 120 * S), 1);
        let mut unreplied = Conntrack::new(4, Timeouts::default());
        unreplied.create(&seg(false, 17, 0), 1, 0).unwrap();
        assert_eq!(unreplied.expire(30 * S), 1);
    }

    #[test]
    fn icmp_echo_and_fragments() {
        let mut ct = Conntrack::new(4, Timeouts::default());
        let mut reply = seg(true, 1, 0);
        reply.icmp_type = 0;
        assert_eq!(ct.create(&reply, 0, 0), Err(NotCreated::Untracked));
        ct.create(&seg(false, 1, 0), 0, 0).unwrap();
        assert_eq!(ct.track(&reply, 1), Tracked::Pass(0));
        let mut unreach = seg(true, 1, 0);
        unreach.icmp_type = 3;
        assert_eq!(ct.track(&unreach, 1), Tracked::New);
        assert_eq!(ct.related(&seg(false, 1, 0).key), Some(0));
        let mut frag = seg(true, 17, 0);
        frag.l4 = false;
        assert_eq!(ct.create(&frag, 0, 0), Err(NotCreated::Untracked));
    }
}
