//! `$filter` expressions: a hand-written lexer and recursive-descent parser producing [`Expr`].
//!
//! Precedence, tightest first: `not` > comparisons (`eq ne gt ge lt le in`, left-assoc) >
//! `and` > `or`. Keywords are matched case-insensitively as whole identifiers, so `notes eq 1`
//! compares the property `notes`. Positions in error messages are 0-based character offsets
//! into the decoded expression.

use std::fmt;

use crate::ODataError;
use crate::datetime::{Date, DateOrTime, format_datetime_micros, parse_date_or_time};

/// Maximum nesting (parentheses, `not`, lambdas, function arguments) before a parse error.
pub const MAX_DEPTH: usize = 100;
/// Maximum length of one `$filter` expression, in characters.
pub const MAX_FILTER_LEN: usize = 8192;
const MAX_TOKENS: usize = 2048;

/// A `$filter` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A literal value.
    Literal(Literal),
    /// A property path, `a` or `p/id` (segments in order).
    Path(Vec<String>),
    /// `left op right`.
    Compare {
        /// The operator.
        op: CompareOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `value in (list...)`.
    In {
        /// The tested value.
        value: Box<Expr>,
        /// The candidates (non-empty).
        list: Vec<Expr>,
    },
    /// `a and b`.
    And(Box<Expr>, Box<Expr>),
    /// `a or b`.
    Or(Box<Expr>, Box<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// `path/any(var:predicate)`, `path/all(var:predicate)` or `path/any()`.
    Lambda {
        /// The collection path.
        path: Vec<String>,
        /// `any` or `all`.
        kind: LambdaKind,
        /// The lambda variable and body; `None` for `any()`.
        predicate: Option<(String, Box<Expr>)>,
    },
    /// A function call, `startswith(a,'x')` (name as written).
    Call {
        /// Function name as written.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
    },
}

/// Literal values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer that fits in i64.
    Int(i64),
    /// A decimal or double literal, kept as written (`1.5`, `2e10`).
    Decimal(String),
    /// A string, unescaped (`'it''s'` → `it's`).
    String(String),
    /// An unquoted DateTimeOffset, as unix microseconds UTC.
    DateTimeOffset(i64),
    /// An unquoted date, `2023-09-25`.
    Date(Date),
    /// An unquoted GUID, as written.
    Guid(String),
    /// `duration'PT1S'`: the ISO 8601 text inside the quotes.
    Duration(String),
    /// `microsoft.graph.callRecords.callType'groupCall'`.
    Enum {
        /// Qualified enum type name.
        type_name: String,
        /// Member name (or comma-separated flags) inside the quotes.
        member: String,
    },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CompareOp {
    /// The OData keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    fn from_keyword(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    /// The operator with its operands swapped: `a lt b` ⇔ `b gt a`.
    pub fn flipped(self) -> Self {
        match self {
            Self::Gt => Self::Lt,
            Self::Ge => Self::Le,
            Self::Lt => Self::Gt,
            Self::Le => Self::Ge,
            other => other,
        }
    }
}

/// `any` or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LambdaKind {
    /// `any`
    Any,
    /// `all`
    All,
}

impl LambdaKind {
    /// The OData keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::All => "all",
        }
    }
}

/// Words that cannot start an operand.
const RESERVED: &[&str] = &[
    "and", "or", "eq", "ne", "gt", "ge", "lt", "le", "in", "has", "add", "sub", "mul", "div",
    "divby", "mod",
];
const ARITHMETIC: &[&str] = &["has", "add", "sub", "mul", "div", "divby", "mod"];

/// Parses a (decoded) `$filter` expression. Error messages start with `$filter: `.
pub fn parse_filter(input: &str) -> Result<Expr, ODataError> {
    parse_filter_inner(input).map_err(|e| e.prefixed("$filter: "))
}

