//! The parser: one source text into its syntax tree, with error recovery
//! (a broken statement is reported and skipped up to its `;`, so one run
//! reports every syntax error).
//!
//! Grammar (see `docs/language.md` for the prose):
//!
//! ```text
//! file     := item*
//! item     := "include" STRING ";"
//!           | "let" IDENT "=" value ";"
//!           | "graph" IDENT ( "(" class_params? ")" )? "{" (chain ";")* "}"
//!           | chain ";"
//! chain    := endpoint (("->" | "->>") endpoint)*
//! endpoint := ("[" NUM "]")? node ("[" NUM "]")?
//! node     := NAME "::" IDENT args?      declaration
//!           | IDENT args                  anonymous element
//!           | NAME                        reference
//! args     := "(" (IDENT "=" value ("," IDENT "=" value)* ","?)? ")"
//! value    := STRING | ATOM | "$" IDENT | "${" IDENT "}" | "[" (value ("," value)* ","?)? "]"
//! ```

// Syntax errors are the cold path and a parse is not hot: a large `Err`
// (a whole `Diagnostic`) keeps the code plain.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics};
use crate::lexer::{LexError, Lexer, StrPart, Tok, Token, classify_atom};
use crate::model::{KEYWORDS, Lit, is_element_name, is_ident};
use crate::source::{Loc, SourceFile};

/// A name as written, with its place.
#[derive(Debug, Clone)]
pub(crate) struct Ident {
    pub name: String,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub(crate) enum Item {
    Include { path: String, loc: Loc },
    Let { name: Ident, value: Expr },
    Graph(ClassDef),
    Chain(Chain),
}

/// `graph Name(params) { body }`.
#[derive(Debug, Clone)]
pub(crate) struct ClassDef {
    pub name: Ident,
    pub params: Vec<(Ident, Option<Expr>)>,
    pub body: Vec<Chain>,
}

#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub first: Endpoint,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub mirror: bool,
    pub arrow: Loc,
    pub to: Endpoint,
}

#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub input: Option<(u16, Loc)>,
    pub node: Node,
    pub output: Option<(u16, Loc)>,
    /// `[in]name` (what a connection into this endpoint points at).
    pub in_loc: Loc,
    /// `name[out]` (what a connection out of this endpoint points at).
    pub out_loc: Loc,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Ref(Ident),
    Decl {
        name: Ident,
        kind: Ident,
        args: Vec<Arg>,
    },
    Anon {
        kind: Ident,
        args: Vec<Arg>,
    },
}

impl Node {
    /// The name or kind that stands for the node in messages.
    pub fn ident(&self) -> &Ident {
        match self {
            Node::Ref(i) | Node::Decl { name: i, .. } | Node::Anon { kind: i, .. } => i,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Arg {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Debug, Clone)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub(crate) enum ExprKind {
    /// A bare atom: bool, integer or text.
    Atom(Lit),
    /// A quoted string, maybe with `${var}` pieces.
    Str(Vec<StrPart>),
    Var(String),
    List(Vec<Expr>),
}

/// Parses one file. Returns what could be parsed and the syntax errors.
pub(crate) fn parse(file: &Arc<SourceFile>) -> (Vec<Item>, Diagnostics) {
    let mut p = Parser {
        file: file.clone(),
        lx: Lexer::new(&file.text),
        diags: Diagnostics::new(),
    };
    let mut items = Vec::new();
    loop {
        match p.peek() {
            Ok(t) if t.tok == Tok::Eof => break,
            Ok(t) if t.tok == Tok::RBrace => {
                p.bump();
                p.diags.push(
                    Diagnostic::error("netfn::syntax", &p.loc(t.start, t.end), "unexpected `}`")
                        .with_label("no `graph { ... }` is open here"),
                );
            }
            _ => match p.item(true) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => {}
                Err(e) => {
                    p.diags.push(e);
                    p.recover();
                }
            },
        }
    }
    (items, p.diags)
}

/// Parses a value on its own (a `-D name=value` definition, a catalog
/// default). `None` when the text is not exactly one value.
pub(crate) fn parse_value(file: &Arc<SourceFile>) -> Result<Expr, Diagnostic> {
    let mut p = Parser {
        file: file.clone(),
        lx: Lexer::new(&file.text),
        diags: Diagnostics::new(),
    };
    let v = p.value()?;
    let t = p.peek()?;
    if t.tok != Tok::Eof {
        return Err(p.unexpected(&t, "the end of the value"));
    }
    Ok(v)
}

struct Parser<'a> {
    file: Arc<SourceFile>,
    lx: Lexer<'a>,
    diags: Diagnostics,
}

type PResult<T> = Result<T, Diagnostic>;

impl Parser<'_> {
    fn loc(&self, start: usize, end: usize) -> Loc {
        Loc::span(&self.file, start, end)
    }

