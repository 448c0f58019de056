//! The shared region: creation, validation by the Worker, sealing,
//! re-creation, and the Master's defence against a Worker that writes
//! garbage into it (simulated by writing to the memfd directly).
#![cfg(not(loom))]

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use netfn_ring::{
    EventFd, MAGIC, Master, Meta, ProtocolError, PushError, Region, RegionError, Returned,
    RingConfig, Semaphore, Tunables, Verdict, Worker,
};
use rustix::fs::MemfdFlags;

fn small() -> RingConfig {
    RingConfig {
        primary_slots: 8,
        aux_slots: 4,
        ..RingConfig::default()
    }
}

fn dup(region: &Region) -> OwnedFd {
    region.fd().try_clone_to_owned().expect("dup")
}

/// A copy of `region`'s file with `edit` applied to its first page, in a
/// new (unsealed) memfd of `len` bytes.
fn tampered(region: &Region, len: u64, edit: impl FnOnce(&mut [u8])) -> OwnedFd {
    let mut page = vec![0u8; 4096];
    rustix::io::pread(region.fd(), &mut page, 0).expect("pread");
    edit(&mut page);
    let fd = rustix::fs::memfd_create("tampered", MemfdFlags::CLOEXEC).expect("memfd");
    rustix::fs::ftruncate(&fd, len).expect("ftruncate");
    rustix::io::pwrite(&fd, &page, 0).expect("pwrite");
    fd
}

#[test]
fn worker_maps_what_the_master_created() {
    let region = Region::create(&small()).unwrap();
    assert_eq!(region.generation(), 0);
    assert_eq!(region.len() % 4096, 0);
    let worker_side = Region::open(dup(&region)).unwrap();
    assert_eq!(worker_side.config().primary_slots, 8);
    assert_eq!(worker_side.config().aux_slots, 4);
    assert_eq!(worker_side.len(), region.len());
    assert!(!worker_side.config().huge_pages);

    // Both mappings see the same rings: a round trip, then an echo.
    let tunables = Tunables {
        wake_threshold: 0,
        ..Tunables::default()
    };
    let bell = std::sync::Arc::new(Semaphore::new());
    let mut master = Master::new(region, bell.clone(), &tunables).unwrap();
    let mut worker = Worker::new(worker_side, bell, &tunables);
    let meta = Meta {
        input_port: 3,
        flow_hash: Some(0xdead_beef),
        timestamp: 42,
        user: 7,
    };
    master.push(b"hello", &meta, 0).unwrap();
    assert_eq!(worker.wait(), netfn_ring::Wake::Work);
    let n = worker
        .process(|t| {
            assert_eq!(t.data(), b"hello");
            assert_eq!(*t.meta(), meta);
            t.buffer_mut()[..6].copy_from_slice(b"HELLO!");
            t.set_len(6).unwrap();
            t.meta_mut().user = 8;
            t.emit(&Meta::default(), |b| {
                b[..3].copy_from_slice(b"arp");
                3
            })
            .unwrap();
            Verdict::Pass
        })
        .unwrap();
    assert_eq!(n, 1);
    let mut got = Vec::new();
    master
        .poll(1, |r| {
            got.push(match r {
                Returned::Forward(d, m) => (0, d.to_vec(), m.user),
                Returned::Dropped(m) => (1, Vec::new(), m.user),
                Returned::Generated(d, m) => (2, d.to_vec(), m.user),
            })
        })
        .unwrap();
    assert_eq!(
        got,
        vec![(0, b"HELLO!".to_vec(), 8), (2, b"arp".to_vec(), 0)]
    );
    assert_eq!(master.pending(), 0);
}