fn parse_filter_inner(input: &str) -> Result<Expr, ODataError> {
    let chars: Vec<char> = input.chars().collect();
    if chars.len() > MAX_FILTER_LEN {
        return Err(ODataError::bad_request(format!(
            "the expression is too long ({} characters, at most {MAX_FILTER_LEN})",
            chars.len()
        )));
    }
    if chars.iter().all(|c| c.is_whitespace()) {
        return Err(ODataError::bad_request("the expression is empty"));
    }
    let toks = lex(&chars)?;
    let mut p = Parser {
        chars: &chars,
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.parse_or()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        let msg = if t.tok == Tok::RParen {
            format!("unbalanced ')' at position {}", t.start)
        } else {
            format!(
                "expected 'and', 'or' or the end of the expression at position {}, found {}",
                t.start,
                p.describe(t)
            )
        };
        return Err(ODataError::bad_request(msg));
    }
    Ok(e)
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Lit(Literal),
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_guid_at(chars: &[char], i: usize) -> bool {
    let Some(s) = chars.get(i..i + 36) else {
        return false;
    };
    let shape_ok = s.iter().enumerate().all(|(k, c)| match k {
        8 | 13 | 18 | 23 => *c == '-',
        _ => c.is_ascii_hexdigit(),
    });
    shape_ok
        && chars
            .get(i + 36)
            .is_none_or(|c| !(is_ident_continue(*c) || *c == '-' || *c == '.'))
}

fn is_date_at(chars: &[char], i: usize) -> bool {
    let Some(s) = chars.get(i..i + 10) else {
        return false;
    };
    s.iter().enumerate().all(|(k, c)| match k {
        4 | 7 => *c == '-',
        _ => c.is_ascii_digit(),
    })
}

fn is_datetime_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '+' | '-')
}

/// Reads a quoted string starting at `chars[i] == '\''`; returns (value, index after it).
fn read_quoted(chars: &[char], i: usize) -> Result<(String, usize), ODataError> {
    let mut out = String::new();
    let mut j = i + 1;
    loop {
        match chars.get(j) {
            None => {
                return Err(ODataError::bad_request(format!(
                    "unterminated string literal starting at position {i}"
                )));
            }
            Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                out.push('\'');
                j += 2;
            }
            Some('\'') => return Ok((out, j + 1)),
            Some(c) => {
                out.push(*c);
                j += 1;
            }
        }
    }
}

fn collect(chars: &[char], a: usize, b: usize) -> String {
    chars.get(a..b).unwrap_or_default().iter().collect()
}

fn lex(chars: &[char]) -> Result<Vec<Token>, ODataError> {
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if toks.len() > MAX_TOKENS {
            return Err(ODataError::bad_request(format!(
                "the expression has too many tokens (at most {MAX_TOKENS})"
            )));
        }
        let start = i;
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            '/' => Some(Tok::Slash),
            ':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(tok) = single {
            i += 1;
            toks.push(Token { tok, start, end: i });
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = if c == '\'' {
            let (s, j) = read_quoted(chars, i)?;
            i = j;
            Tok::Lit(Literal::String(s))
        } else if is_guid_at(chars, i) {
            i += 36;
            Tok::Lit(Literal::Guid(collect(chars, start, i)))
        } else if is_date_at(chars, i) {
            let (lit, j) = lex_datetime(chars, i)?;
            i = j;
            Tok::Lit(lit)
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let (lit, j) = lex_number(chars, i)?;
            i = j;
            Tok::Lit(lit)
        } else if is_ident_start(c) {
            let mut j = i + 1;
            while chars.get(j).is_some_and(|c| {
                is_ident_continue(*c)
                    || (*c == '.' && chars.get(j + 1).is_some_and(|d| is_ident_start(*d)))
            }) {
                j += 1;
            }
            let word = collect(chars, i, j);
            if chars.get(j) == Some(&'\'') {
                let (s, k) = read_quoted(chars, j)?;
                i = k;
                Tok::Lit(typed_literal(&word, s, start)?)
            } else {
                i = j;
                match word.to_ascii_lowercase().as_str() {
                    "true" => Tok::Lit(Literal::Bool(true)),
                    "false" => Tok::Lit(Literal::Bool(false)),
                    "null" => Tok::Lit(Literal::Null),
                    _ => Tok::Ident(word),
                }
            }
        } else {
            return Err(ODataError::bad_request(format!(
                "unexpected character '{c}' at position {i}"
            )));
        };
        toks.push(Token { tok, start, end: i });
    }
    toks.push(Token {
        tok: Tok::Eof,
        start: chars.len(),
        end: chars.len(),
    });
    Ok(toks)
}

