//! DNS messages (RFC 1035 §4.1): the 12-byte header, names with
//! compression, the question, and resource-record headers.
//!
//! Invariant of a checked [`DnsPacket`]: the buffer holds the 12-byte
//! header. Everything after it (names, questions, records) is read on
//! demand by functions that check every offset they follow and fail with
//! [`Error`] instead of panicking.
//!
//! Names ([`DnsName`]) are kept in wire form without compression and
//! without the final root label: a sequence of `len, bytes...` labels, at
//! most 254 bytes (255 with the root, RFC 1035 §2.3.4), each label at most
//! 63 bytes. Reading a name follows compression pointers (§4.1.4) only
//! backwards -- each pointer must lead before the start of the labels it
//! was reached from -- and at most [`MAX_POINTERS`] of them, so a hostile
//! message cannot loop. Label types `01` and `10` (RFC 6891 §5 retired
//! them) are malformed. Case is kept as sent (resolvers check that a
//! reply echoes the question's case, RFC 5452 §9.1 / "0x20" encoding);
//! [`DnsName::make_ascii_lowercase`] gives the form to compare.

use std::fmt;

use crate::bytes::{malformed, read_u16, read_u32, truncated, write_u16};
use crate::{Error, Extent, Header};

mod field {
    pub const ID: usize = 0;
    pub const FLAGS: usize = 2;
    pub const QDCOUNT: usize = 4;
    pub const ANCOUNT: usize = 6;
    pub const NSCOUNT: usize = 8;
    pub const ARCOUNT: usize = 10;
}

/// Length of the DNS header.
pub const HEADER_LEN: usize = 12;
/// Longest name in wire form without the root label (255 with it).
pub const MAX_NAME_LEN: usize = 254;
/// Longest label.
pub const MAX_LABEL_LEN: usize = 63;
/// Most compression pointers followed while reading one name.
pub const MAX_POINTERS: usize = 64;
/// The well-known DNS port.
pub const PORT: u16 = 53;

/// Header flag bits (the second 16-bit word).
pub mod flags {
    /// Response (1) or query (0).
    pub const QR: u16 = 0x8000;
    /// Authoritative answer.
    pub const AA: u16 = 0x0400;
    /// Truncated.
    pub const TC: u16 = 0x0200;
    /// Recursion desired.
    pub const RD: u16 = 0x0100;
    /// Recursion available.
    pub const RA: u16 = 0x0080;
    /// Authentic data (RFC 4035).
    pub const AD: u16 = 0x0020;
    /// Checking disabled (RFC 4035).
    pub const CD: u16 = 0x0010;
}

/// Response codes (RFC 1035 §4.1.1, RFC 6895).
pub mod rcode {
    /// No error.
    pub const NOERROR: u8 = 0;
    /// The server could not interpret the query.
    pub const FORMERR: u8 = 1;
    /// Server failure.
    pub const SERVFAIL: u8 = 2;
    /// The name does not exist.
    pub const NXDOMAIN: u8 = 3;
    /// Not implemented.
    pub const NOTIMP: u8 = 4;
    /// Refused for policy reasons.
    pub const REFUSED: u8 = 5;
}

/// Record types used here (RFC 1035, 3596, 6891, 9460).
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// EDNS(0) pseudo-record.
    pub const OPT: u16 = 41;
}

/// Class IN.
pub const CLASS_IN: u16 = 1;

/// The mnemonic of a record type as `dig` prints it (`A`, `AAAA`, ...);
/// `None` for types without one here (print them as `TYPE<n>`, RFC 3597).
pub fn rtype_name(rtype: u16) -> Option<&'static str> {
    Some(match rtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        257 => "CAA",
        _ => return None,
    })
}

/// Marker for a DNS message; its view is [`DnsPacket`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dns;

impl Header for Dns {
    const NAME: &'static str = "dns";
    type View<T: AsRef<[u8]>> = DnsPacket<T>;

    /// Only the fixed header is checked; the message ends with the buffer.
    fn check(buf: &[u8]) -> Result<Extent, Error> {
        if buf.len() < HEADER_LEN {
            return Err(truncated(Self::NAME, HEADER_LEN, buf.len()));
        }
        Ok(Extent {
            header_len: HEADER_LEN,
            end: buf.len(),
        })
    }

    fn view<T: AsRef<[u8]>>(buf: T) -> DnsPacket<T> {
        DnsPacket::new_unchecked(buf)
    }
}