#[test]
fn foreign_file_is_an_error() {
    let fd = rustix::fs::memfd_create("foreign", MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&fd, 1 << 20).unwrap();
    rustix::io::pwrite(&fd, b"GIF89a, not a ring", 0).unwrap();
    assert!(matches!(Region::open(fd), Err(RegionError::Magic { .. })));

    let tiny = rustix::fs::memfd_create("tiny", MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&tiny, 100).unwrap();
    assert!(matches!(Region::open(tiny), Err(RegionError::Corrupt(_))));
}

#[test]
fn corrupt_header_is_an_error() {
    let region = Region::create(&small()).unwrap();
    let len = region.len() as u64;
    // Sanity: an untouched copy opens.
    assert!(Region::open(tampered(&region, len, |_| {})).is_ok());

    let version = tampered(&region, len, |p| {
        p[8..12].copy_from_slice(&99u32.to_le_bytes())
    });
    assert!(matches!(
        Region::open(version),
        Err(RegionError::Version { found: 99 })
    ));

    // Header says more slots than the file holds.
    let slots = tampered(&region, len, |p| {
        p[36..40].copy_from_slice(&100_000u32.to_le_bytes())
    });
    let e = Region::open(slots).unwrap_err();
    assert!(matches!(e, RegionError::Corrupt(_)), "{e}");

    // A slot size that is not a cache-line multiple.
    let slot = tampered(&region, len, |p| {
        p[32..36].copy_from_slice(&100u32.to_le_bytes())
    });
    assert!(matches!(Region::open(slot), Err(RegionError::Corrupt(_))));

    // The file is shorter than the header says.
    let short = tampered(&region, len - 4096, |_| {});
    assert!(matches!(Region::open(short), Err(RegionError::Corrupt(_))));

    // Zero slots.
    let zero = tampered(&region, len, |p| {
        p[40..44].copy_from_slice(&0u32.to_le_bytes())
    });
    assert!(matches!(Region::open(zero), Err(RegionError::Corrupt(_))));
    assert_eq!(MAGIC.to_le_bytes(), *b"NETFNRNG");
}

#[test]
fn worker_cannot_resize_the_region() {
    let region = Region::create(&small()).unwrap();
    let worker_fd = dup(&region);
    assert!(rustix::fs::ftruncate(&worker_fd, 4096).is_err(), "shrink");
    assert!(rustix::fs::ftruncate(&worker_fd, 1 << 30).is_err(), "grow");
}

#[test]
fn recreate_gives_a_fresh_region() {
    let region = Region::create(&small()).unwrap();
    let bell = std::sync::Arc::new(Semaphore::new());
    let mut master = Master::new(region, bell.clone(), &Tunables::default()).unwrap();
    master.push(&[0u8; 64], &Meta::default(), 0).unwrap();
    // The used memory cannot be taken over by a new Master.
    let again = Region::open(dup(master.memory())).unwrap();
    assert!(Master::new(again, bell.clone(), &Tunables::default()).is_err());
    let lost = master.pending();
    assert_eq!(lost, 1);
    let fresh = master.memory().recreate().unwrap();
    assert_eq!(fresh.generation(), 1);
    assert_eq!(fresh.config(), master.memory().config());
    assert!(Master::new(fresh, bell, &Tunables::default()).is_ok());
}

#[test]
fn bad_configs_are_refused() {
    for cfg in [
        RingConfig {
            primary_slots: 1,
            ..small()
        },
        RingConfig {
            aux_slots: 0,
            ..small()
        },
        RingConfig {
            slot_size: 100,
            ..small()
        },
        RingConfig {
            slot_size: 64,
            ..small()
        },
    ] {
        assert!(
            matches!(Region::create(&cfg), Err(RegionError::Config(_))),
            "{cfg:?}"
        );
    }
}

#[test]
fn huge_pages_or_a_clean_error() {
    let cfg = RingConfig {
        huge_pages: true,
        ..small()
    };
    match Region::create(&cfg) {
        Ok(r) => {
            assert_eq!(r.len() % (2 << 20), 0);
            assert!(Region::open(dup(&r)).unwrap().config().huge_pages);
        }
        // No huge pages reserved on this machine.
        Err(RegionError::Io { .. }) => {}
        Err(e) => panic!("{e}"),
    }
}

