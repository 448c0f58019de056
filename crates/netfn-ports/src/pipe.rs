//! `stdin(format=...)` and `stdout(format=...)`: standard input and output
//! as ports, the /dev/stdpkt idea (Utsumi, Tazaki, Esaki, AINTEC '17): a
//! graph is a filter in a shell pipeline, `netfn run a.nf | netfn run b.nf`
//! is a chain, and ordinary tools sit in between.
//!
//! Two formats:
//! * `pcap` — a binary capture stream: a pcap global header, then one record
//!   per frame (`stdin` also reads pcapng, detected from the magic number),
//!   so `netfn run a.nf | tcpdump -r -` works. Written through the same
//!   writer as `pcap_out`, flushed after every batch.
//! * `hex` — EtherPIPE's ASCII format (Hiroki Sasaki et al.; the paper's
//!   Figure 2): one frame per line,
//!   `DST_MAC SRC_MAC ETHERTYPE XX XX ...`, the two MAC addresses as 12 hex
//!   digits without separators, the EtherType as 4, then every following
//!   byte as 2 hex digits, separated by single spaces; upper case on output,
//!   either case on input. `grep -v 001122334455` removes every frame to or
//!   from that MAC; `sed`/`awk` can rewrite fields. On input, blank lines
//!   and lines starting with `#` are skipped; a malformed line is dropped,
//!   counted (`malformed`) and reported with its line number.
//!
//! `path = "..."` reads or writes a file or a named pipe (FIFO) instead of
//! standard input/output: a shell pipeline is one-way, so a FIFO carries
//! the return direction (`mkfifo back`; `a.nf` reads it, `b.nf` writes it).
//! Opening a FIFO waits until the other end is opened too, as in the shell.
//!
//! `stdout` writes block (a slow reader slows the graph down instead of
//! losing packets: backpressure, as in a shell pipeline) and ends the run
//! when the reader goes away (`EPIPE`). `stdin` never blocks: it reads only
//! what `poll()` says is there, and the end of input ends this source (and
//! so the run, once nothing else is left). Bytes go from the read buffer
//! straight into pool frames; nothing is allocated per packet.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::rc::Rc;

use netfn_core::config::{ConfigError, Params};
use netfn_core::{Batch, Port, PortCtx, RecvStatus};
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, PcapError};

use crate::pcap::{Format, PcapSink};
use crate::sys;

/// Format of a pipe port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeFormat {
    /// pcap stream (pcapng too on input; on output with `PcapNg`).
    Pcap,
    PcapNg,
    /// EtherPIPE ASCII hex, one frame per line.
    Hex,
}

impl PipeFormat {
    fn from_params(p: &Params) -> Result<Self, ConfigError> {
        match p.str("format")? {
            "pcap" => Ok(PipeFormat::Pcap),
            "pcapng" => Ok(PipeFormat::PcapNg),
            "hex" => Ok(PipeFormat::Hex),
            other => Err(ConfigError::param(
                "format",
                format!("unknown format `{other}`; expected pcap, pcapng or hex"),
            )),
        }
    }
}

