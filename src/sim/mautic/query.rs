//! Mautic's list parameters, read the way PHP reads them: bracketed query keys
//! (`where[0][val][1][col]=date_added`) become nested arrays, then the `where` tree, the
//! `search` string and `orderBy` select and order records.
//!
//! axum's `Query` cannot read nested brackets, and the connector sends them percent-encoded
//! (`where%5B0%5D%5Bcol%5D=id`), so the raw query string is decoded here. Pure code; the
//! routes only call [`ListQuery::parse`] and [`Expr::matches`].

use chrono::{DateTime, Utc};
use std::cmp::Ordering;

/// Decodes an `application/x-www-form-urlencoded` string (a query string or a form body):
/// `+` is a space, `%XX` a byte; a malformed escape stays as written, as PHP leaves it.
pub fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A request parameter as PHP holds it: a string, or an ordered array of named parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Str(String),
    Arr(Vec<(String, Param)>),
}

impl Param {
    pub fn get(&self, key: &str) -> Option<&Param> {
        match self {
            Param::Arr(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Param::Str(_) => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Param::Str(s) => Some(s),
            Param::Arr(_) => None,
        }
    }
}

/// Builds PHP's `$_GET` from decoded pairs: `a[b][]=1` nests, `[]` appends, a later plain
/// value replaces an earlier one.
pub fn nest_params(pairs: &[(String, String)]) -> Vec<(String, Param)> {
    let mut root: Vec<(String, Param)> = Vec::new();
    for (key, value) in pairs {
        let segments = split_key(key);
        insert(&mut root, &segments, value.clone());
    }
    root
}

/// `where[0][col]` -> `["where", "0", "col"]`. A key with an unclosed bracket is taken whole.
fn split_key(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_owned()];
    };
    let mut segments = vec![key[..open].to_owned()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                segments.push(stripped[..close].to_owned());
                rest = &stripped[close + 1..];
            }
            None => return vec![key.to_owned()],
        }
    }
    segments
}

fn insert(items: &mut Vec<(String, Param)>, segments: &[String], value: String) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let key = if first.is_empty() {
        items.len().to_string()
    } else {
        first.clone()
    };
    let position = items.iter().position(|(k, _)| *k == key);
    if rest.is_empty() {
        match position {
            Some(i) => items[i].1 = Param::Str(value),
            None => items.push((key, Param::Str(value))),
        }
        return;
    }
    let i = match position {
        Some(i) => {
            if !matches!(items[i].1, Param::Arr(_)) {
                items[i].1 = Param::Arr(Vec::new());
            }
            i
        }
        None => {
            items.push((key, Param::Arr(Vec::new())));
            items.len() - 1
        }
    };
    if let Param::Arr(children) = &mut items[i].1 {
        insert(children, rest, value);
    }
}

/// A value of one column of one record, as the database would compare it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Num(f64),
    Text(String),
    Time(DateTime<Utc>),
}

/// What a record exposes to `where`, `orderBy` and `search`.
pub trait Row {
    /// The column's value; `None` for a column this table does not have.
    fn cell(&self, column: &str) -> Option<Cell>;
    /// Whether the record matches one search term (its negation is applied by the caller).
    fn matches_term(&self, term: &SearchTerm) -> bool;
}

