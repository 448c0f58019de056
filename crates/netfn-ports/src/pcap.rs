//! pcap and pcapng files as ports: `pcap_in` replays a capture (flat out,
//! or at its recorded pace times `speed`), `pcap_out` records what reaches
//! it, and `pcap(read = ..)` / `pcap(write = ..)` is both in one kind, with
//! `pace` a multiple of the recorded pace (`1.0` as recorded, `2.5` faster,
//! `0.5` slower, `0` flat out). The format of an input is detected from its
//! magic number.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netfn_core::config::{ConfigError, Params};
use netfn_core::{Batch, Port, PortCtx, RecvStatus};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::{DataLink, TsResolution};

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Capture file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

enum Reader {
    Pcap(PcapReader<Box<dyn Read>>),
    PcapNg(PcapNgReader<Box<dyn Read>>),
}

/// Reads the 4-byte magic and hands back a reader that still starts at it.
fn sniff(mut r: Box<dyn Read>) -> io::Result<(Format, Box<dyn Read>)> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let format = if magic == PCAPNG_MAGIC {
        Format::PcapNg
    } else {
        Format::Pcap
    };
    let head = io::Cursor::new(magic[..got].to_vec());
    Ok((format, Box::new(head.chain(r))))
}

fn open_reader(input: Box<dyn Read>, name: &str) -> Result<Reader, ConfigError> {
    let bad = |e: &dyn std::fmt::Display| {
        ConfigError::param("file", format!("{name}: not a pcap or pcapng capture: {e}"))
    };
    let (format, input) = sniff(input).map_err(|e| bad(&e))?;
    let reader = match format {
        Format::Pcap => {
            let r = PcapReader::new(input).map_err(|e| bad(&e))?;
            let link = r.header().datalink;
            if link != DataLink::ETHERNET {
                return Err(ConfigError::param(
                    "file",
                    format!(
                        "{name}: link type {link:?} is not supported; netfn reads Ethernet captures"
                    ),
                ));
            }
            Reader::Pcap(r)
        }
        Format::PcapNg => Reader::PcapNg(PcapNgReader::new(input).map_err(|e| bad(&e))?),
    };
    Ok(reader)
}

/// A capture replayed as a source.
pub struct PcapSource {
    path: Option<PathBuf>,
    reader: Option<Reader>,
    /// Replay at the recorded pace (times `speed`) instead of flat out.
    pace: bool,
    speed: f64,
    /// Passes over the file; 0 = forever.
    repeat: u64,
    passes: u64,
    /// (first capture timestamp, runtime time it was replayed at).
    epoch: Option<(Duration, u64)>,
    /// A packet read but not yet due (pacing) or that found no free frame.
    held: Option<Vec<u8>>,
    held_ts: Duration,
    read: u64,
    oversize: u64,
    errors: u64,
}

impl std::fmt::Debug for PcapSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapSource")
            .field("path", &self.path)
            .field("read", &self.read)
            .finish()
    }
}

impl PcapSource {
    /// Opens a capture file.
    pub fn open(path: &Path) -> Result<PcapSource, ConfigError> {
        let file = File::open(path).map_err(|e| {
            ConfigError::param("file", format!("cannot open {}: {e}", path.display()))
        })?;
        let reader = open_reader(
            Box::new(BufReader::with_capacity(1 << 16, file)),
            &path.display().to_string(),
        )?;
        Ok(PcapSource::with_reader(Some(path.to_path_buf()), reader))
    }

    /// Reads a capture stream (e.g. standard input); cannot repeat.
    pub fn from_reader(input: Box<dyn Read>, name: &str) -> Result<PcapSource, ConfigError> {
        Ok(PcapSource::with_reader(None, open_reader(input, name)?))
    }