/// A view over a DNS message (UDP payload, or a TCP message after its
/// 2-byte length prefix).
#[derive(Debug, Clone, Copy)]
pub struct DnsPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DnsPacket<T> {
    /// Wraps `buffer` without checking; accessors may panic if it is
    /// shorter than 12 bytes.
    pub const fn new_unchecked(buffer: T) -> Self {
        DnsPacket { buffer }
    }

    /// Wraps `buffer` after [`Dns::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Dns::check(buffer.as_ref())?;
        Ok(Self::new_unchecked(buffer))
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole message.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Message identifier.
    pub fn id(&self) -> u16 {
        read_u16(self.buf(), field::ID)
    }

    /// The flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub fn flags(&self) -> u16 {
        read_u16(self.buf(), field::FLAGS)
    }

    /// A response (QR set).
    pub fn is_response(&self) -> bool {
        self.flags() & flags::QR != 0
    }

    /// Opcode (0 = QUERY).
    pub fn opcode(&self) -> u8 {
        ((self.flags() >> 11) & 0xf) as u8
    }

    /// Response code (low 4 bits; EDNS extends it).
    pub fn rcode(&self) -> u8 {
        (self.flags() & 0xf) as u8
    }

    /// Entries in the question section.
    pub fn qdcount(&self) -> u16 {
        read_u16(self.buf(), field::QDCOUNT)
    }

    /// Records in the answer section.
    pub fn ancount(&self) -> u16 {
        read_u16(self.buf(), field::ANCOUNT)
    }

    /// Records in the authority section.
    pub fn nscount(&self) -> u16 {
        read_u16(self.buf(), field::NSCOUNT)
    }

    /// Records in the additional section.
    pub fn arcount(&self) -> u16 {
        read_u16(self.buf(), field::ARCOUNT)
    }

    /// The first question (at offset 12), its name read into `name`.
    pub fn question(&self, name: &mut DnsName) -> Result<DnsQuestion, Error> {
        if self.qdcount() == 0 {
            return Err(malformed(Dns::NAME, "no question"));
        }
        let end = read_name(self.buf(), HEADER_LEN, name)?;
        let fixed = self
            .buf()
            .get(end..end + 4)
            .ok_or_else(|| truncated(Dns::NAME, end + 4, self.buf().len()))?;
        Ok(DnsQuestion {
            qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
            end: end + 4,
        })
    }

    /// The header of the resource record at `at`, its owner name read
    /// into `name`.
    pub fn record(&self, at: usize, name: &mut DnsName) -> Result<DnsRecord, Error> {
        let buf = self.buf();
        let fixed = read_name(buf, at, name)?;
        if buf.len() < fixed + 10 {
            return Err(truncated(Dns::NAME, fixed + 10, buf.len()));
        }
        let rdlen = usize::from(read_u16(buf, fixed + 8));
        let end = fixed + 10 + rdlen;
        if buf.len() < end {
            return Err(truncated(Dns::NAME, end, buf.len()));
        }
        Ok(DnsRecord {
            rtype: read_u16(buf, fixed),
            class: read_u16(buf, fixed + 2),
            ttl: read_u32(buf, fixed + 4),
            rdata: fixed + 10..end,
            end,
        })
    }
}

/// Setters of the fixed header.
impl<T: AsRef<[u8]> + AsMut<[u8]>> DnsPacket<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the identifier.
    pub fn set_id(&mut self, id: u16) {
        write_u16(self.buf_mut(), field::ID, id);
    }

    /// Sets the whole flags word.
    pub fn set_flags(&mut self, flags: u16) {
        write_u16(self.buf_mut(), field::FLAGS, flags);
    }

    /// Sets the four section counts.
    pub fn set_counts(&mut self, qd: u16, an: u16, ns: u16, ar: u16) {
        let b = self.buf_mut();
        write_u16(b, field::QDCOUNT, qd);
        write_u16(b, field::ANCOUNT, an);
        write_u16(b, field::NSCOUNT, ns);
        write_u16(b, field::ARCOUNT, ar);
    }
}

/// The fixed part of a question; the name is read separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsQuestion {
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// Offset just past the question.
    pub end: usize,
}

/// The fixed part of a resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    /// TYPE.
    pub rtype: u16,
    /// CLASS (for OPT: the requestor's UDP payload size).
    pub class: u16,
    /// TTL (for OPT: extended RCODE, version, DO and Z).
    pub ttl: u32,
    /// Where RDATA lies in the message.
    pub rdata: std::ops::Range<usize>,
    /// Offset just past the record.
    pub end: usize,
}

