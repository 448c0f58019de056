//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! A checksum is computed in two steps: [`sum`] accumulates 16-bit
//! big-endian words in ones' complement arithmetic, [`fold`] reduces the
//! accumulator to 16 bits, and the checksum is the complement of that
//! ([`checksum`]). Partial sums returned here are always at most `0xffff`,
//! so several of them (a pseudo-header and a payload, say) can be added
//! with plain `+` before folding, as long as every part but the last has
//! even length (an odd part would shift the bytes after it).
//!
//! The incremental updates ([`update16`], [`update32`], [`update_bytes`])
//! use RFC 1624 equation 3, `HC' = ~(~HC + ~m + m')`, which gives exactly
//! the checksum a full recomputation would give for any checksum this
//! module computed (never `0xffff` for a nonzero sum); that is what lets a
//! NAT or router patch headers without reading the payload.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::IpProtocol;

/// Ones' complement sum of `data` as big-endian 16-bit words, an odd last
/// byte padded with a zero on the right. The result is at most `0xffff`.
///
/// This is on the data path: it reads 8 bytes at a time in native byte
/// order (RFC 1071 §2(B): the sum is byte-order independent up to a final
/// swap), which the compiler vectorises.
pub fn sum(data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    let mut acc: u64 = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        // Two 32-bit halves into a 64-bit accumulator: no carry is lost
        // before 2^31 chunks (16 GiB), far beyond any packet.
        acc += (word >> 32) + (word & 0xffff_ffff);
    }
    let native = fold_u64(acc);
    // The native-order sum equals the big-endian sum with its bytes swapped
    // on little-endian machines (and is it on big-endian ones).
    let mut total = u32::from(u16::from_be_bytes(native.to_ne_bytes()));
    // The remainder starts at an even offset, so it continues the same
    // big-endian word sequence.
    let mut rest = chunks.remainder().chunks_exact(2);
    for pair in &mut rest {
        total += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = rest.remainder() {
        total += u32::from(*last) << 8;
    }
    u32::from(fold(total))
}

fn fold_u64(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Folds a ones' complement accumulator to 16 bits (end-around carry).
#[inline]
pub fn fold(acc: u32) -> u16 {
    let s = (acc & 0xffff) + (acc >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The Internet checksum of `data`: `!fold(sum(data))`. Computed over a
/// header whose checksum field holds a correct checksum, it gives 0.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

/// Sum of the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1) for an upper
/// layer of `proto` whose length (header and data) is `len`.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, len: u16) -> u32 {
    let acc = sum(&src.octets()) + sum(&dst.octets()) + u32::from(u8::from(proto)) + u32::from(len);
    u32::from(fold(acc))
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper layer of
/// `next_header` whose length is `len`.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: IpProtocol, len: u32) -> u32 {
    let acc = sum(&src.octets())
        + sum(&dst.octets())
        + (len >> 16)
        + (len & 0xffff)
        + u32::from(u8::from(next_header));
    u32::from(fold(acc))
}

/// Pseudo-header sum for either address family. Mixed families (which no
/// valid packet has) still give a value, never a panic: the IPv4 and IPv6
/// pseudo-headers sum the same way apart from the addresses.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, proto: IpProtocol, len: u32) -> u32 {
    let acc =
        addr_sum(src) + addr_sum(dst) + (len >> 16) + (len & 0xffff) + u32::from(u8::from(proto));
    u32::from(fold(acc))
}

fn addr_sum(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => sum(&a.octets()),
        IpAddr::V6(a) => sum(&a.octets()),
    }
}

/// RFC 1624 update of checksum `csum` after a 16-bit word changed from
/// `old` to `new`.
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!csum) + u32::from(!old) + u32::from(new))
}

/// RFC 1624 update after a 32-bit field (aligned on a 16-bit word) changed
/// from `old` to `new`.
#[inline]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let acc = u32::from(!csum)
        + u32::from(!(old >> 16) as u16)
        + u32::from(!(old as u16))
        + (new >> 16)
        + (new & 0xffff);
    !fold(acc)
}

/// RFC 1624 update after the bytes `old` were replaced by `new`. Both must
/// start at an even offset of the checksummed data; use even lengths (an
/// odd length is only right if both end at the same odd position). Lengths
/// may differ (an IPv4 address replaced by an IPv6 one in a pseudo-header).
pub fn update_bytes(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    // `!fold(sum(old))` is the ones' complement negation of the old words.
    let acc = u32::from(!csum) + u32::from(!fold(sum(old))) + sum(new);
    !fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-by-bit reference: 16-bit words, end-around carry at each step.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let word = u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
            acc += word;
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        // A classic example header (Wikipedia, "IPv4 header checksum").
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&header), 0xb861);
        let mut with = header;
        with[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(checksum(&with), 0);
    }

    #[test]
    fn matches_reference_on_all_lengths_and_offsets() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 151 + 7) as u8 | 0x80).collect();
        for start in 0..9 {
            for end in start..data.len() {
                let part = &data[start..end];
                assert_eq!(fold(sum(part)), reference_sum(part), "{start}..{end}");
            }
        }
        let ones = [0xffu8; 1500];
        assert_eq!(fold(sum(&ones)), reference_sum(&ones));
    }

    #[test]
    fn empty_and_odd() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn incremental_matches_recompute() {
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let old = u16::from_be_bytes([header[8], header[9]]);
        header[8] = 0x3f;
        let new = u16::from_be_bytes([header[8], header[9]]);
        let csum = update16(0xb861, old, new);
        header[10..12].fill(0);
        assert_eq!(csum, checksum(&header));

        let old_src = [0xc0, 0xa8, 0x00, 0x01];
        let new_src = [0x0a, 0x01, 0x02, 0x03];
        header[12..16].copy_from_slice(&new_src);
        let by_bytes = update_bytes(csum, &old_src, &new_src);
        let by_u32 = update32(
            csum,
            u32::from_be_bytes(old_src),
            u32::from_be_bytes(new_src),
        );
        assert_eq!(by_bytes, checksum(&header));
        assert_eq!(by_u32, checksum(&header));
    }

    #[test]
    fn pseudo_headers_agree() {
        let s = Ipv4Addr::new(10, 0, 0, 1);
        let d = Ipv4Addr::new(192, 168, 1, 2);
        assert_eq!(
            pseudo_header_v4(s, d, IpProtocol::Udp, 28),
            pseudo_header(s.into(), d.into(), IpProtocol::Udp, 28)
        );
        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d6: Ipv6Addr = "fe80::2".parse().unwrap();
        assert_eq!(
            pseudo_header_v6(s6, d6, IpProtocol::Tcp, 70_000),
            pseudo_header(s6.into(), d6.into(), IpProtocol::Tcp, 70_000)
        );
        // Spelled out: 0x0a00 + 0x0001 + 0xc0a8 + 0x0102 + 17 + 28.
        let expected = fold(0x0a00 + 0x0001 + 0xc0a8 + 0x0102 + 17 + 28);
        assert_eq!(
            pseudo_header_v4(s, d, IpProtocol::Udp, 28),
            u32::from(expected)
        );
    }
}
