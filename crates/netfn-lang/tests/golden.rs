//! Golden diagnostics: every `tests/bad-graphs/*.nf` (and `*.json`) must
//! fail, and its rendered diagnostics must equal the `.expected` file next
//! to it. A graph that parses and validates is built with `check_build`,
//! whose diagnostics are compared the same way.
//!
//! To accept new output after a deliberate change:
//! `UPDATE_EXPECT=1 cargo test -p netfn-lang --test golden`, then review
//! the diff.

mod common;

use std::path::{Path, PathBuf};

use netfn_lang::{Model, Vars, check_build, parse_file, validate};

fn render(path: &Path) -> String {
    let catalog = common::catalog();
    let model = if path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read_to_string(path).unwrap();
        Model::from_json_named(&path.display().to_string(), &text)
    } else {
        parse_file(path, &Vars::new())
    };
    let model = match model {
        Ok(m) => m,
        Err(d) => return d.render(),
    };
    match validate(&model, &catalog) {
        Err(d) => d.render(),
        Ok(plan) => {
            let d = check_build(&plan, &model);
            if d.is_empty() {
                "no error\n".to_string()
            } else {
                d.render()
            }
        }
    }
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nf" || e == "json"))
        .map(|p| Path::new(dir).join(p.file_name().unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn bad_graphs_render_expected_diagnostics() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    let cases = cases("tests/bad-graphs");
    assert!(cases.len() >= 15, "only {} cases", cases.len());
    for case in &cases {
        let got = render(case);
        assert_ne!(got, "no error\n", "{} should not validate", case.display());
        let expected_path = case.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            failures.push(format!(
                "--- {} differs:\n=== expected\n{expected}=== got\n{got}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rendering_is_deterministic() {
    for case in cases("tests/bad-graphs") {
        assert_eq!(render(&case), render(&case), "{}", case.display());
    }
}

#[test]
fn good_graphs_validate_and_build() {
    let cases = cases("tests/good-graphs");
    assert!(!cases.is_empty());
    for case in cases {
        assert_eq!(render(&case), "no error\n", "{}", case.display());
    }
}