    fn lex_error(&self, e: LexError) -> Diagnostic {
        Diagnostic::error("netfn::syntax", &self.loc(e.start, e.end), e.message).with_label(e.label)
    }

    fn peek(&self) -> PResult<Token> {
        self.lx.peek().map_err(|e| self.lex_error(e))
    }

    fn next(&mut self) -> PResult<Token> {
        self.lx.next_token().map_err(|e| self.lex_error(e))
    }

    /// Consumes the token just peeked.
    fn bump(&mut self) {
        let _ = self.lx.next_token();
    }

    fn unexpected(&self, t: &Token, expected: &str) -> Diagnostic {
        let loc = self.loc(
            t.start,
            t.end
                .max(t.start + 1)
                .min(self.file.text.len().max(t.start)),
        );
        Diagnostic::error(
            "netfn::syntax",
            &loc,
            format!("expected {expected}, found {}", t.tok.describe()),
        )
        .with_label(format!("expected {expected}"))
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> PResult<Token> {
        let t = self.peek()?;
        if t.tok == tok {
            self.bump();
            Ok(t)
        } else {
            Err(self.unexpected(&t, expected))
        }
    }

    /// After an error: skips to just past the next `;`, or to a `}` that
    /// closes the enclosing block, or to the end.
    fn recover(&mut self) {
        let mut depth = 0usize;
        loop {
            let before = self.lx.pos;
            match self.lx.next_token() {
                Ok(t) => match t.tok {
                    Tok::Eof => return,
                    Tok::Semi if depth == 0 => return,
                    Tok::LBrace => depth += 1,
                    Tok::RBrace if depth == 0 => {
                        self.lx.pos = before;
                        return;
                    }
                    Tok::RBrace => depth -= 1,
                    _ => {}
                },
                // Skip the offending character and go on.
                Err(e) => self.lx.pos = e.end.max(before + 1).min(self.lx_len()),
            }
        }
    }

    fn lx_len(&self) -> usize {
        self.file.text.len()
    }

    /// One top-level item (or, when `top` is false, one statement of a
    /// graph body).
    fn item(&mut self, top: bool) -> PResult<Option<Item>> {
        let t = self.peek()?;
        if let Tok::Ident(word) = &t.tok
            && matches!(word.as_str(), "include" | "let" | "graph")
        {
            if !top {
                return Err(Diagnostic::error(
                    "netfn::syntax",
                    &self.loc(t.start, t.end),
                    format!("`{word}` is not allowed inside a graph body"),
                )
                .with_label("only connections and declarations go here")
                .with_help(format!("move the `{word}` to the top level of the file")));
            }
            self.bump();
            return match word.as_str() {
                "include" => self.include(&t).map(Some),
                "let" => self.let_(&t).map(Some),
                _ => self.graph(&t).map(Some),
            };
        }
        let chain = self.chain()?;
        self.expect_semi()?;
        Ok(Some(Item::Chain(chain)))
    }

    fn expect_semi(&mut self) -> PResult<()> {
        let t = self.peek()?;
        if t.tok == Tok::Semi {
            self.bump();
            return Ok(());
        }
        // A `;` forgotten at the end of a line is best shown there, right
        // after what it should follow.
        let prev_end = self.lx.pos;
        let next_line = self.file.text[prev_end..t.start].contains('\n');
        let mut d = if next_line && t.tok != Tok::Eof {
            Diagnostic::error(
                "netfn::syntax",
                &self.loc(prev_end, prev_end),
                format!("expected `;`, found {}", t.tok.describe()),
            )
            .with_label("expected `;` here")
        } else {
            self.unexpected(&t, "`;`")
        };
        if matches!(t.tok, Tok::Ident(_)) {
            d = d.with_help("end each statement with `;`, or connect with `->`");
        }
        Err(d)
    }

    fn include(&mut self, kw: &Token) -> PResult<Item> {
        let t = self.next()?;
        let path = match t.tok {
            Tok::Str(parts) => match parts.as_slice() {
                [StrPart::Text(s)] => s.clone(),
                _ => {
                    return Err(Diagnostic::error(
                        "netfn::syntax",
                        &self.loc(t.start, t.end),
                        "variables are not allowed in include paths",
                    )
                    .with_label("includes are read before variables are known"));
                }
            },
            _ => {
                return Err(self
                    .unexpected(&t, "a quoted file name")
                    .with_help("write `include \"file.nf\";`"));
            }
        };
        let loc = self.loc(kw.start, t.end);
        self.expect_semi()?;
        Ok(Item::Include { path, loc })
    }

    fn ident(&mut self, what: &str, check: fn(&str) -> bool) -> PResult<Ident> {
        let t = self.peek()?;
        match &t.tok {
            Tok::Ident(name) if check(name) && !KEYWORDS.contains(&name.as_str()) => {
                self.bump();
                Ok(Ident {
                    name: name.clone(),
                    loc: self.loc(t.start, t.end),
                })
            }
            Tok::Ident(name) if KEYWORDS.contains(&name.as_str()) => Err(Diagnostic::error(
                "netfn::syntax",
                &self.loc(t.start, t.end),
                format!("`{name}` is a keyword and cannot be used as {what}"),
            )
            .with_label("keyword")),
            _ => Err(self.unexpected(&t, what)),
        }
    }

    /// An identifier where keywords cannot be confused with anything (a
    /// kind after `::`, a parameter name before `=`).
    fn word(&mut self, what: &str) -> PResult<Ident> {
        let t = self.peek()?;
        match &t.tok {
            Tok::Ident(name) if is_ident(name) => {
                self.bump();
                Ok(Ident {
                    name: name.clone(),
                    loc: self.loc(t.start, t.end),
                })
            }
            _ => Err(self.unexpected(&t, what)),
        }
    }

    fn let_(&mut self, _kw: &Token) -> PResult<Item> {
        let name = self.ident("a variable name", is_ident)?;
        self.expect(Tok::Eq, "`=`")?;
        let value = self.value()?;
        self.expect_semi()?;
        Ok(Item::Let { name, value })
    }

    fn graph(&mut self, _kw: &Token) -> PResult<Item> {
        let name = self.ident("a graph name", is_ident)?;
        let mut params = Vec::new();
        if self.peek()?.tok == Tok::LParen {
            self.bump();
            loop {
                if self.peek()?.tok == Tok::RParen {
                    self.bump();
                    break;
                }
                let p = self.ident("a parameter name", is_ident)?;
                let default = if self.peek()?.tok == Tok::Eq {
                    self.bump();
                    Some(self.value()?)
                } else {
                    None
                };
                params.push((p, default));
                let t = self.next()?;
                match t.tok {
                    Tok::Comma => {}
                    Tok::RParen => break,
                    _ => return Err(self.unexpected(&t, "`,` or `)`")),
                }
            }
        }
        self.expect(Tok::LBrace, "`{`")?;
        let mut body = Vec::new();
        loop {
            let t = self.peek()?;
            match t.tok {
                Tok::RBrace => {
                    self.bump();
                    break;
                }
                Tok::Eof => {
                    return Err(Diagnostic::error(
                        "netfn::syntax",
                        &name.loc,
                        format!("graph `{}` is never closed", name.name),
                    )
                    .with_label("this graph's `{` has no matching `}`"));
                }
                _ => match self.item(false) {
                    Ok(Some(Item::Chain(c))) => body.push(c),
                    Ok(_) => {}
                    Err(e) => {
                        self.diags.push(e);
                        self.recover();
                    }
                },
            }
        }
        Ok(Item::Graph(ClassDef { name, params, body }))
    }

    fn chain(&mut self) -> PResult<Chain> {
        let first = self.endpoint()?;
        if let Some((_, loc)) = &first.input {
            return Err(Diagnostic::error(
                "netfn::syntax",
                loc,
                "input port before the first element of a connection",
            )
            .with_label("nothing connects into this port")
            .with_help("an input port goes after an arrow: `a -> [1]b`"));
        }
        let mut steps = Vec::new();
        loop {
            let t = self.peek()?;
            let mirror = match t.tok {
                Tok::Arrow => false,
                Tok::MirrorArrow => true,
                _ => break,
            };
            self.bump();
            let arrow = self.loc(t.start, t.end);
            let to = self.endpoint()?;
            steps.push(Step { mirror, arrow, to });
        }
        // `x -> output[1]`: the graph's output 1, which is the `output`
        // pseudo-element's input 1 (`x -> [1]output` means the same).
        if let Some(last) = steps.last_mut()
            && matches!(&last.to.node, Node::Ref(id) if id.name == "output")
            && last.to.input.is_none()
            && let Some((n, loc)) = last.to.output.take()
        {
            last.to.input = Some((n, loc));
            last.to.in_loc = last.to.out_loc.clone();
        }
        if let Some((_, loc)) = &steps.last().map_or(&first, |s| &s.to).output {
            return Err(Diagnostic::error(
                "netfn::syntax",
                loc,
                "output port after the last element of a connection",
            )
            .with_label("nothing connects out of this port")
            .with_help("an output port goes before an arrow: `a[1] -> b`"));
        }
        Ok(Chain { first, steps })
    }

    fn port(&mut self) -> PResult<Option<(u16, Loc, usize)>> {
        let open = self.peek()?;
        if open.tok != Tok::LBracket {
            return Ok(None);
        }
        self.bump();
        let t = self.next()?;
        let Tok::Number(n) = t.tok else {
            return Err(self.unexpected(&t, "a port number"));
        };
        let close = self.expect(Tok::RBracket, "`]`")?;
        let loc = self.loc(open.start, close.end);
        let n = u16::try_from(n).map_err(|_| {
            Diagnostic::error(
                "netfn::syntax",
                &loc,
                format!("port number {n} is too large"),
            )
            .with_label("ports are numbered 0..=65535")
        })?;
        Ok(Some((n, loc, open.start)))
    }

    fn endpoint(&mut self) -> PResult<Endpoint> {
        let input = self.port()?;
        let t = self.peek()?;
        let Tok::Ident(first) = &t.tok else {
            return Err(self.unexpected(
                &t,
                "an element (a name, `name :: kind(...)` or `kind(...)`)",
            ));
        };
        self.bump();
        let first = Ident {
            name: first.clone(),
            loc: self.loc(t.start, t.end),
        };
        let node = match self.peek()?.tok {
            Tok::ColonColon => {
                self.bump();
                self.check_name(&first)?;
                let kind = self.word("an element kind")?;
                let args = if self.peek()?.tok == Tok::LParen {
                    self.args()?
                } else {
                    Vec::new()
                };
                Node::Decl {
                    name: first,
                    kind,
                    args,
                }
            }
            Tok::LParen => {
                if !is_ident(&first.name) {
                    return Err(Diagnostic::error(
                        "netfn::syntax",
                        &first.loc,
                        format!("`{}` is not a valid element kind", first.name),
                    )
                    .with_label("kinds are plain identifiers"));
                }
                let args = self.args()?;
                Node::Anon { kind: first, args }
            }
            _ => Node::Ref(first),
        };
        let output = self.port()?;
        let name_loc = node.ident().loc.clone();
        let in_loc = match &input {
            Some((_, _, start)) => self.loc(*start, span_end(&name_loc)),
            None => name_loc.clone(),
        };
        let out_loc = match &output {
            Some((_, loc, _)) => name_loc.to(loc),
            None => name_loc.clone(),
        };
        Ok(Endpoint {
            input: input.map(|(n, l, _)| (n, l)),
            node,
            output: output.map(|(n, l, _)| (n, l)),
            in_loc,
            out_loc,
        })
    }

    fn check_name(&self, name: &Ident) -> PResult<()> {
        if KEYWORDS.contains(&name.name.as_str()) || !is_element_name(&name.name) {
            return Err(Diagnostic::error(
                "netfn::syntax",
                &name.loc,
                format!("`{}` cannot name an element", name.name),
            )
            .with_label(if KEYWORDS.contains(&name.name.as_str()) {
                "keyword"
            } else {
                "invalid name"
            }));
        }
        Ok(())
    }

    fn args(&mut self) -> PResult<Vec<Arg>> {
        self.expect(Tok::LParen, "`(`")?;
        let mut args = Vec::new();
        loop {
            let t = self.peek()?;
            if t.tok == Tok::RParen {
                self.bump();
                return Ok(args);
            }
            let is_named = matches!(&t.tok, Tok::Ident(n) if is_ident(n)) && {
                let mut look = self.lx.clone();
                let _ = look.next_token();
                matches!(look.next_token(), Ok(Token { tok: Tok::Eq, .. }))
            };
            if !is_named {
                let mut d = self.unexpected(&t, "a parameter name");
                if !matches!(t.tok, Tok::Eof | Tok::Semi) {
                    d = d
                        .with_label("parameters are named")
                        .with_help("write `name = value`");
                }
                return Err(d);
            }
            let name = self.word("a parameter name")?;
            self.bump(); // `=`
            let value = self.value()?;
            args.push(Arg { name, value });
            let t = self.next()?;
            match t.tok {
                Tok::Comma => {}
                Tok::RParen => return Ok(args),
                _ => return Err(self.unexpected(&t, "`,` or `)`")),
            }
        }
    }

    fn value(&mut self) -> PResult<Expr> {
        self.lx.skip_trivia().map_err(|e| self.lex_error(e))?;
        let t = self.peek()?;
        match &t.tok {
            Tok::Str(parts) => {
                self.bump();
                Ok(Expr { kind: ExprKind::Str(parts.clone()), loc: self.loc(t.start, t.end) })
            }
            Tok::LBracket => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    if let Ok(Token { tok: Tok::RBracket, end, .. }) = self.peek() {
                        self.bump();
                        return Ok(Expr { kind: ExprKind::List(items), loc: self.loc(t.start, end) });
                    }
                    items.push(self.value()?);
                    let sep = self.next()?;
                    match sep.tok {
                        Tok::Comma => {}
                        Tok::RBracket => {
                            return Ok(Expr { kind: ExprKind::List(items), loc: self.loc(t.start, sep.end) });
                        }
                        _ => return Err(self.unexpected(&sep, "`,` or `]`")),
                    }
                }
            }
            Tok::Dollar => {
                self.bump();
                let braced = self.lx.text_at_cursor_starts_with('{');
                if braced {
                    self.lx.pos += 1;
                }
                let n = self.next()?;
                let name = match &n.tok {
                    Tok::Ident(name) if is_ident(name) => name.clone(),
                    _ => return Err(self.unexpected(&n, "a variable name after `$`")),
                };
                let mut end = n.end;
                if braced {
                    end = self.expect(Tok::RBrace, "`}`")?.end;
                }
                Ok(Expr { kind: ExprKind::Var(name), loc: self.loc(t.start, end) })
            }
            _ => match self.lx.atom() {
                Some((text, start, end)) => {
                    let loc = self.loc(start, end);
                    let lit = classify_atom(&text).map_err(|m| {
                        Diagnostic::error("netfn::syntax", &loc, m).with_label("integer out of range")
                    })?;
                    Ok(Expr { kind: ExprKind::Atom(lit), loc })
                }
                None => Err(self.unexpected(&t, "a value").with_help(
                    "values are numbers, words (`drop`, `30s`, `10.0.0.0/8`), \"strings\", `$variables` or lists `[a, b]`",
                )),
            },
        }
    }
}

