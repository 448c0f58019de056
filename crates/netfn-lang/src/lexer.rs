//! The scanner: tokens of the graph language, with byte spans.
//!
//! Values are scanned differently from the rest: after `=` (and inside a
//! list) the parser asks for a value, and a run of the characters that
//! make up durations, sizes, addresses, prefixes and MACs
//! (`[A-Za-z0-9_.:/+-]`) is one atom. That is what lets `::1`,
//! `10.0.0.0/8` and `aa:bb:cc:dd:ee:ff` be written bare while `::` and
//! `//` keep their meaning elsewhere.

use crate::model::Lit;

/// A token and its byte range.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier or element name (`fw`, `c/ttl@1`).
    Ident(String),
    /// A decimal number (port indexes).
    Number(u64),
    /// A quoted string: its pieces, with `${var}` references.
    Str(Vec<StrPart>),
    ColonColon,
    Arrow,
    MirrorArrow,
    Semi,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Eq,
    Dollar,
    Eof,
    /// A character that starts no token.
    Unknown(char),
}

impl Tok {
    /// How the token is named in "expected X, found Y".
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Number(n) => format!("`{n}`"),
            Tok::Str(_) => "a string".to_string(),
            Tok::ColonColon => "`::`".to_string(),
            Tok::Arrow => "`->`".to_string(),
            Tok::MirrorArrow => "`->>`".to_string(),
            Tok::Semi => "`;`".to_string(),
            Tok::Comma => "`,`".to_string(),
            Tok::LParen => "`(`".to_string(),
            Tok::RParen => "`)`".to_string(),
            Tok::LBracket => "`[`".to_string(),
            Tok::RBracket => "`]`".to_string(),
            Tok::LBrace => "`{`".to_string(),
            Tok::RBrace => "`}`".to_string(),
            Tok::Eq => "`=`".to_string(),
            Tok::Dollar => "`$`".to_string(),
            Tok::Eof => "end of file".to_string(),
            Tok::Unknown(c) => format!("`{c}`"),
        }
    }
}

/// A piece of a quoted string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StrPart {
    Text(String),
    /// `${name}`, with the byte range of `name`.
    Var(String, usize, usize),
}

/// A scanning error: message and byte range.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub message: String,
    pub label: String,
    pub start: usize,
    pub end: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Characters of a bare value atom.
pub(crate) fn is_atom_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '+' | '-')
}

/// Reads an atom's text as a literal: `true`/`false`, a decimal or `0x`
/// integer, else text.
pub(crate) fn classify_atom(s: &str) -> Result<Lit, String> {
    match s {
        "true" => return Ok(Lit::Bool(true)),
        "false" => return Ok(Lit::Bool(false)),
        _ => {}
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (radix, digits) = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => (16, hex),
        None => (10, digits),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Ok(Lit::Text(s.to_string()));
    }
    let magnitude =
        u128::from_str_radix(digits, radix).map_err(|_| format!("integer `{s}` is too large"))?;
    let value = if neg {
        -(magnitude as i128)
    } else {
        magnitude as i128
    };
    i64::try_from(value).map(Lit::Int).map_err(|_| {
        format!(
            "integer `{s}` does not fit in 64 bits ({}..={})",
            i64::MIN,
            i64::MAX
        )
    })
}

/// Whether text can be printed without quotes and read back as the same
/// text.
pub(crate) fn is_bare_text(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(is_atom_char)
        && !s.contains("//")
        && !s.contains("/*")
        && matches!(classify_atom(s), Ok(Lit::Text(_)))
}

