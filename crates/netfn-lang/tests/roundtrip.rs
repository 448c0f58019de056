//! Round trips over random models: model → text → model and
//! model → JSON → model give back an equal model.

use std::collections::BTreeSet;

use netfn_lang::{Connection, Element, KEYWORDS, Lit, Literal, Model, Param, Vars, parse_str};
use proptest::prelude::*;

fn ident() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,7}"
}

fn element_name() -> impl Strategy<Value = String> {
    let segment = (ident(), proptest::option::of(0u32..1000)).prop_map(|(id, n)| match n {
        Some(n) => format!("{id}@{n}"),
        None => id,
    });
    proptest::collection::vec(segment, 1..=3)
        .prop_map(|segs| segs.join("/"))
        .prop_filter("not a keyword", |n| !KEYWORDS.contains(&n.as_str()))
}

fn literal() -> impl Strategy<Value = Literal> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Literal::bool),
        any::<i64>().prop_map(Literal::int),
        // Any text, including quotes, `$`, newlines and control characters.
        any::<String>().prop_map(Literal::text),
        // Text shaped like the language's bare values.
        "[a-z0-9:./_+-]{1,12}".prop_map(Literal::text),
        prop_oneof![
            Just("30s"),
            Just("10.0.0.0/8"),
            Just("2001:db8::/32"),
            Just("::1"),
            Just("aa:bb:cc:dd:ee:ff"),
            Just("64KiB"),
            Just("-"),
            Just("0x"),
            Just("true"),
            Just("12"),
            Just("a//b"),
            Just("/*"),
        ]
        .prop_map(Literal::text),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(Literal::list)
    })
}

fn model() -> impl Strategy<Value = Model> {
    let elements = proptest::collection::vec(
        (
            element_name(),
            ident(),
            proptest::collection::vec((ident(), literal()), 0..4),
        ),
        0..6,
    );
    (elements, proptest::collection::vec(element_name(), 1..4)).prop_flat_map(
        |(elements, extra)| {
            // Unique element names; connections may also name undeclared
            // elements (validation, not parsing, rejects those).
            let mut seen = BTreeSet::new();
            let elements: Vec<Element> = elements
                .into_iter()
                .filter(|(n, _, _)| seen.insert(n.clone()))
                .map(|(name, kind, params)| {
                    let mut e = Element::new(name, kind);
                    e.params = params
                        .into_iter()
                        .map(|(name, value)| Param {
                            name,
                            value,
                            loc: Default::default(),
                        })
                        .collect();
                    e
                })
                .collect();
            let names: Vec<String> = elements
                .iter()
                .map(|e| e.name.clone())
                .chain(extra)
                .collect();
            let connection = (
                proptest::sample::select(names.clone()),
                prop_oneof![Just(0u16), any::<u16>()],
                proptest::sample::select(names),
                prop_oneof![Just(0u16), any::<u16>()],
                any::<bool>(),
            )
                .prop_map(|(from, output, to, input, mirror)| {
                    let mut c = Connection::new(from, output, to, input);
                    c.mirror = mirror;
                    c
                });
            proptest::collection::vec(connection, 0..8).prop_map(move |connections| Model {
                elements: elements.clone(),
                connections,
                base_dir: None,
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_round_trip(m in model()) {
        let text = m.to_text();
        let back = parse_str("roundtrip.nf", &text, &Vars::new());
        match back {
            Ok(back) => prop_assert_eq!(back, m, "text was:\n{}", text),
            Err(d) => prop_assert!(false, "text does not parse:\n{}\n{}", text, d.render()),
        }
    }

    #[test]
    fn json_round_trip(m in model()) {
        let json = m.to_json();
        let back = Model::from_json(&json);
        match back {
            Ok(back) => prop_assert_eq!(back, m, "json was:\n{}", json),
            Err(d) => prop_assert!(false, "json does not read:\n{}\n{}", json, d.render()),
        }
    }

    #[test]
    fn text_json_text(m in model()) {
        let via_json = Model::from_json(&m.to_json()).unwrap();
        prop_assert_eq!(via_json.to_text(), m.to_text());
    }

    /// Any text at all: the parser reports errors, it never panics.
    #[test]
    fn parser_never_panics(text in "\\PC{0,80}") {
        let _ = parse_str("fuzz.nf", &text, &Vars::new());
    }

    /// Text made of the language's own tokens: still no panic.
    #[test]
    fn parser_never_panics_on_tokens(tokens in proptest::collection::vec(prop_oneof![
        Just("a"), Just("::"), Just("k"), Just("("), Just(")"), Just("->"), Just("->>"),
        Just("["), Just("]"), Just("1"), Just(";"), Just("="), Just("$x"), Just("\"s\""),
        Just("graph"), Just("G"), Just("{"), Just("}"), Just("input"), Just("output"),
        Just("let"), Just("x"), Just(","), Just("include"), Just("/*"), Just("*/"), Just("#"),
    ], 0..40)) {
        let text = tokens.join(" ");
        let _ = parse_str("fuzz.nf", &text, &Vars::new());
    }
}

#[test]
fn handwritten_text_round_trips_through_the_model() {
    let text = r#"
        let web = [80, 443];
        graph Split(ports = $web) {
            input -> cls :: classifier(n = 2, ports = $ports);
            cls[0] -> output;
            cls[1] -> output[1];
        }
        eth0 :: tap(name = "eth0");
        eth0 -> s :: Split() -> counter() -> eth0;
        s[1] ->> [1]m :: merge();
        s[1] -> m;
    "#;
    let m = parse_str("hand.nf", text, &Vars::new()).unwrap();
    let printed = m.to_text();
    assert_eq!(parse_str("printed.nf", &printed, &Vars::new()).unwrap(), m);
    assert_eq!(Model::from_json(&m.to_json()).unwrap(), m);
    let kinds: Vec<(&str, &str)> = m
        .elements
        .iter()
        .map(|e| (e.name.as_str(), e.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("eth0", "tap"),
            ("s/cls", "classifier"),
            ("counter@1", "counter"),
            ("m", "merge")
        ]
    );
    assert_eq!(
        m.element("s/cls")
            .unwrap()
            .param("ports")
            .unwrap()
            .value
            .lit,
        Lit::List(vec![Literal::int(80), Literal::int(443)])
    );
}
