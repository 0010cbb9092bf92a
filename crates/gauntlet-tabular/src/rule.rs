//! The schema's rules: relations every real row satisfies ("hostname length ≤ URL length",
//! "if a > 0 then b ≥ 1", "the word shares sum to at most 100").
//!
//! ```text
//! rule  := cond | "if" cond "then" cond
//! cond  := expr OP expr            OP ∈ <=  <  >=  >  ==  !=
//! expr  := term (("+" | "-") term)*
//! term  := [number "*"] atom | number | atom "/" atom        (the last is a ratio)
//! atom  := feature name | "sum(" glob ")"     glob: a name with * wildcards
//! ```
//!
//! A condition is kept as one expression compared with zero (`lhs − rhs OP 0`), with linear
//! terms and ratio terms; the linear part is what the attacks' repair step can project onto.

use std::fmt;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    /// Whether `value OP 0` holds, with tolerance `tol` in the rule's favour for the
    /// non-strict comparisons and against it for the strict ones (a value within `tol` of
    /// the boundary is *on* it).
    fn holds(self, value: f64, tol: f64) -> bool {
        match self {
            Op::Le => value <= tol,
            Op::Lt => value < -tol,
            Op::Ge => value >= -tol,
            Op::Gt => value > tol,
            Op::Eq => value.abs() <= tol,
            Op::Ne => value.abs() > tol,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

/// `coef · x[numerator] / x[denominator]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// Multiplier.
    pub coef: f64,
    /// Column of the numerator.
    pub numerator: usize,
    /// Column of the denominator.
    pub denominator: usize,
}

/// `Σ coef·x[col] + Σ ratios + constant OP 0`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Linear terms `(column, coefficient)`, one per column, zero coefficients dropped.
    pub linear: Vec<(usize, f64)>,
    /// Ratio terms.
    pub ratios: Vec<Ratio>,
    /// The constant.
    pub constant: f64,
    /// The comparison with zero.
    pub op: Op,
}

/// Relative tolerance of every comparison (a CSV's rounded numbers must pass the rules
/// they were computed to satisfy).
pub const TOLERANCE: f64 = 1e-6;

impl Condition {
    /// The value of the left side minus the right side, and the tolerance it is compared
    /// with; `None` when a ratio divides a non-zero numerator by zero (the condition is then
    /// false).
    pub fn value(&self, row: &[f32]) -> Option<(f64, f64)> {
        let mut value = self.constant;
        let mut scale = self.constant.abs();
        for &(col, coef) in &self.linear {
            let term = coef * f64::from(row[col]);
            value += term;
            scale += term.abs();
        }
        for ratio in &self.ratios {
            let (num, den) = (
                f64::from(row[ratio.numerator]),
                f64::from(row[ratio.denominator]),
            );
            let term = if den == 0.0 {
                if num == 0.0 {
                    0.0
                } else {
                    return None;
                }
            } else {
                ratio.coef * num / den
            };
            value += term;
            scale += term.abs();
        }
        Some((value, TOLERANCE * scale.max(1.0)))
    }

    /// Whether the row satisfies the condition.
    pub fn holds(&self, row: &[f32]) -> bool {
        match self.value(row) {
            Some((value, tol)) => self.op.holds(value, tol),
            None => false,
        }
    }

    /// The columns the condition reads.
    pub fn columns(&self) -> Vec<usize> {
        let mut cols: Vec<usize> = self.linear.iter().map(|&(c, _)| c).collect();
        for r in &self.ratios {
            cols.push(r.numerator);
            cols.push(r.denominator);
        }
        cols.sort_unstable();
        cols.dedup();
        cols
    }
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleBody {
    /// Always holds.
    Always(Condition),
    /// If the first holds, the second must.
    Implies(Condition, Condition),
}

impl RuleBody {
    /// Whether the row satisfies the rule.
    pub fn holds(&self, row: &[f32]) -> bool {
        match self {
            RuleBody::Always(c) => c.holds(row),
            RuleBody::Implies(a, b) => !a.holds(row) || b.holds(row),
        }
    }