    fn with_reader(path: Option<PathBuf>, reader: Reader) -> PcapSource {
        PcapSource {
            path,
            reader: Some(reader),
            pace: false,
            speed: 1.0,
            repeat: 1,
            passes: 0,
            epoch: None,
            held: None,
            held_ts: Duration::ZERO,
            read: 0,
            oversize: 0,
            errors: 0,
        }
    }

    pub fn from_params(p: &Params) -> Result<PcapSource, ConfigError> {
        let mut src = PcapSource::open(Path::new(p.str("file")?))?;
        src.pace = p.bool("pace")?;
        src.speed = p.int("speed")? as f64;
        src.repeat = p.int("repeat")? as u64;
        Ok(src)
    }

    /// Replays at the recorded pace multiplied by `speed`.
    pub fn paced(mut self, speed: f64) -> Self {
        self.pace = speed > 0.0;
        self.speed = if speed > 0.0 { speed } else { 1.0 };
        self
    }

    /// `pcap(read = FILE, pace = X, repeat = N)`.
    pub fn from_pcap_params(p: &Params, path: &Path) -> Result<PcapSource, ConfigError> {
        let pace = parse_pace(p.str("pace")?)?;
        let mut src = PcapSource::open(path).map_err(|e| rename_param(e, "read"))?;
        src.repeat = p.int("repeat")? as u64;
        Ok(src.paced(pace))
    }

    /// Calls `f` with the next frame of the file (borrowed from the
    /// reader's buffer, no copy); `None` once the last pass ended.
    fn with_next_frame<R>(
        &mut self,
        mut f: impl FnMut(&mut Option<(Duration, u64)>, Duration, &[u8]) -> R,
    ) -> Option<R> {
        loop {
            let reader = self.reader.as_mut()?;
            let failed = match reader {
                Reader::Pcap(r) => match r.next_packet() {
                    Some(Ok(p)) => return Some(f(&mut self.epoch, p.timestamp, &p.data)),
                    Some(Err(_)) => true,
                    None => false,
                },
                Reader::PcapNg(r) => match r.next_block() {
                    Some(Ok(Block::EnhancedPacket(p))) => {
                        return Some(f(&mut self.epoch, p.timestamp, &p.data));
                    }
                    Some(Ok(Block::SimplePacket(p))) => {
                        return Some(f(&mut self.epoch, Duration::ZERO, &p.data));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => true,
                    None => false,
                },
            };
            // A truncated or corrupt record ends this pass.
            self.errors += u64::from(failed);
            self.end_pass();
        }
    }

    fn end_pass(&mut self) {
        self.passes += 1;
        self.reader = None;
        if self.repeat == 0 || self.passes < self.repeat {
            if let Some(path) = &self.path
                && let Ok(file) = File::open(path)
            {
                self.reader =
                    open_reader(Box::new(BufReader::with_capacity(1 << 16, file)), "").ok();
            }
            // Each pass is paced from its own first packet.
            self.epoch = None;
        }
    }
}

/// What became of one frame offered to the batch.
enum Offer {
    Taken,
    Skipped,
    /// Not due yet, or no free frame: keep it for the next call.
    Hold,
}

/// Runtime time at which a packet captured at `ts` is due.
fn due(epoch: &mut Option<(Duration, u64)>, speed: f64, ts: Duration, now: u64) -> u64 {
    let (first, at) = *epoch.get_or_insert((ts, now));
    at + (ts.saturating_sub(first).as_nanos() as f64 / speed) as u64
}

/// `pace`: a multiple of the recorded pace, 0 for flat out.
fn parse_pace(text: &str) -> Result<f64, ConfigError> {
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (x == 0.0 || (0.001..=1000.0).contains(&x)) => Ok(x),
        _ => Err(ConfigError::param(
            "pace",
            format!(
                "`{text}`: expected a multiple of the recorded pace from 0.001 to 1000 (1.0 = as recorded), or 0 for flat out"
            ),
        )),
    }
}

/// A file error reported under the `pcap` kind's parameter name.
fn rename_param(e: ConfigError, name: &str) -> ConfigError {
    ConfigError::param(name, e.to_string())
}

