//! Reading literals as typed values: the literal `30s` given to a
//! `ParamType::Duration` parameter becomes `Value::Duration(30 s)`.
//!
//! Units (documented in `docs/language.md`):
//! * durations: an integer and one of `ns`, `us`, `ms`, `s`, `m`, `h`
//!   (`0` alone is allowed);
//! * sizes: an integer of bytes, optionally with `B`, decimal `kB`/`KB`,
//!   `MB`, `GB`, `TB` (powers of 1000) or binary `KiB`, `MiB`, `GiB`, `TiB`
//!   (powers of 1024).

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use netfn_core::config::{ParamType, Value};

use crate::diag::{Diagnostic, closest, suggest};
use crate::model::{Lit, Literal};

/// A literal that does not fit its parameter's type.
fn mismatch(lit: &Literal, ty: &ParamType, help: Option<String>) -> Diagnostic {
    let found = match &lit.lit {
        Lit::List(_) => "a list".to_string(),
        _ => format!("`{lit}`"),
    };
    Diagnostic::error(
        "netfn::type",
        &lit.loc,
        format!("expected {}, found {found}", describe(ty)),
    )
    .with_label(format!("expected {}", short(ty)))
    .with_help_opt(help)
}

/// How a type is named in "expected ...".
fn describe(ty: &ParamType) -> String {
    match ty {
        ParamType::Int { .. } => "an integer".to_string(),
        ParamType::Bool => "a bool".to_string(),
        ParamType::Str => "a string".to_string(),
        ParamType::Path => "a file path".to_string(),
        ParamType::Word(_) => format!("{ty}"),
        ParamType::Duration => "a duration".to_string(),
        ParamType::Size => "a size".to_string(),
        ParamType::Ip => "an IP address".to_string(),
        ParamType::Prefix => "an IP prefix".to_string(),
        ParamType::Mac => "a MAC address".to_string(),
        ParamType::List(inner) => format!("a list of {}", short(inner)),
    }
}

fn short(ty: &ParamType) -> String {
    format!("{ty}")
}

/// An example of a value of the type, for "add `name = ...`" hints.
pub(crate) fn example(ty: &ParamType) -> String {
    match ty {
        ParamType::Bool => "true".to_string(),
        ParamType::Int { min, max } => (*min).max(0).min(*max).to_string(),
        ParamType::Str | ParamType::Path => "\"...\"".to_string(),
        ParamType::Word(words) => words.first().copied().unwrap_or("...").to_string(),
        ParamType::Duration => "30s".to_string(),
        ParamType::Size => "1500B".to_string(),
        ParamType::Ip => "192.0.2.1".to_string(),
        ParamType::Prefix => "10.0.0.0/8".to_string(),
        ParamType::Mac => "02:00:00:00:00:01".to_string(),
        ParamType::List(inner) => format!("[{}]", example(inner)),
    }
}