/// Byte offsets in the region (see the layout in `region.rs`).
const W_PROD: u64 = 128 + 128;
const AUX_PROD: u64 = 128 + 2 * 128;
const PRIMARY: u64 = 4096;

fn poke(region: &Region, offset: u64, value: u32) {
    rustix::io::pwrite(region.fd().as_fd(), &value.to_ne_bytes(), offset).unwrap();
}

fn master_with(n: u32) -> Master<Region, EventFd> {
    let region = Region::create(&small()).unwrap();
    let mut master = Master::new(region, EventFd::new().unwrap(), &Tunables::default()).unwrap();
    for _ in 0..n {
        master.push(&[1u8; 60], &Meta::default(), 0).unwrap();
    }
    master
}

#[test]
fn master_refuses_a_worker_index_outside_its_window() {
    for bad in [5u32, 999] {
        let mut master = master_with(3);
        poke(master.memory(), W_PROD, bad);
        let e = master
            .poll(0, |_| panic!("nothing may come back"))
            .unwrap_err();
        assert!(
            matches!(e, ProtocolError::WorkerIndex { got, .. } if got == bad),
            "{e}"
        );
        assert!(master.is_poisoned());
        assert_eq!(master.pending(), 3, "what is lost with this Worker");
        assert_eq!(
            master.push(&[0; 60], &Meta::default(), 0),
            Err(PushError::Poisoned)
        );
        assert_eq!(master.poll(0, |_| {}), Err(ProtocolError::Poisoned));
    }
}

#[test]
fn master_bounds_lengths_and_aux_runs() {
    let slot = u64::from(netfn_ring::DEFAULT_SLOT_SIZE);
    // A length beyond the slot.
    let mut master = master_with(2);
    poke(master.memory(), PRIMARY + slot, 5000); // slot 1's length
    poke(master.memory(), W_PROD, 2);
    let mut n = 0;
    let e = master.poll(0, |_| n += 1).unwrap_err();
    assert!(
        matches!(
            e,
            ProtocolError::Length {
                index: 1,
                len: 5000,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(n, 1, "slot 0 was fine");

    // `aux` with nothing written to the aux ring.
    let mut master = master_with(1);
    poke(master.memory(), PRIMARY + 4, 2); // flags = AUX
    poke(master.memory(), W_PROD, 1);
    let e = master.poll(0, |_| {}).unwrap_err();
    assert!(matches!(e, ProtocolError::AuxRun { .. }), "{e}");

    // An aux producer index outside the aux ring.
    let mut master = master_with(1);
    poke(master.memory(), PRIMARY + 4, 2);
    poke(master.memory(), AUX_PROD, 77);
    poke(master.memory(), W_PROD, 1);
    let e = master.poll(0, |_| {}).unwrap_err();
    assert!(matches!(e, ProtocolError::AuxIndex { got: 77, .. }), "{e}");
}

#[test]
fn starvation_timeout_wakes_a_worker_below_the_threshold() {
    let region = Region::create(&small()).unwrap();
    let tunables = Tunables {
        wake_threshold: 100, // never reached on an 8-slot ring
        starvation_timeout: Duration::from_nanos(1000),
        publish_every: 1,
    };
    let bell = std::sync::Arc::new(Semaphore::new());
    let mut master = Master::new(region, bell, &tunables).unwrap();
    master.push(&[0; 60], &Meta::default(), 10).unwrap();
    assert!(!master.check_for_old_data(500), "not old yet");
    assert!(master.check_for_old_data(1011), "old: wake");
    assert!(!master.check_for_old_data(5000), "a wake-up is outstanding");
    assert_eq!(master.stats().wake_timeout, 1);
    assert_eq!(master.stats().wake_threshold, 0);
}