/// Builds `pcap(read = ..)` or `pcap(write = ..)`.
pub fn pcap_port(p: &Params) -> Result<Box<dyn Port>, ConfigError> {
    let given = |name: &str| -> Result<Option<PathBuf>, ConfigError> {
        let path = Path::new(p.str(name)?);
        Ok(path
            .file_name()
            .is_some_and(|n| n != "-")
            .then(|| path.to_path_buf()))
    };
    match (given("read")?, given("write")?) {
        (Some(r), None) => Ok(Box::new(PcapSource::from_pcap_params(p, &r)?)),
        (None, Some(w)) => {
            let format = match p.str("format")? {
                "pcapng" => Format::PcapNg,
                _ => Format::Pcap,
            };
            Ok(Box::new(
                PcapSink::create(&w, format).map_err(|e| rename_param(e, "write"))?,
            ))
        }
        (Some(_), Some(_)) => Err(ConfigError::param(
            "write",
            "give `read` or `write`, not both (use two pcap ports)",
        )),
        (None, None) => Err(ConfigError::param(
            "read",
            "give `read = \"file\"` to replay a capture or `write = \"file\"` to record one",
        )),
    }
}

impl Port for PcapSource {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        let (pace, speed) = (self.pace, self.speed);
        let offer =
            |epoch: &mut Option<(Duration, u64)>, ts: Duration, frame: &[u8], batch: &mut Batch| {
                if pace && due(epoch, speed, ts, ctx.now) > ctx.now {
                    return Offer::Hold;
                }
                if frame.len() > ctx.pool.max_packet_len() {
                    return Offer::Skipped;
                }
                let Some(mut pkt) = ctx.pool.alloc_with(frame) else {
                    return Offer::Hold;
                };
                pkt.set_input_port(ctx.port_id);
                pkt.set_timestamp(ctx.now);
                let _ = batch.push(pkt);
                Offer::Taken
            };
        while !batch.is_full() {
            let result = match self.held.take() {
                Some(frame) => {
                    let r = offer(&mut self.epoch, self.held_ts, &frame, batch);
                    if matches!(r, Offer::Hold) {
                        self.held = Some(frame);
                    }
                    r
                }
                None => {
                    let mut hold = None;
                    let r = self.with_next_frame(|epoch, ts, frame| {
                        let r = offer(epoch, ts, frame, batch);
                        if matches!(r, Offer::Hold) {
                            hold = Some((ts, frame.to_vec()));
                        }
                        r
                    });
                    if let Some((ts, frame)) = hold {
                        self.held = Some(frame);
                        self.held_ts = ts;
                    }
                    match r {
                        Some(r) => r,
                        None => return RecvStatus::Exhausted,
                    }
                }
            };
            match result {
                Offer::Taken => self.read += 1,
                Offer::Skipped => self.oversize += 1,
                Offer::Hold => break,
            }
        }
        RecvStatus::Ready
    }

    fn send(&mut self, batch: &mut Batch, _ctx: &mut PortCtx<'_>) {
        batch.clear();
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        report("read", self.read);
        report("oversize", self.oversize);
        report("read_errors", self.errors);
        report("passes", self.passes);
    }
}

enum Writer {
    Pcap(PcapWriter<SharedOut>),
    PcapNg(PcapNgWriter<SharedOut>),
}

/// The output stream, shared with the sink so it can flush it (the pcap
/// writer does not give its stream back while in use).
#[derive(Clone)]
struct SharedOut(Rc<RefCell<Box<dyn Write>>>);

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

/// A sink that records packets into a capture.
pub struct PcapSink {
    writer: Writer,
    out: SharedOut,
    written: u64,
    error: Option<io::Error>,
    errors: u64,
}

impl std::fmt::Debug for PcapSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapSink")
            .field("written", &self.written)
            .finish()
    }
}

