//! Shared by the real-traffic tests (`netns.rs`, `realclient.rs`): the
//! namespace topology of `scripts/netns.sh`, processes run inside it (each
//! killed when its guard drops, also when a test fails), ping's output, and
//! netfn's `--json` summary.
//!
//! Each test crate uses a part of this module, hence `dead_code` allowed.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Why real-traffic tests cannot run here, if they cannot. Found out once
/// per process: tests run in parallel, and probes under one name would
/// collide (and make the others look unavailable).
pub fn unavailable() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(probe).clone()
}

fn probe() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if text(&uid.stdout).trim() != "0" {
        return Some("not root (network namespaces and AF_PACKET need it)".into());
    }
    let probe = format!("nfprobe{}", std::process::id());
    match Command::new("ip").args(["netns", "add", &probe]).output() {
        Ok(o) if o.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).status();
            None
        }
        Ok(o) => Some(format!(
            "network namespaces unavailable: ip netns add: {}",
            text(&o.stderr).trim()
        )),
        Err(e) => Some(format!(
            "`ip` (iproute2) not found: {e}; run scripts/setup.sh"
        )),
    }
}

/// The programs of `tools` that are not on the PATH, if any.
pub fn missing_tools(tools: &[&str]) -> Option<String> {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t} >/dev/null 2>&1")])
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not installed (scripts/setup.sh installs them)",
            missing.join(", ")
        )
    })
}

/// Returns from the test (it passes without running) when there is no root,
/// no network namespaces or one of the named programs is missing, and says
/// why on stderr.
macro_rules! require_netns {
    ($($tool:expr),* $(,)?) => {
        if let Some(why) = $crate::common::unavailable()
            .or_else(|| $crate::common::missing_tools(&[$($tool),*]))
        {
            eprintln!("SKIPPED {}: {why}", module_path!());
            return;
        }
    };
}
pub(crate) use require_netns;

/// Which addressing `scripts/netns.sh up` sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One subnet (10.200.0.0/24), the middlebox a bump in the wire.
    Bridge,
    /// As `Bridge`, plus TAP interfaces ta, tb bridged to a and b in mb.
    Tap,
    /// Two subnets, 10.201.1.0/24 (gateway .254) and 10.201.2.0/24
    /// (gateway .254), that only a netfn router in mb joins.
    Routed,
}

/// The namespaces of one test; torn down on drop, also when the test fails.
#[derive(Debug)]
pub struct Topology {
    pub prefix: String,
}

impl Topology {
    pub fn up(tag: &str, mode: Mode) -> Topology {
        let prefix = format!("nf{}{tag}", std::process::id());
        let topo = Topology { prefix };
        let mut args = vec!["up", topo.prefix.as_str()];
        match mode {
            Mode::Bridge => {}
            Mode::Tap => args.push("tap"),
            Mode::Routed => args.push("routed"),
        }
        let out = Command::new(repo().join("scripts/netns.sh"))
            .args(&args)
            .output()
            .expect("run scripts/netns.sh");
        assert!(
            out.status.success(),
            "netns.sh up failed: {}",
            text(&out.stderr)
        );
        topo
    }

