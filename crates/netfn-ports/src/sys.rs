//! The few system calls the socket, TAP and pipe backends share: socket
//! options over `zerocopy` structs, `poll()`, non-blocking mode, interface
//! indexes and flags, and an `mmap`'d region. Every `unsafe` block of those
//! backends that is not specific to one of them lives here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::time::Duration;

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// `ifreq` as used for interface names and flags (`SIOC[GS]IFFLAGS`,
/// `TUNSETIFF`): the name, then the `ifr_flags` member of the union,
/// padded to the union's 24 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub(crate) struct IfReqFlags {
    pub name: [u8; libc::IFNAMSIZ],
    pub flags: i16,
    pub _pad: [u8; 22],
}

const _: () = assert!(std::mem::size_of::<IfReqFlags>() == 40);

impl IfReqFlags {
    /// An `ifreq` naming `name`, or `None` if it is empty, too long for
    /// `IFNAMSIZ` or contains a NUL or a slash.
    pub fn named(name: &str) -> Option<IfReqFlags> {
        let bytes = name.as_bytes();
        if bytes.is_empty()
            || bytes.len() >= libc::IFNAMSIZ
            || bytes
                .iter()
                .any(|&b| b == 0 || b == b'/' || b.is_ascii_whitespace())
        {
            return None;
        }
        let mut req = IfReqFlags::new_zeroed();
        req.name[..bytes.len()].copy_from_slice(bytes);
        Some(req)
    }

    /// The name the kernel wrote back (TUNSETIFF fills in `tap%d`).
    pub fn name(&self) -> String {
        let end = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// `-1` → the thread's `errno` as an error.
pub(crate) fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A new socket, close-on-exec and non-blocking.
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    proto: libc::c_int,
) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers.
    let fd =
        cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, proto) })?;
    // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens a device node (`/dev/net/tun`) read-write, close-on-exec and
/// non-blocking.
pub(crate) fn open_rw(path: &str) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(io::Error::other)?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    let fd = cvt(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    })?;
    // SAFETY: fd was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt` with a value whose bytes are exactly what the kernel reads.
pub(crate) fn setsockopt<T: IntoBytes + Immutable>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let bytes = value.as_bytes();
    // SAFETY: the pointer and length describe `value`'s bytes, valid for the call.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            bytes.as_ptr().cast(),
            bytes.len() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt` into a value every bit pattern of which is valid.
pub(crate) fn getsockopt<T: FromBytes + IntoBytes>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<T> {
    let mut value = T::new_zeroed();
    let bytes = value.as_mut_bytes();
    let mut len = bytes.len() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`, which is
    // valid for writes of that many bytes and accepts any bit pattern.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            bytes.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// The pending socket error (`SO_ERROR`, which reading clears), if any.
pub(crate) fn take_socket_error(fd: &OwnedFd) -> Option<io::Error> {
    match getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_ERROR) {
        Ok(0) => None,
        Ok(errno) => Some(io::Error::from_raw_os_error(errno)),
        Err(e) => Some(e),
    }
}

/// An interface's index in this network namespace.
pub(crate) fn ifindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(io::Error::other)?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}

/// Reads or changes an interface's flags through a throwaway socket.
pub(crate) fn set_interface_up(name: &str) -> io::Result<()> {
    let mut req =
        IfReqFlags::named(name).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let sock = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: SIOCGIFFLAGS reads and writes an `ifreq`; `req` is one (name +
    // flags, padded to the union size) and lives across the call.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    if req.flags & libc::IFF_UP as i16 != 0 {
        return Ok(());
    }
    req.flags |= libc::IFF_UP as i16;
    // SAFETY: as above; SIOCSIFFLAGS only reads the `ifreq`.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
}

/// `read(2)` into `buf`.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `write(2)` of `buf`.
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Most descriptors one idle wait watches (the rest are re-polled when the
/// wait times out).
const MAX_WAIT_FDS: usize = 64;

/// Waits until one of `fds` is readable (or has an error or hang-up), or
/// `timeout` passes. The runtime's idle wait (`Runtime::set_idle_wait`).
pub fn poll_readable(fds: &[RawFd], timeout: Duration) {
    let mut set = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_WAIT_FDS];
    let n = fds.len().min(MAX_WAIT_FDS);
    for (slot, &fd) in set.iter_mut().zip(&fds[..n]) {
        slot.fd = fd;
        slot.events = libc::POLLIN;
    }
    // ppoll: nanosecond timeouts (poll's milliseconds would turn a 200 µs
    // nap into 1 ms or a busy 0).
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `set` holds `n` initialised pollfds and `ts` a valid timespec,
    // both outliving the call; a null signal mask leaves the mask unchanged.
    unsafe { libc::ppoll(set.as_mut_ptr(), n as libc::nfds_t, &ts, std::ptr::null()) };
}

/// Whether `fd` has data (or end of file, or an error) right now.
pub(crate) fn poll_readable_now(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one initialised pollfd, valid for the call.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r > 0
}

/// Waits (up to 100 ms) until `fd` can be written.
pub(crate) fn poll_writable(fd: RawFd) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one initialised pollfd, valid for the call.
    unsafe { libc::poll(&mut p, 1, 100) };
}

/// A shared, read-write memory mapping of a descriptor (a packet ring),
/// unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    pub fn shared(fd: &OwnedFd, len: usize) -> io::Result<Mmap> {
        Mmap::shared_at(fd, len, 0)
    }

    /// A mapping of `len` bytes at `offset` (AF_XDP selects a ring by offset).
    pub fn shared_at(fd: &OwnedFd, len: usize, offset: u64) -> io::Result<Mmap> {
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL), so it
        // aliases no Rust object; failure is MAP_FAILED, checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mmap { ptr, len })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly the mapping made in `shared`, and no
        // reference into it outlives `self` (users borrow it per call).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
