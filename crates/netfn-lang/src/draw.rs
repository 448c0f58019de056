//! Pictures of a plan: Graphviz DOT text, and SVG drawn in-process by
//! `layout-rs` (no Graphviz needed).
//!
//! Ports are drawn as rounded boxes (ellipses in DOT), NFs as boxes; each
//! node shows its name and kind. Edge labels carry port numbers when they
//! are not 0 (`1→0`).

use std::fmt::Write as _;

use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::StyleAttr;
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;
use netfn_core::config::{Plan, PlanEdge};

use crate::isolate::{RING_KIND, WorkerGraph};

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn edge_label(e: &PlanEdge) -> String {
    if e.output == 0 && e.input == 0 {
        String::new()
    } else {
        format!("{}\u{2192}{}", e.output, e.input)
    }
}

/// The plan as a Graphviz `digraph`, left to right.
pub fn to_dot(plan: &Plan) -> String {
    to_dot_with_workers(plan, &[])
}

/// Like [`to_dot`], with the graphs of isolated instances drawn as
/// clusters (`cluster_p`, labelled `p (worker process)`) beside their
/// `worker` element, joined to it by a dashed line to their ring port.
pub fn to_dot_with_workers(plan: &Plan, workers: &[WorkerGraph]) -> String {
    let mut out =
        String::from("digraph netfn {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
    dot_plan(&mut out, plan, "  ");
    for (i, w) in workers.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph \"cluster_{i}\" {{\n    label=\"{} (worker process)\";\n    style=dashed;",
            dot_escape(&w.name)
        );
        dot_plan(&mut out, &w.plan, "    ");
        out.push_str("  }\n");
        for ring in w.plan.nodes.iter().filter(|n| n.spec.kind == RING_KIND) {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [style=dashed, dir=both, arrowhead=none, arrowtail=none];",
                dot_escape(&w.name),
                dot_escape(&ring.name)
            );
        }
    }
    out.push_str("}\n");
    out
}

fn dot_plan(out: &mut String, plan: &Plan, indent: &str) {
    for node in &plan.nodes {
        let shape = if node.spec.is_port() {
            "ellipse"
        } else {
            "box"
        };
        let _ = writeln!(
            out,
            "{indent}\"{}\" [shape={shape}, label=\"{}\\n{}\"];",
            dot_escape(&node.name),
            dot_escape(&node.name),
            dot_escape(node.spec.kind)
        );
    }
    for e in &plan.edges {
        let from = dot_escape(&plan.nodes[e.from].name);
        let to = dot_escape(&plan.nodes[e.to].name);
        let mut attrs = Vec::new();
        if e.output != 0 {
            attrs.push(format!("taillabel=\"{}\"", e.output));
        }
        if e.input != 0 {
            attrs.push(format!("headlabel=\"{}\"", e.input));
        }
        if attrs.is_empty() {
            let _ = writeln!(out, "{indent}\"{from}\" -> \"{to}\";");
        } else {
            let _ = writeln!(
                out,
                "{indent}\"{from}\" -> \"{to}\" [{}];",
                attrs.join(", ")
            );
        }
    }
}

/// The plan drawn as an SVG document, laid out left to right.
pub fn to_svg(plan: &Plan) -> String {
    to_svg_with_workers(plan, &[])
}

/// Like [`to_svg`], with the graphs of isolated instances drawn in yellow
/// (their elements are named `p/...`), each ring port linked from its
/// `worker` element by an edge labelled `worker`.
pub fn to_svg_with_workers(plan: &Plan, workers: &[WorkerGraph]) -> String {
    let orientation = Orientation::LeftToRight;
    let mut vg = VisualGraph::new(orientation);
    let add_plan = |vg: &mut VisualGraph, plan: &Plan, inner: bool| {
        let handles: Vec<_> = plan
            .nodes
            .iter()
            .map(|node| {
                let label = format!("{}\n{}", node.name, node.spec.kind);
                let shape = ShapeKind::new_box(&label);
                let mut look = StyleAttr::simple();
                if node.spec.is_port() {
                    look.rounded = 12;
                    look.fill_color = Some(Color::fast("lightgrey"));
                }
                if inner {
                    look.fill_color = Some(Color::fast("lightyellow"));
                }
                let size = get_shape_size(orientation, &shape, look.font_size, false);
                vg.add_node(Element::create(shape, look, orientation, size))
            })
            .collect();
        for e in &plan.edges {
            vg.add_edge(
                Arrow::simple(&edge_label(e)),
                handles[e.from],
                handles[e.to],
            );
        }
        handles
    };
    let handles = add_plan(&mut vg, plan, false);
    for w in workers {
        let inner = add_plan(&mut vg, &w.plan, true);
        let (Some(outer), Some(ring)) = (
            plan.node(&w.name),
            w.plan.nodes.iter().position(|n| n.spec.kind == RING_KIND),
        ) else {
            continue;
        };
        vg.add_edge(Arrow::simple("worker"), handles[outer], inner[ring]);
    }
    if plan.nodes.is_empty() {
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"0\" height=\"0\"></svg>\n"
            .to_string();
    }
    let mut svg = SVGWriter::new();
    vg.do_it(false, false, false, &mut svg);
    svg.finalize()
}
