//! Isolated instances (`p :: Tenant(isolate = process)`): the instance
//! becomes one `worker` element whose `text` is the body's graph between a
//! `ring()` port, in text, JSON and plans.

mod common;

use netfn_core::config::Value;
use netfn_lang::{Model, Vars, parse_str, validate, worker_graphs, worker_summary};

const TENANT: &str = "graph Tenant(rules, limit = 64) {\n\
    input -> ttl(limit = $limit) -> fw :: firewall(rules = $rules) -> output;\n\
}\n";

fn parse(name: &str, text: &str) -> Model {
    match parse_str(name, text, &Vars::new()) {
        Ok(m) => m,
        Err(d) => panic!("{}", d.render()),
    }
}

fn errors(name: &str, text: &str) -> String {
    let catalog = common::catalog();
    match parse_str(name, text, &Vars::new()) {
        Ok(m) => match validate(&m, &catalog) {
            Ok(_) => panic!("{text} should not validate"),
            Err(d) => d.render(),
        },
        Err(d) => d.render(),
    }
}

fn names(m: &Model) -> Vec<&str> {
    m.elements.iter().map(|e| e.name.as_str()).collect()
}

fn edges(m: &Model) -> Vec<String> {
    m.connections
        .iter()
        .map(|c| format!("{}[{}] -> [{}]{}", c.from, c.output, c.input, c.to))
        .collect()
}

fn text_param(m: &Model, name: &str) -> String {
    match &m.element(name).unwrap().param("text").unwrap().value.lit {
        netfn_lang::Lit::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    }
}