/// Converts a literal to a value of type `ty`. Relative paths are resolved
/// against the directory of the file the literal is written in, else
/// against `base_dir`.
pub(crate) fn coerce(
    lit: &Literal,
    ty: &ParamType,
    base_dir: Option<&Path>,
) -> Result<Value, Vec<Diagnostic>> {
    let one = |d: Diagnostic| vec![d];
    match (ty, &lit.lit) {
        (ParamType::List(inner), Lit::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            let mut errors = Vec::new();
            for item in items {
                match coerce(item, inner, base_dir) {
                    Ok(v) => out.push(v),
                    Err(e) => errors.extend(e),
                }
            }
            if errors.is_empty() {
                Ok(Value::List(out))
            } else {
                Err(errors)
            }
        }
        // A single value where a list is expected is a one-element list
        // (`size = 64B` means `size = [64B]`).
        (ParamType::List(inner), _) => coerce(lit, inner, base_dir).map(|v| Value::List(vec![v])),
        (_, Lit::List(_)) => Err(one(mismatch(lit, ty, None))),
        (ParamType::Bool, Lit::Bool(b)) => Ok(Value::Bool(*b)),
        (ParamType::Bool, _) => Err(one(mismatch(
            lit,
            ty,
            Some("write `true` or `false`".to_string()),
        ))),
        (ParamType::Int { min, max }, Lit::Int(i)) => {
            if (*min..=*max).contains(i) {
                Ok(Value::Int(*i))
            } else {
                Err(one(Diagnostic::error(
                    "netfn::range",
                    &lit.loc,
                    format!("{i} is out of range {min}..={max}"),
                )
                .with_label(format!("expected an integer in {min}..={max}"))))
            }
        }
        (ParamType::Int { .. }, _) => Err(one(mismatch(lit, ty, None))),
        (ParamType::Str, Lit::Text(s)) => Ok(Value::Str(Cow::Owned(s.clone()))),
        (ParamType::Str, Lit::Int(i)) => Ok(Value::Str(Cow::Owned(i.to_string()))),
        (ParamType::Str, Lit::Bool(b)) => Ok(Value::Str(Cow::Owned(b.to_string()))),
        (ParamType::Path, Lit::Text(s)) => {
            let dir = lit.loc.file().and_then(|f| f.dir()).or(base_dir);
            let path = match dir {
                // An empty path stays empty: "no file" (an optional file
                // parameter's default), not the directory itself.
                Some(dir)
                    if !s.is_empty()
                        && !Path::new(s).is_absolute()
                        && !dir.as_os_str().is_empty() =>
                {
                    dir.join(s).to_string_lossy().into_owned()
                }
                _ => s.clone(),
            };
            Ok(Value::Str(Cow::Owned(path)))
        }
        (ParamType::Path, _) => Err(one(mismatch(
            lit,
            ty,
            Some("quote file names: `\"rules.txt\"`".to_string()),
        ))),
        (ParamType::Word(words), Lit::Text(s)) => match words.iter().find(|w| **w == s) {
            Some(w) => Ok(Value::Word(Cow::Borrowed(w))),
            None => {
                let help = suggest(s, words.iter().copied(), "expected one of");
                Err(one(Diagnostic::error(
                    "netfn::word",
                    &lit.loc,
                    format!("`{s}` is not one of {}", words.join(", ")),
                )
                .with_label("unknown word")
                .with_help_opt(help)))
            }
        },
        (ParamType::Word(words), _) => Err(one(mismatch(
            lit,
            ty,
            Some(format!(
                "expected one of {}",
                words
                    .iter()
                    .map(|w| format!("`{w}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        ))),
        (ParamType::Duration, Lit::Int(0)) => Ok(Value::Duration(Duration::ZERO)),
        (ParamType::Duration, Lit::Int(n)) => Err(one(mismatch(
            lit,
            ty,
            Some(format!(
                "add a unit: `{n}s`, `{n}ms`, `{n}us`, `{n}ns`, `{n}m` or `{n}h`"
            )),
        ))),
        (ParamType::Duration, Lit::Text(s)) => parse_duration(s)
            .map(Value::Duration)
            .map_err(|h| one(mismatch(lit, ty, Some(h)))),
        (ParamType::Size, Lit::Int(n)) if *n >= 0 => Ok(Value::Size(*n as u64)),
        (ParamType::Size, Lit::Text(s)) => parse_size(s)
            .map(Value::Size)
            .map_err(|h| one(mismatch(lit, ty, Some(h)))),
        (ParamType::Ip, Lit::Text(s)) => s.parse::<IpAddr>().map(Value::Ip).map_err(|_| {
            let help = if s.contains('/') {
                "an address has no prefix length: drop the `/...`".to_string()
            } else {
                "write an IPv4 (`192.0.2.1`) or IPv6 (`2001:db8::1`) address".to_string()
            };
            one(mismatch(lit, ty, Some(help)))
        }),
        (ParamType::Prefix, Lit::Text(s)) => s
            .parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map(Value::Prefix)
            .map_err(|_| {
                one(mismatch(
                    lit,
                    ty,
                    Some(
                        "write an address and a length: `10.0.0.0/8`, `2001:db8::/32`".to_string(),
                    ),
                ))
            }),
        (ParamType::Mac, Lit::Text(s)) => parse_mac(s).map(Value::Mac).ok_or_else(|| {
            one(mismatch(
                lit,
                ty,
                Some("write six hex bytes: `02:00:5e:00:53:01`".to_string()),
            ))
        }),
        (
            ParamType::Size
            | ParamType::Ip
            | ParamType::Prefix
            | ParamType::Mac
            | ParamType::Duration,
            _,
        ) => Err(one(mismatch(lit, ty, None))),
    }
}

const DURATION_UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

fn split_number(s: &str) -> Option<(u64, &str)> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return None;
    }
    Some((s[..digits].parse().ok()?, &s[digits..]))
}

/// `30s`, `250ms`, `2m`, `1h`, `10us`, `100ns`. The error is a help line.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let units = "units: ns, us, ms, s, m, h";
    let Some((n, unit)) = split_number(s) else {
        return Err(format!("write a number and a unit, e.g. `30s` ({units})"));
    };
    match DURATION_UNITS.iter().find(|(u, _)| *u == unit) {
        Some((_, scale)) => n
            .checked_mul(*scale)
            .map(Duration::from_nanos)
            .ok_or_else(|| "that duration is too long".to_string()),
        None => Err(
            match closest(unit, DURATION_UNITS.iter().map(|(u, _)| *u)) {
                Some(u) if !unit.is_empty() => format!("did you mean `{n}{u}`? ({units})"),
                _ => format!("unknown unit `{unit}` ({units})"),
            },
        ),
    }
}

const SIZE_UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("B", 1),
    ("kB", 1_000),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// `1500`, `64B`, `2KiB`, `1MB`. The error is a help line.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let units = "units: B, kB, MB, GB, TB (1000) or KiB, MiB, GiB, TiB (1024)";
    let Some((n, unit)) = split_number(s) else {
        return Err(format!(
            "write a number of bytes with an optional unit, e.g. `64B`, `2KiB` ({units})"
        ));
    };
    match SIZE_UNITS.iter().find(|(u, _)| *u == unit) {
        Some((_, scale)) => n
            .checked_mul(*scale)
            .ok_or_else(|| "that size is too large".to_string()),
        None => {
            let case_fix = SIZE_UNITS
                .iter()
                .find(|(u, _)| u.eq_ignore_ascii_case(unit))
                .map(|(u, _)| *u);
            Err(match case_fix {
                Some(u) => format!("did you mean `{n}{u}`? ({units})"),
                None => format!("unknown unit `{unit}` ({units})"),
            })
        }
    }
}

/// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`.
pub(crate) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut out = [0u8; 6];
    let mut parts = s.split(sep);
    for byte in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Literal {
        Literal::text(s)
    }

    fn ok(r: Result<Value, Vec<Diagnostic>>) -> Option<Value> {
        r.ok()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("100ns"), Ok(Duration::from_nanos(100)));
        assert!(
            parse_duration("30x")
                .unwrap_err()
                .contains("did you mean `30s`?")
        );
        assert!(
            parse_duration("30parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("30sec").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64B"), Ok(64));
        assert_eq!(parse_size("1500"), Ok(1500));
        assert_eq!(parse_size("2KiB"), Ok(2048));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("1kB"), Ok(1000));
        assert!(parse_size("2kib").unwrap_err().contains("`2KiB`"));
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("02:00:5e:00:53:01"),
            Some([2, 0, 0x5e, 0, 0x53, 1])
        );
        assert_eq!(
            parse_mac("02-00-5E-00-53-01"),
            Some([2, 0, 0x5e, 0, 0x53, 1])
        );
        assert_eq!(parse_mac("02:00:5e:00:53"), None);
        assert_eq!(parse_mac("02:00:5e:00:53:01:02"), None);
    }

    #[test]
    fn coercions() {
        let int = ParamType::Int { min: 0, max: 255 };
        assert_eq!(
            ok(coerce(&Literal::int(64), &int, None)),
            Some(Value::Int(64))
        );
        assert!(coerce(&Literal::int(256), &int, None).is_err());
        assert_eq!(
            ok(coerce(&Literal::int(1500), &ParamType::Size, None)),
            Some(Value::Size(1500))
        );
        assert_eq!(
            ok(coerce(&text("10.0.0.1"), &ParamType::Prefix, None)),
            Some(Value::Prefix("10.0.0.1/32".parse().unwrap()))
        );
        assert_eq!(
            ok(coerce(&text("::1"), &ParamType::Ip, None)),
            Some(Value::Ip("::1".parse().unwrap()))
        );
        static WORDS: &[&str] = &["drop", "accept"];
        assert_eq!(
            ok(coerce(&text("drop"), &ParamType::Word(WORDS), None)),
            Some(Value::Word(Cow::Borrowed("drop")))
        );
        let err = coerce(&text("dorp"), &ParamType::Word(WORDS), None).unwrap_err();
        assert_eq!(err[0].help.as_deref(), Some("did you mean `drop`?"));
        static PORT: ParamType = ParamType::Int { min: 0, max: 65535 };
        let list = Literal::list(vec![
            Literal::int(80),
            Literal::int(70000),
            Literal::int(-1),
        ]);
        assert_eq!(
            coerce(&list, &ParamType::List(&PORT), None)
                .unwrap_err()
                .len(),
            2
        );
        assert_eq!(
            ok(coerce(
                &text("r.txt"),
                &ParamType::Path,
                Some(Path::new("/etc/netfn"))
            )),
            Some(Value::Str("/etc/netfn/r.txt".into()))
        );
        // An empty path (an optional file's default) means no file.
        assert_eq!(
            ok(coerce(
                &text(""),
                &ParamType::Path,
                Some(Path::new("/etc/netfn"))
            )),
            Some(Value::Str("".into()))
        );
        assert!(
            coerce(&Literal::int(30), &ParamType::Duration, None).unwrap_err()[0]
                .help
                .as_deref()
                .unwrap()
                .contains("`30s`")
        );
    }
}