/// Text as a quoted string literal.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' => out.push_str("\\$"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A cursor over one source text.
#[derive(Debug, Clone)]
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pub pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Lexer { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// Whether the text right at the cursor (no trivia skipped) starts
    /// with `c`.
    pub fn text_at_cursor_starts_with(&self, c: char) -> bool {
        self.rest().starts_with(c)
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_char_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    /// Skips whitespace and comments (`//`, `#` to end of line; `/* */`).
    pub fn skip_trivia(&mut self) -> Result<(), LexError> {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") || trimmed.starts_with('#') {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if let Some(body) = trimmed.strip_prefix("/*") {
                match body.find("*/") {
                    Some(i) => self.pos += i + 4,
                    None => {
                        let start = self.pos;
                        self.pos = self.text.len();
                        return Err(LexError {
                            message: "unterminated comment".to_string(),
                            label: "this `/*` is never closed".to_string(),
                            start,
                            end: start + 2,
                        });
                    }
                }
            } else {
                return Ok(());
            }
        }
    }

    /// The next token (after trivia).
    pub fn next_token(&mut self) -> Result<Token, LexError> {
        self.skip_trivia()?;
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        let rest = self.rest();
        let (tok, len) = if rest.starts_with("->>") {
            (Tok::MirrorArrow, 3)
        } else if rest.starts_with("->") {
            (Tok::Arrow, 2)
        } else if rest.starts_with("::") {
            (Tok::ColonColon, 2)
        } else if is_ident_start(c) {
            return Ok(self.ident());
        } else if c.is_ascii_digit() {
            let len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let n = rest[..len].parse::<u64>().unwrap_or(u64::MAX);
            (Tok::Number(n), len)
        } else if c == '"' {
            return self.string();
        } else {
            let tok = match c {
                ';' => Tok::Semi,
                ',' => Tok::Comma,
                '(' => Tok::LParen,
                ')' => Tok::RParen,
                '[' => Tok::LBracket,
                ']' => Tok::RBracket,
                '{' => Tok::LBrace,
                '}' => Tok::RBrace,
                '=' => Tok::Eq,
                '$' => Tok::Dollar,
                other => Tok::Unknown(other),
            };
            (tok, c.len_utf8())
        };
        self.pos += len;
        Ok(Token {
            tok,
            start,
            end: self.pos,
        })
    }

    /// The next token, without consuming it.
    pub fn peek(&self) -> Result<Token, LexError> {
        self.clone().next_token()
    }

    /// An identifier, continued by `/segment` and `@digits` parts.
    fn ident(&mut self) -> Token {
        let start = self.pos;
        self.take_while(is_ident_char);
        loop {
            match (self.peek_char(), self.peek_char_at(1)) {
                (Some('@'), Some(d)) if d.is_ascii_digit() => {
                    self.pos += 1;
                    self.take_while(|c| c.is_ascii_digit());
                }
                (Some('/'), Some(c)) if is_ident_start(c) => {
                    self.pos += 1;
                    self.take_while(is_ident_char);
                }
                _ => break,
            }
        }
        Token {
            tok: Tok::Ident(self.text[start..self.pos].to_string()),
            start,
            end: self.pos,
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) {
        let rest = self.rest();
        self.pos += rest.find(|c: char| !f(c)).unwrap_or(rest.len());
    }

    /// A quoted string with escapes and `${var}` interpolation.
    fn string(&mut self) -> Result<Token, LexError> {
        let start = self.pos;
        self.pos += 1;
        let mut parts = Vec::new();
        let mut buf = String::new();
        loop {
            let Some(c) = self.peek_char() else {
                return Err(LexError {
                    message: "unterminated string".to_string(),
                    label: "this string is never closed".to_string(),
                    start,
                    end: start + 1,
                });
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            match c {
                '"' => break,
                '\n' => {
                    return Err(LexError {
                        message: "unterminated string".to_string(),
                        label: "strings end on the line they start; write `\\n` for a newline"
                            .to_string(),
                        start,
                        end: at,
                    });
                }
                '\\' => {
                    let e = self.peek_char();
                    self.pos += e.map_or(0, char::len_utf8);
                    match e {
                        Some('"') => buf.push('"'),
                        Some('\\') => buf.push('\\'),
                        Some('n') => buf.push('\n'),
                        Some('r') => buf.push('\r'),
                        Some('t') => buf.push('\t'),
                        Some('$') => buf.push('$'),
                        Some('u') if self.peek_char() == Some('{') => {
                            let close = self.rest().find('}');
                            let code = close
                                .and_then(|i| u32::from_str_radix(&self.rest()[1..i], 16).ok());
                            match (close, code.and_then(char::from_u32)) {
                                (Some(i), Some(ch)) => {
                                    buf.push(ch);
                                    self.pos += i + 1;
                                }
                                _ => {
                                    return Err(LexError {
                                        message: "invalid unicode escape".to_string(),
                                        label: "expected `\\u{hex}` with a valid code point"
                                            .to_string(),
                                        start: at,
                                        end: self.pos,
                                    });
                                }
                            }
                        }
                        _ => {
                            return Err(LexError {
                                message: "unknown escape in string".to_string(),
                                label: "expected one of \\\" \\\\ \\n \\r \\t \\$ \\u{..}"
                                    .to_string(),
                                start: at,
                                end: self.pos,
                            });
                        }
                    }
                }
                '$' if self.peek_char() == Some('{') => {
                    let name_start = self.pos + 1;
                    let close = self.rest().find('}');
                    let name = close.map(|i| &self.rest()[1..i]);
                    match (close, name) {
                        (Some(i), Some(name)) if crate::model::is_ident(name) => {
                            if !buf.is_empty() {
                                parts.push(StrPart::Text(std::mem::take(&mut buf)));
                            }
                            parts.push(StrPart::Var(
                                name.to_string(),
                                name_start,
                                name_start + name.len(),
                            ));
                            self.pos += i + 1;
                        }
                        _ => {
                            return Err(LexError {
                                message: "invalid variable reference in string".to_string(),
                                label: "expected `${name}`; write `\\$` for a dollar sign"
                                    .to_string(),
                                start: at,
                                end: self.pos + 1,
                            });
                        }
                    }
                }
                c => buf.push(c),
            }
        }
        if !buf.is_empty() || parts.is_empty() {
            parts.push(StrPart::Text(buf));
        }
        Ok(Token {
            tok: Tok::Str(parts),
            start,
            end: self.pos,
        })
    }

    /// A bare value atom at the cursor (after trivia); `None` if there is
    /// none. The caller has checked for `"`, `[` and `$` first.
    pub fn atom(&mut self) -> Option<(String, usize, usize)> {
        let start = self.pos;
        let rest = self.rest();
        let mut len = 0;
        for (i, c) in rest.char_indices() {
            if !is_atom_char(c) || rest[i..].starts_with("//") || rest[i..].starts_with("/*") {
                break;
            }
            len = i + c.len_utf8();
        }
        if len == 0 {
            return None;
        }
        self.pos += len;
        Some((rest[..len].to_string(), start, self.pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<Tok> {
        let mut lx = Lexer::new(s);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token().unwrap();
            if t.tok == Tok::Eof {
                return out;
            }
            out.push(t.tok);
        }
    }

    #[test]
    fn punctuation_and_names() {
        assert_eq!(
            tokens("fw::firewall() -> c/ttl@1[2] ->> x; // c\n# c\n/* c */ {}"),
            vec![
                Tok::Ident("fw".into()),
                Tok::ColonColon,
                Tok::Ident("firewall".into()),
                Tok::LParen,
                Tok::RParen,
                Tok::Arrow,
                Tok::Ident("c/ttl@1".into()),
                Tok::LBracket,
                Tok::Number(2),
                Tok::RBracket,
                Tok::MirrorArrow,
                Tok::Ident("x".into()),
                Tok::Semi,
                Tok::LBrace,
                Tok::RBrace,
            ]
        );
    }

    #[test]
    fn strings_with_escapes_and_variables() {
        let t = tokens(r#""a\"b\$ ${dir}/x""#);
        assert_eq!(
            t,
            vec![Tok::Str(vec![
                StrPart::Text("a\"b$ ".into()),
                StrPart::Var("dir".into(), 10, 13),
                StrPart::Text("/x".into())
            ])]
        );
        assert!(Lexer::new("\"abc").next_token().is_err());
        assert!(Lexer::new("\"a\\qb\"").next_token().is_err());
    }

    #[test]
    fn atoms_stop_at_comments_and_punctuation() {
        let mut lx = Lexer::new("10.0.0.0/8// x");
        assert_eq!(lx.atom().unwrap().0, "10.0.0.0/8");
        let mut lx = Lexer::new("::1, 2");
        assert_eq!(lx.atom().unwrap().0, "::1");
        let mut lx = Lexer::new("aa:bb:cc:dd:ee:ff)");
        assert_eq!(lx.atom().unwrap().0, "aa:bb:cc:dd:ee:ff");
    }

    #[test]
    fn classify() {
        assert_eq!(classify_atom("true"), Ok(Lit::Bool(true)));
        assert_eq!(classify_atom("-42"), Ok(Lit::Int(-42)));
        assert_eq!(classify_atom("0x800"), Ok(Lit::Int(0x800)));
        assert_eq!(
            classify_atom("-9223372036854775808"),
            Ok(Lit::Int(i64::MIN))
        );
        assert!(classify_atom("9223372036854775808").is_err());
        assert_eq!(classify_atom("30s"), Ok(Lit::Text("30s".into())));
        assert_eq!(classify_atom("0x"), Ok(Lit::Text("0x".into())));
    }

    #[test]
    fn bare_text_and_quoting() {
        assert!(is_bare_text("drop"));
        assert!(is_bare_text("2001:db8::/32"));
        assert!(!is_bare_text("80"));
        assert!(!is_bare_text("false"));
        assert!(!is_bare_text("a b"));
        assert!(!is_bare_text("a//b"));
        assert!(!is_bare_text(""));
        assert_eq!(quote("a\"$\n\u{1}"), r#""a\"\$\n\u{1}""#);
    }
}
