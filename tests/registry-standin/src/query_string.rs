//! Elasticsearch's `query_string` syntax (Lucene's classic query parser), as far as Quilt
//! clients use it: terms, `"phrases"`, backslash escapes, `*` and `?` wildcards, `+`/`-`/`!`
//! prefixes, `AND`/`OR`/`NOT`/`&&`/`||` and parentheses, combined as Lucene combines them.
//! No Rust crate parses this syntax (tantivy's own grammar differs: it reads `/` and `:`
//! differently and has no `?` wildcard), hence this small parser. Field names, boosts,
//! fuzziness, ranges and regular expressions are refused with a message saying so: the
//! Quilt clients escape the characters that would start them.

/// The characters Lucene gives a meaning that this parser does not implement.
const UNSUPPORTED: [(char, &str); 9] = [
    (':', "field names"),
    ('^', "boosts"),
    ('~', "fuzzy and proximity searches"),
    ('[', "ranges"),
    (']', "ranges"),
    ('{', "ranges"),
    ('}', "ranges"),
    ('/', "regular expressions"),
    ('\u{3000}', "ideographic spaces"),
];

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryStringError {
    #[error(
        "the registry stand-in does not support {what} in query_string (unescaped {character:?} in {query:?}); escape it with a backslash to search for it"
    )]
    Unsupported {
        character: char,
        what: &'static str,
        query: String,
    },
    #[error("Failed to parse query [{query}]: {reason}")]
    Syntax { query: String, reason: String },
}

/// How clauses without an operator combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Or,
    And,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occur {
    Should,
    Must,
    MustNot,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub occur: Occur,
    pub node: Node,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A term with its escapes resolved, matched as typed.
    Text(String),
    /// A term with at least one unescaped `*` or `?`.
    Wildcard(Vec<Piece>),
    /// The text between quotes, escapes resolved.
    Phrase(String),
    Group(Vec<Clause>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    Char(char),
    /// `?`
    AnyChar,
    /// `*`
    AnyChars,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Required,
    Prohibited,
    And,
    Or,
    Term(Vec<Piece>),
    Phrase(String),
}

pub fn parse(query: &str, operator: Operator) -> Result<Vec<Clause>, QueryStringError> {
    let tokens = Lexer::new(query).tokens()?;
    let mut parser = Parser {
        query,
        tokens: tokens.into_iter().peekable(),
        operator,
    };
    let clauses = parser.clauses()?;
    match parser.tokens.next() {
        None => Ok(clauses),
        Some(_) => Err(parser.syntax("unbalanced ')'")),
    }
}

struct Lexer<'a> {
    query: &'a str,
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> Lexer<'a> {
    fn new(query: &'a str) -> Self {
        Self {
            query,
            chars: query.chars().peekable(),
        }
    }

    fn tokens(mut self) -> Result<Vec<Token>, QueryStringError> {
        let mut tokens = Vec::new();
        while let Some(&c) = self.chars.peek() {
            if c.is_whitespace() && c != '\u{3000}' {
                self.chars.next();
                continue;
            }
            let token = match c {
                '(' => self.single(Token::Open),
                ')' => self.single(Token::Close),
                '+' => self.single(Token::Required),
                '-' | '!' => self.single(Token::Prohibited),
                '"' => self.phrase()?,
                _ => match self.operator_pair() {
                    Some(token) => token,
                    None => self.term()?,
                },
            };
            tokens.push(token);
        }
        Ok(tokens)
    }

    fn single(&mut self, token: Token) -> Token {
        self.chars.next();
        token
    }

    /// `&&` or `||` at the start of a token.
    fn operator_pair(&mut self) -> Option<Token> {
        let mut ahead = self.chars.clone();
        let pair = (ahead.next()?, ahead.next()?);
        let token = match pair {
            ('&', '&') => Token::And,
            ('|', '|') => Token::Or,
            _ => return None,
        };
        self.chars = ahead;
        Some(token)
    }

    fn phrase(&mut self) -> Result<Token, QueryStringError> {
        self.chars.next();
        let mut text = String::new();
        loop {
            match self.chars.next() {
                Some('"') => return Ok(Token::Phrase(text)),
                Some('\\') => text.push(self.escaped()?),
                Some(c) => text.push(c),
                None => return Err(self.syntax("a quote is not closed")),
            }
        }
    }

    fn term(&mut self) -> Result<Token, QueryStringError> {
        let mut pieces = Vec::new();
        let mut escapes = false;
        while let Some(&c) = self.chars.peek() {
            if let Some((character, what)) = UNSUPPORTED.iter().find(|(u, _)| *u == c) {
                return Err(QueryStringError::Unsupported {
                    character: *character,
                    what,
                    query: self.query.to_owned(),
                });
            }
            if c.is_whitespace() || matches!(c, '(' | ')' | '"' | '!') {
                break;
            }
            self.chars.next();
            pieces.push(match c {
                '\\' => {
                    escapes = true;
                    Piece::Char(self.escaped()?)
                }
                '*' => Piece::AnyChars,
                '?' => Piece::AnyChar,
                c => Piece::Char(c),
            });
        }
        // An escaped `\AND` is the word, not the operator.
        let operator = if escapes { None } else { word(&pieces) };
        Ok(match operator {
            Some("AND") => Token::And,
            Some("OR") => Token::Or,
            Some("NOT") => Token::Prohibited,
            _ => Token::Term(pieces),
        })
    }

    fn escaped(&mut self) -> Result<char, QueryStringError> {
        self.chars
            .next()
            .ok_or_else(|| self.syntax("it ends with a lone backslash"))
    }

    fn syntax(&self, reason: &str) -> QueryStringError {
        QueryStringError::Syntax {
            query: self.query.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// `AND`, `OR` or `NOT` when the term is exactly that word.
fn word(pieces: &[Piece]) -> Option<&'static str> {
    let text: String = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Char(c) => Some(*c),
            _ => None,
        })
        .collect::<Option<String>>()?;
    ["AND", "OR", "NOT"].into_iter().find(|w| *w == text)
}

