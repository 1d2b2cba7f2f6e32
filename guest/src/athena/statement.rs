//! Which statements may run: a real parse (sqlparser, the SQL parser DataFusion and others
//! build on; pure Rust, so it builds for the guest) decides whether a statement only reads.
//!
//! Read-only means one statement that is a query (SELECT, WITH, VALUES), SHOW, DESCRIBE or
//! EXPLAIN (not EXPLAIN ANALYZE, which runs its statement), with no statement nested inside it
//! that writes (`WITH … INSERT`, a CTE that inserts), no `SELECT … INTO` and no table function
//! (Trino's `TABLE(system.query(…))` passes text through to another engine unparsed).
//!
//! Limits, stated: sqlparser has no Trino dialect, so this one follows Trino where the two
//! disagree in ways that could hide a statement — comments do not nest, and a carriage return
//! or other control character outside a string is refused, since Trino ends a `--` comment at
//! `\r` and sqlparser does not; and a backslash in SHOW or DESCRIBE is refused, since Athena
//! runs those in a Hive-style engine that reads it as an escape in strings. A statement this
//! parser cannot read is refused even if Athena could run it, and so is one nested deeper than
//! [`RECURSION_LIMIT`] or with more than [`MAX_OPERATORS`] operators (the guest's stack is
//! small). The parse is the first line only: the credentials a request carries (its IAM
//! session policy) and the workgroup are what Athena itself enforces.
//!
//! A [`Scope`] bounds which catalogs and databases a statement's names may reach: a
//! connection held to one bucket queries only the Glue catalog (another catalog's connector
//! reads with its own rights, not the held credentials), and `tabulator_bucket_query` only its
//! bucket's tables. Names are compared as Trino compares them, case-folded; a name made by
//! a function or holding a dot is refused there, and so is a SHOW that lists catalogs or
//! databases, and any statement that writes (not every name such statements hold is visited
//! by the parser).

use std::fmt;
use std::ops::ControlFlow;

use sqlparser::ast::{Ident, ObjectName, Query, SetExpr, Statement, TableFactor, Visit, Visitor};
use sqlparser::dialect::Dialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

/// Athena's own limit on a statement's length.
pub const MAX_STATEMENT_BYTES: usize = 262_144;
/// Nesting deeper than this is refused (the guest's stack is small).
const RECURSION_LIMIT: usize = 40;
/// More operators than this in one statement are refused. The parser builds a chain of them
/// (`1+1+…`, `… UNION …`) in a loop, below its nesting limit, but walking and dropping the
/// chain recurse once per operator, and the guest's stack is small.
pub const MAX_OPERATORS: usize = 1_000;
/// Keywords that join two expressions or queries, so can be chained.
const INFIX_KEYWORDS: [Keyword; 25] = [
    Keyword::AND,
    Keyword::OR,
    Keyword::XOR,
    Keyword::UNION,
    Keyword::INTERSECT,
    Keyword::EXCEPT,
    Keyword::MINUS,
    Keyword::IS,
    Keyword::LIKE,
    Keyword::ILIKE,
    Keyword::SIMILAR,
    Keyword::BETWEEN,
    Keyword::IN,
    Keyword::COLLATE,
    Keyword::AT,
    Keyword::NOT,
    Keyword::REGEXP,
    Keyword::RLIKE,
    Keyword::DIV,
    Keyword::OVERLAPS,
    Keyword::ESCAPE,
    Keyword::MEMBER,
    Keyword::GLOB,
    Keyword::MATCH,
    Keyword::OPERATOR,
];

/// What a statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Query,
    Show,
    Describe,
    Explain,
    /// Anything that changes data or the catalog, named by its first words.
    Write(String),
}

impl Kind {
    pub fn read_only(&self) -> bool {
        !matches!(self, Self::Write(_))
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Query => "query",
            Self::Show => "SHOW",
            Self::Describe => "DESCRIBE",
            Self::Explain => "EXPLAIN",
            Self::Write(name) => name,
        }
    }
}

