//! Expansion (anonymous names, sub-graphs, variables, includes) and
//! validation into plans: what the model and the plan look like.

mod common;

use netfn_core::config::Value;
use netfn_lang::{
    Lit, Literal, Model, Vars, check_build, parse_file, parse_str, summary, to_dot, to_svg,
    validate,
};

fn parse(text: &str) -> Model {
    match parse_str("t.nf", text, &Vars::new()) {
        Ok(m) => m,
        Err(d) => panic!("{}", d.render()),
    }
}

fn names(m: &Model) -> Vec<&str> {
    m.elements.iter().map(|e| e.name.as_str()).collect()
}

fn edges(m: &Model) -> Vec<String> {
    m.connections
        .iter()
        .map(|c| {
            let arrow = if c.mirror { "->>" } else { "->" };
            format!("{}[{}] {arrow} [{}]{}", c.from, c.output, c.input, c.to)
        })
        .collect()
}

#[test]
fn anonymous_elements_are_numbered_per_kind() {
    let m = parse("src -> ttl() -> counter() -> ttl() -> dst;");
    assert_eq!(names(&m), ["ttl@1", "counter@1", "ttl@2"]);
    assert_eq!(
        edges(&m),
        [
            "src[0] -> [0]ttl@1",
            "ttl@1[0] -> [0]counter@1",
            "counter@1[0] -> [0]ttl@2",
            "ttl@2[0] -> [0]dst"
        ]
    );
}

#[test]
fn generated_names_avoid_declared_ones() {
    let m = parse("ttl@1 :: counter(); src -> ttl() -> ttl@1 -> dst;");
    assert_eq!(names(&m), ["ttl@1", "ttl@2"]);
}

#[test]
fn inline_declarations_and_ports() {
    let m = parse(
        "src -> fw :: firewall(rules = \"r\") -> [1]m :: merge(); src2 -> m; cls[1] -> web; x [2] -> [3] y;",
    );
    assert_eq!(names(&m), ["fw", "m"]);
    assert_eq!(
        edges(&m),
        [
            "src[0] -> [0]fw",
            "fw[0] -> [1]m",
            "src2[0] -> [0]m",
            "cls[1] -> [0]web",
            "x[2] -> [3]y"
        ]
    );
}

#[test]
fn sub_graphs_expand_into_named_components() {
    let m = parse(
        "graph Chain(limit = 64) { input -> ttl(limit = $limit) -> c :: counter() -> output; input[1] -> output[1]; }
         src -> ch :: Chain(limit = 32) -> dst;
         src2 -> [1]ch[1] -> dst2;
         src3 -> Chain() -> dst3;",
    );
    assert_eq!(
        names(&m),
        ["ch/ttl@1", "ch/c", "Chain@1/ttl@1", "Chain@1/c"]
    );
    assert_eq!(
        edges(&m),
        [
            // A sub-graph's inner connections come where it is instantiated.
            "ch/ttl@1[0] -> [0]ch/c",
            "ch/c[0] -> [0]dst",
            "src[0] -> [0]ch/ttl@1",
            // `input[1] -> output[1]` passes straight through.
            "src2[0] -> [0]dst2",
            "Chain@1/ttl@1[0] -> [0]Chain@1/c",
            "Chain@1/c[0] -> [0]dst3",
            "src3[0] -> [0]Chain@1/ttl@1",
        ]
    );
    assert_eq!(
        m.element("ch/ttl@1")
            .unwrap()
            .param("limit")
            .unwrap()
            .value
            .lit,
        Lit::Int(32)
    );
    assert_eq!(
        m.element("Chain@1/ttl@1")
            .unwrap()
            .param("limit")
            .unwrap()
            .value
            .lit,
        Lit::Int(64)
    );
}

#[test]
fn nested_sub_graphs() {
    let m = parse(
        "graph Inner(n) { input -> classifier(n = $n) -> output; }
         graph Outer { input -> i :: Inner(n = 2) -> output; }
         src -> o :: Outer() -> dst;",
    );
    assert_eq!(names(&m), ["o/i/classifier@1"]);
    // A sub-graph's inner connections come where it is instantiated.
    assert_eq!(
        edges(&m),
        [
            "o/i/classifier@1[0] -> [0]dst",
            "src[0] -> [0]o/i/classifier@1"
        ]
    );
}