/// The file a pipe port's `path` names, or `None` for the standard stream
/// (`"-"`, the default).
fn named_path(p: &Params) -> Result<Option<&Path>, ConfigError> {
    let path = Path::new(p.str("path")?);
    Ok((path.file_name().is_some_and(|n| n != "-")).then_some(path))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends one frame as a hex line (with its newline). Frames shorter than
/// an Ethernet header cannot be written in this format: returns false.
pub fn write_hex_line(out: &mut Vec<u8>, frame: &[u8]) -> bool {
    if frame.len() < 14 {
        return false;
    }
    for (i, &b) in frame.iter().enumerate() {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
        if i == 5 || i == 11 || i >= 13 {
            out.push(b' ');
        }
    }
    // Replace the separator after the last byte with the newline.
    if let Some(last) = out.last_mut() {
        *last = b'\n';
    }
    true
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses one hex line into `out`; returns the frame length, or what was
/// wrong (`out` must hold the longest frame accepted).
pub fn parse_hex_line(line: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let mut len = 0usize;
    for (field, token) in line
        .split(|c| c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
        .enumerate()
    {
        let (want, name) = match field {
            0 => (12, "destination MAC"),
            1 => (12, "source MAC"),
            2 => (4, "EtherType"),
            _ => (2, "byte"),
        };
        if token.len() != want {
            return Err(format!(
                "field {} ({name}) is `{}`: expected {want} hex digits",
                field + 1,
                String::from_utf8_lossy(token)
            ));
        }
        for pair in token.chunks(2) {
            let (Some(hi), Some(lo)) = (hex_digit(pair[0]), hex_digit(pair[1])) else {
                return Err(format!(
                    "field {} ({name}) `{}` is not hexadecimal",
                    field + 1,
                    String::from_utf8_lossy(token)
                ));
            };
            let Some(slot) = out.get_mut(len) else {
                return Err(format!("frame longer than {} bytes", out.len()));
            };
            *slot = hi << 4 | lo;
            len += 1;
        }
    }
    if len < 14 {
        return Err(
            "too short: expected `DST_MAC SRC_MAC ETHERTYPE XX XX ...` (at least the 14-byte header)"
                .into(),
        );
    }
    Ok(len)
}

/// Blocking writes to a descriptor (standard output), noting `EPIPE`.
struct FdWriter {
    fd: RawFd,
    closed: Rc<Cell<bool>>,
}

impl Write for FdWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match sys::write(self.fd, buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // An inherited non-blocking descriptor: wait until writable.
                    sys::poll_writable(self.fd);
                }
                Err(e) => {
                    if e.kind() == io::ErrorKind::BrokenPipe {
                        self.closed.set(true);
                    }
                    return Err(e);
                }
                Ok(n) => return Ok(n),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Encoder {
    /// The capture writer of `pcap_out`, over a buffered standard output.
    Pcap(PcapSink),
    /// Hex lines of one batch, written at its end.
    Hex { line_buf: Vec<u8>, out: FdWriter },
}

/// `stdout(format=...)`: frames sent to it go to standard output.
pub struct StdoutPort {
    /// The file or FIFO written instead of standard output, if any.
    _file: Option<File>,
    encoder: Encoder,
    closed: Rc<Cell<bool>>,
    written: u64,
    /// Frames too short for the hex format.
    short: u64,
    write_errors: u64,
}

impl std::fmt::Debug for StdoutPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutPort")
            .field("written", &self.written)
            .finish()
    }
}

impl StdoutPort {
    /// Writes to descriptor `fd` (1 for standard output).
    pub fn to_fd(fd: RawFd, format: PipeFormat) -> Result<StdoutPort, ConfigError> {
        let closed = Rc::new(Cell::new(false));
        let out = FdWriter {
            fd,
            closed: closed.clone(),
        };
        let encoder = match format {
            PipeFormat::Hex => Encoder::Hex {
                line_buf: Vec::with_capacity(1 << 16),
                out,
            },
            PipeFormat::Pcap | PipeFormat::PcapNg => {
                let f = if format == PipeFormat::Pcap {
                    Format::Pcap
                } else {
                    Format::PcapNg
                };
                let sink = PcapSink::to_writer(Box::new(BufWriter::with_capacity(1 << 16, out)), f)
                    .map_err(|e| ConfigError::param("format", e.to_string()))?;
                Encoder::Pcap(sink)
            }
        };
        let mut port = StdoutPort {
            _file: None,
            encoder,
            closed,
            written: 0,
            short: 0,
            write_errors: 0,
        };
        // The capture header goes out at once, so a reader sees a valid
        // (empty) capture even before the first packet.
        port.flush_out();
        Ok(port)
    }

    pub fn from_params(p: &Params) -> Result<StdoutPort, ConfigError> {
        let format = PipeFormat::from_params(p)?;
        let Some(path) = named_path(p)? else {
            return StdoutPort::to_fd(1, format);
        };
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| {
                ConfigError::param("path", format!("cannot open {}: {e}", path.display()))
            })?;
        let mut port = StdoutPort::to_fd(file.as_raw_fd(), format)?;
        port._file = Some(file);
        Ok(port)
    }

    fn flush_out(&mut self) {
        let result = match &mut self.encoder {
            Encoder::Pcap(sink) => sink.flush(),
            Encoder::Hex { line_buf, out } => {
                let r = out.write_all(line_buf);
                line_buf.clear();
                r
            }
        };
        if result.is_err() {
            self.write_errors += 1;
        }
    }
}

impl Port for StdoutPort {
    fn recv(&mut self, _batch: &mut Batch, _ctx: &mut PortCtx<'_>) -> RecvStatus {
        RecvStatus::Exhausted
    }