    pub fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.prefix)
    }

    /// A command run inside namespace `host` (h1, mb, h2).
    pub fn cmd(&self, host: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host), program]);
        c
    }

    /// Runs `program args` in `host` and insists that it succeeds.
    pub fn must(&self, host: &str, program: &str, args: &[&str]) -> String {
        let out = self
            .cmd(host, program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {program} in {host}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} in {host}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// The MAC address of `dev` in namespace `host`.
    pub fn mac(&self, host: &str, dev: &str) -> String {
        self.must(host, "cat", &[&format!("/sys/class/net/{dev}/address")])
            .trim()
            .to_string()
    }

    /// Waits until `n` packet sockets are open in namespace `host` (a
    /// netfn started there has bound its afpacket ports).
    pub fn wait_for_packet_sockets(&self, host: &str, n: usize) {
        let t0 = Instant::now();
        loop {
            let out = self
                .cmd(host, "cat")
                .arg("/proc/net/packet")
                .output()
                .unwrap();
            // Bound sockets only (Iface != 0): a socket is listed from
            // socket() on, before its ring and bind.
            let bound = text(&out.stdout)
                .lines()
                .skip(1)
                .filter(|l| l.split_whitespace().nth(4).is_some_and(|i| i != "0"))
                .count();
            if bound >= n {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "no {n} packet sockets in {host}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pings h2 from h1 in the bridge topology: (transmitted, received,
    /// output).
    pub fn ping(&self, count: u32, interval: &str, wait_s: u32) -> (u32, u32, String) {
        let p = self.ping_from(
            "h1",
            "10.200.0.2",
            &[
                "-c",
                &count.to_string(),
                "-i",
                interval,
                "-W",
                &wait_s.to_string(),
            ],
        );
        (p.transmitted, p.received, p.output)
    }

    /// Runs `ping -n ARGS DST` in `host` (`ping -6` for an IPv6 `dst`).
    pub fn ping_from(&self, host: &str, dst: &str, args: &[&str]) -> Ping {
        let mut c = self.cmd(host, "ping");
        c.arg("-n");
        if dst.contains(':') {
            c.arg("-6");
        }
        let out = c
            .args(args)
            .arg(dst)
            .output()
            .expect("run ping (iputils-ping; scripts/setup.sh installs it)");
        Ping::parse(text(&out.stdout) + &text(&out.stderr))
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/netns.sh"))
            .args(["down", &self.prefix])
            .status();
    }
}

/// What one `ping` run printed.
#[derive(Debug, Clone)]
pub struct Ping {
    pub transmitted: u32,
    pub received: u32,
    /// `+N errors` (ICMP errors received instead of replies).
    pub errors: u32,
    /// min/avg/max RTT in ms, when any reply came.
    pub rtt_ms: Option<[f64; 3]>,
    pub output: String,
}

impl Ping {
    pub fn parse(output: String) -> Ping {
        let stat = output
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or("");
        let num = |word: &str| -> u32 {
            stat.split(',')
                .find(|p| p.contains(word))
                .and_then(|p| p.split_whitespace().next())
                .and_then(|n| n.trim_start_matches('+').parse().ok())
                .unwrap_or(0)
        };
        // rtt min/avg/max/mdev = 0.280/0.572/0.766/0.210 ms
        let rtt_ms = output
            .lines()
            .find(|l| l.starts_with("rtt "))
            .and_then(|l| l.split('=').nth(1))
            .and_then(|v| {
                let f: Vec<f64> = v
                    .split_whitespace()
                    .next()?
                    .split('/')
                    .filter_map(|x| x.parse().ok())
                    .collect();
                (f.len() >= 3).then(|| [f[0], f[1], f[2]])
            });
        Ping {
            transmitted: num("transmitted"),
            received: num("received"),
            errors: num("errors"),
            rtt_ms,
            output,
        }
    }
}

/// A process in the background (netfn, a server, tcpdump): its output is
/// collected as it comes; killed on drop if still running.
#[derive(Debug)]
pub struct Background {
    name: String,
    child: Option<Child>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn collect(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

impl Background {
    pub fn spawn(name: &str, mut cmd: Command) -> Background {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child.stdout.take().map(collect);
        let stderr = child.stderr.take().map(collect);
        Background {
            name: name.to_string(),
            child: Some(child),
            stdout,
            stderr,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// How it ended, if it has.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Its output, if it has ended (then it is gone: later calls return
    /// `None`, and `stop`/`wait` must not follow).
    pub fn ended(&mut self) -> Option<Output> {
        let status = self.exited()?;
        self.child = None;
        let join = |h: Option<JoinHandle<Vec<u8>>>| {
            h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
        };
        Some(Output {
            status,
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        })
    }

    /// Stops it with SIGINT (netfn prints its counters, tcpdump flushes),
    /// SIGKILL if it has not ended within 10 s.
    pub fn stop(mut self) -> Output {
        if self.exited().is_none() {
            let _ = Command::new("kill")
                .args(["-INT", &self.id().to_string()])
                .stderr(Stdio::null())
                .status();
        }
        self.wait(Duration::from_secs(10))
    }

    /// Waits for it to end by itself; past `limit` it is killed and the
    /// test fails.
    pub fn wait(mut self, limit: Duration) -> Output {
        let t0 = Instant::now();
        let mut child = self.child.take().unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if t0.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                let err = self.stderr.take().map(|h| h.join().unwrap_or_default());
                panic!(
                    "{} did not end within {limit:?}: {}",
                    self.name,
                    text(&err.unwrap_or_default())
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: self
                .stdout
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
            stderr: self
                .stderr
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `netfn run GRAPH --json` in the middlebox (at most 60 s).
pub fn start_netfn(topo: &Topology, graph: &Path) -> Background {
    let mut cmd = topo.cmd("mb", env!("CARGO_BIN_EXE_netfn"));
    cmd.args([
        "run",
        graph.to_str().unwrap(),
        "--json",
        "--duration",
        "60s",
    ]);
    Background::spawn("netfn", cmd)
}

/// Writes a graph file into this process's scratch directory.
pub fn graph(name: &str, body: &str) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// This test process's scratch directory.
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netfn-netns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The node `name` of a `--json` summary.
pub fn node<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {json}"))
}

/// Counter `key` of node `name` (`extra`), 0 when absent.
pub fn extra(json: &serde_json::Value, name: &str, key: &str) -> u64 {
    node(json, name)["extra"][key].as_u64().unwrap_or(0)
}

/// Parses netfn's `--json` summary from a stopped run.
pub fn summary(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "netfn --json: {e}\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}
