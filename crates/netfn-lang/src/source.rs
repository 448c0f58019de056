//! Source texts and locations in them.
//!
//! Every piece of a model remembers where it came from: a byte range in a
//! graph file (or in a `-D name=value` definition), or a JSON path for models
//! sent as JSON. Locations are for diagnostics only: they take no part in
//! comparing models (see [`Loc`]'s `PartialEq`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One text the user wrote: a graph file, an included file, a `-D`
/// definition or a JSON document.
#[derive(Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (`chains/fw.nf`, `-D rate`).
    pub name: String,
    /// Where the file lives, for resolving relative paths written in it;
    /// `None` for texts that are not files (definitions, JSON bodies).
    pub path: Option<PathBuf>,
    pub text: String,
}

impl SourceFile {
    pub fn new(
        name: impl Into<String>,
        path: Option<PathBuf>,
        text: impl Into<String>,
    ) -> Arc<Self> {
        Arc::new(SourceFile {
            name: name.into(),
            path,
            text: text.into(),
        })
    }

    /// The directory relative paths written in this file are resolved
    /// against.
    pub fn dir(&self) -> Option<&Path> {
        self.path.as_deref().and_then(Path::parent)
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// The byte offset of a 1-based line and column (JSON errors give those).
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let mut offset = 0;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == line {
                let byte_col = l
                    .char_indices()
                    .nth(col.saturating_sub(1))
                    .map_or(l.len(), |(b, _)| b);
                return offset + byte_col;
            }
            offset += l.len();
        }
        self.text.len()
    }
}

/// Where a piece of a model came from.
///
/// Two locations always compare equal: a model parsed from text and the
/// same model read back from JSON are equal, although their locations
/// differ. Compare [`Loc::describe`] to tell locations apart.
#[derive(Clone, Default)]
pub enum Loc {
    /// Built by a program, or generated (defaults).
    #[default]
    None,
    /// A byte range in a source text.
    Span {
        file: Arc<SourceFile>,
        start: u32,
        end: u32,
    },
    /// A JSON path (`$.elements[2].params.rate`).
    Json(Arc<str>),
}

impl PartialEq for Loc {
    fn eq(&self, _other: &Loc) -> bool {
        true
    }
}

impl Eq for Loc {}

impl fmt::Debug for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Loc {
    pub fn span(file: &Arc<SourceFile>, start: usize, end: usize) -> Loc {
        Loc::Span {
            file: file.clone(),
            start: start as u32,
            end: end as u32,
        }
    }

    pub fn json(path: impl Into<Arc<str>>) -> Loc {
        Loc::Json(path.into())
    }

    /// `file:line:col`, the JSON path, or `<generated>`.
    pub fn describe(&self) -> String {
        match self {
            Loc::None => "<generated>".to_string(),
            Loc::Span { file, start, .. } => {
                let (line, col) = file.line_col(*start as usize);
                format!("{}:{line}:{col}", file.name)
            }
            Loc::Json(path) => path.to_string(),
        }
    }

    /// The smallest location covering both (same file), else `self`.
    pub fn to(&self, other: &Loc) -> Loc {
        match (self, other) {
            (Loc::Span { file, start, .. }, Loc::Span { file: f2, end, .. })
                if Arc::ptr_eq(file, f2) =>
            {
                Loc::Span {
                    file: file.clone(),
                    start: *start,
                    end: (*end).max(*start),
                }
            }
            _ => self.clone(),
        }
    }

    /// The file this location is in, if any.
    pub fn file(&self) -> Option<&Arc<SourceFile>> {
        match self {
            Loc::Span { file, .. } => Some(file),
            _ => None,
        }
    }

    /// Whether the two locations are the same place (unlike `==`).
    pub fn same_place(&self, other: &Loc) -> bool {
        match (self, other) {
            (Loc::None, Loc::None) => true,
            (
                Loc::Span { file, start, end },
                Loc::Span {
                    file: f2,
                    start: s2,
                    end: e2,
                },
            ) => Arc::ptr_eq(file, f2) && start == s2 && end == e2,
            (Loc::Json(a), Loc::Json(b)) => a == b,
            _ => false,
        }
    }

    /// Appends `.field` to a JSON path; other locations are kept.
    pub(crate) fn field(&self, name: &str) -> Loc {
        match self {
            Loc::Json(path) => Loc::Json(format!("{path}.{name}").into()),
            other => other.clone(),
        }
    }

    /// Appends `[i]` to a JSON path; other locations are kept.
    pub(crate) fn index(&self, i: usize) -> Loc {
        match self {
            Loc::Json(path) => Loc::Json(format!("{path}[{i}]").into()),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let f = SourceFile::new("t", None, "ab\nçd e\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        // `ç` is two bytes, one column.
        assert_eq!(f.line_col(6), (2, 3));
        assert_eq!(f.offset_of(2, 3), 6);
        assert_eq!(f.offset_of(9, 1), f.text.len());
    }
}