impl PcapSink {
    pub fn create(path: &Path, format: Format) -> Result<PcapSink, ConfigError> {
        let file = File::create(path).map_err(|e| {
            ConfigError::param("file", format!("cannot create {}: {e}", path.display()))
        })?;
        PcapSink::to_writer(Box::new(BufWriter::with_capacity(1 << 16, file)), format)
    }

    /// Writes a capture stream (e.g. standard output).
    pub fn to_writer(out: Box<dyn Write>, format: Format) -> Result<PcapSink, ConfigError> {
        let shared = SharedOut(Rc::new(RefCell::new(out)));
        let out = shared.clone();
        let err = |e: pcap_file::PcapError| {
            ConfigError::param("file", format!("cannot write capture header: {e}"))
        };
        let writer = match format {
            Format::Pcap => {
                let header = PcapHeader {
                    datalink: DataLink::ETHERNET,
                    ts_resolution: TsResolution::NanoSecond,
                    snaplen: 65535,
                    ..PcapHeader::default()
                };
                Writer::Pcap(PcapWriter::with_header(out, header).map_err(err)?)
            }
            Format::PcapNg => {
                let mut w = PcapNgWriter::new(out).map_err(err)?;
                let idb = InterfaceDescriptionBlock {
                    linktype: DataLink::ETHERNET,
                    snaplen: 0,
                    options: vec![],
                };
                w.write_pcapng_block(idb).map_err(err)?;
                Writer::PcapNg(w)
            }
        };
        Ok(PcapSink {
            writer,
            out: shared,
            written: 0,
            error: None,
            errors: 0,
        })
    }

    pub fn from_params(p: &Params) -> Result<PcapSink, ConfigError> {
        let format = match p.str("format")? {
            "pcapng" => Format::PcapNg,
            _ => Format::Pcap,
        };
        PcapSink::create(Path::new(p.str("file")?), format)
    }

    fn write(&mut self, ts: Duration, data: &[u8]) -> Result<(), pcap_file::PcapError> {
        match &mut self.writer {
            Writer::Pcap(w) => w
                .write_packet(&PcapPacket::new(ts, data.len() as u32, data))
                .map(drop),
            Writer::PcapNg(w) => w
                .write_pcapng_block(EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: ts,
                    original_len: data.len() as u32,
                    data: data.into(),
                    options: vec![],
                })
                .map(drop),
        }
    }
}

impl Port for PcapSink {
    fn recv(&mut self, _batch: &mut Batch, _ctx: &mut PortCtx<'_>) -> RecvStatus {
        RecvStatus::Exhausted
    }

    fn send(&mut self, batch: &mut Batch, _ctx: &mut PortCtx<'_>) {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        for (pkt, _) in batch.drain() {
            match self.write(ts, pkt.data()) {
                Ok(()) => self.written += 1,
                Err(e) => {
                    self.errors += 1;
                    self.error.get_or_insert_with(|| io::Error::other(e));
                }
            }
        }
    }

    fn is_source(&self) -> bool {
        false
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        report("written", self.written);
        report("write_errors", self.errors);
    }
}

/// Reads every frame of a capture file (for golden tests and tools).
pub fn read_frames(path: &Path) -> Result<Vec<Vec<u8>>, ConfigError> {
    let mut src = PcapSource::open(path)?;
    let mut frames = Vec::new();
    while src
        .with_next_frame(|_, _, f| frames.push(f.to_vec()))
        .is_some()
    {}
    Ok(frames)
}

/// Writes frames into a pcap file with zero timestamps (deterministic, for
/// golden files).
pub fn write_frames(path: &Path, frames: &[Vec<u8>]) -> io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        snaplen: 65535,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(file, header).map_err(io::Error::other)?;
    for f in frames {
        w.write_packet(&PcapPacket::new(Duration::ZERO, f.len() as u32, f))
            .map_err(io::Error::other)?;
    }
    w.into_writer().flush()
}
