//! Worker processes end to end: `worker(graph = ...)` spawns `netfn
//! worker`, a killed Worker is restarted with its packets counted as lost,
//! and a second Worker of the same graph loses nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netfn-worker-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kills the Master (and so, by their parent-death signal, its Workers)
/// if a test fails before it exits.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The children of `pid` (every thread's).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let s = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    out
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn node<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no node {name} in {stats}"))
}

fn extra(stats: &Value, name: &str, key: &str) -> u64 {
    node(stats, name)["extra"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("{name}.{key} in {stats}"))
}

fn tx(stats: &Value, name: &str) -> u64 {
    node(stats, name)["tx_packets"].as_u64().unwrap()
}

#[test]
fn a_killed_worker_is_restarted_and_the_other_loses_nothing() {
    let dir = scratch("kill");
    for t in ["a", "b"] {
        std::fs::write(
            dir.join(format!("{t}.nf")),
            "r :: ring();\nr -> ttl() -> r;\n",
        )
        .unwrap();
    }
    // 60k packets each at 20k pps: about 3 s, the kill after about 1 s.
    let master = dir.join("master.nf");
    std::fs::write(
        &master,
        "g1 :: generator(flows = 100, rate = 20000, count = 60000, sequence = true);\n\
         g1 -> w1 :: worker(graph = \"a.nf\") -> s1 :: sink();\n\
         g2 :: generator(flows = 100, rate = 20000, count = 60000, sequence = true);\n\
         g2 -> w2 :: worker(graph = \"b.nf\") -> s2 :: sink(check = sequence);\n",
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args([
            "run",
            master.to_str().unwrap(),
            "--json",
            "--duration",
            "15s",
        ])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut master_proc = Reap(child);
    let pid = master_proc.0.id();
    // Both Workers up, then kill -9 the one running a.nf.
    let deadline = Instant::now() + Duration::from_secs(10);
    let victim = loop {
        let kids = children(pid);
        let a = kids.iter().copied().find(|&k| cmdline(k).contains("a.nf"));
        if let (true, Some(a)) = (kids.len() >= 2, a) {
            break a;
        }
        assert!(Instant::now() < deadline, "Workers did not start");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Each Worker holds and maps its own region and no other: one ring
    // memfd among its fds, only that one in its address space, and not the
    // other Worker's.
    let region_of = |kid: u32| -> (Vec<String>, Vec<String>) {
        let fds = std::fs::read_dir(format!("/proc/{kid}/fd"))
            .map(|d| {
                d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .map(|l| l.to_string_lossy().into_owned())
                    .filter(|l| l.starts_with("/memfd:netfn-ring"))
                    .collect()
            })
            .unwrap_or_default();
        let maps = std::fs::read_to_string(format!("/proc/{kid}/maps")).unwrap_or_default();
        let mapped: std::collections::BTreeSet<String> = maps
            .lines()
            .filter(|l| l.contains("/memfd:netfn-ring"))
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .collect();
        (fds, mapped.into_iter().collect())
    };
    // A Worker maps its region once it has started: wait for both.
    let deadline = Instant::now() + Duration::from_secs(10);
    let regions: Vec<String> = loop {
        let seen: Vec<_> = children(pid)
            .into_iter()
            .map(|k| (k, region_of(k)))
            .collect();
        if seen.len() == 2 && seen.iter().all(|(_, (_, mapped))| !mapped.is_empty()) {
            for (kid, (fds, mapped)) in &seen {
                assert_eq!(fds.len(), 1, "Worker {kid}: ring fds {fds:?}");
                assert_eq!(mapped.len(), 1, "Worker {kid} maps regions {mapped:?}");
            }
            break seen.into_iter().map(|(_, (_, m))| m[0].clone()).collect();
        }
        assert!(
            Instant::now() < deadline,
            "Workers did not map their regions: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(regions.len(), 2);
    assert_ne!(regions[0], regions[1], "two Workers share a region");
    std::thread::sleep(Duration::from_millis(1000));
    let status = Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    let deadline = Instant::now() + Duration::from_secs(15);
    while master_proc.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the Master did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = String::new();
    std::io::Read::read_to_string(master_proc.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let stats: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(master_proc.0.stderr.as_mut().unwrap(), &mut err);
        panic!("{e}: {stdout} {err}")
    });
    assert_eq!(stats["stop"], "sources done", "{stats}");

    // The killed Worker: restarted once, a new pid; everything pushed into
    // its ring came back or is counted lost.
    assert_eq!(extra(&stats, "w1", "restarts"), 1, "{stats}");
    assert_ne!(extra(&stats, "w1", "pid"), u64::from(victim));
    let lost = extra(&stats, "w1", "lost");
    assert_eq!(
        extra(&stats, "w1", "ring-pushed"),
        tx(&stats, "s1") + lost,
        "{stats}"
    );
    assert!(tx(&stats, "s1") > 0);

    // The other Worker: no restart, nothing lost, all in order.
    assert_eq!(extra(&stats, "w2", "restarts"), 0);
    assert_eq!(extra(&stats, "w2", "lost"), 0);
    assert_eq!(extra(&stats, "w2", "ring-pushed"), tx(&stats, "s2"));
    assert_eq!(extra(&stats, "s2", "out_of_order"), 0);
    let tx_full = node(&stats, "w2")["drops"]["tx-full"].as_u64().unwrap_or(0);
    assert_eq!(tx(&stats, "s2") + tx_full, 60000, "{stats}");
    assert_eq!(extra(&stats, "s2", "lost"), tx_full);
    // No Worker outlives the Master.
    std::thread::sleep(Duration::from_millis(100));
    assert!(children(pid).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn worker_runs_the_example_and_check_accepts_ring_graphs() {
    // The example's graph with a shorter generator (it ends the run, and
    // the Worker's ring drains before the Master stops).
    let dir = scratch("example");
    let example = std::fs::read_to_string(repo().join("examples/worker.nf")).unwrap();
    let short = example.replace("count = 2000000", "count = 20000");
    assert_ne!(short, example);
    std::fs::write(dir.join("worker.nf"), short).unwrap();
    std::fs::copy(repo().join("examples/tenant.nf"), dir.join("tenant.nf")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(["run", dir.join("worker.nf").to_str().unwrap(), "--json"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pushed = extra(&stats, "w", "ring-pushed");
    assert!(pushed > 0);
    // Everything pushed came back, checksums right after the TTL change.
    assert_eq!(tx(&stats, "out"), pushed, "{stats}");
    assert_eq!(extra(&stats, "out", "bad_checksum"), 0);

    // ring() outside a Worker: a build error, not a hang.
    let out = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(["run", "examples/tenant.nf", "--duration", "100ms"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NETFN_RING_REGION_FD"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A tenant's chain as a sub-graph: a TTL decrement and a firewall whose
/// rules file is relative to the graph file.
const TENANT: &str = "graph Tenant(rules) {\n\
    input -> ttl() -> fw :: firewall(rules = $rules, default = deny) -> output;\n\
}\n";

/// `netfn run --json` of `graph` (in its own directory, run from the repo
/// so relative paths must be resolved against the graph file).
fn run_json(graph: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(["run", graph.to_str().unwrap(), "--json"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn drops(stats: &Value, name: &str) -> u64 {
    node(stats, name)["drops"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

#[test]
fn an_isolated_instance_gives_the_verdicts_of_the_same_instance_in_process() {
    let dir = scratch("isolate");
    std::fs::copy(repo().join("examples/firewall.rules"), dir.join("t.rules")).unwrap();
    let graph = |isolate: &str| {
        format!(
            "{TENANT}g :: generator(flows = 1000, udp = 3, tcp = 1, count = 3000, rate = 5000);\n\
             g -> p :: Tenant(rules = \"t.rules\", isolate = {isolate}) -> s :: sink(check = checksum);\n"
        )
    };
    std::fs::write(dir.join("inproc.nf"), graph("none")).unwrap();
    std::fs::write(dir.join("isolated.nf"), graph("process")).unwrap();

    let inproc = run_json(&dir.join("inproc.nf"));
    let passed = tx(&inproc, "s");
    let denied = drops(&inproc, "p/ttl@1") + drops(&inproc, "p/fw");
    assert_eq!(passed + denied, 3000, "{inproc}");
    assert!(passed > 0 && denied > 0, "{inproc}");

    let isolated = run_json(&dir.join("isolated.nf"));
    assert_eq!(node(&isolated, "p")["kind"], "worker");
    assert!(
        isolated["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n["name"].as_str().unwrap().starts_with("p/")),
        "the instance's NFs run in the Worker: {isolated}"
    );
    assert_eq!(extra(&isolated, "p", "ring-pushed"), 3000, "{isolated}");
    assert_eq!(drops(&isolated, "p"), 0, "{isolated}");
    assert_eq!(extra(&isolated, "p", "lost"), 0);
    assert_eq!(extra(&isolated, "p", "restarts"), 0);
    // Same NF code, same verdicts.
    assert_eq!(tx(&isolated, "s"), passed, "{isolated}");
    assert_eq!(
        extra(&isolated, "p", "worker-dropped"),
        denied,
        "{isolated}"
    );
    assert_eq!(extra(&isolated, "s", "bad_checksum"), 0);

    // `netfn check` lists the Worker's elements under the instance.
    let out = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(["check", dir.join("isolated.nf").to_str().unwrap()])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("worker p: 3 elements (p/ring@0 ring, p/ttl@1 ttl, p/fw firewall)"),
        "{text}"
    );

    // A rules file the Worker could not read: `netfn run` says so at the
    // firewall in the original file and starts no Worker.
    std::fs::write(
        dir.join("bad.nf"),
        graph("process").replace("t.rules", "missing.rules"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(["run", dir.join("bad.nf").to_str().unwrap(), "--json"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.nf:2:"), "{err}");
    assert!(
        err.contains("`p/fw` (firewall): cannot read rules file"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_killed_isolated_worker_is_restarted_with_the_same_graph() {
    let dir = scratch("isolate-kill");
    std::fs::copy(repo().join("examples/firewall.rules"), dir.join("t.rules")).unwrap();
    let graph = dir.join("node.nf");
    // 60k packets at 20k pps: about 3 s, the kill after about 1 s.
    std::fs::write(
        &graph,
        format!(
            "{TENANT}g :: generator(flows = 1000, udp = 3, tcp = 1, count = 60000, rate = 20000);\n\
             g -> p :: Tenant(rules = \"t.rules\", isolate = process) -> s :: sink(check = checksum);\n"
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args([
            "run",
            graph.to_str().unwrap(),
            "--json",
            "--duration",
            "15s",
        ])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut master = Reap(child);
    let pid = master.0.id();
    let worker = |deadline: Instant, not: Option<u32>| loop {
        if let Some(w) = children(pid)
            .into_iter()
            .find(|&k| Some(k) != not && cmdline(k).contains("worker - --name p"))
        {
            break w;
        }
        assert!(Instant::now() < deadline, "no Worker for p");
        std::thread::sleep(Duration::from_millis(10));
    };
    let victim = worker(Instant::now() + Duration::from_secs(10), None);
    // What the Worker was given on its standard input: the graph text.
    let given = std::fs::read_to_string(format!("/proc/{victim}/fd/0")).unwrap();
    assert!(given.contains("p/fw :: firewall("), "{given}");
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        Command::new("kill")
            .args(["-9", &victim.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let successor = worker(Instant::now() + Duration::from_secs(10), Some(victim));
    let again = std::fs::read_to_string(format!("/proc/{successor}/fd/0")).unwrap();
    assert_eq!(again, given, "a restart runs the same graph");

    let deadline = Instant::now() + Duration::from_secs(15);
    while master.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the Master did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stdout = String::new();
    std::io::Read::read_to_string(master.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    let stats: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(master.0.stderr.as_mut().unwrap(), &mut err);
        panic!("{e}: {stdout} {err}")
    });
    assert_eq!(stats["stop"], "sources done", "{stats}");
    assert_eq!(extra(&stats, "p", "restarts"), 1, "{stats}");
    assert_eq!(extra(&stats, "p", "pid"), u64::from(successor));
    // Everything pushed came back, was denied by the firewall, or was in
    // the killed Worker's ring.
    assert_eq!(
        extra(&stats, "p", "ring-pushed"),
        tx(&stats, "s") + extra(&stats, "p", "worker-dropped") + extra(&stats, "p", "lost"),
        "{stats}"
    );
    assert!(tx(&stats, "s") > 0);
    std::thread::sleep(Duration::from_millis(100));
    assert!(children(pid).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// A Worker graph file whose NFs cannot be built (a missing rules file) is
/// an error of the Master's graph, located in the Worker's file, before any
/// Worker is spawned.
#[test]
fn a_worker_file_with_a_bad_nf_is_an_error_before_spawning() {
    let dir = scratch("badfile");
    std::fs::write(
        dir.join("t.nf"),
        "r :: ring();\nr -> firewall(rules = \"missing.rules\") -> r;\n",
    )
    .unwrap();
    let master = dir.join("m.nf");
    std::fs::write(
        &master,
        "g :: generator(count = 10);\ng -> worker(graph = \"t.nf\") -> sink();\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(["run", master.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot read rules file") && err.contains("missing.rules"),
        "{err}"
    );
    assert!(err.contains("t.nf:2:15"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