    fn send(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        if self.closed.get() {
            return; // left in the batch: counted as dropped
        }
        let n = batch.len() as u64;
        match &mut self.encoder {
            Encoder::Pcap(sink) => {
                ctx.bytes += batch.iter().map(|p| p.len() as u64).sum::<u64>();
                sink.send(batch, ctx);
                self.written += n;
            }
            Encoder::Hex { line_buf, .. } => {
                for (pkt, _) in batch.drain() {
                    if write_hex_line(line_buf, pkt.data()) {
                        self.written += 1;
                        ctx.bytes += pkt.len() as u64;
                    } else {
                        self.short += 1;
                    }
                }
            }
        }
        self.flush_out();
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    fn is_source(&self) -> bool {
        false
    }

    fn is_closed(&self) -> bool {
        self.closed.get()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_out();
        Ok(())
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        report("written", self.written);
        report("too_short", self.short);
        report("write_errors", self.write_errors);
        report("reader_gone", u64::from(self.closed.get()));
    }
}

/// Read buffer size: many pcap records or hex lines per `read`.
const READ_BUF: usize = 1 << 20;
/// Malformed lines reported on stderr before only counting.
const REPORT_LIMIT: u64 = 10;

enum Decoder {
    /// Waiting for the capture header (format detected from its magic).
    Start,
    Pcap(PcapParser),
    PcapNg(PcapNgParser),
    Hex,
}

/// `stdin(format=...)`: frames read from standard input.
pub struct StdinPort {
    /// The file or FIFO read instead of standard input, if any.
    _file: Option<File>,
    fd: RawFd,
    format: PipeFormat,
    decoder: Decoder,
    buf: Box<[u8]>,
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// Skipping the rest of an over-long line.
    skipping: bool,
    line: u64,
    read: u64,
    malformed: u64,
    oversize: u64,
    /// Broken or cut-off capture data.
    truncated: u64,
    read_errors: u64,
}

impl std::fmt::Debug for StdinPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdinPort")
            .field("format", &self.format)
            .field("read", &self.read)
            .finish()
    }
}

/// What parsing the buffered bytes gave.
enum Unit {
    /// Need more bytes.
    More,
    /// Consumed `n` bytes; maybe a frame was pushed.
    Took(usize),
    /// The pool is empty: try again later, nothing consumed.
    NoFrame,
    /// The stream cannot be read further.
    Broken,
}

impl StdinPort {
    /// Reads descriptor `fd` (0 for standard input).
    pub fn from_fd(fd: RawFd, format: PipeFormat) -> StdinPort {
        StdinPort {
            _file: None,
            fd,
            format,
            decoder: if format == PipeFormat::Hex {
                Decoder::Hex
            } else {
                Decoder::Start
            },
            buf: vec![0; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            skipping: false,
            line: 0,
            read: 0,
            malformed: 0,
            oversize: 0,
            truncated: 0,
            read_errors: 0,
        }
    }

    pub fn from_params(p: &Params) -> Result<StdinPort, ConfigError> {
        let format = PipeFormat::from_params(p)?;
        match named_path(p)? {
            None => Ok(StdinPort::from_fd(0, format)),
            Some(path) => {
                let file = File::open(path).map_err(|e| {
                    ConfigError::param("path", format!("cannot open {}: {e}", path.display()))
                })?;
                Ok(StdinPort::from_file(file, format))
            }
        }
    }

    /// Reads an open file or FIFO (kept open by the port).
    pub fn from_file(file: File, format: PipeFormat) -> StdinPort {
        let mut port = StdinPort::from_fd(file.as_raw_fd(), format);
        port._file = Some(file);
        port
    }

    /// Reads what is available (never blocks). False at end of input or
    /// when nothing is there.
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() || !sys::poll_readable_now(self.fd) {
            return false;
        }
        loop {
            match sys::read(self.fd, &mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(n) => {
                    self.end += n;
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) => {
                    self.read_errors += 1;
                    eprintln!("netfn: stdin: read failed: {e}; treating it as the end of input");
                    self.eof = true;
                    return false;
                }
            }
        }
    }

    fn report(&mut self, what: &str) {
        self.malformed += 1;
        if self.malformed <= REPORT_LIMIT {
            eprintln!("netfn: stdin: line {}: {what}; line dropped", self.line);
        }
        if self.malformed == REPORT_LIMIT {
            eprintln!("netfn: stdin: further malformed lines are only counted");
        }
    }