/// How far a statement's table names may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Any catalog and database the caller's credentials reach.
    Anywhere,
    /// Only this catalog (its databases are reached as the caller).
    Catalog(&'a str),
    /// Only this database of this catalog.
    Database { catalog: &'a str, database: &'a str },
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anywhere => f.write_str("anywhere"),
            Self::Catalog(catalog) => write!(f, "the catalog {catalog}"),
            Self::Database { catalog, database } => {
                write!(f, "the database {database} of the catalog {catalog}")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlError {
    Empty,
    /// A name reaches beyond the statement's scope.
    Beyond {
        name: String,
        scope: String,
    },
    TooLong(usize),
    TooManyOperators(usize),
    ControlCharacter(usize),
    /// A backslash in a statement Athena's DDL engine reads, which takes it as an escape.
    Backslash,
    Several(usize),
    Parse(String),
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the statement is empty"),
            Self::TooLong(bytes) => write!(
                f,
                "the statement is {bytes} bytes, over Athena's limit of {MAX_STATEMENT_BYTES}"
            ),
            Self::TooManyOperators(count) => write!(
                f,
                "it has {count} operators, over this server's limit of {MAX_OPERATORS} (a long chain of ORs is an IN list, a long UNION a table)"
            ),
            Self::Backslash => f.write_str(
                "SHOW and DESCRIBE statements may not hold a backslash here (Athena reads them with an engine that takes a backslash in a string as an escape)",
            ),
            Self::ControlCharacter(at) => write!(
                f,
                "the statement has a control character at byte {at} (only tabs and newlines may separate words; a carriage return alone could end a comment differently for Athena than here)"
            ),
            Self::Several(count) => write!(f, "it holds {count} statements; send one at a time"),
            Self::Parse(problem) => write!(f, "it does not parse: {problem}"),
            Self::Beyond { name, scope } => write!(
                f,
                "it names {name}, and here statements reach only {scope}; name tables there, or use athena_query_execute on a connection that is not held to one bucket"
            ),
        }
    }
}

/// Trino's lexical rules, as far as they decide where a statement's words are.
#[derive(Debug)]
struct AthenaDialect;

impl Dialect for AthenaDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_'
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"' || ch == '`'
    }

    fn supports_nested_comments(&self) -> bool {
        false
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }
}

/// What `sql` is, or why it cannot be read or reaches beyond `scope`.
pub fn classify(sql: &str, scope: Scope<'_>) -> Result<Kind, SqlError> {
    if sql.trim().is_empty() {
        return Err(SqlError::Empty);
    }
    if sql.len() > MAX_STATEMENT_BYTES {
        return Err(SqlError::TooLong(sql.len()));
    }
    if let Some((at, _)) = sql
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\t' && *c != '\n')
    {
        return Err(SqlError::ControlCharacter(at));
    }
    let tokens = Tokenizer::new(&AthenaDialect, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError::Parse(e.to_string()))?;
    let operators = tokens
        .iter()
        .filter(|token| is_operator(&token.token))
        .count();
    if operators > MAX_OPERATORS {
        return Err(SqlError::TooManyOperators(operators));
    }
    let statements = Parser::new(&AthenaDialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| SqlError::Parse(parse_problem(e)))?;
    match statements.as_slice() {
        [statement] => {
            stays_within(statement, scope)?;
            let kind = kind_of(statement);
            if matches!(kind, Kind::Show | Kind::Describe) && sql.contains('\\') {
                return Err(SqlError::Backslash);
            }
            Ok(kind)
        }
        [] => Err(SqlError::Empty),
        several => Err(SqlError::Several(several.len())),
    }
}