    /// The columns the rule reads.
    pub fn columns(&self) -> Vec<usize> {
        match self {
            RuleBody::Always(c) => c.columns(),
            RuleBody::Implies(a, b) => {
                let mut cols = a.columns();
                cols.extend(b.columns());
                cols.sort_unstable();
                cols.dedup();
                cols
            }
        }
    }
}

/// Parses `text` against the feature names (`names[i]` is column `i`).
pub fn parse(text: &str, names: &[String]) -> Result<RuleBody, String> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        names,
    };
    let body = if parser.peek_word("if") {
        parser.at += 1;
        let condition = parser.condition()?;
        if !parser.peek_word("then") {
            return Err(parser.expected("'then' after the condition"));
        }
        parser.at += 1;
        RuleBody::Implies(condition, parser.condition()?)
    } else {
        RuleBody::Always(parser.condition()?)
    };
    if parser.at < parser.tokens.len() {
        return Err(parser.expected("the end of the rule"));
    }
    Ok(body)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Word(String),
    Op(Op),
    Plus,
    Minus,
    Star,
    Slash,
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "{n}"),
            Token::Word(w) => f.write_str(w),
            Token::Op(op) => f.write_str(op.text()),
            Token::Plus => f.write_str("+"),
            Token::Minus => f.write_str("-"),
            Token::Star => f.write_str("*"),
            Token::Slash => f.write_str("/"),
            Token::Open => f.write_str("("),
            Token::Close => f.write_str(")"),
        }
    }
}

/// Whether `c` may appear in a feature name (or a glob: `*` is lexed apart, see `lex`).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let (token, width) = match c {
            ' ' | '\t' => {
                i += 1;
                continue;
            }
            '+' => (Token::Plus, 1),
            '-' => (Token::Minus, 1),
            '*' => (Token::Star, 1),
            '/' => (Token::Slash, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '<' | '>' | '=' | '!' => match two.as_str() {
                "<=" => (Token::Op(Op::Le), 2),
                ">=" => (Token::Op(Op::Ge), 2),
                "==" => (Token::Op(Op::Eq), 2),
                "!=" => (Token::Op(Op::Ne), 2),
                _ if c == '<' => (Token::Op(Op::Lt), 1),
                _ if c == '>' => (Token::Op(Op::Gt), 1),
                _ => {
                    return Err(format!(
                        "'{c}' at position {} is not a comparison; use <=, <, >=, >, == or !=",
                        i + 1
                    ))
                }
            },
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let mut j = i;
                while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                    j += 1;
                }
                // An exponent: 1e-3, 2.5E+4.
                if j < chars.len() && (chars[j] == 'e' || chars[j] == 'E') {
                    let mut k = j + 1;
                    if k < chars.len() && (chars[k] == '+' || chars[k] == '-') {
                        k += 1;
                    }
                    if k < chars.len() && chars[k].is_ascii_digit() {
                        j = k;
                        while j < chars.len() && chars[j].is_ascii_digit() {
                            j += 1;
                        }
                    }
                }
                let literal: String = chars[i..j].iter().collect();
                let value = literal
                    .parse::<f64>()
                    .map_err(|_| format!("'{literal}' at position {} is not a number", i + 1))?;
                (Token::Number(value), j - i)
            }
            c if is_name_char(c) => {
                let mut j = i;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                (Token::Word(chars[i..j].iter().collect()), j - i)
            }
            other => {
                return Err(format!(
                    "unexpected '{other}' at position {}; feature names hold letters, digits, \
                     '_' and '.'",
                    i + 1
                ))
            }
        };
        tokens.push(token);
        i += width;
    }
    if tokens.is_empty() {
        return Err("the rule is empty".into());
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    names: &'a [String],
}

/// One side of a comparison while it is parsed.
#[derive(Default)]
struct Sum {
    linear: Vec<(usize, f64)>,
    ratios: Vec<Ratio>,
    constant: f64,
}

