//! `tap(name=...)`: a TAP interface, so a graph is a virtual Ethernet
//! interface of the host. The host's frames sent to the interface are
//! received by the graph; what the graph sends to the port appears on the
//! interface as received frames.
//!
//! The interface is created if missing or attached to if it exists (a
//! persistent one, `ip tuntap add mode tap`), with `IFF_TAP | IFF_NO_PI`
//! (plain Ethernet frames, no packet-information prefix), non-blocking.
//! With `up = true` (default) it is brought up, like `ip link set up`.
//! A frame is read straight into a pool frame (one `read` each) and
//! written straight from it. `EAGAIN` on write leaves the rest of the batch
//! to the runtime (counted `tx-full`); `EIO` means the interface is down
//! (counted, reported once). While idle the runtime waits in `poll()` on
//! the TAP descriptor.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use netfn_core::config::{ConfigError, Params};
use netfn_core::{Batch, Port, PortCtx, RecvStatus};

use crate::sys::{self, IfReqFlags};

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Frames that filled the whole pool frame (probably cut short), dropped.
    oversize: u64,
    rx_errors: u64,
    tx_eagain: u64,
    /// Writes refused because the interface is down.
    tx_down: u64,
    tx_errors: u64,
}

/// A TAP interface port.
#[derive(Debug)]
pub struct Tap {
    name: String,
    fd: OwnedFd,
    counts: Counts,
    down_reported: bool,
}

impl Tap {
    /// Creates or attaches to the TAP interface `name` (`tap%d` lets the
    /// kernel pick a number).
    pub fn open(name: &str, up: bool) -> Result<Tap, ConfigError> {
        let mut req = IfReqFlags::named(name).ok_or_else(|| {
            ConfigError::param(
                "name",
                format!("`{name}` is not an interface name (1 to 15 characters, no `/` or spaces)"),
            )
        })?;
        req.flags = (libc::IFF_TAP | libc::IFF_NO_PI) as i16;
        let fd = sys::open_rw("/dev/net/tun").map_err(|e| {
            ConfigError::param(
                "name",
                format!("cannot open /dev/net/tun: {e} (is the tun driver available?)"),
            )
        })?;
        // SAFETY: TUNSETIFF reads and writes an `ifreq` (name + flags, padded
        // to the union's size); `req` is one and lives across the call.
        sys::cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) }).map_err(
            |e| {
                let hint = match e.raw_os_error() {
                    Some(libc::EPERM) => "; creating a TAP needs CAP_NET_ADMIN (run as root), attaching needs ownership",
                    Some(libc::EBUSY) => "; another process holds it",
                    Some(libc::EINVAL) => "; an interface of that name exists and is not a TAP",
                    _ => "",
                };
                ConfigError::param("name", format!("cannot create or attach TAP `{name}`: {e}{hint}"))
            },
        )?;
        let name = req.name();
        if up {
            sys::set_interface_up(&name)
                .map_err(|e| ConfigError::param("up", format!("cannot bring {name} up: {e}")))?;
        }
        Ok(Tap {
            name,
            fd,
            counts: Counts::default(),
            down_reported: false,
        })
    }

    pub fn from_params(p: &Params) -> Result<Tap, ConfigError> {
        Tap::open(p.str("name")?, p.bool("up")?)
    }

    /// The interface's name (as the kernel chose it for `tap%d`).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Port for Tap {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        let max = ctx.pool.max_packet_len();
        while !batch.is_full() {
            let Some(mut pkt) = ctx.pool.alloc() else {
                break; // the frame waits in the TAP's queue
            };
            if pkt.set_len(max).is_err() {
                break;
            }
            match sys::read(self.fd.as_raw_fd(), pkt.data_mut()) {
                Ok(0) => break,
                Ok(n) if n >= max => self.counts.oversize += 1,
                Ok(n) => {
                    pkt.truncate(n);
                    pkt.set_input_port(ctx.port_id);
                    pkt.set_timestamp(ctx.now);
                    ctx.bytes += n as u64;
                    let _ = batch.push(pkt);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.counts.rx_errors += 1;
                    break;
                }
            }
        }
        RecvStatus::Ready
    }

    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        let mut sent = 0;
        for pkt in batch.packets() {
            match sys::write(self.fd.as_raw_fd(), pkt.data()) {
                Ok(_) => {
                    sent += 1;
                    ctx.bytes += pkt.len() as u64;
                }
                Err(e) => {
                    match e.raw_os_error() {
                        Some(libc::EAGAIN) => self.counts.tx_eagain += 1,
                        Some(libc::EIO) => {
                            self.counts.tx_down += 1;
                            if !self.down_reported {
                                self.down_reported = true;
                                eprintln!(
                                    "netfn: tap(name={}): the interface is down; frames sent to it are dropped",
                                    self.name
                                );
                            }
                        }
                        _ => self.counts.tx_errors += 1,
                    }
                    break;
                }
            }
        }
        if sent > 0 {
            self.down_reported = false;
        }
        batch.drain_first(sent).for_each(drop);
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    fn wait_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        let c = &self.counts;
        report("oversize", c.oversize);
        report("rx_errors", c.rx_errors);
        report("tx_eagain", c.tx_eagain);
        report("tx_down", c.tx_down);
        report("tx_errors", c.tx_errors);
    }
}