#[test]
fn variables_strings_lists_and_outside_definitions() {
    let text = "let dir = \"/etc/netfn\"; let rules = \"${dir}/fw.rules\"; let ports = [80, $https]; let https = 443;
                let limit = 64;
                fw :: firewall(rules = $rules, default = ${policy}); cls :: classifier(n = 2, ports = $ports);
                t :: ttl(limit = $limit);
                let policy = accept;";
    let m = parse_str("t.nf", text, &Vars::new()).unwrap();
    let value = |e: &str, p: &str| m.element(e).unwrap().param(p).unwrap().value.to_string();
    assert_eq!(value("fw", "rules"), "/etc/netfn/fw.rules");
    assert_eq!(value("fw", "default"), "accept");
    assert_eq!(value("cls", "ports"), "[80, 443]");

    // `-D` wins over `let`.
    let mut vars = Vars::new();
    vars.define("policy", "drop")
        .unwrap()
        .define("limit", "32")
        .unwrap();
    let m = parse_str("t.nf", text, &vars).unwrap();
    assert_eq!(
        m.element("fw").unwrap().param("default").unwrap().value.lit,
        Lit::Text("drop".into())
    );
    assert_eq!(
        m.element("t").unwrap().param("limit").unwrap().value.lit,
        Lit::Int(32)
    );
    // A variable only defined outside.
    let mut vars = Vars::new();
    vars.set("n", Literal::int(4));
    let m = parse_str("t.nf", "c :: classifier(n = $n);", &vars).unwrap();
    assert_eq!(
        m.element("c").unwrap().param("n").unwrap().value.lit,
        Lit::Int(4)
    );
}

#[test]
fn variable_cycles_are_errors() {
    let err = parse_str(
        "t.nf",
        "let a = $b; let b = $a; x :: k(p = $a);",
        &Vars::new(),
    )
    .unwrap_err();
    assert_eq!(err.iter().next().unwrap().code, "netfn::variable-cycle");
}

#[test]
fn outside_value_errors_point_into_the_definition() {
    let mut vars = Vars::new();
    vars.define("limit", "300").unwrap();
    let m = parse_str(
        "t.nf",
        "src :: pcap_in(file = \"x\"); src -> ttl(limit = $limit) -> pcap_out(file = \"y\");",
        &vars,
    )
    .unwrap();
    let err = validate(&m, &common::catalog()).unwrap_err();
    let d = err.iter().next().unwrap();
    assert_eq!(
        (d.file(), d.line(), d.col()),
        (Some("-D limit"), Some(1), Some(1))
    );
    assert_eq!(d.message, "300 is out of range 1..=255");
}

#[test]
fn includes_are_relative_and_read_once() {
    let m = parse_file("tests/include/main.nf", &Vars::new()).unwrap();
    assert_eq!(
        names(&m),
        ["src", "a_chain/ttl@1", "b_chain/firewall@1", "pcap_out@1"]
    );
    assert_eq!(
        m.element("a_chain/ttl@1")
            .unwrap()
            .param("limit")
            .unwrap()
            .value
            .lit,
        Lit::Int(32)
    );
    let plan = validate(&m, &common::catalog()).unwrap();
    let fw = &plan.nodes[plan.node("b_chain/firewall@1").unwrap()];
    assert_eq!(fw.params.str("rules").unwrap(), "tests/include/sub/b.rules");
    let src = &plan.nodes[plan.node("src").unwrap()];
    // Written in common.nfi: relative to tests/include.
    assert_eq!(src.params.str("file").unwrap(), "tests/include/in.pcap");
}

