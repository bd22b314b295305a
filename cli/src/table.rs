//! Aligned plain-text tables for terminal reports.

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Renders `rows` under `columns` (name and alignment), two spaces between columns and no
/// trailing spaces; every line ends with a newline.
pub fn render(columns: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|(name, _)| width(name)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let header: Vec<String> = columns.iter().map(|(name, _)| name.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, ((cell, w), (_, align))) in row.iter().zip(&widths).zip(columns).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(w - width(cell));
            match align {
                Align::Left => line.extend([cell.as_str(), &pad]),
                Align::Right => line.extend([&pad, cell.as_str()]),
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: impl Into<i128>) -> String {
    let n = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// `1 hour`, `2,160 hours`.
pub fn count(n: impl Into<i128>, noun: &str) -> String {
    let n = n.into();
    let s = if n == 1 { "" } else { "s" };
    format!("{} {noun}{s}", thousands(n))
}

/// A duration in seconds, short: `45s`, `12m`, `3h 05m`, `2d 04h`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m", s / 60),
        3_600..86_400 => format!("{}h {:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3_600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_without_trailing_spaces() {
        let table = render(
            &[
                ("pair", Align::Left),
                ("rows", Align::Right),
                ("note", Align::Left),
            ],
            &[
                vec!["bitcoin/usd".into(), "2,160".into(), String::new()],
                vec!["tron/eur".into(), "7".into(), "gap".into()],
            ],
        );
        assert_eq!(
            table,
            "pair          rows  note\n\
             bitcoin/usd  2,160\n\
             tron/eur         7  gap\n"
        );
    }

    #[test]
    fn numbers_and_ages_are_short() {
        assert_eq!(thousands(0u32), "0");
        assert_eq!(thousands(999u32), "999");
        assert_eq!(thousands(1_234_567i64), "1,234,567");
        assert_eq!(thousands(-1_000i64), "-1,000");
        assert_eq!(count(1, "hour"), "1 hour");
        assert_eq!(count(2_160, "hour"), "2,160 hours");
        assert_eq!(age(-5), "0s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(3_600 * 3 + 300), "3h 05m");
        assert_eq!(age(86_400 * 2 + 3_600 * 4), "2d 04h");
    }
}