fn typed_literal(prefix: &str, body: String, pos: usize) -> Result<Literal, ODataError> {
    if prefix.eq_ignore_ascii_case("duration") {
        let rest = body.strip_prefix('-').unwrap_or(&body);
        let ok = rest.len() > 1
            && rest.starts_with('P')
            && rest.chars().skip(1).all(|c| {
                c.is_ascii_digit() || matches!(c, 'Y' | 'M' | 'W' | 'D' | 'T' | 'H' | 'S' | '.')
            });
        if !ok {
            return Err(ODataError::bad_request(format!(
                "invalid duration literal at position {pos}: '{}' is not an ISO 8601 duration",
                crate::shorten(&body)
            )));
        }
        Ok(Literal::Duration(body))
    } else if prefix.contains('.') {
        Ok(Literal::Enum {
            type_name: prefix.to_owned(),
            member: body,
        })
    } else {
        Err(ODataError::bad_request(format!(
            "unknown literal prefix '{prefix}' at position {pos}"
        )))
    }
}

fn lex_datetime(chars: &[char], i: usize) -> Result<(Literal, usize), ODataError> {
    let mut j = i;
    while chars.get(j).is_some_and(|c| is_datetime_char(*c)) {
        j += 1;
    }
    let mut text = collect(chars, i, j);
    // `+02:00` arrives as ` 02:00` when a raw `+` was form-decoded to a space.
    if let Some(t) = text.find(['T', 't']) {
        let time = text.get(t..).unwrap_or_default();
        let has_offset = time.contains(['Z', 'z', '+', '-']);
        let tail = chars.get(j..j + 6);
        let looks_like_offset = tail.is_some_and(|s| {
            s[0] == ' '
                && s[1].is_ascii_digit()
                && s[2].is_ascii_digit()
                && s[3] == ':'
                && s[4].is_ascii_digit()
                && s[5].is_ascii_digit()
        }) && chars.get(j + 6).is_none_or(|c| !is_datetime_char(*c));
        if !has_offset && looks_like_offset {
            text.push_str(&collect(chars, j, j + 6));
            j += 6;
        }
    }
    let parsed = parse_date_or_time(&text)
        .map_err(|e| ODataError::bad_request(format!("{} at position {i}", e.message)))?;
    let lit = match parsed {
        DateOrTime::Date(d) => Literal::Date(d),
        DateOrTime::DateTime(m) => Literal::DateTimeOffset(m),
    };
    Ok((lit, j))
}

