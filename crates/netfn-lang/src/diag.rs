//! Diagnostics: what went wrong, where, what was expected and how to fix it.
//!
//! A [`Diagnostic`] carries its own location (file:line:col with the source
//! text, or a JSON path), a message, the short label printed under the
//! caret and an optional help line. [`Diagnostics::render`] prints them
//! plainly and deterministically (ASCII, no colour, fixed width) for golden
//! tests and non-terminals; each diagnostic also implements
//! [`miette::Diagnostic`] so a binary can print it with colours.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::source::Loc;

/// How bad a diagnostic is. Only errors stop a graph from validating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a graph.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier of the error class (`netfn::unknown-kind`).
    pub code: &'static str,
    /// What is wrong, one line.
    pub message: String,
    /// Where, with the short text printed under the caret.
    pub loc: Loc,
    pub label: String,
    /// How to fix it, if we can tell.
    pub help: Option<String>,
    /// Further places in the same file (`first connected here`).
    pub secondary: Vec<(Loc, String)>,
}

impl Diagnostic {
    pub fn error(code: &'static str, loc: &Loc, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            loc: loc.clone(),
            label: String::new(),
            help: None,
            secondary: Vec::new(),
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Adds a second place; shown inline when it is in the same file as the
    /// primary location, as a note with its position otherwise.
    pub fn with_secondary(mut self, loc: &Loc, label: impl Into<String>) -> Self {
        self.secondary.push((loc.clone(), label.into()));
        self
    }

    /// The file name, for diagnostics located in a text.
    pub fn file(&self) -> Option<&str> {
        self.loc.file().map(|f| f.name.as_str())
    }

    /// 1-based line, for diagnostics located in a text.
    pub fn line(&self) -> Option<usize> {
        self.line_col().map(|(l, _)| l)
    }

    /// 1-based column (in characters), for diagnostics located in a text.
    pub fn col(&self) -> Option<usize> {
        self.line_col().map(|(_, c)| c)
    }

    fn line_col(&self) -> Option<(usize, usize)> {
        match &self.loc {
            Loc::Span { file, start, .. } => Some(file.line_col(*start as usize)),
            _ => None,
        }
    }

    /// The JSON path, for diagnostics about a model read from JSON.
    pub fn json_path(&self) -> Option<&str> {
        match &self.loc {
            Loc::Json(p) => Some(p),
            _ => None,
        }
    }

    /// Plain, deterministic rendering of this diagnostic alone.
    pub fn render(&self) -> String {
        let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::none())
            .with_width(100)
            .with_links(false)
            .with_context_lines(1);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &Report::new(self));
        out
    }

    /// A machine-readable view, for `--format json` and the REST API.
    pub fn to_record(&self) -> DiagnosticRecord {
        DiagnosticRecord {
            severity: self.severity,
            code: self.code,
            message: self.message.clone(),
            file: self.file().map(str::to_string),
            line: self.line(),
            col: self.col(),
            json_path: self.json_path().map(str::to_string),
            label: (!self.label.is_empty()).then(|| self.label.clone()),
            help: self.help.clone(),
        }
    }

    /// Whether two diagnostics say the same thing at the same place (a
    /// sub-graph instantiated twice repeats its errors).
    fn same_as(&self, other: &Diagnostic) -> bool {
        self.code == other.code && self.message == other.message && self.loc.same_place(&other.loc)
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: message` (or `$.path: message`), one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.loc {
            Loc::None => write!(f, "{}", self.message),
            loc => write!(f, "{}: {}", loc.describe(), self.message),
        }
    }
}

impl std::error::Error for Diagnostic {}

/// A diagnostic as data (serializable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiagnosticRecord {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub col: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// The miette view of a diagnostic: header with the JSON path when there is
/// no source text to point into.
struct Report<'a> {
    diag: &'a Diagnostic,
    source: Option<miette::NamedSource<Arc<str>>>,
    notes: Option<String>,
}

impl<'a> Report<'a> {
    fn new(diag: &'a Diagnostic) -> Self {
        let source = diag
            .loc
            .file()
            .map(|f| miette::NamedSource::new(f.name.clone(), Arc::<str>::from(f.text.as_str())));
        // Places in other files than the primary one become notes.
        let notes: Vec<String> = diag
            .secondary
            .iter()
            .filter(|(loc, _)| !same_file(loc, &diag.loc))
            .map(|(loc, label)| format!("{label}: {}", loc.describe()))
            .collect();
        let notes = (!notes.is_empty()).then(|| notes.join("\n"));
        Report {
            diag,
            source,
            notes,
        }
    }
}

fn same_file(a: &Loc, b: &Loc) -> bool {
    matches!((a.file(), b.file()), (Some(x), Some(y)) if Arc::ptr_eq(x, y))
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.diag.loc {
            Loc::Json(path) => write!(f, "{path}: {}", self.diag.message),
            _ => f.write_str(&self.diag.message),
        }
    }
}

impl std::error::Error for Report<'_> {}

fn miette_span(loc: &Loc) -> Option<miette::SourceSpan> {
    match loc {
        Loc::Span { start, end, .. } => {
            let len = end.saturating_sub(*start) as usize;
            Some(miette::SourceSpan::new((*start as usize).into(), len))
        }
        _ => None,
    }
}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        match (&self.diag.help, &self.notes) {
            (None, None) => None,
            (Some(h), None) => Some(Box::new(h.as_str())),
            (None, Some(n)) => Some(Box::new(n.as_str())),
            (Some(h), Some(n)) => Some(Box::new(format!("{h}\n{n}"))),
        }
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary = miette_span(&self.diag.loc)?;
        let label = (!self.diag.label.is_empty()).then(|| self.diag.label.clone());
        let mut labels = vec![miette::LabeledSpan::new_primary_with_span(label, primary)];
        for (loc, text) in &self.diag.secondary {
            if same_file(loc, &self.diag.loc)
                && let Some(span) = miette_span(loc)
            {
                labels.push(miette::LabeledSpan::new_with_span(Some(text.clone()), span));
            }
        }
        Some(Box::new(labels.into_iter()))
    }
}

/// Everything found wrong with a graph, in the order found (sorted by
/// position when rendered).
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics::default()
    }

    /// Adds a diagnostic, unless the same one is already there.
    pub fn push(&mut self, diag: Diagnostic) {
        if !self.items.iter().any(|d| d.same_as(&diag)) {
            self.items.push(diag);
        }
    }

    pub fn extend(&mut self, other: Diagnostics) {
        for d in other.items {
            self.push(d);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Diagnostics ordered by file, then position; JSON paths and
    /// unlocated ones keep their order after those.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.items.iter().collect();
        v.sort_by_key(|d| match &d.loc {
            Loc::Span { file, start, .. } => (0, file.name.clone(), *start),
            _ => (1, String::new(), 0),
        });
        v
    }

    /// All diagnostics rendered plainly (ASCII art, no colour, 100 columns)
    /// followed by a count: identical on every machine and terminal.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in self.sorted() {
            out.push_str(&d.render());
            out.push('\n');
        }
        let errors = self
            .items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let warnings = self.items.len() - errors;
        out.push_str(&match (errors, warnings) {
            (e, 0) => format!("{e} error{}\n", plural(e)),
            (e, w) => format!("{e} error{}, {w} warning{}\n", plural(e), plural(w)),
        });
        out
    }

    /// The diagnostics as a JSON array of [`DiagnosticRecord`]s.
    pub fn to_json(&self) -> String {
        let records: Vec<DiagnosticRecord> = self
            .sorted()
            .into_iter()
            .map(Diagnostic::to_record)
            .collect();
        serde_json::to_string_pretty(&records).unwrap_or_else(|_| "[]".to_string())
    }

    /// `Ok(value)` when there is no error, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.has_errors() {
            Err(self)
        } else {
            Ok(value)
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl fmt::Display for Diagnostics {
    /// One line per diagnostic (`file:line:col: message`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.sorted() {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics { items: vec![d] }
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Edit distance between two short names: insertions, deletions,
/// substitutions and swaps of neighbours (`dorp` → `drop`) cost 1.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `name`, if close enough to be a likely typo
/// (ties go to the first candidate).
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(&name.to_lowercase(), &c.to_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `did you mean `x`?` or a list of what is allowed.
pub(crate) fn suggest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
    what: &str,
) -> Option<String> {
    if let Some(c) = closest(name, candidates.clone()) {
        return Some(format!("did you mean `{c}`?"));
    }
    let all: Vec<&str> = candidates.into_iter().collect();
    match all.len() {
        0 => None,
        1..=12 => Some(format!(
            "{what}: {}",
            all.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("firewal", "firewall"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("dorp", "drop"), 1);
    }

    #[test]
    fn closest_picks_typos_only() {
        assert_eq!(
            closest("firewal", ["nat", "firewall", "ttl"]),
            Some("firewall")
        );
        assert_eq!(closest("xyz", ["nat", "firewall", "ttl"]), None);
        assert_eq!(closest("TTL", ["ttl"]), Some("ttl"));
    }

    #[test]
    fn renders_plainly_with_caret() {
        let file = SourceFile::new("g.nf", None, "a :: firewal();\n");
        let d = Diagnostic::error(
            "netfn::unknown-kind",
            &Loc::span(&file, 5, 12),
            "unknown element kind `firewal`",
        )
        .with_label("not in the catalog")
        .with_help("did you mean `firewall`?");
        let out = d.render();
        assert!(out.contains("[g.nf:1:6]"), "{out}");
        assert!(out.contains("^^^|^^^"), "{out}");
        assert!(!out.contains('\u{1b}'), "no colour codes: {out}");
        assert_eq!(d.line(), Some(1));
        assert_eq!(d.col(), Some(6));
    }
}