/// A domain name in uncompressed wire form, without the root label (see
/// the module docs). The root name is empty.
#[derive(Clone, Copy)]
pub struct DnsName {
    bytes: [u8; MAX_NAME_LEN],
    len: u8,
}

impl Default for DnsName {
    fn default() -> Self {
        DnsName {
            bytes: [0; MAX_NAME_LEN],
            len: 0,
        }
    }
}

impl PartialEq for DnsName {
    fn eq(&self, other: &Self) -> bool {
        self.wire() == other.wire()
    }
}

impl Eq for DnsName {}

/// Why a domain name in text is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct NameError {
    /// Byte offset in the text where the problem is.
    pub at: usize,
    /// What is wrong.
    pub reason: &'static str,
}

impl DnsName {
    /// The root name.
    pub fn new() -> Self {
        DnsName::default()
    }

    /// The labels in wire form (`len, bytes...` each), without the root.
    pub fn wire(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Length of [`DnsName::wire`]; the name on the wire takes one more.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The root name.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every label.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends a label.
    pub fn push_label(&mut self, label: &[u8]) -> Result<(), Error> {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return Err(malformed(Dns::NAME, "label length not in 1..=63"));
        }
        let at = self.len();
        let end = at + 1 + label.len();
        if end > MAX_NAME_LEN {
            return Err(malformed(Dns::NAME, "name longer than 255 bytes"));
        }
        self.bytes[at] = label.len() as u8;
        self.bytes[at + 1..end].copy_from_slice(label);
        self.len = end as u8;
        Ok(())
    }

    /// Lowercases ASCII letters (DNS compares names case-insensitively,
    /// RFC 4343; other bytes are compared exactly).
    pub fn make_ascii_lowercase(&mut self) {
        let len = self.len();
        // Length bytes are at most 63, below 'A': lowercasing leaves them.
        self.bytes[..len].make_ascii_lowercase();
    }

    /// The labels, leftmost first.
    pub fn labels(&self) -> Labels<'_> {
        Labels { rest: self.wire() }
    }

    /// Number of labels.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The name and each of its ancestors in wire form, longest first
    /// (`www.example.com`, `example.com`, `com`); the root is not included.
    pub fn suffixes(&self) -> Suffixes<'_> {
        Suffixes { rest: self.wire() }
    }

    /// Parses a name in text form (`www.example.com`, a trailing dot
    /// allowed). Accepts host-name characters (letters, digits, `-`) and
    /// `_` (service labels, RFC 8552); no escapes. Case is kept.
    pub fn from_text(text: &str) -> Result<DnsName, NameError> {
        let text = text.strip_suffix('.').unwrap_or(text);
        let mut name = DnsName::new();
        if text.is_empty() {
            return Err(NameError {
                at: 0,
                reason: "empty name",
            });
        }
        let mut start = 0;
        for label in text.split('.') {
            if label.is_empty() {
                return Err(NameError {
                    at: start,
                    reason: "empty label (two dots in a row, or a leading dot)",
                });
            }
            if let Some(i) = label
                .bytes()
                .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            {
                return Err(NameError {
                    at: start + i,
                    reason: "a name holds letters, digits, `-` and `_` only",
                });
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError {
                    at: start,
                    reason: "label longer than 63 characters",
                });
            }
            if name.push_label(label.as_bytes()).is_err() {
                return Err(NameError {
                    at: start,
                    reason: "name longer than 253 characters",
                });
            }
            start += label.len() + 1;
        }
        Ok(name)
    }

    /// Writes the name in wire form (with the root label) to `buf`;
    /// returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let n = self.len() + 1;
        crate::bytes::ensure_room(buf, n)?;
        buf[..n - 1].copy_from_slice(self.wire());
        buf[n - 1] = 0;
        Ok(n)
    }
}

/// Presentation form as `dig` prints it, without the final dot (`.` for
/// the root): `\.` and `\\` inside labels, `\DDD` for bytes that are not
/// printable ASCII (RFC 1035 §5.1).
impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str(".");
        }
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in label {
                match b {
                    b'.' | b'\\' | b'"' => write!(f, "\\{}", b as char)?,
                    0x21..=0x7e => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DnsName({self})")
    }
}

/// Iterator over the labels of a [`DnsName`].
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let (label, rest) = tail.split_at(usize::from(len).min(tail.len()));
        self.rest = rest;
        Some(label)
    }
}

