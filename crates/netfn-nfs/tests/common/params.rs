//! `Params` for the config-error tests: every parameter of an element at
//! a valid value, then the ones a test changes.

use netfn_core::config::{Params, Value};
use std::time::Duration;

/// `defaults`, overridden by `items`.
pub fn params<'a>(
    defaults: impl IntoIterator<Item = (&'a str, Value)>,
    items: &[(&str, Value)],
) -> Params {
    let mut p = Params::new();
    for (k, v) in defaults {
        p.set(k, v);
    }
    for (k, v) in items {
        p.set(*k, v.clone());
    }
    p
}

/// A list of strings.
pub fn strs(items: &[&str]) -> Value {
    Value::List(
        items
            .iter()
            .map(|s| Value::Str(s.to_string().into()))
            .collect(),
    )
}

/// The parameters of an export queue (`netfn_nfs::export`) sending to a
/// collector on the loopback at `port`.
pub fn export(capacity: i64, port: i64) -> [(&'static str, Value); 9] {
    [
        ("interval", Value::Duration(Duration::from_secs(1))),
        ("capacity", Value::Int(capacity)),
        ("mtu", Value::Size(1500)),
        ("collector", Value::Ip([127, 0, 0, 1].into())),
        ("collector_port", Value::Int(port)),
        ("collector_mac", Value::Mac([2, 0, 0, 0, 0, 0xff])),
        ("exporter", Value::Ip([127, 0, 0, 1].into())),
        ("exporter_port", Value::Int(port)),
        ("exporter_mac", Value::Mac([2, 0, 0, 0, 0, 0xfe])),
    ]
}
