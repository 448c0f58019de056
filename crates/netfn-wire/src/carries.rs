//! Which header can follow which: the [`Carries`] impls.
//!
//! Each `locate` reads only the protocol field of a buffer already accepted
//! by its own `check`, so it cannot panic; IP layers answer `None` for
//! non-first fragments, whose payload starts mid-datagram.

use crate::bytes::read_u16;
use crate::{Carries, EtherType, Ethernet, IpProtocol, Ipv4, Ipv4Packet, Tcp, Udp};

fn ethertype_at(buf: &[u8], at: usize) -> EtherType {
    read_u16(buf, at).into()
}

macro_rules! carries_by_ethertype {
    ($outer:ty, $field:expr, $len:expr, $inner:ty, $pred:expr) => {
        impl Carries<$inner> for $outer {
            fn locate(buf: &[u8]) -> Option<usize> {
                let pred: fn(EtherType) -> bool = $pred;
                pred(ethertype_at(buf, $field)).then_some($len)
            }
        }
    };
}

carries_by_ethertype!(Ethernet, 12, 14, Ipv4, |t| t == EtherType::Ipv4);

fn ipv4_upper(buf: &[u8], want: IpProtocol) -> Option<usize> {
    let packet = Ipv4Packet::new_unchecked(buf);
    (packet.protocol() == want && packet.is_first_fragment()).then(|| packet.header_len())
}

impl Carries<Tcp> for Ipv4 {
    fn locate(buf: &[u8]) -> Option<usize> {
        ipv4_upper(buf, IpProtocol::Tcp)
    }
}

impl Carries<Udp> for Ipv4 {
    fn locate(buf: &[u8]) -> Option<usize> {
        ipv4_upper(buf, IpProtocol::Udp)
    }
}