fn plan_text(plan: &netfn_core::config::Plan, name: &str) -> String {
    let node = &plan.nodes[plan.node(name).unwrap()];
    match node.params.get("text") {
        Some(Value::Str(s)) => s.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_isolated_instance_is_one_worker_element_running_its_body() {
    let m = parse(
        "t.nf",
        &format!(
            "{TENANT}src :: tap(name = \"a\"); dst :: tap(name = \"b\");\n\
             src -> p :: Tenant(rules = \"a.rules\", limit = 8, isolate = process) -> dst;\n"
        ),
    );
    assert_eq!(names(&m), ["src", "dst", "p"]);
    assert_eq!(edges(&m), ["src[0] -> [0]p", "p[0] -> [0]dst"]);
    let p = m.element("p").unwrap();
    assert_eq!(p.kind, "worker");
    assert_eq!(
        text_param(&m, "p"),
        "p/ring@0 :: ring();\n\
         p/ttl@1 :: ttl(limit = 8);\n\
         p/fw :: firewall(rules = a.rules);\n\
         \n\
         p/ring@0 -> p/ttl@1 -> p/fw -> p/ring@0;\n"
    );

    // The same instance in-process has the same elements and connections,
    // with input and output where the Worker has its ring.
    let inproc = parse(
        "t.nf",
        &format!(
            "{TENANT}src :: tap(name = \"a\"); dst :: tap(name = \"b\");\n\
             src -> p :: Tenant(rules = \"a.rules\", limit = 8, isolate = none) -> dst;\n"
        ),
    );
    let body = p.isolated.0.as_ref().unwrap();
    assert_eq!(names(&inproc)[2..], names(body)[1..]);
    assert_eq!(
        edges(&inproc),
        [
            "p/ttl@1[0] -> [0]p/fw",
            "p/fw[0] -> [0]dst",
            "src[0] -> [0]p/ttl@1"
        ]
    );
}

#[test]
fn file_parameters_of_the_worker_are_resolved_against_the_original_file() {
    let catalog = common::catalog();
    let m = parse(
        "conf/t.nf",
        &format!(
            "{TENANT}src :: tap(name = \"a\");\nsrc -> Tenant(rules = \"a.rules\", isolate = process) -> src;\n"
        ),
    );
    assert_eq!(names(&m), ["src", "Tenant@1"]);
    let plan = validate(&m, &catalog).unwrap();
    let abs = std::path::absolute("conf/a.rules").unwrap();
    let text = plan_text(&plan, "Tenant@1");
    assert!(
        text.contains(&format!("rules = \"{}\"", abs.display()))
            || text.contains(&format!("rules = {}", abs.display())),
        "{text}"
    );
    // The text the Worker gets reads back as a valid Worker graph.
    let worker = parse("worker.text", &text);
    let wplan = validate(&worker, &catalog).unwrap();
    assert_eq!(wplan.nodes.len(), 3);
}

#[test]
fn nested_instances_and_references_by_name() {
    let m = parse(
        "t.nf",
        "graph Inner() { input -> c :: counter() -> output; }\n\
         graph Outer() { input -> i :: Inner() -> ttl() -> output; }\n\
         src :: tap(name = \"a\");\n\
         p :: Outer(isolate = process);\n\
         src -> p;\n\
         p -> src;\n",
    );
    assert_eq!(names(&m), ["src", "p"]);
    assert_eq!(edges(&m), ["src[0] -> [0]p", "p[0] -> [0]src"]);
    let body = m.element("p").unwrap().isolated.0.clone().unwrap();
    assert_eq!(names(&body), ["p/ring@0", "p/i/c", "p/ttl@1"]);
    assert_eq!(
        edges(&body),
        [
            "p/i/c[0] -> [0]p/ttl@1",
            "p/ring@0[0] -> [0]p/i/c",
            "p/ttl@1[0] -> [0]p/ring@0"
        ]
    );
    let catalog = common::catalog();
    let plan = validate(&m, &catalog).unwrap();
    assert_eq!(plan.nodes.len(), 2);
    let workers = worker_graphs(&m, &catalog).unwrap();
    assert_eq!(workers.len(), 1);
    assert_eq!(
        worker_summary(&workers[0]),
        "worker p: 3 elements (p/ring@0 ring, p/i/c counter, p/ttl@1 ttl), 3 connections"
    );
}

#[test]
fn text_and_json_carry_the_worker_and_read_back_equal() {
    let catalog = common::catalog();
    let m = parse(
        "t.nf",
        &format!(
            "{TENANT}src :: tap(name = \"a\");\n\
             src -> p :: Tenant(rules = \"/etc/a.rules\", isolate = process) -> src;\n"
        ),
    );
    let plan = validate(&m, &catalog).unwrap();
    let json = m.to_json();
    let from_json = Model::from_json(&json).unwrap();
    assert_eq!(from_json, m);
    // From JSON the Worker's graph is read from the text.
    assert!(from_json.element("p").unwrap().isolated.0.is_none());
    let json_plan = validate(&from_json, &catalog).unwrap();
    assert_eq!(plan_text(&json_plan, "p"), plan_text(&plan, "p"));
    let from_text = parse("again.nf", &m.to_text());
    assert_eq!(from_text, m);
    assert_eq!(
        plan_text(&validate(&from_text, &catalog).unwrap(), "p"),
        plan_text(&plan, "p")
    );
}

#[test]
fn json_workers_are_checked() {
    let catalog = common::catalog();
    let bad_text = r#"{
      "elements": [
        { "name": "src", "kind": "tap", "params": { "name": "a" } },
        { "name": "p", "kind": "worker",
          "params": { "text": "r :: ring();\nr -> ttl(limt = 3) -> r;\n" } }
      ],
      "connections": [ { "from": "src", "to": "p" }, { "from": "p", "to": "src" } ]
    }"#;
    let d = validate(&Model::from_json(bad_text).unwrap(), &catalog)
        .unwrap_err()
        .render();
    assert!(d.contains("p.text:2:10"), "{d}");
    assert!(d.contains("`ttl` has no parameter `limt`"), "{d}");

    let no_ring = bad_text.replace(
        "r :: ring();\\nr -> ttl(limt = 3) -> r;\\n",
        "t :: tap(name = \\\"x\\\"); t -> t;",
    );
    let d = validate(&Model::from_json(&no_ring).unwrap(), &catalog)
        .unwrap_err()
        .render();
    assert!(d.contains("has 0 `ring()` ports"), "{d}");

    let both = bad_text.replace(
        r#""params": { "text""#,
        r#""params": { "graph": "t.nf", "text""#,
    );
    let d = validate(&Model::from_json(&both).unwrap(), &catalog)
        .unwrap_err()
        .render();
    assert!(d.contains("gives both `graph` and `text`"), "{d}");

    let neither = bad_text.replace(
        r#""params": { "text": "r :: ring();\nr -> ttl(limt = 3) -> r;\n" }"#,
        r#""params": {}"#,
    );
    let d = validate(&Model::from_json(&neither).unwrap(), &catalog)
        .unwrap_err()
        .render();
    assert!(d.contains("`p` has no graph to run"), "{d}");
}

#[test]
fn errors_in_the_body_point_at_the_original_file() {
    let d = errors(
        "t.nf",
        "graph T() {\n    input -> ttl(limt = 3) -> output;\n}\n\
         src :: tap(name = \"a\");\nsrc -> T(isolate = process) -> src;\n",
    );
    assert!(d.contains("t.nf:2:18"), "{d}");
    assert!(d.contains("`ttl` has no parameter `limt`"), "{d}");
}

#[test]
fn isolate_errors() {
    // A second output.
    let d = errors(
        "t.nf",
        "graph S() { input -> c :: classifier(n = 2, ports = [80]); c[0] -> output; c[1] -> output[1]; }\n\
         src :: tap(name = \"a\");\ns :: S(isolate = process);\nsrc -> s -> src; s[1] -> src;\n",
    );
    assert!(
        d.contains("`s` cannot run in a Worker: graph `S` uses `output[1]`"),
        "{d}"
    );
    // A second input.
    let d = errors(
        "t.nf",
        "graph M() { input -> m :: merge(); input[1] -> [1]m; m -> output; }\n\
         src :: tap(name = \"a\");\nsrc -> M(isolate = process) -> src;\n",
    );
    assert!(d.contains("graph `M` uses `input[1]`"), "{d}");
    // A value that is not process or none.
    let d = errors(
        "t.nf",
        "graph P() { input -> output; }\nsrc :: tap(name = \"a\");\nsrc -> P(isolate = thread) -> src;\n",
    );
    assert!(d.contains("`isolate` cannot be thread"), "{d}");
    assert!(d.contains("t.nf:3:20"), "{d}");
    // A graph cannot declare `isolate`.
    let d = errors(
        "t.nf",
        "graph P(isolate = 1) { input -> output; }\nsrc :: tap(name = \"a\");\nsrc -> P() -> src;\n",
    );
    assert!(d.contains("netfn::reserved"), "{d}");
    // In a file that is itself a Worker's graph.
    let d = errors(
        "tenant.nf",
        "graph P() { input -> ttl() -> output; }\nr :: ring();\nr -> P(isolate = process) -> r;\n",
    );
    assert!(
        d.contains("`isolate = process` in a graph that itself runs in a Worker"),
        "{d}"
    );
    // Inside another isolated instance.
    let d = errors(
        "t.nf",
        "graph In() { input -> ttl() -> output; }\n\
         graph Out() { input -> In(isolate = process) -> output; }\n\
         src :: tap(name = \"a\");\nsrc -> Out(isolate = process) -> src;\n",
    );
    assert!(d.contains("which already runs in a Worker"), "{d}");
    // Twice.
    let d = errors(
        "t.nf",
        "graph P() { input -> output; }\nsrc :: tap(name = \"a\");\nsrc -> P(isolate = process, isolate = none) -> src;\n",
    );
    assert!(d.contains("parameter `isolate` is given twice"), "{d}");
    // On an element that is not a graph instance.
    let d = errors(
        "t.nf",
        "src :: tap(name = \"a\");\nsrc -> ttl(isolate = process) -> src;\n",
    );
    assert!(d.contains("`isolate` is for instances of a `graph`"), "{d}");
    // A graph that never uses `input`.
    let d = errors(
        "t.nf",
        "graph G() { q :: queue() -> output; }\nsrc :: tap(name = \"a\");\nsrc -> G(isolate = process) -> src;\n",
    );
    assert!(d.contains("never uses `input`"), "{d}");
}

#[test]
fn the_language_doc_example_validates() {
    let doc = std::fs::read_to_string("../../docs/language.md").unwrap();
    let section = doc
        .split("### Isolating a sub-graph instance")
        .nth(1)
        .unwrap();
    let example = section
        .split("```c\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let text = format!("{example}\neth0 :: tap(name = \"eth0\"); eth1 :: tap(name = \"eth1\");\n");
    let m = parse("node.nf", &text);
    let catalog = common::catalog();
    let plan = validate(&m, &catalog).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(plan.nodes[plan.node("a").unwrap()].spec.kind, "worker");
    assert!(plan.node("b/fw").is_some());
    let workers = worker_graphs(&m, &catalog).unwrap();
    assert_eq!(
        worker_summary(&workers[0]),
        "worker a: 3 elements (a/ring@0 ring, a/ttl@1 ttl, a/fw firewall), 3 connections"
    );
}