fn span_end(loc: &Loc) -> usize {
    match loc {
        Loc::Span { end, .. } => *end as usize,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Vec<Item> {
        let f = SourceFile::new("t.nf", None, text);
        let (items, diags) = parse(&f);
        assert!(diags.is_empty(), "{}", diags.render());
        items
    }

    fn parse_err(text: &str) -> Vec<String> {
        let f = SourceFile::new("t.nf", None, text);
        let (_, diags) = parse(&f);
        diags
            .iter()
            .map(|d| format!("{}:{} {}", d.line().unwrap(), d.col().unwrap(), d.message))
            .collect()
    }

    #[test]
    fn declarations_connections_and_ports() {
        let items = parse_ok(
            "fw :: firewall(rules = \"fw.rules\", default = drop);\n\
             src -> [1]fw[2] ->> ttl() -> dst;\n\
             cls [0] -> web; a -> [1] merge_point;",
        );
        assert_eq!(items.len(), 4);
        let Item::Chain(c) = &items[0] else { panic!() };
        let Node::Decl { name, kind, args } = &c.first.node else {
            panic!()
        };
        assert_eq!(
            (name.name.as_str(), kind.name.as_str(), args.len()),
            ("fw", "firewall", 2)
        );
        let Item::Chain(c) = &items[1] else { panic!() };
        assert_eq!(c.steps.len(), 3);
        assert_eq!(c.steps[0].to.input.as_ref().unwrap().0, 1);
        assert_eq!(c.steps[0].to.output.as_ref().unwrap().0, 2);
        assert!(c.steps[1].mirror);
        assert!(matches!(&c.steps[1].to.node, Node::Anon { kind, .. } if kind.name == "ttl"));
    }

    #[test]
    fn values() {
        let items = parse_ok(
            "x :: k(a = 30s, b = [80, 443], c = ::1, d = 2001:db8::/32, e = aa:bb:cc:dd:ee:ff, f = $v, g = ${v}, h = true, i = -3, j = \"s ${v}\");",
        );
        let Item::Chain(c) = &items[0] else { panic!() };
        let Node::Decl { args, .. } = &c.first.node else {
            panic!()
        };
        let kinds: Vec<String> = args
            .iter()
            .map(|a| match &a.value.kind {
                ExprKind::Atom(l) => format!("{l:?}"),
                ExprKind::Str(p) => format!("str{}", p.len()),
                ExprKind::Var(v) => format!("${v}"),
                ExprKind::List(l) => format!("list{}", l.len()),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Text(\"30s\")",
                "list2",
                "Text(\"::1\")",
                "Text(\"2001:db8::/32\")",
                "Text(\"aa:bb:cc:dd:ee:ff\")",
                "$v",
                "$v",
                "Bool(true)",
                "Int(-3)",
                "str2"
            ]
        );
    }

    #[test]
    fn graphs_lets_includes() {
        let items = parse_ok(
            "include \"common.nf\";\nlet rate = 1Mpps;\ngraph Chain(limit = 64, rules) { input -> ttl(limit = $limit) -> output; input[1] -> output[1]; }",
        );
        assert!(matches!(&items[0], Item::Include { path, .. } if path == "common.nf"));
        assert!(matches!(&items[1], Item::Let { name, .. } if name.name == "rate"));
        let Item::Graph(g) = &items[2] else { panic!() };
        assert_eq!(g.params.len(), 2);
        assert!(g.params[1].1.is_none());
        assert_eq!(g.body.len(), 2);
    }

    #[test]
    fn recovers_and_reports_every_error() {
        let errs = parse_err("a -> ;\nb :: k(1);\nc -> d\ne -> f;\nx :: k(a = );\n");
        assert_eq!(
            errs,
            [
                "1:6 expected an element (a name, `name :: kind(...)` or `kind(...)`), found `;`",
                "2:8 expected a parameter name, found `1`",
                "3:7 expected `;`, found `e`",
                "5:12 expected a value, found `)`",
            ]
        );
    }

    #[test]
    fn misplaced_ports_and_keywords() {
        assert_eq!(parse_err("[1]a -> b;").len(), 1);
        assert_eq!(parse_err("a -> b[1];").len(), 1);
        assert_eq!(parse_err("let :: k();").len(), 1);
        assert_eq!(parse_err("graph G { let x = 1; a -> b; }").len(), 1);
        assert_eq!(parse_err("a -> b; }").len(), 1);
        assert_eq!(parse_err("x :: k(a = \"unterminated);").len(), 1);
    }
}