struct Parser<'a> {
    query: &'a str,
    tokens: std::iter::Peekable<std::vec::IntoIter<Token>>,
    operator: Operator,
}

#[derive(Clone, Copy, PartialEq)]
enum Conjunction {
    None,
    And,
    Or,
}

impl Parser<'_> {
    /// Clauses up to the end or a closing parenthesis, combined as Lucene's classic parser
    /// combines them: `AND` makes both neighbours required, `OR` (under the AND operator)
    /// makes both optional, and a prefix beats the default.
    fn clauses(&mut self) -> Result<Vec<Clause>, QueryStringError> {
        let mut clauses: Vec<Clause> = Vec::new();
        while self
            .tokens
            .peek()
            .is_some_and(|token| *token != Token::Close)
        {
            let conjunction = match self.tokens.peek() {
                Some(Token::And) => Conjunction::And,
                Some(Token::Or) => Conjunction::Or,
                _ => Conjunction::None,
            };
            if conjunction != Conjunction::None {
                if clauses.is_empty() {
                    return Err(self.syntax("it starts with AND or OR"));
                }
                self.tokens.next();
            }
            let modifier = match self.tokens.peek() {
                Some(Token::Required) => Some(Occur::Must),
                Some(Token::Prohibited) => Some(Occur::MustNot),
                _ => None,
            };
            if modifier.is_some() {
                self.tokens.next();
            }
            let node = self.node()?;
            if let Some(previous) = clauses.last_mut()
                && previous.occur != Occur::MustNot
            {
                match (conjunction, self.operator) {
                    (Conjunction::And, _) => previous.occur = Occur::Must,
                    (Conjunction::Or, Operator::And) => previous.occur = Occur::Should,
                    _ => {}
                }
            }
            let occur = match (modifier, self.operator) {
                (Some(Occur::MustNot), _) => Occur::MustNot,
                (Some(occur), _) => occur,
                (None, Operator::Or) if conjunction == Conjunction::And => Occur::Must,
                (None, Operator::Or) => Occur::Should,
                (None, Operator::And) if conjunction == Conjunction::Or => Occur::Should,
                (None, Operator::And) => Occur::Must,
            };
            clauses.push(Clause { occur, node });
        }
        Ok(clauses)
    }

    fn node(&mut self) -> Result<Node, QueryStringError> {
        match self.tokens.next() {
            Some(Token::Term(pieces)) => Ok(term_node(pieces)),
            Some(Token::Phrase(text)) => Ok(Node::Phrase(text)),
            Some(Token::Open) => {
                let inner = self.clauses()?;
                if self.tokens.next() != Some(Token::Close) {
                    return Err(self.syntax("a parenthesis is not closed"));
                }
                if inner.is_empty() {
                    return Err(self.syntax("a group is empty"));
                }
                Ok(Node::Group(inner))
            }
            Some(_) => Err(self.syntax("an operator is not followed by a term")),
            None => Err(self.syntax("it ends with an operator")),
        }
    }

    fn syntax(&self, reason: &str) -> QueryStringError {
        QueryStringError::Syntax {
            query: self.query.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

fn term_node(pieces: Vec<Piece>) -> Node {
    if pieces.iter().all(|piece| matches!(piece, Piece::Char(_))) {
        let text = pieces
            .into_iter()
            .map(|piece| match piece {
                Piece::Char(c) => c,
                _ => unreachable!("checked above"),
            })
            .collect();
        Node::Text(text)
    } else {
        Node::Wildcard(pieces)
    }
}

#[cfg(test)]
mod tests {
    use super::{Clause, Node, Occur, Operator, Piece, QueryStringError, parse};

    fn text(value: &str) -> Node {
        Node::Text(value.to_owned())
    }

    fn clause(occur: Occur, node: Node) -> Clause {
        Clause { occur, node }
    }

    /// What the Quilt clients send: a backslash before each of `\ + - = > < ! ( ) { } [ ] ^ " ~ : /`.
    fn client_escape(text: &str) -> String {
        let mut escaped = String::new();
        for c in text.chars() {
            if "\\+-=><!(){}[]^\"~:/".contains(c) {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        escaped
    }

    #[test]
    fn escaped_punctuation_is_one_literal_term() {
        let typed = r#"data/reads-2024 (v2)!: "x" ~y^[z]{w}\"#;
        let clauses = parse(&client_escape(typed), Operator::Or).unwrap();
        let expected: Vec<Clause> = typed
            .split(' ')
            .map(|word| clause(Occur::Should, text(word)))
            .collect();
        assert_eq!(clauses, expected);
    }

    #[test]
    fn wildcards_stay_wildcards_unless_escaped() {
        let clauses = parse(r"rea?s* \*lit\?", Operator::Or).unwrap();
        assert_eq!(
            clauses,
            vec![
                clause(
                    Occur::Should,
                    Node::Wildcard(vec![
                        Piece::Char('r'),
                        Piece::Char('e'),
                        Piece::Char('a'),
                        Piece::AnyChar,
                        Piece::Char('s'),
                        Piece::AnyChars,
                    ])
                ),
                clause(Occur::Should, text("*lit?")),
            ]
        );
        assert_eq!(
            parse("*", Operator::Or).unwrap(),
            vec![clause(Occur::Should, Node::Wildcard(vec![Piece::AnyChars]))]
        );
    }

    #[test]
    fn minus_inside_a_term_is_part_of_it() {
        assert_eq!(
            parse("reads-2024 -old +new", Operator::Or).unwrap(),
            vec![
                clause(Occur::Should, text("reads-2024")),
                clause(Occur::MustNot, text("old")),
                clause(Occur::Must, text("new")),
            ]
        );
    }

    #[test]
    fn boolean_operators_combine_as_lucene_does() {
        assert_eq!(
            parse("a AND b OR c", Operator::Or).unwrap(),
            vec![
                clause(Occur::Must, text("a")),
                clause(Occur::Must, text("b")),
                clause(Occur::Should, text("c")),
            ]
        );
        assert_eq!(
            parse("a b || c", Operator::And).unwrap(),
            vec![
                clause(Occur::Must, text("a")),
                clause(Occur::Should, text("b")),
                clause(Occur::Should, text("c")),
            ]
        );
        assert_eq!(
            parse("a && NOT (b c)", Operator::Or).unwrap(),
            vec![
                clause(Occur::Must, text("a")),
                clause(
                    Occur::MustNot,
                    Node::Group(vec![
                        clause(Occur::Should, text("b")),
                        clause(Occur::Should, text("c")),
                    ])
                ),
            ]
        );
        assert_eq!(
            parse(r#""exact words" \AND"#, Operator::Or).unwrap()[0],
            clause(Occur::Should, Node::Phrase("exact words".into()))
        );
    }

    #[test]
    fn unsupported_syntax_and_errors_say_what_to_do() {
        for (query, character) in [("key:x", ':'), ("a/b", '/'), ("x^2", '^'), ("x~", '~')] {
            match parse(query, Operator::Or) {
                Err(QueryStringError::Unsupported { character: c, .. }) => {
                    assert_eq!(c, character, "{query}")
                }
                other => panic!("{query}: {other:?}"),
            }
        }
        for query in ["(a", "a)", "\"open", "a AND", "OR a", "()", "x\\"] {
            assert!(
                matches!(
                    parse(query, Operator::Or),
                    Err(QueryStringError::Syntax { .. })
                ),
                "{query}"
            );
        }
        assert_eq!(parse("  ", Operator::Or).unwrap(), vec![]);
    }
}