/// Iterator over a [`DnsName`] and its ancestors, in wire form.
#[derive(Debug, Clone)]
pub struct Suffixes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Suffixes<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let &len = self.rest.first()?;
        let here = self.rest;
        self.rest = &self.rest[(1 + usize::from(len)).min(self.rest.len())..];
        Some(here)
    }
}

/// Reads the (possibly compressed) name at `at` in `msg` into `out`;
/// returns the offset just past the name where it starts (past the first
/// pointer, if any). See the module docs for the rules.
pub fn read_name(msg: &[u8], at: usize, out: &mut DnsName) -> Result<usize, Error> {
    out.clear();
    let mut pos = at;
    // Start of the labels being read: a pointer must lead before it.
    let mut segment = at;
    let mut end = None;
    let mut pointers = 0;
    loop {
        let &len = msg
            .get(pos)
            .ok_or_else(|| truncated(Dns::NAME, pos + 1, msg.len()))?;
        match len >> 6 {
            0b00 if len == 0 => return Ok(end.unwrap_or(pos + 1)),
            0b00 => {
                let label = msg
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or_else(|| truncated(Dns::NAME, pos + 1 + usize::from(len), msg.len()))?;
                out.push_label(label)?;
                pos += 1 + usize::from(len);
            }
            0b11 => {
                let &low = msg
                    .get(pos + 1)
                    .ok_or_else(|| truncated(Dns::NAME, pos + 2, msg.len()))?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                if target >= segment {
                    return Err(malformed(
                        Dns::NAME,
                        "compression pointer does not lead back",
                    ));
                }
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(malformed(Dns::NAME, "too many compression pointers"));
                }
                end.get_or_insert(pos + 2);
                pos = target;
                segment = target;
            }
            _ => return Err(malformed(Dns::NAME, "reserved label type")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `dig example.com A` with EDNS: id 0x1234, RD, one question, one OPT.
    const QUERY: [u8; 41] = [
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1, // header
        7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, // name
        0, 1, 0, 1, // A IN
        0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0, // OPT, 1232, no options
        0, // (a stray byte past the last record)
    ];

    #[test]
    fn header_question_and_opt() {
        let p = DnsPacket::new_checked(&QUERY[..]).unwrap();
        assert_eq!(p.id(), 0x1234);
        assert!(!p.is_response());
        assert_eq!(p.opcode(), 0);
        assert_eq!(p.flags() & flags::RD, flags::RD);
        assert_eq!(
            (p.qdcount(), p.ancount(), p.nscount(), p.arcount()),
            (1, 0, 0, 1)
        );
        let mut name = DnsName::new();
        let q = p.question(&mut name).unwrap();
        assert_eq!(name.to_string(), "example.com");
        assert_eq!((q.qtype, q.qclass, q.end), (rtype::A, CLASS_IN, 29));
        let opt = p.record(q.end, &mut name).unwrap();
        assert!(name.is_empty());
        assert_eq!((opt.rtype, opt.class, opt.ttl), (rtype::OPT, 1232, 0));
        assert_eq!(opt.end, 40);
        for len in 0..12 {
            assert!(DnsPacket::new_checked(&QUERY[..len]).is_err());
        }
        for len in 12..29 {
            assert!(p_question(&QUERY[..len]).is_err(), "{len}");
        }
    }

    fn p_question(buf: &[u8]) -> Result<DnsQuestion, Error> {
        DnsPacket::new_checked(buf)?.question(&mut DnsName::new())
    }

    #[test]
    fn compression_pointers_are_followed_backwards_only() {
        // "www" + pointer to "example.com" at 12.
        let mut m = QUERY[..29].to_vec();
        let at = m.len();
        m.extend_from_slice(&[3, b'w', b'w', b'w', 0xc0, 12]);
        let mut name = DnsName::new();
        assert_eq!(read_name(&m, at, &mut name).unwrap(), at + 6);
        assert_eq!(name.to_string(), "www.example.com");
        // A pointer to itself, forward, and a loop between two segments.
        let mut m2 = m.clone();
        m2.extend_from_slice(&[0xc0, (at + 6) as u8]);
        assert!(read_name(&m2, at + 6, &mut name).is_err());
        let mut m3 = QUERY[..12].to_vec();
        m3.extend_from_slice(&[1, b'a', 0xc0, 16, 1, b'b', 0xc0, 12]);
        // 16 -> "b" -> 12 -> "a" -> 16 again: 16 is not before 12.
        assert!(read_name(&m3, 16, &mut name).is_err());
        // Reserved label types.
        let mut m4 = QUERY[..12].to_vec();
        m4.extend_from_slice(&[0x41, 0]);
        assert!(read_name(&m4, 12, &mut name).is_err());
        // Truncated pointer.
        let mut m5 = QUERY[..12].to_vec();
        m5.push(0xc0);
        assert!(read_name(&m5, 12, &mut name).is_err());
    }

    #[test]
    fn names_longer_than_255_are_rejected() {
        let mut m = QUERY[..12].to_vec();
        for _ in 0..4 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.push(0);
        // 4 * 64 = 256 bytes of labels: too long.
        assert!(read_name(&m, 12, &mut DnsName::new()).is_err());
        let mut ok = QUERY[..12].to_vec();
        for _ in 0..3 {
            ok.push(63);
            ok.extend_from_slice(&[b'a'; 63]);
        }
        ok.push(61);
        ok.extend_from_slice(&[b'b'; 61]);
        ok.push(0);
        let mut name = DnsName::new();
        assert_eq!(read_name(&ok, 12, &mut name).unwrap(), ok.len());
        assert_eq!(name.len(), 254);
    }

    #[test]
    fn text_names_case_and_suffixes() {
        let mut n = DnsName::from_text("WWW.Example.COM.").unwrap();
        assert_eq!(n.to_string(), "WWW.Example.COM");
        n.make_ascii_lowercase();
        let sufs: Vec<String> = n
            .suffixes()
            .map(|s| {
                let mut x = DnsName::new();
                read_name(&[s, &[0]].concat(), 0, &mut x).unwrap();
                x.to_string()
            })
            .collect();
        assert_eq!(sufs, ["www.example.com", "example.com", "com"]);
        assert_eq!(n.label_count(), 3);
        let mut buf = [0u8; 32];
        assert_eq!(n.emit(&mut buf).unwrap(), 17);
        assert_eq!(&buf[..17], b"\x03www\x07example\x03com\x00");
        for bad in ["", "a..b", ".a", "a b", "*.a", "é.com"] {
            assert!(DnsName::from_text(bad).is_err(), "{bad}");
        }
        assert_eq!(DnsName::from_text("a.b c").unwrap_err().at, 3);
        assert!(DnsName::from_text(&"a".repeat(64)).is_err());
        let long = vec!["abcdefghi"; 26].join(".");
        assert_eq!(long.len(), 259);
        assert!(DnsName::from_text(&long).is_err());
    }

    #[test]
    fn presentation_escapes() {
        let mut n = DnsName::new();
        n.push_label(b"a.b").unwrap();
        n.push_label(&[0, b'\\', b'x']).unwrap();
        assert_eq!(n.to_string(), "a\\.b.\\000\\\\x");
        assert_eq!(DnsName::new().to_string(), ".");
    }

    #[test]
    fn setters() {
        let mut m = QUERY;
        let mut p = DnsPacket::new_unchecked(&mut m[..]);
        p.set_id(7);
        p.set_flags(flags::QR | flags::RA | u16::from(rcode::NXDOMAIN));
        p.set_counts(1, 2, 3, 4);
        assert_eq!(p.id(), 7);
        assert!(p.is_response());
        assert_eq!(p.rcode(), rcode::NXDOMAIN);
        assert_eq!(
            (p.qdcount(), p.ancount(), p.nscount(), p.arcount()),
            (1, 2, 3, 4)
        );
        assert_eq!(rtype_name(28), Some("AAAA"));
        assert_eq!(rtype_name(9999), None);
    }

    proptest::proptest! {
        /// Any bytes: reading never panics, and a name that reads is at
        /// most 254 bytes of labels of 1..=63 bytes.
        #[test]
        fn random_messages_never_panic(msg in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), at in 0usize..300) {
            let mut name = DnsName::new();
            if let Ok(end) = read_name(&msg, at, &mut name) {
                proptest::prop_assert!(end <= msg.len());
                proptest::prop_assert!(name.len() <= MAX_NAME_LEN);
                for label in name.labels() {
                    proptest::prop_assert!((1..=MAX_LABEL_LEN).contains(&label.len()));
                }
                let _ = name.to_string();
            }
            if let Ok(p) = DnsPacket::new_checked(&msg[..])
                && let Ok(q) = p.question(&mut name)
            {
                let _ = p.record(q.end, &mut name);
            }
        }
    }
}