/// Whether every name `statement` reaches lies within `scope`.
fn stays_within(statement: &Statement, scope: Scope<'_>) -> Result<(), SqlError> {
    if scope == Scope::Anywhere {
        return Ok(());
    }
    let beyond = |name: String| SqlError::Beyond {
        name: name.chars().take(200).collect(),
        scope: scope.to_string(),
    };
    // SHOW TABLES IN x and SHOW VIEWS IN x name a database, not a table; SHOW CATALOGS,
    // SCHEMAS and the like list what lies beyond any one database. Statements other than
    // these and queries are not run in a scope: not every name they hold is visited.
    let names_database = match statement {
        Statement::ShowTables { .. } | Statement::ShowViews { .. } => true,
        Statement::ShowCreate { obj_name, .. } => {
            return match reaches(parts_of(obj_name), false, scope) {
                true => Ok(()),
                false => Err(beyond(obj_name.to_string())),
            };
        }
        // What EXPLAIN explains is held to the scope as if it ran.
        Statement::Explain {
            statement: inner, ..
        } => return stays_within(inner, scope),
        Statement::Query(_) | Statement::ExplainTable { .. } | Statement::ShowColumns { .. } => {
            false
        }
        _ => return Err(beyond(first_words(statement))),
    };
    let mut reach = Reach {
        scope,
        names_database,
    };
    match statement.visit(&mut reach) {
        ControlFlow::Break(name) => Err(beyond(name)),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Finds the first name beyond `scope`: every table the parser visits (or the database of
/// SHOW TABLES and SHOW VIEWS, when `names_database`), and the `TABLE t` queries, whose names
/// it does not visit.
struct Reach<'a> {
    scope: Scope<'a>,
    names_database: bool,
}

impl Visitor for Reach<'_> {
    type Break = String;

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<String> {
        match reaches(parts_of(name), self.names_database, self.scope) {
            true => ControlFlow::Continue(()),
            false => ControlFlow::Break(name.to_string()),
        }
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        table_queries(&query.body, &mut |schema, table| {
            let parts = [schema, table]
                .into_iter()
                .flatten()
                .map(|ident| Some(ident.value.to_lowercase()))
                .collect();
            match reaches(parts, false, self.scope) {
                true => ControlFlow::Continue(()),
                false => ControlFlow::Break(format!(
                    "TABLE {}",
                    [schema, table]
                        .into_iter()
                        .flatten()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(".")
                )),
            }
        })
    }
}

/// Calls `check` with each `TABLE [schema.]table` among a query's set operations (nested
/// queries are visited as queries of their own).
fn table_queries(
    body: &SetExpr,
    check: &mut impl FnMut(Option<&Ident>, Option<&Ident>) -> ControlFlow<String>,
) -> ControlFlow<String> {
    match body {
        SetExpr::Table(table) => check(table.schema_name.as_ref(), table.table_name.as_ref()),
        SetExpr::SetOperation { left, right, .. } => {
            table_queries(left, check)?;
            table_queries(right, check)
        }
        _ => ControlFlow::Continue(()),
    }
}

/// A name's parts, case-folded as Trino folds them; none if a part is made by a function.
fn parts_of(name: &ObjectName) -> Option<Vec<String>> {
    name.0
        .iter()
        .map(|part| part.as_ident().map(|ident| ident.value.to_lowercase()))
        .collect()
}

/// Whether a name of `parts` (of a table, or of a database when `names_database`) lies
/// within `scope`. A part holding a dot is refused: Athena's DDL engine may split it where
/// Trino, and this parse, read one name.
fn reaches(parts: Option<Vec<String>>, names_database: bool, scope: Scope<'_>) -> bool {
    let Some(mut parts) = parts else {
        return false;
    };
    if parts.iter().any(|part| part.contains('.')) {
        return false;
    }
    if names_database {
        parts.push(String::new());
    }
    let same = |part: &String, wanted: &str| *part == wanted.to_lowercase();
    match (parts.as_slice(), scope) {
        (_, Scope::Anywhere) => true,
        ([_table], _) => true,
        ([_database, _table], Scope::Catalog(_)) => true,
        ([catalog, _database, _table], Scope::Catalog(wanted)) => same(catalog, wanted),
        (
            [database, _table],
            Scope::Database {
                database: wanted, ..
            },
        ) => same(database, wanted),
        (
            [catalog, database, _table],
            Scope::Database {
                catalog: c,
                database: d,
            },
        ) => same(catalog, c) && same(database, d),
        _ => false,
    }
}

/// Whether a token joins two expressions or queries (anything not a name, literal or
/// punctuation that lists is counted).
fn is_operator(token: &Token) -> bool {
    match token {
        Token::Word(word) => INFIX_KEYWORDS.contains(&word.keyword),
        Token::EOF
        | Token::Whitespace(_)
        | Token::Comma
        | Token::Period
        | Token::SemiColon
        | Token::LParen
        | Token::RParen
        | Token::Number(..)
        | Token::SingleQuotedString(_)
        | Token::DoubleQuotedString(_)
        | Token::TripleSingleQuotedString(_)
        | Token::TripleDoubleQuotedString(_)
        | Token::DollarQuotedString(_)
        | Token::SingleQuotedByteStringLiteral(_)
        | Token::DoubleQuotedByteStringLiteral(_)
        | Token::TripleSingleQuotedByteStringLiteral(_)
        | Token::TripleDoubleQuotedByteStringLiteral(_)
        | Token::SingleQuotedRawStringLiteral(_)
        | Token::DoubleQuotedRawStringLiteral(_)
        | Token::TripleSingleQuotedRawStringLiteral(_)
        | Token::TripleDoubleQuotedRawStringLiteral(_)
        | Token::NationalStringLiteral(_)
        | Token::EscapedStringLiteral(_)
        | Token::UnicodeStringLiteral(_)
        | Token::HexStringLiteral(_) => false,
        _ => true,
    }
}

fn parse_problem(error: ParserError) -> String {
    match error {
        ParserError::RecursionLimitExceeded => {
            format!("it nests deeper than {RECURSION_LIMIT} levels")
        }
        ParserError::TokenizerError(text) | ParserError::ParserError(text) => text,
    }
}

fn kind_of(statement: &Statement) -> Kind {
    let kind = match statement {
        Statement::Query(_) => Kind::Query,
        Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. } => Kind::Show,
        Statement::ExplainTable { .. } => Kind::Describe,
        Statement::Explain {
            statement: inner,
            analyze,
            ..
        } => {
            // `EXPLAIN ANALYZE` and `EXPLAIN (ANALYZE …)` run the statement they explain.
            let whole = statement.to_string().to_uppercase();
            let options = whole
                .strip_suffix(&inner.to_string().to_uppercase())
                .unwrap_or(&whole);
            if *analyze || options.contains("ANALYZE") {
                return Kind::Write("EXPLAIN ANALYZE (it runs the statement)".into());
            }
            match kind_of(inner) {
                Kind::Write(inner) => return Kind::Write(format!("EXPLAIN of {inner}")),
                _ => Kind::Explain,
            }
        }
        other => return Kind::Write(first_words(other)),
    };
    // Only queries and what EXPLAIN explains hold other statements.
    if matches!(kind, Kind::Query | Kind::Explain) {
        let mut nested = NestedWrites(None);
        let _ = statement.visit(&mut nested);
        if let Some(write) = nested.0 {
            return Kind::Write(write);
        }
    }
    kind
}

