//! The lexer: filter text to tokens, with 1-based character positions for messages.

use super::{CmpOp, FilterError, Literal};

/// Words that cannot be used as bare column names.
const KEYWORDS: [&str; 9] = [
    "AND", "OR", "NOT", "IN", "IS", "NULL", "TRUE", "FALSE", "LIKE",
];

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A bare identifier or keyword.
    Word(String),
    /// A double-quoted identifier (never a keyword).
    Quoted(String),
    Lit(Literal),
    LParen,
    RParen,
    Comma,
    Op(CmpOp),
    End,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// 1-based column in characters.
    pub(super) pos: usize,
    /// The token's source text, for messages.
    pub(super) text: String,
}

impl Token {
    pub(super) fn describe(&self) -> String {
        match &self.tok {
            Tok::End => "the end of the filter".to_owned(),
            Tok::Word(w) if is_keyword(w) => format!("keyword `{}`", w.to_ascii_uppercase()),
            _ => format!("`{}`", self.text),
        }
    }

    pub(super) fn is_keyword(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

pub(super) fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

pub(super) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub(super) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

pub(super) fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let len = chars.len();
    let at = |i: usize| chars.get(i).copied();
    let digit_at = |i: usize| at(i).is_some_and(|x| x.is_ascii_digit());
    let mut out = Vec::new();
    let mut i = 0;
    while i < len {
        let ch = chars[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match ch {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += if at(i + 1) == Some('=') { 2 } else { 1 };
                Tok::Op(CmpOp::Eq)
            }
            '!' if at(i + 1) == Some('=') => {
                i += 2;
                Tok::Op(CmpOp::Ne)
            }
            '<' => match at(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                Some('>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            '>' => {
                if at(i + 1) == Some('=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            '\'' | '"' => {
                let quote = ch;
                let mut s = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None => {
                            let what = if quote == '\'' {
                                "string"
                            } else {
                                "quoted column name"
                            };
                            return Err(FilterError::at(
                                start + 1,
                                format!("unterminated {what}: add the closing {quote}"),
                            ));
                        }
                        Some(q) if q == quote => {
                            if at(i + 1) == Some(quote) {
                                s.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(x) => {
                            s.push(x);
                            i += 1;
                        }
                    }
                }
                if quote == '\'' {
                    Tok::Lit(Literal::Str(s))
                } else {
                    Tok::Quoted(s)
                }
            }
            _ if digit_at(i)
                || (ch == '.' && digit_at(i + 1))
                || ((ch == '-' || ch == '+')
                    && (digit_at(i + 1) || (at(i + 1) == Some('.') && digit_at(i + 2)))) =>
            {
                if ch == '-' || ch == '+' {
                    i += 1;
                }
                while digit_at(i) {
                    i += 1;
                }
                let mut float = false;
                if at(i) == Some('.') {
                    float = true;
                    i += 1;
                    while digit_at(i) {
                        i += 1;
                    }
                }
                if matches!(at(i), Some('e' | 'E')) {
                    float = true;
                    i += 1;
                    if matches!(at(i), Some('+' | '-')) {
                        i += 1;
                    }
                    if !digit_at(i) {
                        let s: String = chars[start..=i.min(len - 1)].iter().collect();
                        return Err(FilterError::at(
                            start + 1,
                            format!("malformed number `{s}`: expected digits after the exponent"),
                        ));
                    }
                    while digit_at(i) {
                        i += 1;
                    }
                }
                if at(i).is_some_and(|x| is_ident_char(x) || x == '.') {
                    let mut j = i;
                    while at(j).is_some_and(is_ident_char) {
                        j += 1;
                    }
                    let s: String = chars[start..j].iter().collect();
                    return Err(FilterError::at(
                        start + 1,
                        format!("malformed number `{s}`"),
                    ));
                }
                let s: String = chars[start..i].iter().collect();
                if float {
                    match s.parse::<f64>() {
                        Ok(v) if v.is_finite() => Tok::Lit(Literal::Float(v)),
                        _ => {
                            return Err(FilterError::at(
                                start + 1,
                                format!("number `{s}` is out of range"),
                            ));
                        }
                    }
                } else {
                    match s.parse::<i64>() {
                        Ok(v) => Tok::Lit(Literal::Int(v)),
                        Err(_) => {
                            return Err(FilterError::at(
                                start + 1,
                                format!(
                                    "integer `{s}` does not fit in 64 bits; write it as a float (`{s}.0`) to compare approximately"
                                ),
                            ));
                        }
                    }
                }
            }
            _ if is_ident_start(ch) => {
                while at(i).is_some_and(is_ident_char) {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                if s.eq_ignore_ascii_case("true") {
                    Tok::Lit(Literal::Bool(true))
                } else if s.eq_ignore_ascii_case("false") {
                    Tok::Lit(Literal::Bool(false))
                } else {
                    Tok::Word(s)
                }
            }
            _ => {
                return Err(FilterError::at(
                    start + 1,
                    format!("unexpected character `{ch}`"),
                ));
            }
        };
        out.push(Token {
            tok,
            pos: start + 1,
            text: chars[start..i].iter().collect(),
        });
    }
    out.push(Token {
        tok: Tok::End,
        pos: len + 1,
        text: String::new(),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_util::{cmp, p};

    #[test]
    fn parses_operators_and_literals() {
        for (text, op) in [
            ("=", CmpOp::Eq),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<>", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ] {
            assert_eq!(p(&format!("x{text}5")), cmp("x", op, Literal::Int(5)));
        }
        for (text, lit) in [
            ("-7", Literal::Int(-7)),
            ("+7", Literal::Int(7)),
            ("1.5", Literal::Float(1.5)),
            ("-2e3", Literal::Float(-2000.0)),
            ("2E-2", Literal::Float(0.02)),
            (".5", Literal::Float(0.5)),
            ("-.5", Literal::Float(-0.5)),
            ("3.", Literal::Float(3.0)),
            ("-9223372036854775808", Literal::Int(i64::MIN)),
            ("'it''s'", Literal::Str("it's".into())),
            ("''", Literal::Str(String::new())),
            ("'ü ∑'", Literal::Str("ü ∑".into())),
            ("TRUE", Literal::Bool(true)),
            ("false", Literal::Bool(false)),
        ] {
            assert_eq!(
                p(&format!("x = {text}")),
                cmp("x", CmpOp::Eq, lit),
                "{text}"
            );
        }
        assert_eq!(p("a.b_c9 = 1"), cmp("a.b_c9", CmpOp::Eq, Literal::Int(1)));
        assert_eq!(
            p("\"my \"\"odd\"\" col\" >= 'x'"),
            cmp("my \"odd\" col", CmpOp::Ge, Literal::Str("x".into()))
        );
        assert_eq!(p("\"and\" = 1"), cmp("and", CmpOp::Eq, Literal::Int(1)));
    }
}