impl Sum {
    fn add(&mut self, other: Sum, sign: f64) {
        self.linear
            .extend(other.linear.into_iter().map(|(c, k)| (c, sign * k)));
        self.ratios.extend(other.ratios.into_iter().map(|mut r| {
            r.coef *= sign;
            r
        }));
        self.constant += sign * other.constant;
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    fn expected(&self, what: &str) -> String {
        match self.peek() {
            Some(token) => format!("expected {what}, found '{token}' (token {})", self.at + 1),
            None => format!("expected {what}, found the end of the rule"),
        }
    }

    fn condition(&mut self) -> Result<Condition, String> {
        let mut sum = self.expr()?;
        let op = match self.peek() {
            Some(Token::Op(op)) => *op,
            _ => return Err(self.expected("a comparison (<=, <, >=, >, ==, !=)")),
        };
        self.at += 1;
        let rhs = self.expr()?;
        sum.add(rhs, -1.0);
        // One coefficient per column.
        let mut linear: Vec<(usize, f64)> = Vec::new();
        for (col, coef) in sum.linear {
            match linear.iter_mut().find(|(c, _)| *c == col) {
                Some(entry) => entry.1 += coef,
                None => linear.push((col, coef)),
            }
        }
        linear.retain(|&(_, k)| k != 0.0);
        linear.sort_by_key(|&(c, _)| c);
        if linear.is_empty() && sum.ratios.is_empty() {
            return Err("the condition reads no feature".into());
        }
        Ok(Condition {
            linear,
            ratios: sum.ratios,
            constant: sum.constant,
            op,
        })
    }

    fn expr(&mut self) -> Result<Sum, String> {
        let mut sum = Sum::default();
        let mut sign = 1.0;
        if matches!(self.peek(), Some(Token::Minus)) {
            self.at += 1;
            sign = -1.0;
        }
        loop {
            let term = self.term()?;
            sum.add(term, sign);
            sign = match self.peek() {
                Some(Token::Plus) => 1.0,
                Some(Token::Minus) => -1.0,
                _ => return Ok(sum),
            };
            self.at += 1;
        }
    }

    fn term(&mut self) -> Result<Sum, String> {
        if let Some(Token::Number(value)) = self.peek().cloned() {
            self.at += 1;
            if !matches!(self.peek(), Some(Token::Star)) {
                return Ok(Sum {
                    constant: value,
                    ..Sum::default()
                });
            }
            self.at += 1;
            let mut atom = self.atom_or_ratio()?;
            atom.linear.iter_mut().for_each(|(_, k)| *k *= value);
            atom.ratios.iter_mut().for_each(|r| r.coef *= value);
            return Ok(atom);
        }
        self.atom_or_ratio()
    }

    fn atom_or_ratio(&mut self) -> Result<Sum, String> {
        let numerator = self.atom()?;
        if !matches!(self.peek(), Some(Token::Slash)) {
            return Ok(Sum {
                linear: numerator.into_iter().map(|c| (c, 1.0)).collect(),
                ..Sum::default()
            });
        }
        self.at += 1;
        let denominator = self.atom()?;
        match (numerator.as_slice(), denominator.as_slice()) {
            (&[numerator], &[denominator]) => Ok(Sum {
                ratios: vec![Ratio {
                    coef: 1.0,
                    numerator,
                    denominator,
                }],
                ..Sum::default()
            }),
            _ => Err("a ratio divides one feature by one feature (not a sum)".into()),
        }
    }

    /// A feature (one column) or `sum(glob)` (the columns it matches).
    fn atom(&mut self) -> Result<Vec<usize>, String> {
        let Some(Token::Word(word)) = self.peek().cloned() else {
            return Err(self.expected("a feature name, sum(…) or a number"));
        };
        self.at += 1;
        if word == "sum" && matches!(self.peek(), Some(Token::Open)) {
            self.at += 1;
            let mut glob = String::new();
            while let Some(token) = self.peek() {
                match token {
                    Token::Word(w) => glob.push_str(w),
                    Token::Star => glob.push('*'),
                    Token::Number(_) => glob.push_str(&token.to_string()),
                    Token::Close => break,
                    _ => return Err(self.expected("a name pattern inside sum(…)")),
                }
                self.at += 1;
            }
            if !matches!(self.peek(), Some(Token::Close)) {
                return Err(self.expected("')' closing sum("));
            }
            self.at += 1;
            let cols: Vec<usize> = self
                .names
                .iter()
                .enumerate()
                .filter(|(_, n)| glob_matches(&glob, n))
                .map(|(i, _)| i)
                .collect();
            if cols.is_empty() {
                return Err(format!("sum({glob}) matches no feature of the schema"));
            }
            return Ok(cols);
        }
        match self.names.iter().position(|n| *n == word) {
            Some(col) => Ok(vec![col]),
            None => Err(format!(
                "'{word}' is not a feature of the schema (names are case-sensitive)"
            )),
        }
    }
}

/// Whether `name` matches `glob`, where `*` stands for any run of characters.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["a", "b", "word_x", "word_y", "c.d"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn holds(rule: &str, row: &[f32]) -> bool {
        parse(rule, &names()).unwrap().holds(row)
    }

    #[test]
    fn linear_comparisons_move_everything_to_one_side() {
        let body = parse("2*a - b + 3 <= word_x", &names()).unwrap();
        let RuleBody::Always(c) = &body else { panic!() };
        assert_eq!(c.linear, vec![(0, 2.0), (1, -1.0), (2, -1.0)]);
        assert_eq!(c.constant, 3.0);
        assert_eq!(c.op, Op::Le);
        // 2·1 − 5 + 3 = 0 <= 0.
        assert!(body.holds(&[1.0, 5.0, 0.0, 0.0, 0.0]));
        assert!(!body.holds(&[1.0, 4.0, 0.0, 0.0, 0.0]));
    }

    #[test]
    fn every_operator_and_the_tolerance() {
        let row = [1.0, 1.0, 0.0, 0.0, 0.0];
        assert!(holds("a <= b", &row));
        assert!(!holds("a < b", &row));
        assert!(holds("a >= b", &row));
        assert!(!holds("a > b", &row));
        assert!(holds("a == b", &row));
        assert!(!holds("a != b", &row));
        // Within a relative 1e-6: equal.
        assert!(holds("a == b", &[100.0, 100.00001, 0.0, 0.0, 0.0]));
        assert!(!holds("a == b", &[100.0, 100.01, 0.0, 0.0, 0.0]));
    }

    #[test]
    fn sums_globs_ratios_and_implications() {
        let row = [3.0, 0.0, 40.0, 61.0, 2.0];
        assert!(!holds("sum(word_*) <= 100", &row));
        assert!(holds("sum(word_*) <= 101", &row));
        assert!(holds("sum(*_y) == 61", &row));
        // A ratio; a zero denominator under a zero numerator counts as 0.
        assert!(holds("word_y / word_x >= 1.5", &row));
        assert!(!holds("a / b <= 10", &row));
        assert!(holds("b / b <= 0", &row));
        assert!(holds("if a > 5 then b >= 1", &row));
        assert!(!holds("if a > 2 then b >= 1", &row));
        assert!(holds("c.d == 2", &row));
        assert!(holds("1e1 * a == 30", &row));
        assert!(holds("-a + 3 == 0", &row));
    }

    #[test]
    fn mistakes_are_explained() {
        let err = |rule: &str| parse(rule, &names()).unwrap_err();
        assert!(err("a <= bogus").contains("'bogus' is not a feature"));
        assert!(err("a <= ").contains("found the end"));
        assert!(err("a b").contains("comparison"));
        assert!(err("if a > 0 b > 1").contains("'then'"));
        assert!(err("sum(z*) <= 1").contains("matches no feature"));
        assert!(err("a = b").contains("not a comparison"));
        assert!(err("a <= b )").contains("end of the rule"));
        assert!(err("3 <= 4").contains("reads no feature"));
        assert!(err("a ~ b").contains("unexpected '~'"));
    }

    #[test]
    fn globs() {
        assert!(glob_matches("word_*", "word_make"));
        assert!(glob_matches("*", "x"));
        assert!(glob_matches("a*b*c", "aXbYc"));
        assert!(!glob_matches("a*b*c", "aXc"));
        assert!(!glob_matches("word", "words"));
    }
}
