//! The participant filter of a call-records subscription resource (spec §10.1, §15.8):
//! `participants/any(p:p/id eq '…')` with `eq`, `or` and `in`.
//!
//! Accepted grammar (whitespace between tokens is free; `eq`/`or`/`in` are matched
//! case-insensitively, property names `participants`, `any` and `id` exactly):
//!
//! ```text
//! filter  := term ( "or" term )*
//! term    := "(" filter ")" | "participants" "/" "any" "(" VAR ":" pred ")"
//! pred    := cmp ( "or" cmp )*
//! cmp     := "(" pred ")" | VAR "/" "id" ( "eq" STRING | "in" "(" STRING ( "," STRING )* ")" )
//! STRING  := "'" ( any char but "'" | "''" )+ "'"
//! ```
//!
//! `and`, `not`, other operators, other properties and other collections are rejected, as
//! are empty ids and nesting deeper than [`MAX_DEPTH`].

use std::collections::BTreeSet;

/// Maximum parenthesis nesting accepted (guards the recursive descent against hostile input).
pub const MAX_DEPTH: usize = 32;

/// A parsed participant filter: a notification is sent when any participant id is in `ids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFilter {
    /// The ids, lowercased (Entra object ids are GUIDs, compared case-insensitively).
    ids: BTreeSet<String>,
}

impl ResourceFilter {
    /// Parses the `$filter` value (already percent-decoded).
    pub fn parse(filter: &str) -> Result<Self, String> {
        let tokens = tokenize(filter)?;
        let mut p = Parser {
            tokens: &tokens,
            pos: 0,
            ids: BTreeSet::new(),
        };
        p.filter(0)?;
        if p.pos != tokens.len() {
            return Err(format!("unexpected {} in filter", describe(&tokens[p.pos])));
        }
        Ok(Self { ids: p.ids })
    }

    /// Whether a record version with these participant ids (from `participants_v2` identities or
    /// the deprecated `participants`) notifies the subscription.
    pub fn matches(&self, participant_ids: &[&str]) -> bool {
        participant_ids
            .iter()
            .any(|id| self.ids.contains(&id.to_ascii_lowercase()))
    }

    /// The ids the filter names, lowercased and sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    /// A canonical text for the filter (used to compare subscriptions for duplicates):
    /// `participants/any(p:p/id in ('a','b'))` with sorted, lowercased ids.
    pub fn canonical(&self) -> String {
        let ids: Vec<String> = self
            .ids
            .iter()
            .map(|id| format!("'{}'", id.replace('\'', "''")))
            .collect();
        format!("participants/any(p:p/id in ({}))", ids.join(","))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Str(String),
    Slash,
    Colon,
    LParen,
    RParen,
    Comma,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Slash => "'/'".into(),
        Tok::Colon => "':'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
    }
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '/' => out.push(Tok::Slash),
            ':' => out.push(Tok::Colon),
            '(' => out.push(Tok::LParen),
            ')' => out.push(Tok::RParen),
            ',' => out.push(Tok::Comma),
            '\'' => {
                let mut lit = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated string starting at {i}")),
                        Some((_, '\'')) => {
                            if matches!(chars.peek(), Some((_, '\''))) {
                                chars.next();
                                lit.push('\'');
                            } else {
                                break;
                            }
                        }
                        Some((_, ch)) => lit.push(ch),
                    }
                }
                out.push(Tok::Str(lit));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let mut id = String::from(c);
                while let Some(&(_, ch)) = chars.peek() {
                    if ch.is_ascii_alphanumeric() || ch == '_' {
                        id.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Ident(id));
            }
            other => return Err(format!("unexpected character '{other}' in filter")),
        }
    }
    Ok(out)
}

