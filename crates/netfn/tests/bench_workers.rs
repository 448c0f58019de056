//! `netfn bench workers --quick --json` end to end: the report has every
//! configuration of the matrix, each delivered packets, the latency
//! percentiles are ordered, and the targets are evaluated. Timing is not
//! asserted (the machine is shared; see docs/workers.md for the figures).

use std::process::Command;

use serde_json::Value;

fn delivered(m: &Value, what: &str) {
    assert!(m["error"].is_null(), "{what}: {}", m["error"]);
    assert!(m["packets"].as_u64().unwrap() > 0, "{what}: no packets");
    assert!(m["mpps"].as_f64().unwrap() > 0.0, "{what}");
    assert!(m["load1"].as_f64().is_some(), "{what}: no load");
}

fn latency(m: &Value, what: &str) {
    let l = &m["latency"];
    assert!(l["samples"].as_u64().unwrap() > 0, "{what}: {m}");
    let p = |k: &str| l[k].as_f64().unwrap();
    assert!(
        p("p50_us") <= p("p99_us") && p("p99_us") <= p("p999_us") && p("p999_us") <= p("max_us"),
        "{what}: percentiles out of order: {l}"
    );
}

#[test]
fn quick_bench_measures_every_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_netfn"))
        .args(["bench", "workers", "--quick", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["frame_bytes"], 64);
    let chains = v["chains"].as_array().unwrap();
    let lengths: Vec<u64> = chains.iter().map(|c| c["nfs"].as_u64().unwrap()).collect();
    assert_eq!(lengths, [1, 2]);
    for c in chains {
        let k = c["nfs"].as_u64().unwrap();
        for way in [
            "in_process",
            "one_worker",
            "worker_per_nf",
            "pipe_stages",
            "in_process_paced",
            "one_worker_paced",
            "worker_per_nf_paced",
        ] {
            let what = format!("{way}, {k} NFs");
            delivered(&c[way], &what);
            if way == "pipe_stages" {
                assert!(c[way]["latency"].is_null(), "{what}: stages share no clock");
            } else {
                latency(&c[way], &what);
            }
        }
        for paced in [
            "in_process_paced",
            "one_worker_paced",
            "worker_per_nf_paced",
        ] {
            assert_eq!(c[paced]["offered_pps"], v["rate_pps"], "{paced}");
        }
        for ratio in [
            "one_worker_ratio",
            "worker_per_nf_ratio",
            "pipe_stages_ratio",
        ] {
            assert!(c[ratio].as_f64().unwrap() > 0.0, "{ratio}");
        }
    }
    let workers = v["workers"].as_array().unwrap();
    let counts: Vec<u64> = workers
        .iter()
        .map(|w| w["workers"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1, 10]);
    for w in workers {
        for run in ["flat_out", "paced"] {
            let what = format!("{} Workers, {run}", w["workers"]);
            delivered(&w[run], &what);
            latency(&w[run], &what);
            assert_eq!(w[run]["restarts"], 0, "{what}");
        }
    }
    assert_eq!(v["spawn"]["spawns"], 3, "{}", v["spawn"]);
    assert!(v["spawn"]["median_ms"].as_f64().unwrap() > 0.0);
    assert!(v["idle_memory"]["rss_kib"].as_u64().unwrap() > 0);
    assert!(v["targets"]["worker_ratio_met"].is_boolean());
    assert!(v["targets"]["spawn_met"].is_boolean());
    assert!(v["nofile"].as_u64().unwrap() > 0);
}
