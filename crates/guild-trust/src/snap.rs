//! Parser for SNAP signed-network files (`source,target,rating,time`, e.g. soc-sign-bitcoinotc).
//!
//! Pure: takes the file's text, returns the edges and a list of malformed lines with their line
//! numbers, so callers decide whether to stop or skip. Blank lines and lines starting with `#` are
//! ignored; fields may be padded with spaces; `time` may be an integer or a decimal (truncated).

/// One rating from a SNAP signed network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapEdge {
    /// Rater id.
    pub source: u64,
    /// Rated id.
    pub target: u64,
    /// Signed rating (bitcoin-otc: -10..=10).
    pub rating: i32,
    /// Unix seconds.
    pub time: u64,
}

/// A malformed line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}: {text:?}")]
pub struct SnapError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
    /// The offending line (truncated to 80 characters).
    pub text: String,
}

/// Result of parsing a whole file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapFile {
    /// Well-formed edges, in file order.
    pub edges: Vec<SnapEdge>,
    /// Malformed lines, in file order.
    pub errors: Vec<SnapError>,
}

impl SnapFile {
    /// Number of distinct ids among sources and targets.
    pub fn node_count(&self) -> usize {
        let mut ids: Vec<u64> = self
            .edges
            .iter()
            .flat_map(|e| [e.source, e.target])
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// Largest absolute rating (at least 1), the natural `max_score` for the file.
    pub fn max_abs_rating(&self) -> u32 {
        self.edges
            .iter()
            .map(|e| e.rating.unsigned_abs())
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// Latest timestamp in the file (0 if empty).
    pub fn latest_time(&self) -> u64 {
        self.edges.iter().map(|e| e.time).max().unwrap_or(0)
    }
}

fn parse_line(line: &str) -> Result<SnapEdge, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != 4 {
        return Err(format!(
            "expected 4 comma-separated fields, found {}",
            fields.len()
        ));
    }
    let id = |name: &str, s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("{name} is not a non-negative integer"))
    };
    let source = id("source", fields[0])?;
    let target = id("target", fields[1])?;
    let rating = fields[2]
        .parse::<i32>()
        .map_err(|_| "rating is not an integer".to_owned())?;
    let time = match fields[3].parse::<u64>() {
        Ok(t) => t,
        Err(_) => match fields[3].parse::<f64>() {
            Ok(t) if (0.0..1.8e19).contains(&t) => t as u64,
            _ => return Err("time is not a non-negative number".to_owned()),
        },
    };
    Ok(SnapEdge {
        source,
        target,
        rating,
        time,
    })
}

/// Parses a SNAP signed file, collecting malformed lines instead of failing.
pub fn parse(text: &str) -> SnapFile {
    let mut out = SnapFile::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok(e) => out.edges.push(e),
            Err(reason) => out.errors.push(SnapError {
                line: i + 1,
                reason,
                text: line.chars().take(80).collect(),
            }),
        }
    }
    out
}

/// Parses a SNAP signed file, failing on the first malformed line.
pub fn parse_strict(text: &str) -> Result<Vec<SnapEdge>, SnapError> {
    let f = parse(text);
    match f.errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(f.edges),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_lines_and_skips_comments() {
        let f = parse("# header\n\n6,2,4,1289241912\r\n 6 , 5 ,-2, 1289241942.72\n");
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.edges.len(), 2);
        assert_eq!(
            f.edges[1],
            SnapEdge {
                source: 6,
                target: 5,
                rating: -2,
                time: 1289241942
            }
        );
        assert_eq!(f.node_count(), 3);
        assert_eq!(f.max_abs_rating(), 4);
    }

    #[test]
    fn malformed_lines_are_reported_with_line_numbers() {
        let f =
            parse("1,2,3,4\n1,2,3\nx,2,3,4\n1,2,three,4\n1,2,3,-4\n1,2,99999999999,4\n5,6,1,7\n");
        assert_eq!(f.edges.len(), 2);
        let lines: Vec<usize> = f.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        assert!(f.errors[0].to_string().starts_with("line 2: expected 4"));
        assert_eq!(parse_strict("1,2,3,4\nbad\n").unwrap_err().line, 2);
        assert_eq!(parse_strict("1,2,3,4\n").unwrap().len(), 1);
    }

    #[test]
    fn real_bitcoin_otc_file_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/soc-sign-bitcoinotc.csv"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipping: {path} not present");
            return;
        };
        let f = parse(&text);
        assert!(f.errors.is_empty());
        assert_eq!(f.edges.len(), 35_592);
        assert_eq!(f.node_count(), 5_881);
        assert_eq!(f.max_abs_rating(), 10);
    }
}