/// Finds a writing statement, `SELECT … INTO` or a table function inside a read-only one.
struct NestedWrites(Option<String>);

impl Visitor for NestedWrites {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(found) = writes_in(&query.body) {
            self.0 = Some(found);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if !reads_only_when_nested(statement) {
            self.0 = Some(first_words(statement));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let function = match factor {
            TableFactor::TableFunction { .. } | TableFactor::Function { .. } => true,
            // `UNNEST(…)` reads as a table with arguments in this dialect; it only reads.
            TableFactor::Table { name, args, .. } => {
                args.is_some() && !name.to_string().eq_ignore_ascii_case("unnest")
            }
            _ => false,
        };
        if function {
            self.0 = Some("a table function (it may run other statements)".into());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

/// The read-only statement kinds that may appear inside others (EXPLAIN's own statement).
fn reads_only_when_nested(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::Query(_)
            | Statement::Explain { analyze: false, .. }
            | Statement::ExplainTable { .. }
    )
}

fn writes_in(body: &SetExpr) -> Option<String> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => Some("SELECT … INTO".into()),
        SetExpr::SetOperation { left, right, .. } => writes_in(left).or_else(|| writes_in(right)),
        SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::Values(_) | SetExpr::Table(_) => None,
        SetExpr::Insert(statement) | SetExpr::Update(statement) | SetExpr::Delete(statement) => {
            Some(first_words(statement))
        }
        other => Some(first_words_of(&other.to_string())),
    }
}

fn first_words(statement: &Statement) -> String {
    first_words_of(&statement.to_string())
}

/// The statement's first two words, upper-cased: `CREATE TABLE`, `INSERT INTO` (at most 60
/// characters, since a word can be an identifier of any length).
fn first_words_of(text: &str) -> String {
    let words = text
        .split_whitespace()
        .take(2)
        .map(str::to_uppercase)
        .collect::<Vec<_>>()
        .join(" ");
    words.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::{Kind, Scope, SqlError};

    fn classify(sql: &str) -> Result<Kind, SqlError> {
        super::classify(sql, Scope::Anywhere)
    }

    #[test]
    fn queries_show_describe_and_explain_only_read() {
        for sql in [
            r#"SELECT * FROM "db"."table" LIMIT 10"#,
            "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
            "select tissue, count(*) from samples group by 1 order by 2 desc;",
            "SELECT a FROM t WHERE b IN (SELECT b FROM u) UNION ALL SELECT 2",
            "SHOW TABLES IN db",
            "DESCRIBE db.t",
            "EXPLAIN SELECT 1",
            "SELECT x FROM t CROSS JOIN UNNEST(arr) AS u(x)",
            "-- a comment\nSELECT 1",
        ] {
            let kind = classify(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert!(kind.read_only(), "{sql}: {kind:?}");
        }
        assert_eq!(classify("SELECT 1").unwrap(), Kind::Query);
        assert_eq!(classify("show tables").unwrap(), Kind::Show);
    }

    #[test]
    fn statements_that_write_are_named_even_when_nested() {
        for (sql, named) in [
            ("DROP TABLE t", "DROP TABLE"),
            ("INSERT INTO t SELECT * FROM u", "INSERT INTO"),
            ("CREATE TABLE x AS SELECT 1", "CREATE TABLE"),
            (
                "UNLOAD (SELECT 1) TO 's3://b/x/' WITH (format = 'PARQUET')",
                "UNLOAD",
            ),
            ("MSCK REPAIR TABLE t", "MSCK REPAIR"),
            (
                "WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a",
                "INSERT INTO",
            ),
            (
                "WITH a AS (INSERT INTO t VALUES (1)) SELECT 1",
                "INSERT INTO",
            ),
            ("SELECT * INTO t2 FROM t", "SELECT … INTO"),
            ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),
            ("EXPLAIN (ANALYZE) SELECT 1", "EXPLAIN ANALYZE"),
            ("EXPLAIN INSERT INTO t VALUES (1)", "EXPLAIN of INSERT INTO"),
            (
                "SELECT * FROM TABLE(system.query(query => 'DELETE FROM t'))",
                "table function",
            ),
            ("DELETE FROM t", "DELETE FROM"),
        ] {
            match classify(sql) {
                Ok(Kind::Write(name)) => assert!(name.contains(named), "{sql}: {name}"),
                // Refusing to parse it refuses it too.
                Err(SqlError::Parse(_)) => {}
                other => panic!("{sql}: {other:?}"),
            }
        }
    }

    #[test]
    fn text_that_could_hide_a_statement_is_refused() {
        // Trino does not nest comments: this is DROP TABLE there.
        let nested = "/* /* */ DROP TABLE t; -- */ SELECT 1";
        assert!(
            !matches!(classify(nested), Ok(k) if k.read_only()),
            "{nested}"
        );
        // Trino ends a `--` comment at a carriage return.
        let carriage = "-- x\rDROP TABLE t /*\nSELECT 1 -- */";
        assert_eq!(classify(carriage), Err(SqlError::ControlCharacter(4)));
        assert!(matches!(
            classify("SELECT 1; DROP TABLE t"),
            Err(SqlError::Several(2))
        ));
        assert_eq!(classify("  \n "), Err(SqlError::Empty));
        assert!(matches!(
            classify(&format!("SELECT '{}'", "x".repeat(300_000))),
            Err(SqlError::TooLong(_))
        ));
        let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        match classify(&deep) {
            Err(SqlError::Parse(problem)) => assert!(problem.contains("nests deeper"), "{problem}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(classify("SELEC 1"), Err(SqlError::Parse(_))));
        assert_eq!(classify(r"SHOW TABLES LIKE 'a\'"), Err(SqlError::Backslash));
    }

    /// A chain of operators parses without nesting, but is walked and dropped recursively.
    #[test]
    fn operators_are_counted_before_the_parse() {
        let chain = |operators: usize| format!("SELECT 1{}", "+1".repeat(operators));
        let within = super::MAX_OPERATORS;
        assert_eq!(classify(&chain(within)), Ok(Kind::Query));
        assert_eq!(
            classify(&chain(within + 1)),
            Err(SqlError::TooManyOperators(within + 1))
        );
        assert_eq!(
            classify(&chain(130_000)),
            Err(SqlError::TooManyOperators(130_000))
        );
        let unions = format!("SELECT 1{}", " UNION SELECT 1".repeat(within + 1));
        assert!(matches!(
            classify(&unions),
            Err(SqlError::TooManyOperators(_))
        ));
        // Lists are flat: a long IN list is one operator.
        let list = (0..20_000).map(|n| n.to_string()).collect::<Vec<_>>();
        let listed = format!("SELECT * FROM t WHERE x IN ({})", list.join(", "));
        assert_eq!(classify(&listed), Ok(Kind::Query));
    }

    #[test]
    fn a_scope_bounds_the_catalogs_and_databases_names_reach() {
        let glue = Scope::Catalog("AwsDataCatalog");
        let bucket = Scope::Database {
            catalog: "quilt_tabulator",
            database: "alpha",
        };
        for (sql, scope) in [
            ("SELECT * FROM t", glue),
            ("SELECT * FROM lake.t JOIN other.u ON true", glue),
            (r#"SELECT * FROM "awsdatacatalog".lake.t"#, glue),
            ("WITH a AS (SELECT 1) SELECT * FROM a", bucket),
            ("SELECT * FROM gene_counts", bucket),
            ("SELECT * FROM ALPHA.gene_counts", bucket),
            (
                r#"SELECT * FROM "quilt_tabulator"."alpha"."gene_counts""#,
                bucket,
            ),
            ("DESCRIBE gene_counts", bucket),
            ("SHOW TABLES", bucket),
            ("SHOW TABLES IN alpha", bucket),
            ("SHOW COLUMNS IN gene_counts", bucket),
            ("SHOW CREATE TABLE gene_counts", bucket),
            // (`TABLE t` alone does not parse here; after a set operator it does.)
            ("SELECT * FROM gene_counts UNION TABLE alpha.other", bucket),
            ("EXPLAIN SHOW TABLES IN alpha", bucket),
        ] {
            let classified = super::classify(sql, scope);
            assert!(classified.is_ok(), "{sql} within {scope}: {classified:?}");
        }
        for (sql, scope) in [
            ("SELECT * FROM quilt_tabulator.beta.t", glue),
            (
                "SELECT * FROM t WHERE x IN (SELECT x FROM other.db.t)",
                glue,
            ),
            ("SELECT * FROM beta.gene_counts", bucket),
            (
                "SELECT * FROM gene_counts UNION SELECT * FROM beta.t",
                bucket,
            ),
            ("SELECT * FROM awsdatacatalog.alpha.t", bucket),
            ("SELECT * FROM a.b.c.d", glue),
            ("DESCRIBE beta.t", bucket),
            ("SHOW TABLES IN beta", bucket),
            ("SHOW TABLES IN quilt_tabulator.beta", bucket),
            ("SHOW SCHEMAS", bucket),
            ("SHOW CATALOGS", glue),
            ("EXPLAIN SELECT * FROM beta.t", bucket),
            ("SHOW CREATE TABLE beta.t", bucket),
            ("CREATE TABLE x AS SELECT 1", glue),
            // `TABLE t` holds its name outside what the parser visits as tables.
            (
                "SELECT * FROM gene_counts UNION ALL TABLE beta.secret",
                bucket,
            ),
            ("WITH x AS (TABLE beta.secret) SELECT * FROM x", bucket),
            ("EXPLAIN SHOW CREATE TABLE beta.t", bucket),
            ("EXPLAIN SHOW TABLES IN beta", bucket),
            // One name to Trino, maybe two to Athena's DDL engine.
            ("DESCRIBE `beta.t`", bucket),
            (r#"SELECT * FROM "beta.t""#, bucket),
        ] {
            match super::classify(sql, scope) {
                Err(SqlError::Beyond { scope: named, .. }) => assert_eq!(named, scope.to_string()),
                Err(SqlError::Parse(_)) => {}
                other => panic!("{sql} within {scope}: {other:?}"),
            }
        }
    }
}