    /// Parses one hex line from the buffer.
    fn next_hex(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> Unit {
        let avail = &self.buf[self.start..self.end];
        let (line_len, consumed) = match avail.iter().position(|&c| c == b'\n') {
            Some(i) => (i, i + 1),
            None if self.eof && !avail.is_empty() => (avail.len(), avail.len()),
            None if self.start == 0 && self.end == self.buf.len() => {
                // A line longer than the buffer: drop it, skip to its end.
                let len = avail.len();
                if !self.skipping {
                    self.line += 1;
                    self.report("line longer than the read buffer");
                }
                self.skipping = true;
                return Unit::Took(len);
            }
            None => return Unit::More,
        };
        if self.skipping {
            self.skipping = false;
            return Unit::Took(consumed);
        }
        let trimmed = avail[..line_len].trim_ascii();
        if trimmed.is_empty() || trimmed[0] == b'#' {
            self.line += 1;
            return Unit::Took(consumed);
        }
        let Some(mut pkt) = ctx.pool.alloc() else {
            return Unit::NoFrame;
        };
        self.line += 1;
        let max = ctx.pool.max_packet_len();
        if pkt.set_len(max).is_err() {
            return Unit::NoFrame;
        }
        let line = &self.buf[self.start..self.start + line_len];
        match parse_hex_line(line, pkt.data_mut()) {
            Ok(len) => {
                pkt.truncate(len);
                self.push(pkt, batch, ctx);
            }
            Err(what) => {
                if what.starts_with("frame longer") {
                    self.oversize += 1;
                }
                self.report(&what);
            }
        }
        Unit::Took(consumed)
    }

    fn push(&mut self, mut pkt: netfn_core::Packet, batch: &mut Batch, ctx: &mut PortCtx<'_>) {
        pkt.set_input_port(ctx.port_id);
        pkt.set_timestamp(ctx.now);
        ctx.bytes += pkt.len() as u64;
        self.read += 1;
        let _ = batch.push(pkt);
    }

    /// Copies a captured frame into the batch (Took) or reports NoFrame.
    fn take_capture(&mut self, data: &[u8], batch: &mut Batch, ctx: &mut PortCtx<'_>) -> bool {
        if data.len() > ctx.pool.max_packet_len() {
            self.oversize += 1;
            return true;
        }
        match ctx.pool.alloc_with(data) {
            Some(pkt) => {
                self.push(pkt, batch, ctx);
                true
            }
            None => false,
        }
    }

    fn capture_error(&mut self, e: PcapError) -> Unit {
        match e {
            PcapError::IncompleteBuffer => Unit::More,
            e => {
                self.truncated += 1;
                eprintln!("netfn: stdin: not a readable capture stream: {e}");
                Unit::Broken
            }
        }
    }

    /// Parses one capture header, record or block from the buffer.
    fn next_capture(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> Unit {
        // The buffer and the parser are moved out for the duration, so
        // frames can be pushed (which needs `&mut self`) while the parser
        // borrows the bytes.
        let buf = std::mem::take(&mut self.buf);
        let mut decoder = std::mem::replace(&mut self.decoder, Decoder::Start);
        let avail = &buf[self.start..self.end];
        let mut started = None;
        let unit = match &mut decoder {
            Decoder::Start if avail.len() < 4 => Unit::More,
            Decoder::Start if avail[..4] == [0x0a, 0x0d, 0x0d, 0x0a] => {
                match PcapNgParser::new(avail) {
                    Ok((rest, parser)) => {
                        started = Some(Decoder::PcapNg(parser));
                        Unit::Took(avail.len() - rest.len())
                    }
                    Err(e) => self.capture_error(e),
                }
            }
            Decoder::Start => match PcapParser::new(avail) {
                Ok((rest, parser)) if parser.header().datalink == DataLink::ETHERNET => {
                    started = Some(Decoder::Pcap(parser));
                    Unit::Took(avail.len() - rest.len())
                }
                Ok((_, parser)) => {
                    eprintln!(
                        "netfn: stdin: link type {:?} is not supported; netfn reads Ethernet captures",
                        parser.header().datalink
                    );
                    Unit::Broken
                }
                Err(e) => self.capture_error(e),
            },
            Decoder::Pcap(parser) => match parser.next_packet(avail) {
                Ok((rest, packet)) => {
                    let used = avail.len() - rest.len();
                    if self.take_capture(&packet.data, batch, ctx) {
                        Unit::Took(used)
                    } else {
                        Unit::NoFrame
                    }
                }
                Err(e) => self.capture_error(e),
            },
            Decoder::PcapNg(parser) => match parser.next_block(avail) {
                Ok((rest, block)) => {
                    let used = avail.len() - rest.len();
                    let data = match &block {
                        Block::EnhancedPacket(p) => Some(&p.data[..]),
                        Block::SimplePacket(p) => Some(&p.data[..]),
                        _ => None,
                    };
                    match data {
                        Some(d) if !self.take_capture(d, batch, ctx) => Unit::NoFrame,
                        _ => Unit::Took(used),
                    }
                }
                Err(e) => self.capture_error(e),
            },
            Decoder::Hex => Unit::Broken,
        };
        self.decoder = started.unwrap_or(decoder);
        self.buf = buf;
        unit
    }
}

impl Port for StdinPort {
    fn recv(&mut self, batch: &mut Batch, ctx: &mut PortCtx<'_>) -> RecvStatus {
        while !batch.is_full() {
            let unit = if self.start == self.end {
                Unit::More
            } else if matches!(self.decoder, Decoder::Hex) {
                self.next_hex(batch, ctx)
            } else {
                self.next_capture(batch, ctx)
            };
            match unit {
                Unit::Took(n) => self.start += n,
                Unit::NoFrame => return RecvStatus::Ready,
                Unit::Broken => {
                    self.eof = true;
                    self.start = self.end;
                    return RecvStatus::Exhausted;
                }
                Unit::More => {
                    if self.fill() {
                        continue;
                    }
                    if self.eof {
                        if self.start < self.end {
                            if matches!(self.decoder, Decoder::Hex) {
                                continue; // the last line had no newline
                            }
                            self.truncated += 1;
                            eprintln!(
                                "netfn: stdin: the capture stream ends inside a record ({} bytes left)",
                                self.end - self.start
                            );
                            self.start = self.end;
                        }
                        return RecvStatus::Exhausted;
                    }
                    break;
                }
            }
        }
        RecvStatus::Ready
    }

    fn send(&mut self, batch: &mut Batch, _ctx: &mut PortCtx<'_>) {
        batch.clear();
    }

    fn counts_bytes(&self) -> bool {
        true
    }

    fn wait_fd(&self) -> Option<RawFd> {
        (!self.eof).then_some(self.fd)
    }

    fn counters(&self, report: &mut dyn FnMut(&str, u64)) {
        report("read", self.read);
        if self.format == PipeFormat::Hex {
            report("lines", self.line);
            report("malformed", self.malformed);
        }
        report("oversize", self.oversize);
        report("truncated", self.truncated);
        report("read_errors", self.read_errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netfn_core::{Pool, PoolConfig};

    fn frames(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
                f.extend((0..(20 + i % 50)).map(|j| (i + j) as u8));
                f
            })
            .collect()
    }

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("netfn-pipe-{}-{name}", std::process::id()))
    }