fn lex_number(chars: &[char], i: usize) -> Result<(Literal, usize), ODataError> {
    let digits = |mut j: usize| {
        while chars.get(j).is_some_and(char::is_ascii_digit) {
            j += 1;
        }
        j
    };
    let mut j = if chars.get(i) == Some(&'-') { i + 1 } else { i };
    j = digits(j);
    let mut decimal = false;
    if chars.get(j) == Some(&'.') && chars.get(j + 1).is_some_and(char::is_ascii_digit) {
        decimal = true;
        j = digits(j + 1);
    }
    if matches!(chars.get(j), Some('e' | 'E')) {
        let mut k = j + 1;
        if matches!(chars.get(k), Some('-' | '+')) {
            k += 1;
        }
        if chars.get(k).is_some_and(char::is_ascii_digit) {
            decimal = true;
            j = digits(k);
        }
    }
    let text = collect(chars, i, j);
    if chars
        .get(j)
        .is_some_and(|c| is_ident_continue(*c) || *c == '.')
    {
        return Err(ODataError::bad_request(format!(
            "invalid number literal starting '{text}' at position {i}"
        )));
    }
    if decimal {
        return Ok((Literal::Decimal(text), j));
    }
    match text.parse::<i64>() {
        Ok(v) => Ok((Literal::Int(v), j)),
        Err(_) => Err(ODataError::bad_request(format!(
            "integer literal '{}' at position {i} is out of range",
            crate::shorten(&text)
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser<'a> {
    chars: &'a [char],
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // `toks` always ends with Eof and `pos` never passes it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(w) if w.eq_ignore_ascii_case(kw))
    }

    fn text(&self, a: usize, b: usize) -> String {
        crate::shorten(&collect(self.chars, a, b))
    }

    fn describe(&self, t: &Token) -> String {
        if t.tok == Tok::Eof {
            "the end of the expression".to_owned()
        } else {
            format!("'{}'", self.text(t.start, t.end))
        }
    }

    fn err_here(&self, expected: &str) -> ODataError {
        let t = self.peek();
        let after = match self.pos.checked_sub(1).and_then(|p| self.toks.get(p)) {
            Some(prev) => format!(" after '{}'", self.text(prev.start, prev.end)),
            None => String::new(),
        };
        ODataError::bad_request(format!(
            "expected {expected}{after} at position {}, found {}",
            t.start,
            self.describe(t)
        ))
    }

    fn expect(&mut self, tok: Tok, expected: &str) -> Result<Token, ODataError> {
        if self.peek().tok == tok {
            Ok(self.bump())
        } else {
            Err(self.err_here(expected))
        }
    }

    fn parse_or(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.parse_and()?;
        while self.is_kw("or") {
            self.bump();
            let right = self.parse_and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Expr, ODataError> {
        let mut left = self.parse_cmp()?;
        while self.is_kw("and") {
            self.bump();
            let right = self.parse_cmp()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_cmp(&mut self) -> Result<Expr, ODataError> {
        let start = self.peek().start;
        let mut left = self.parse_unary()?;
        let mut compared = false;
        loop {
            let op = match &self.peek().tok {
                Tok::Ident(w) => CompareOp::from_keyword(w),
                _ => None,
            };
            if let Some(op) = op {
                self.bump();
                let right = self.parse_unary()?;
                left = Expr::Compare {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                };
            } else if self.is_kw("in") {
                self.bump();
                let list = self.parse_in_list()?;
                left = Expr::In {
                    value: Box::new(left),
                    list,
                };
            } else if let Tok::Ident(w) = &self.peek().tok
                && ARITHMETIC.iter().any(|a| w.eq_ignore_ascii_case(a))
            {
                return Err(ODataError::not_supported(format!(
                    "the operator '{w}' at position {} is not supported",
                    self.peek().start
                )));
            } else {
                break;
            }
            compared = true;
        }
        let next = self.peek();
        let follows_ok = matches!(next.tok, Tok::Eof | Tok::RParen | Tok::Comma)
            || self.is_kw("and")
            || self.is_kw("or");
        if !compared
            && !follows_ok
            && matches!(left, Expr::Path(_) | Expr::Literal(_) | Expr::Call { .. })
        {
            let end = self
                .toks
                .get(self.pos.wrapping_sub(1))
                .map_or(start, |t| t.end);
            return Err(ODataError::bad_request(format!(
                "expected a comparison operator after '{}' at position {}, found {}",
                self.text(start, end),
                next.start,
                self.describe(next)
            )));
        }
        Ok(left)
    }

    fn parse_in_list(&mut self) -> Result<Vec<Expr>, ODataError> {
        self.expect(Tok::LParen, "'(' to start the list of 'in'")?;
        if self.peek().tok == Tok::RParen {
            return Err(self.err_here("a value in the list of 'in'"));
        }
        let mut list = Vec::new();
        loop {
            list.push(self.parse_or()?);
            if self.peek().tok == Tok::Comma {
                self.bump();
            } else {
                self.expect(Tok::RParen, "',' or ')' in the list of 'in'")?;
                return Ok(list);
            }
        }
    }

    fn parse_unary(&mut self) -> Result<Expr, ODataError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ODataError::bad_request(format!(
                "the expression is nested too deeply at position {} (at most {MAX_DEPTH} levels)",
                self.peek().start
            )));
        }
        let r = if self.is_kw("not") {
            self.bump();
            self.parse_unary().map(|e| Expr::Not(Box::new(e)))
        } else {
            self.parse_primary()
        };
        self.depth -= 1;
        r
    }

    fn parse_primary(&mut self) -> Result<Expr, ODataError> {
        let t = self.peek().clone();
        match t.tok {
            Tok::LParen => {
                self.bump();
                let e = self.parse_or()?;
                if self.peek().tok != Tok::RParen {
                    let next = self.peek();
                    return Err(ODataError::bad_request(format!(
                        "missing ')' for the '(' at position {}: found {} at position {}",
                        t.start,
                        self.describe(next),
                        next.start
                    )));
                }
                self.bump();
                Ok(e)
            }
            Tok::Lit(l) => {
                self.bump();
                Ok(Expr::Literal(l))
            }
            Tok::Ident(name) if !RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) => {
                self.bump();
                if self.peek().tok == Tok::LParen {
                    return self.parse_call(name);
                }
                let mut path = vec![name];
                while self.peek().tok == Tok::Slash {
                    let slash = self.bump();
                    let seg = match &self.peek().tok {
                        Tok::Ident(s) if self.peek().start == slash.end => s.clone(),
                        _ => return Err(self.err_here("a property name")),
                    };
                    self.bump();
                    let kind = match seg.to_ascii_lowercase().as_str() {
                        "any" => Some(LambdaKind::Any),
                        "all" => Some(LambdaKind::All),
                        _ => None,
                    };
                    if let Some(kind) = kind
                        && self.peek().tok == Tok::LParen
                    {
                        return self.parse_lambda(path, kind);
                    }
                    path.push(seg);
                }
                Ok(Expr::Path(path))
            }
            _ => Err(self.err_here("an operand")),
        }
    }

    fn parse_call(&mut self, name: String) -> Result<Expr, ODataError> {
        self.bump(); // (
        let mut args = Vec::new();
        if self.peek().tok == Tok::RParen {
            self.bump();
            return Ok(Expr::Call { name, args });
        }
        loop {
            args.push(self.parse_or()?);
            if self.peek().tok == Tok::Comma {
                self.bump();
            } else {
                self.expect(
                    Tok::RParen,
                    &format!("',' or ')' in the arguments of '{name}'"),
                )?;
                return Ok(Expr::Call { name, args });
            }
        }
    }

    fn parse_lambda(&mut self, path: Vec<String>, kind: LambdaKind) -> Result<Expr, ODataError> {
        self.bump(); // (
        if self.peek().tok == Tok::RParen {
            self.bump();
            return Ok(Expr::Lambda {
                path,
                kind,
                predicate: None,
            });
        }
        let var = match &self.peek().tok {
            Tok::Ident(v) if !v.contains('.') => v.clone(),
            _ => {
                return Err(
                    self.err_here(&format!("a lambda variable name in '{}('", kind.as_str()))
                );
            }
        };
        self.bump();
        self.expect(Tok::Colon, "':'")?;
        let body = self.parse_or()?;
        self.expect(Tok::RParen, &format!("')' to close '{}('", kind.as_str()))?;
        Ok(Expr::Lambda {
            path,
            kind,
            predicate: Some((var, Box::new(body))),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Printing

impl Expr {
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(..) => 1,
            Expr::And(..) => 2,
            Expr::Compare { .. } | Expr::In { .. } => 3,
            Expr::Not(_) => 4,
            _ => 5,
        }
    }

    fn fmt_child(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

fn fmt_list(f: &mut fmt::Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

/// Prints valid OData `$filter` syntax (decoded; percent-encode it for a URL). Parentheses are
/// added only where precedence needs them, so `parse_filter(&e.to_string()) == Ok(e)`.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(l) => write!(f, "{l}"),
            Expr::Path(p) => f.write_str(&p.join("/")),
            Expr::Compare { op, left, right } => {
                left.fmt_child(f, 3)?;
                write!(f, " {} ", op.as_str())?;
                right.fmt_child(f, 4)
            }
            Expr::In { value, list } => {
                value.fmt_child(f, 3)?;
                f.write_str(" in (")?;
                fmt_list(f, list)?;
                f.write_str(")")
            }
            Expr::And(a, b) => {
                a.fmt_child(f, 2)?;
                f.write_str(" and ")?;
                b.fmt_child(f, 3)
            }
            Expr::Or(a, b) => {
                a.fmt_child(f, 1)?;
                f.write_str(" or ")?;
                b.fmt_child(f, 2)
            }
            Expr::Not(e) => {
                f.write_str("not ")?;
                e.fmt_child(f, 4)
            }
            Expr::Lambda {
                path,
                kind,
                predicate,
            } => {
                write!(f, "{}/{}(", path.join("/"), kind.as_str())?;
                if let Some((var, body)) = predicate {
                    write!(f, "{var}:{body}")?;
                }
                f.write_str(")")
            }
            Expr::Call { name, args } => {
                write!(f, "{name}(")?;
                fmt_list(f, args)?;
                f.write_str(")")
            }
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Decimal(d) => f.write_str(d),
            Literal::String(s) => f.write_str(&quote(s)),
            Literal::DateTimeOffset(m) => f.write_str(&format_datetime_micros(*m)),
            Literal::Date(d) => write!(f, "{d}"),
            Literal::Guid(g) => f.write_str(g),
            Literal::Duration(d) => write!(f, "duration{}", quote(d)),
            Literal::Enum { type_name, member } => write!(f, "{type_name}{}", quote(member)),
        }
    }
}