struct Parser<'t> {
    tokens: &'t [Tok],
    pos: usize,
    ids: BTreeSet<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, want: &Tok) -> Result<(), String> {
        match self.next() {
            Some(ref t) if t == want => Ok(()),
            Some(t) => Err(format!(
                "expected {}, found {}",
                describe(want),
                describe(&t)
            )),
            None => Err(format!("expected {}, found end of filter", describe(want))),
        }
    }

    fn expect_word(&mut self, word: &str, case_insensitive: bool) -> Result<(), String> {
        match self.next() {
            Some(Tok::Ident(s))
                if s == word || (case_insensitive && s.eq_ignore_ascii_case(word)) =>
            {
                Ok(())
            }
            Some(t) => Err(format!("expected '{word}', found {}", describe(&t))),
            None => Err(format!("expected '{word}', found end of filter")),
        }
    }

    fn at_or(&self) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("or"))
    }

    fn filter(&mut self, depth: usize) -> Result<(), String> {
        self.term(depth)?;
        while self.at_or() {
            self.pos += 1;
            self.term(depth)?;
        }
        Ok(())
    }

    fn term(&mut self, depth: usize) -> Result<(), String> {
        if depth >= MAX_DEPTH {
            return Err("filter is nested too deeply".into());
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            self.filter(depth + 1)?;
            return self.expect(&Tok::RParen);
        }
        match self.next() {
            Some(Tok::Ident(s)) if s == "participants" => {}
            Some(Tok::Ident(s)) if s == "participants_v2" => {
                return Err(
                    "subscription filters use 'participants', not 'participants_v2'".into(),
                );
            }
            Some(t) => {
                return Err(format!(
                    "only participants/any(p:p/id eq '...') filters are supported, found {}",
                    describe(&t)
                ));
            }
            None => return Err("empty filter".into()),
        }
        self.expect(&Tok::Slash)?;
        self.expect_word("any", false)?;
        self.expect(&Tok::LParen)?;
        let var = match self.next() {
            Some(Tok::Ident(v)) => v,
            Some(t) => {
                return Err(format!(
                    "expected a lambda variable, found {}",
                    describe(&t)
                ));
            }
            None => return Err("expected a lambda variable, found end of filter".into()),
        };
        self.expect(&Tok::Colon)?;
        self.pred(&var, depth + 1)?;
        self.expect(&Tok::RParen)
    }

    fn pred(&mut self, var: &str, depth: usize) -> Result<(), String> {
        self.cmp(var, depth)?;
        while self.at_or() {
            self.pos += 1;
            self.cmp(var, depth)?;
        }
        Ok(())
    }

    fn cmp(&mut self, var: &str, depth: usize) -> Result<(), String> {
        if depth >= MAX_DEPTH {
            return Err("filter is nested too deeply".into());
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            self.pred(var, depth + 1)?;
            return self.expect(&Tok::RParen);
        }
        match self.next() {
            Some(Tok::Ident(v)) if v == var => {}
            Some(t) => {
                return Err(format!(
                    "expected lambda variable '{var}', found {}",
                    describe(&t)
                ));
            }
            None => return Err(format!("expected '{var}', found end of filter")),
        }
        self.expect(&Tok::Slash)?;
        self.expect_word("id", false)?;
        match self.next() {
            Some(Tok::Ident(op)) if op.eq_ignore_ascii_case("eq") => {
                let id = self.string()?;
                self.ids.insert(id);
                Ok(())
            }
            Some(Tok::Ident(op)) if op.eq_ignore_ascii_case("in") => {
                self.expect(&Tok::LParen)?;
                loop {
                    let id = self.string()?;
                    self.ids.insert(id);
                    match self.next() {
                        Some(Tok::Comma) => {}
                        Some(Tok::RParen) => return Ok(()),
                        Some(t) => {
                            return Err(format!("expected ',' or ')', found {}", describe(&t)));
                        }
                        None => return Err("expected ')', found end of filter".into()),
                    }
                }
            }
            Some(t) => Err(format!(
                "only the 'eq' and 'in' operators are supported on id, found {}",
                describe(&t)
            )),
            None => Err("expected 'eq' or 'in', found end of filter".into()),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s)) if !s.trim().is_empty() => Ok(s.to_ascii_lowercase()),
            Some(Tok::Str(_)) => Err("participant id must not be empty".into()),
            Some(t) => Err(format!("expected a quoted id, found {}", describe(&t))),
            None => Err("expected a quoted id, found end of filter".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(f: &str) -> Vec<String> {
        ResourceFilter::parse(f)
            .unwrap()
            .ids()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn eq_or_in_forms() {
        assert_eq!(ids("participants/any(p:p/id eq 'A')"), ["a"]);
        assert_eq!(
            ids("participants/any(p:p/id eq 'a' or p/id eq 'b')"),
            ["a", "b"]
        );
        assert_eq!(
            ids("participants/any(p:p/id eq 'a') or participants/any(x:x/id eq 'c')"),
            ["a", "c"]
        );
        assert_eq!(
            ids("participants/any(p: p/id in ('a', 'b' ,'c'))"),
            ["a", "b", "c"]
        );
        assert_eq!(
            ids("(participants/any(p:(p/id eq 'a' OR p/id In ('b'))))"),
            ["a", "b"]
        );
        assert_eq!(ids("participants/any(p:p/id eq 'o''brien')"), ["o'brien"]);
        assert_eq!(ids("  participants / any ( p : p / id  eq  'a' )  "), ["a"]);
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "participants/any(p:p/id eq 'a') and participants/any(p:p/id eq 'b')",
            "participants/any(p:p/id eq 'a' and p/id eq 'b')",
            "participants/any(p:p/id ne 'a')",
            "participants/all(p:p/id eq 'a')",
            "participants_v2/any(p:p/id eq 'a')",
            "participants/any(p:q/id eq 'a')",
            "participants/any(p:p/displayName eq 'a')",
            "participants/any(p:p/id eq a)",
            "participants/any(p:p/id eq '')",
            "participants/any(p:p/id eq 'a'",
            "participants/any(p:p/id eq 'a'))",
            "participants/any(p:p/id in ())",
            "participants/any(p:p/id in ('a' 'b'))",
            "participants/any(p:p/id eq 'unterminated)",
            "startDateTime ge 2024-01-01",
            "not participants/any(p:p/id eq 'a')",
            "participants/any(p:p/id eq 'a') or",
            "participants/ANY(p:p/id eq 'a')",
            "participants/any(p:p/id eq 'a'); drop",
        ] {
            assert!(ResourceFilter::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!(
            "{}participants/any(p:p/id eq 'a'){}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert!(ResourceFilter::parse(&deep).is_err());
        let ok = format!(
            "{}participants/any(p:p/id eq 'a'){}",
            "(".repeat(MAX_DEPTH - 2),
            ")".repeat(MAX_DEPTH - 2)
        );
        assert!(ResourceFilter::parse(&ok).is_ok());
    }

    #[test]
    fn matches_any_participant_case_insensitively() {
        let f = ResourceFilter::parse(
            "participants/any(p:p/id in ('D3B2A1C0-0000-0000-0000-000000000001','b'))",
        )
        .unwrap();
        assert!(f.matches(&["x", "d3b2a1c0-0000-0000-0000-000000000001"]));
        assert!(f.matches(&["B"]));
        assert!(!f.matches(&["x", "y"]));
        assert!(!f.matches(&[]));
    }

    #[test]
    fn canonical_form_ignores_spelling() {
        let a = ResourceFilter::parse("participants/any(p:p/id eq 'b' or p/id eq 'A')").unwrap();
        let b = ResourceFilter::parse("participants/any(q:q/id in ('a','b'))").unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical(), "participants/any(p:p/id in ('a','b'))");
        assert_eq!(ResourceFilter::parse(&a.canonical()).unwrap(), a);
    }
}