/// One condition of a `where` parameter (Mautic's `CommonRepository::buildWhereClauseFromArray`).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cmp {
        col: String,
        op: CmpOp,
        val: String,
    },
    In {
        col: String,
        vals: Vec<String>,
        negate: bool,
    },
    Null {
        col: String,
        negate: bool,
    },
    Empty {
        col: String,
        negate: bool,
    },
    Like {
        col: String,
        pattern: String,
        negate: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

/// `dateModified`, `l.date_modified` and `date_modified` all name the column `date_modified`
/// (Mautic strips the table alias and converts entity properties to column names).
pub fn column_name(raw: &str) -> String {
    let raw = raw.rsplit('.').next().unwrap_or(raw).trim();
    let mut out = String::with_capacity(raw.len() + 4);
    for (i, c) in raw.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl Expr {
    /// Reads the clauses of a `where` array. `known` says whether a column exists; an unknown
    /// column is an error (Mautic would fail in SQL).
    pub fn parse_all(param: &Param, known: &dyn Fn(&str) -> bool) -> Result<Vec<Expr>, String> {
        match param {
            Param::Arr(items) => items.iter().map(|(_, c)| Expr::parse(c, known)).collect(),
            Param::Str(s) if s.is_empty() => Ok(Vec::new()),
            Param::Str(_) => Err("where must be an array of clauses".into()),
        }
    }

    fn parse(clause: &Param, known: &dyn Fn(&str) -> bool) -> Result<Expr, String> {
        let expr = clause
            .get("expr")
            .and_then(Param::as_str)
            .ok_or("a where clause needs an expr")?;
        if expr == "andX" || expr == "orX" {
            let inner = match clause.get("val") {
                Some(v) => Expr::parse_all(v, known)?,
                None => Vec::new(),
            };
            return Ok(if expr == "andX" {
                Expr::And(inner)
            } else {
                Expr::Or(inner)
            });
        }
        let raw_col = clause
            .get("col")
            .and_then(Param::as_str)
            .ok_or_else(|| format!("the where clause '{expr}' needs a col"))?;
        let col = column_name(raw_col);
        if !known(&col) {
            return Err(format!("unknown column '{raw_col}' in where"));
        }
        let val = || -> Result<String, String> {
            match clause.get("val") {
                Some(Param::Str(s)) => Ok(s.clone()),
                Some(Param::Arr(items)) => Ok(items
                    .iter()
                    .filter_map(|(_, p)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(",")),
                None => Err(format!(
                    "the where clause '{expr}' on '{raw_col}' needs a val"
                )),
            }
        };
        let cmp = |op| -> Result<Expr, String> {
            Ok(Expr::Cmp {
                col: col.clone(),
                op,
                val: val()?,
            })
        };
        match expr {
            "eq" => cmp(CmpOp::Eq),
            "neq" => cmp(CmpOp::Neq),
            "lt" => cmp(CmpOp::Lt),
            "lte" => cmp(CmpOp::Lte),
            "gt" => cmp(CmpOp::Gt),
            "gte" => cmp(CmpOp::Gte),
            "in" | "notIn" => Ok(Expr::In {
                col: col.clone(),
                vals: parse_csv(&val()?),
                negate: expr == "notIn",
            }),
            "isNull" | "isNotNull" => Ok(Expr::Null {
                col,
                negate: expr == "isNotNull",
            }),
            "isEmpty" | "isNotEmpty" => Ok(Expr::Empty {
                col,
                negate: expr == "isNotEmpty",
            }),
            "like" | "notLike" => Ok(Expr::Like {
                col: col.clone(),
                pattern: val()?,
                negate: expr == "notLike",
            }),
            other => Err(format!("unsupported where expr '{other}'")),
        }
    }

    /// Whether `row` satisfies this condition, with SQL's NULL rules (any comparison with
    /// NULL is false).
    pub fn matches(&self, row: &dyn Row) -> bool {
        let cell = |col: &str| row.cell(col).unwrap_or(Cell::Null);
        match self {
            Expr::And(items) => items.iter().all(|e| e.matches(row)),
            // An empty orX adds nothing to the query in Doctrine: it is true.
            Expr::Or(items) => items.is_empty() || items.iter().any(|e| e.matches(row)),
            Expr::Cmp { col, op, val } => match compare(&cell(col), val) {
                None => false,
                Some(ord) => match op {
                    CmpOp::Eq => ord == Ordering::Equal,
                    CmpOp::Neq => ord != Ordering::Equal,
                    CmpOp::Lt => ord == Ordering::Less,
                    CmpOp::Lte => ord != Ordering::Greater,
                    CmpOp::Gt => ord == Ordering::Greater,
                    CmpOp::Gte => ord != Ordering::Less,
                },
            },
            Expr::In { col, vals, negate } => {
                let c = cell(col);
                if c == Cell::Null {
                    return false;
                }
                let found = vals.iter().any(|v| compare(&c, v) == Some(Ordering::Equal));
                found != *negate
            }
            Expr::Null { col, negate } => (cell(col) == Cell::Null) != *negate,
            Expr::Empty { col, negate } => {
                let empty = match cell(col) {
                    Cell::Null => true,
                    Cell::Text(s) => s.is_empty(),
                    _ => false,
                };
                empty != *negate
            }
            Expr::Like {
                col,
                pattern,
                negate,
            } => match cell(col) {
                Cell::Null => false,
                c => like(&cell_text(&c), pattern) != *negate,
            },
        }
    }
}

/// `str_getcsv`: comma-separated, double quotes group.
fn parse_csv(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Null => String::new(),
        Cell::Int(i) => i.to_string(),
        Cell::Num(n) => crate::model::format_number(*n),
        Cell::Text(s) => s.clone(),
        Cell::Time(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

/// Text as MySQL's `utf8mb4_unicode_ci` compares it: case-insensitive, trailing spaces ignored.
fn fold(s: &str) -> String {
    s.trim_end().to_lowercase()
}

/// How a cell compares with a request value (`None`: the cell is NULL).
fn compare(cell: &Cell, val: &str) -> Option<Ordering> {
    match cell {
        Cell::Null => None,
        Cell::Int(i) => Some(cmp_f64(*i as f64, mysql_number(val))),
        Cell::Num(n) => Some(cmp_f64(*n, mysql_number(val))),
        Cell::Time(t) => Some(match parse_sql_time(val) {
            Some(v) => t.cmp(&v),
            None => cell_text(cell).cmp(&val.to_owned()),
        }),
        Cell::Text(s) => Some(fold(s).cmp(&fold(val))),
    }
}

fn cmp_f64(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// MySQL reads a string compared with a number by its leading number, 0 when there is none.
fn mysql_number(s: &str) -> f64 {
    let t = s.trim();
    let end = t
        .char_indices()
        .take_while(|(i, c)| {
            c.is_ascii_digit() || *c == '.' || ((*c == '-' || *c == '+') && *i == 0)
        })
        .map(|(i, c)| i + c.len_utf8())
        .last()
        .unwrap_or(0);
    t[..end].parse().unwrap_or(0.0)
}

/// `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD` (midnight) or ISO 8601, as MySQL reads a DATETIME literal.
pub fn parse_sql_time(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    crate::model::parse_datetime(t).or_else(|| {
        chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|n| n.and_utc())
    })
}

/// SQL `LIKE`, case-insensitive: `%` any run, `_` one character.
pub fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = fold(text).chars().collect();
    let p: Vec<char> = fold(pattern).chars().collect();
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

/// One term of Mautic's `search` parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchTerm {
    /// Written with a leading `!`.
    pub negate: bool,
    pub kind: TermKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TermKind {
    /// `is:anonymous`: no identification date.
    Anonymous,
    /// `email:a@b.fr` (`*` and `%` are wildcards).
    Email(String),
    /// `ids:1,2,3`.
    Ids(Vec<u64>),
    /// `name:...` (first or last name; company name on companies).
    Name(String),
    /// Anything else: a catch-all "contains" over the main text fields.
    Text(String),
}

/// Splits a search string into terms: spaces separate, double quotes group.
pub fn parse_search(s: &str) -> Vec<SearchTerm> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
        .into_iter()
        .map(|w| {
            let (negate, w) = match w.strip_prefix('!') {
                Some(rest) => (true, rest.to_owned()),
                None => (false, w),
            };
            let kind = match w.split_once(':') {
                Some((cmd, arg)) => match cmd.to_ascii_lowercase().as_str() {
                    "is" if arg.eq_ignore_ascii_case("anonymous") => TermKind::Anonymous,
                    "email" => TermKind::Email(arg.replace('*', "%")),
                    "ids" => TermKind::Ids(
                        arg.split(',')
                            .filter_map(|x| x.trim().parse().ok())
                            .collect(),
                    ),
                    "name" => TermKind::Name(arg.to_owned()),
                    // Mautic treats an unsupported command as one plain word.
                    _ => TermKind::Text(w.clone()),
                },
                None => TermKind::Text(w),
            };
            SearchTerm { negate, kind }
        })
        .collect()
}

/// The parameters of a list call, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub start: usize,
    pub limit: usize,
    pub search: Vec<SearchTerm>,
    pub filter: Vec<Expr>,
    /// Columns and descending; `None`: the table's default order.
    pub order: Option<(Vec<String>, bool)>,
}

impl ListQuery {
    /// Mautic's default page size (`default_pagelimit`).
    pub const DEFAULT_LIMIT: usize = 30;

    pub fn parse(raw_query: &str, known: &dyn Fn(&str) -> bool) -> Result<ListQuery, String> {
        let params = nest_params(&parse_urlencoded(raw_query));
        let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let num = |k: &str, default: usize| -> Result<usize, String> {
            match get(k).and_then(Param::as_str) {
                None | Some("") => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{k} must be a number, not '{v}'")),
            }
        };
        let start = num("start", 0)?;
        let limit = num("limit", Self::DEFAULT_LIMIT)?;
        let search = get("search")
            .and_then(Param::as_str)
            .map(parse_search)
            .unwrap_or_default();
        let filter = match get("where") {
            Some(w) => Expr::parse_all(w, known)?,
            None => Vec::new(),
        };
        let order = match get("orderBy").and_then(Param::as_str) {
            None | Some("") => None,
            Some(cols) => {
                let cols: Vec<String> = cols
                    .split(',')
                    .map(column_name)
                    .filter(|c| !c.is_empty())
                    .collect();
                if let Some(bad) = cols.iter().find(|c| !known(c)) {
                    return Err(format!("unknown column '{bad}' in orderBy"));
                }
                let desc = get("orderByDir")
                    .and_then(Param::as_str)
                    .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                Some((cols, desc))
            }
        };
        Ok(ListQuery {
            start,
            limit,
            search,
            filter,
            order,
        })
    }

    /// Whether a record is selected by the search and the where clauses.
    pub fn selects(&self, row: &dyn Row) -> bool {
        self.search.iter().all(|t| row.matches_term(t) != t.negate)
            && self.filter.iter().all(|e| e.matches(row))
    }
}

/// Orders two records by columns, SQL style: NULL first ascending, last descending.
pub fn order_rows(a: &dyn Row, b: &dyn Row, cols: &[String], desc: bool) -> Ordering {
    for col in cols {
        let (x, y) = (
            a.cell(col).unwrap_or(Cell::Null),
            b.cell(col).unwrap_or(Cell::Null),
        );
        let ord = match (&x, &y) {
            (Cell::Null, Cell::Null) => Ordering::Equal,
            (Cell::Null, _) => Ordering::Less,
            (_, Cell::Null) => Ordering::Greater,
            (Cell::Int(p), Cell::Int(q)) => p.cmp(q),
            (Cell::Time(p), Cell::Time(q)) => p.cmp(q),
            (Cell::Text(p), Cell::Text(q)) => fold(p).cmp(&fold(q)),
            (p, q) => compare(p, &cell_text(q)).unwrap_or(Ordering::Equal),
        };
        let ord = if desc { ord.reverse() } else { ord };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    struct R(Vec<(&'static str, Cell)>);

    impl Row for R {
        fn cell(&self, column: &str) -> Option<Cell> {
            self.0
                .iter()
                .find(|(c, _)| *c == column)
                .map(|(_, v)| v.clone())
        }
        fn matches_term(&self, term: &SearchTerm) -> bool {
            matches!(term.kind, TermKind::Anonymous) && self.cell("email") == Some(Cell::Null)
        }
    }

    fn t(s: &str) -> Cell {
        Cell::Time(parse_sql_time(s).unwrap())
    }

    #[test]
    fn decodes_the_way_reqwest_encodes() {
        let pairs = parse_urlencoded(
            "where%5B0%5D%5Bcol%5D=date_modified&where%5B0%5D%5Bval%5D=2024-05-01+10%3A00%3A00&search=%21is%3Aanonymous&bad=%zz",
        );
        assert_eq!(
            pairs,
            vec![
                ("where[0][col]".into(), "date_modified".into()),
                ("where[0][val]".into(), "2024-05-01 10:00:00".into()),
                ("search".into(), "!is:anonymous".into()),
                ("bad".into(), "%zz".into()),
            ]
        );
        assert_eq!(percent_decode("%C3%A9%"), "é%");
    }

    #[test]
    fn nests_brackets_like_php() {
        let p = nest_params(&[
            ("where[0][col]".into(), "id".into()),
            ("where[0][val][]".into(), "1".into()),
            ("where[0][val][]".into(), "2".into()),
            ("plain".into(), "x".into()),
            ("broken[a".into(), "y".into()),
        ]);
        let w = &p[0].1;
        assert_eq!(w.get("0").unwrap().get("col").unwrap().as_str(), Some("id"));
        let val = w.get("0").unwrap().get("val").unwrap();
        assert_eq!(val.get("1").unwrap().as_str(), Some("2"));
        assert_eq!(p[1], ("plain".into(), Param::Str("x".into())));
        assert_eq!(p[2], ("broken[a".into(), Param::Str("y".into())));
    }

    #[test]
    fn keyset_query_with_nested_or_and() {
        let q = "orderBy=id&orderByDir=asc&limit=200\
            &where[0][col]=id&where[0][expr]=gt&where[0][val]=5\
            &where[1][expr]=orX\
            &where[1][val][0][col]=date_modified&where[1][val][0][expr]=gte&where[1][val][0][val]=2024-05-01 10:00:00\
            &where[1][val][1][expr]=andX\
            &where[1][val][1][val][0][col]=date_modified&where[1][val][1][val][0][expr]=isNull\
            &where[1][val][1][val][1][col]=dateAdded&where[1][val][1][val][1][expr]=gte&where[1][val][1][val][1][val]=2024-05-01 10:00:00";
        let known = |c: &str| ["id", "date_modified", "date_added"].contains(&c);
        let lq = ListQuery::parse(q, &known).unwrap();
        assert_eq!(lq.limit, 200);
        assert_eq!(lq.order, Some((vec!["id".into()], false)));
        let edited = R(vec![
            ("id", Cell::Int(6)),
            ("date_modified", t("2024-05-01 10:00:00")),
            ("date_added", t("2020-01-01")),
        ]);
        let never_edited = R(vec![
            ("id", Cell::Int(7)),
            ("date_modified", Cell::Null),
            ("date_added", t("2024-05-02 00:00:00")),
        ]);
        let old = R(vec![
            ("id", Cell::Int(8)),
            ("date_modified", Cell::Null),
            ("date_added", t("2024-04-30 23:59:59")),
        ]);
        let behind = R(vec![
            ("id", Cell::Int(5)),
            ("date_modified", t("2024-06-01")),
            ("date_added", t("2020-01-01")),
        ]);
        assert!(lq.selects(&edited));
        assert!(lq.selects(&never_edited));
        assert!(!lq.selects(&old));
        assert!(!lq.selects(&behind));
    }

    #[test]
    fn unknown_columns_and_exprs_are_refused() {
        let known = |c: &str| c == "id";
        assert!(
            ListQuery::parse(
                "where[0][col]=nope&where[0][expr]=eq&where[0][val]=1",
                &known
            )
            .is_err()
        );
        assert!(
            ListQuery::parse(
                "where[0][col]=id&where[0][expr]=regexp&where[0][val]=1",
                &known
            )
            .is_err()
        );
        assert!(ListQuery::parse("orderBy=nope", &known).is_err());
        assert!(ListQuery::parse("limit=abc", &known).is_err());
    }

    #[test]
    fn text_compares_like_mysql_and_null_never_matches() {
        let row = R(vec![
            ("email", Cell::Text("Jean@Example.fr".into())),
            ("city", Cell::Null),
        ]);
        let eq = |col: &str, val: &str| Expr::Cmp {
            col: col.into(),
            op: CmpOp::Eq,
            val: val.into(),
        };
        assert!(eq("email", "jean@example.FR ").matches(&row));
        assert!(!eq("city", "").matches(&row));
        let neq = Expr::Cmp {
            col: "city".into(),
            op: CmpOp::Neq,
            val: "x".into(),
        };
        assert!(!neq.matches(&row), "NULL <> 'x' is not true in SQL");
        assert!(
            Expr::Null {
                col: "city".into(),
                negate: false
            }
            .matches(&row)
        );
        let inx = Expr::In {
            col: "email".into(),
            vals: parse_csv("a@b.fr,\"jean@example.fr\""),
            negate: false,
        };
        assert!(inx.matches(&row));
        assert!(like("Jean@Example.fr", "jean%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "a_"));
        assert!(like("abc", "%"));
    }

    #[test]
    fn search_terms() {
        let terms = parse_search("!is:anonymous email:*@example.fr \"two words\" foo:bar");
        assert_eq!(terms.len(), 4);
        assert!(terms[0].negate);
        assert_eq!(terms[0].kind, TermKind::Anonymous);
        assert_eq!(terms[1].kind, TermKind::Email("%@example.fr".into()));
        assert_eq!(terms[2].kind, TermKind::Text("two words".into()));
        assert_eq!(terms[3].kind, TermKind::Text("foo:bar".into()));
    }

    #[test]
    fn order_puts_null_first_ascending() {
        let a = R(vec![("date_modified", Cell::Null), ("id", Cell::Int(2))]);
        let b = R(vec![
            ("date_modified", t("2024-01-01")),
            ("id", Cell::Int(1)),
        ]);
        let cols = vec!["date_modified".to_owned()];
        assert_eq!(order_rows(&a, &b, &cols, false), Ordering::Less);
        assert_eq!(order_rows(&a, &b, &cols, true), Ordering::Greater);
        assert_eq!(column_name("l.dateModified"), "date_modified");
    }
}