#[test]
fn validation_fills_defaults_and_types_values() {
    let m = parse(
        "src :: pcap_in(file = \"in.pcap\");
         src -> p :: policer(burst = 2KiB, interval = 250ms)
             -> n :: nat(external = 2001:db8::1)
             -> r :: rewrite(mac = 02:00:5e:00:53:01, strict = true)
             -> pcap_out(file = \"out.pcap\");",
    );
    let plan = validate(&m, &common::catalog()).unwrap();
    let node = |n: &str| &plan.nodes[plan.node(n).unwrap()];
    assert_eq!(node("p").params.size("burst").unwrap(), 2048);
    assert_eq!(
        node("p").params.duration("interval").unwrap(),
        std::time::Duration::from_millis(250)
    );
    assert_eq!(node("p").params.str("rate").unwrap(), "1Mpps");
    assert_eq!(
        node("n").params.ip("external").unwrap().to_string(),
        "2001:db8::1"
    );
    assert_eq!(
        node("n").params.prefix("inside").unwrap().to_string(),
        "10.0.0.0/8"
    );
    assert_eq!(
        node("r").params.mac("mac").unwrap(),
        [2, 0, 0x5e, 0, 0x53, 1]
    );
    assert_eq!(node("r").params.get("strict"), Some(&Value::Bool(true)));
    assert_eq!(node("src").params.int("repeat").unwrap(), 1);
    // Parameters come in the spec's order.
    let order: Vec<&str> = node("p").params.iter().map(|(n, _)| n).collect();
    assert_eq!(order, ["burst", "interval", "rate"]);
}

#[test]
fn mirrors_become_tee_nodes() {
    let m = parse(
        "src :: pcap_in(file = \"in.pcap\"); a :: pcap_out(file = \"a\"); b :: pcap_out(file = \"b\"); c :: pcap_out(file = \"c\");
         src -> t :: ttl() ->> b;
         t -> a;
         t ->> c;",
    );
    let plan = validate(&m, &common::catalog()).unwrap();
    let tee = plan.node("t/tee@0").expect("a tee node");
    assert_eq!(plan.nodes[tee].spec.kind, "tee");
    assert_eq!(plan.nodes[tee].params.int("n").unwrap(), 3);
    let t = plan.node("t").unwrap();
    let out: Vec<(u16, &str)> = plan
        .edges
        .iter()
        .filter(|e| e.from == tee)
        .map(|e| (e.output, plan.nodes[e.to].name.as_str()))
        .collect();
    // The ordinary connection is output 0, mirrors follow in order.
    assert_eq!(out, [(0, "a"), (1, "b"), (2, "c")]);
    assert!(plan.edges.iter().any(|e| e.from == t && e.to == tee));
    assert_eq!(
        summary(&plan),
        "6 elements, 5 connections, sources: src, sinks: a, b, c"
    );
}

#[test]
fn a_single_mirror_is_a_plain_connection() {
    let m = parse("src :: pcap_in(file = \"x\"); src ->> pcap_out(file = \"y\");");
    let plan = validate(&m, &common::catalog()).unwrap();
    assert_eq!(plan.nodes.len(), 2);
    assert_eq!(plan.edges.len(), 1);
}

#[test]
fn ports_may_be_both_source_and_sink() {
    let m = parse("eth0 :: tap(name = \"eth0\"); eth0 -> counter() -> eth0;");
    let plan = validate(&m, &common::catalog()).unwrap();
    assert_eq!(
        summary(&plan),
        "2 elements, 2 connections, sources: eth0, sinks: eth0"
    );
}

#[test]
fn json_models_validate_with_json_paths() {
    let json = r#"{
        "elements": [
            {"name": "src", "kind": "pcap_in", "params": {"file": "in.pcap"}},
            {"name": "t", "kind": "ttl", "params": {"limit": 300}},
            {"name": "dst", "kind": "pcap_out", "params": {"file": "out.pcap"}}
        ],
        "connections": [{"from": "src", "to": "t"}, {"from": "t", "to": "dst", "input": 4}]
    }"#;
    let m = Model::from_json(json).unwrap();
    let err = validate(&m, &common::catalog()).unwrap_err();
    let paths: Vec<&str> = err.iter().map(|d| d.json_path().unwrap()).collect();
    assert_eq!(paths, ["$.elements[1].params.limit", "$.connections[1].to"]);
    let records: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
    assert_eq!(records[0]["json_path"], "$.elements[1].params.limit");
    assert_eq!(records[0]["code"], "netfn::range");
}

#[test]
fn diagnostics_expose_position_message_and_help() {
    let err = parse_str(
        "g.nf",
        "a :: firewal(rules = \"x\");\na -> b;",
        &Vars::new(),
    )
    .map(|m| validate(&m, &common::catalog()))
    .unwrap()
    .unwrap_err();
    let d = err
        .iter()
        .find(|d| d.code == "netfn::unknown-kind")
        .unwrap();
    assert_eq!(
        (d.file(), d.line(), d.col()),
        (Some("g.nf"), Some(1), Some(6))
    );
    assert_eq!(d.message, "unknown element kind `firewal`");
    assert_eq!(d.help.as_deref(), Some("did you mean `firewall`?"));
    assert_eq!(d.to_string(), "g.nf:1:6: unknown element kind `firewal`");
}

#[test]
fn check_build_points_at_the_rejected_parameter() {
    let m = parse_file("tests/bad-graphs/build_error.nf", &Vars::new()).unwrap();
    let plan = validate(&m, &common::catalog()).unwrap();
    let diags = check_build(&plan, &m);
    let d = diags.iter().next().unwrap();
    assert_eq!((d.line(), d.col()), (Some(4), Some(16)));
    assert!(d.message.contains("missing.rules"), "{}", d.message);
}

#[test]
fn drawing() {
    let m = parse_file("tests/good-graphs/chain.nf", &Vars::new()).unwrap();
    let plan = validate(&m, &common::catalog()).unwrap();
    let dot = to_dot(&plan);
    assert!(dot.starts_with("digraph netfn {\n  rankdir=LR;"), "{dot}");
    assert!(
        dot.contains("\"eth0\" [shape=ellipse, label=\"eth0\\ntap\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"s/cls\" -> \"m\" [taillabel=\"1\", headlabel=\"1\"];"),
        "{dot}"
    );
    let svg = to_svg(&plan);
    assert!(svg.contains("<svg"), "{svg}");
    assert!(svg.contains("s/cls"), "{svg}");
    assert_eq!(svg, to_svg(&plan), "SVG output is deterministic");
}