    /// Reads the port to its end; frames are freed as they come, unless
    /// `hold` (then the pool runs dry and the port must resume).
    fn drain(port: &mut StdinPort, pool: &Pool, hold: bool) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let mut held = Vec::new();
        for round in 0..100_000 {
            let mut batch = Batch::with_capacity(32);
            let mut ctx = PortCtx::new(pool, 0, 0);
            let status = port.recv(&mut batch, &mut ctx);
            for (pkt, _) in batch.drain() {
                got.push(pkt.data().to_vec());
                if hold {
                    held.push(pkt);
                }
            }
            if hold && round % 3 == 2 {
                held.clear(); // let the pool refill now and then
            }
            if status == RecvStatus::Exhausted {
                return got;
            }
        }
        panic!("never exhausted");
    }

    #[test]
    fn reads_pcap_and_pcapng_streams() {
        let want = frames(300);
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let pcap = temp("a.pcap");
        crate::pcap::write_frames(&pcap, &want).unwrap();
        let mut port = StdinPort::from_file(File::open(&pcap).unwrap(), PipeFormat::Pcap);
        assert_eq!(drain(&mut port, &pool, false), want);
        assert_eq!((port.truncated, port.read), (0, 300));

        let ng = temp("a.pcapng");
        let mut sink = PcapSink::create(&ng, Format::PcapNg).unwrap();
        let mut batch = Batch::with_capacity(256);
        for f in &want[..200] {
            batch.push(pool.alloc_with(f).unwrap()).unwrap();
        }
        sink.send(&mut batch, &mut PortCtx::new(&pool, 0, 0));
        sink.flush().unwrap();
        drop(sink);
        let mut port = StdinPort::from_file(File::open(&ng).unwrap(), PipeFormat::Pcap);
        assert_eq!(drain(&mut port, &pool, false), want[..200]);
    }

    #[test]
    fn a_cut_off_capture_counts_as_truncated() {
        let want = frames(10);
        let pcap = temp("cut.pcap");
        crate::pcap::write_frames(&pcap, &want).unwrap();
        let bytes = std::fs::read(&pcap).unwrap();
        std::fs::write(&pcap, &bytes[..bytes.len() - 5]).unwrap();
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let mut port = StdinPort::from_file(File::open(&pcap).unwrap(), PipeFormat::Pcap);
        assert_eq!(drain(&mut port, &pool, false), want[..9]);
        assert_eq!(port.truncated, 1);
    }

    #[test]
    fn an_empty_pool_loses_nothing() {
        let want = frames(100);
        let mut text = Vec::new();
        for f in &want {
            write_hex_line(&mut text, f);
        }
        let path = temp("pool.hex");
        std::fs::write(&path, &text).unwrap();
        let pool = Pool::new(PoolConfig {
            frames: 8,
            ..PoolConfig::default()
        })
        .unwrap();
        let mut port = StdinPort::from_file(File::open(&path).unwrap(), PipeFormat::Hex);
        assert_eq!(drain(&mut port, &pool, true), want);
        assert_eq!(port.malformed, 0);

        let pcap = temp("pool.pcap");
        crate::pcap::write_frames(&pcap, &want).unwrap();
        let mut port = StdinPort::from_file(File::open(&pcap).unwrap(), PipeFormat::Pcap);
        assert_eq!(drain(&mut port, &pool, true), want);
    }

    #[test]
    fn hex_line_layout_is_etherpipes() {
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&[
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x06, 0x00, 0x01, 0xab,
        ]);
        let mut out = Vec::new();
        assert!(write_hex_line(&mut out, &frame));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "FFFFFFFFFFFF 001122334455 0806 00 01 AB\n"
        );
        let mut header_only = Vec::new();
        assert!(write_hex_line(&mut header_only, &frame[..14]));
        assert_eq!(header_only, b"FFFFFFFFFFFF 001122334455 0806\n");
        assert!(!write_hex_line(&mut Vec::new(), &frame[..13]));
    }

    #[test]
    fn hex_lines_round_trip() {
        for len in [14usize, 15, 60, 1514] {
            let frame: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut line = Vec::new();
            assert!(write_hex_line(&mut line, &frame));
            let mut out = vec![0; 2000];
            let n = parse_hex_line(&line, &mut out).unwrap();
            assert_eq!(&out[..n], &frame[..]);
        }
        // Lower case and extra spaces are accepted.
        let mut out = [0u8; 64];
        let n = parse_hex_line(b"  ffffffffffff\t001122334455  0800 45 ", &mut out).unwrap();
        assert_eq!(n, 15);
        assert_eq!(out[14], 0x45);
    }

    #[test]
    fn malformed_hex_lines_say_what_is_wrong() {
        let mut out = [0u8; 32];
        let cases: [(&[u8], &str); 5] = [
            (b"FFFF 001122334455 0800", "field 1 (destination MAC)"),
            (b"FFFFFFFFFFFF 00112233445G 0800", "not hexadecimal"),
            (b"FFFFFFFFFFFF 001122334455 08", "field 3 (EtherType)"),
            (b"FFFFFFFFFFFF 001122334455 0800 4", "field 4 (byte)"),
            (b"FFFFFFFFFFFF 001122334455", "too short"),
        ];
        for (line, want) in cases {
            let err = parse_hex_line(line, &mut out).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
        let long = [
            b"FFFFFFFFFFFF 001122334455 0800".as_slice(),
            &b" 00".repeat(40),
        ]
        .concat();
        assert!(
            parse_hex_line(&long, &mut out)
                .unwrap_err()
                .contains("longer")
        );
    }
}
