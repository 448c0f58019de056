//! How the Master wakes a sleeping Worker (the thesis' semaphore).
//!
//! The Master never blocks and nothing signals in the other direction: the
//! Master polls `W.prodIndex`. Between processes the doorbell is an eventfd
//! the Master creates and the Worker inherits; [`Semaphore`] is the
//! in-process one (loom's mutex and condvar under `--cfg loom`).

#[cfg(loom)]
use loom::sync::{Condvar, Mutex};
#[cfg(not(loom))]
use std::sync::{Condvar, Mutex};

/// A wake-up channel from the Master to one Worker.
pub trait Doorbell {
    /// Posts one wake-up (never blocks).
    fn ring(&self);
    /// Blocks until a wake-up was posted, and takes it.
    fn wait(&self);
    /// Takes a posted wake-up if there is one, without blocking (for a
    /// Worker that waits elsewhere, e.g. in the runtime's `poll()`).
    fn try_wait(&self) -> bool;
}

impl<T: Doorbell + ?Sized> Doorbell for std::sync::Arc<T> {
    fn ring(&self) {
        (**self).ring()
    }
    fn wait(&self) {
        (**self).wait()
    }
    fn try_wait(&self) -> bool {
        (**self).try_wait()
    }
}

/// A counting semaphore for a Master and a Worker in one process.
///
/// It also checks a property of the protocol: at most two wake-ups are ever
/// outstanding (one from the wake rule, one from shutdown). A Worker that
/// fell behind its wake-ups would mean the status handshake is broken.
#[derive(Debug)]
pub struct Semaphore {
    count: Mutex<u32>,
    cond: Condvar,
}

impl Semaphore {
    /// Most wake-ups ever outstanding.
    pub const MAX_OUTSTANDING: u32 = 2;

    pub fn new() -> Semaphore {
        Semaphore {
            count: Mutex::new(0),
            cond: Condvar::new(),
        }
    }
}

impl Doorbell for Semaphore {
    fn ring(&self) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *count += 1;
        assert!(
            *count <= Self::MAX_OUTSTANDING,
            "{} wake-ups outstanding: the Master rang without the Worker answering",
            *count
        );
        self.cond.notify_one();
    }

    fn wait(&self) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count == 0 {
            count = self.cond.wait(count).unwrap_or_else(|e| e.into_inner());
        }
        *count -= 1;
    }

    fn try_wait(&self) -> bool {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        if *count == 0 {
            return false;
        }
        *count -= 1;
        true
    }
}

#[cfg(not(loom))]
pub use eventfd::EventFd;

#[cfg(not(loom))]
mod eventfd {
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

    use rustix::event::{EventfdFlags, eventfd};
    use rustix::io::Errno;

    /// An eventfd as a doorbell between processes. Wake-ups coalesce (a
    /// read takes the whole count), which the protocol tolerates: a Worker
    /// drains its whole ring on every wake-up.
    #[derive(Debug)]
    pub struct EventFd(OwnedFd);

    impl EventFd {
        /// A new eventfd, close-on-exec (hand it to a Worker explicitly).
        pub fn new() -> std::io::Result<EventFd> {
            Ok(EventFd(eventfd(0, EventfdFlags::CLOEXEC)?))
        }

        /// Takes an inherited eventfd.
        pub fn from_fd(fd: OwnedFd) -> EventFd {
            EventFd(fd)
        }

        pub fn fd(&self) -> BorrowedFd<'_> {
            self.0.as_fd()
        }
    }

    impl super::Doorbell for EventFd {
        fn ring(&self) {
            loop {
                match rustix::io::write(&self.0, &1u64.to_ne_bytes()) {
                    Err(Errno::INTR) => continue,
                    // A full counter (2^64 - 2 posts) or a closed peer:
                    // the Worker is awake or gone either way.
                    _ => return,
                }
            }
        }

        fn wait(&self) {
            let mut buf = [0u8; 8];
            loop {
                match rustix::io::read(&self.0, &mut buf) {
                    Err(Errno::INTR) => continue,
                    Ok(_) => return,
                    Err(e) => panic!("eventfd read failed: {e}"),
                }
            }
        }

        fn try_wait(&self) -> bool {
            use rustix::event::{PollFd, PollFlags, Timespec};
            let mut fds = [PollFd::new(&self.0, PollFlags::IN)];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            match rustix::event::poll(&mut fds, Some(&zero)) {
                // Readable: the read takes every posted wake-up at once
                // (not a semaphore eventfd) and does not block.
                Ok(n) if n > 0 => {
                    self.wait();
                    true
                }
                _ => false,
            }
        }
    }
}
