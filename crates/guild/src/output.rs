//! Human output: aligned tables, key/value blocks, durations. Every writer returns `io::Result`
//! so a closed stdout (`guild … | head`) ends the command quietly instead of panicking.

use serde::Serialize;
use std::io::{self, Write};

/// Writes `value` as pretty JSON and a newline.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    // Serialise first: a write error must reach the caller as an `io::Error` (serde_json would
    // wrap it), so a closed stdout (`guild … --json | head -1`) is recognised and stays quiet.
    let text = serde_json::to_string_pretty(value)?;
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

/// Writes one line.
pub fn line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")
}

/// A block of `key  value` lines, keys aligned. A value with several lines is indented.
pub fn fields(rows: &[(&str, String)]) -> io::Result<()> {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = io::stdout().lock();
    for (key, value) in rows {
        let mut lines = value.lines();
        writeln!(out, "{key:width$}  {}", lines.next().unwrap_or(""))?;
        for more in lines {
            writeln!(out, "{:width$}  {more}", "")?;
        }
    }
    Ok(())
}

/// A table with a header row; columns are padded to their widest cell, the last one is not.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = io::stdout().lock();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                let pad = w.saturating_sub(cell.chars().count());
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

/// `3d 4h`, `5m 2s`, `12s`: the two largest units.
pub fn duration(secs: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = vec![];
    let mut rest = secs;
    for (size, unit) in UNITS {
        if rest >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join(" ")
}

/// `5m ago` or `in 3d 4h` for a Unix time, relative to now.
pub fn relative(at: u64) -> String {
    let now = guild_core::time::now();
    if at <= now {
        format!("{} ago", duration(now - at))
    } else {
        format!("in {}", duration(at - now))
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(3_600 + 120 + 5), "1h 2m");
        assert_eq!(duration(2 * 86_400 + 5), "2d 5s");
    }
}
