//! Row reads go by column name (`row.try_get("hours")`), never by position (`row.get(4)`):
//! a column added to a SELECT shifts every positional read after it, silently when the types
//! still match, and `get` panics when they do not. This scans the non-test Rust sources of
//! the crates that query PostgreSQL for positional reads.

use std::path::{Path, PathBuf};

/// The crates that read rows: their sources outside `tests/` directories and `#[cfg(test)]`
/// modules are checked.
const CHECKED_DIRS: [&str; 4] = ["common", "cli", "functions", "bench"];

/// Not sources, or test code (integration tests may read rows by position).
const SKIPPED_DIRS: [&str; 5] = ["target", "node_modules", "dist", ".local", "tests"];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `.rs` files under `dir`, outside the skipped directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The lines of `source` that are not test code, with their line numbers: a `#[cfg(test)]`
/// item (a `mod tests { ... }`) is left out up to the `}` that closes it, found as rustfmt
/// puts it, at the attribute's own indentation.
fn non_test_lines(source: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut closing: Option<String> = None;
    for (index, line) in source.lines().enumerate() {
        if let Some(end) = &closing {
            if line.trim_end() == end {
                closing = None;
            }
            continue;
        }
        if line.trim() == "#[cfg(test)]" {
            let indent = &line[..line.len() - line.trim_start().len()];
            closing = Some(format!("{indent}}}"));
            continue;
        }
        lines.push((index + 1, line));
    }
    lines
}

/// Whether `line` reads a row by a literal position: `.get(0)`, `try_get(3)`,
/// `get::<_, i64>(5)`, `try_get::<_, bool>(0)` (whitespace after the `(` skipped). Comments
/// are not code. An index in a variable (`row.get(i)`) is not caught: a helper may take a
/// column's name the same way.
fn positional_read(line: &str) -> bool {
    if line.trim_start().starts_with("//") {
        return false;
    }
    line.match_indices("get").any(|(at, _)| {
        let before = &line[..at];
        let after = &line[at + "get".len()..];
        if !(before.ends_with('.') || before.ends_with("try_")) {
            return false;
        }
        // `get::<_, T>(` or `get(`: the generics end at the first `>(`.
        let call = match after.strip_prefix("::<") {
            Some(generics) => match generics.find(">(") {
                Some(end) => &generics[end + 1..],
                None => return false,
            },
            None => after,
        };
        call.strip_prefix('(')
            .and_then(|args| args.trim_start().chars().next())
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// A read split over lines as rustfmt splits a long call (`.get(` ending the line, `0,` on
/// the next).
fn positional_read_across(line: &str, next: &str) -> bool {
    let line = line.trim_end();
    line.ends_with('(') && positional_read(&format!("{line}{}", next.trim_start()))
}

#[test]
fn the_matcher_tells_positional_reads_from_named_ones() {
    for positional in [
        "id: r.get(0),",
        "    .get(0))",
        "run_id: row.try_get(0)?,",
        "Ok(row) if row.get::<_, bool>(0) => {}",
        "hourly_days: row.get::<_, i64>(5) - row.get::<_, i64>(12),",
        "let locked = row.try_get::<_, bool>(0)?;",
        "x.get( 3 )",
    ] {
        assert!(positional_read(positional), "not caught: {positional}");
    }
    for named in [
        "id: r.try_get(\"id\")?,",
        "row.try_get::<_, bool>(\"unlocked\")",
        "let count = |name: &str| row.try_get::<_, i64>(name).expect(name);",
        "headers.get(ORIGIN_VERIFY_HEADER)",
        "match by_id.get(id.as_str()) {",
        "pool.get().await",
        "let field = |name: &str| report.as_ref().and_then(|r| r.get(name)).cloned();",
        "// row.get(0) in a comment",
        "self.budget(3)",
    ] {
        assert!(!positional_read(named), "wrongly caught: {named}");
    }
    let source = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() {\n    }\n}\nfn c() {}\n";
    assert_eq!(
        non_test_lines(source),
        vec![(1, "fn a() {}"), (7, "fn c() {}")]
    );
    assert!(positional_read_across("    .try_get(", "        3,"));
    assert!(!positional_read_across(
        "    .try_get(",
        "        \"hours\","
    ));
}

#[test]
fn non_test_code_reads_rows_by_column_name() {
    let root = repository();
    let mut paths = Vec::new();
    for dir in CHECKED_DIRS {
        rust_files(&root.join(dir), &mut paths);
    }
    paths.sort();
    let mut positional = Vec::new();
    let mut named = 0;
    for path in &paths {
        let source = std::fs::read_to_string(path).unwrap();
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let lines = non_test_lines(&source);
        for (i, (number, line)) in lines.iter().enumerate() {
            named += line.matches("try_get(\"").count();
            let next = lines.get(i + 1).map_or("", |(_, next)| *next);
            if positional_read(line) || positional_read_across(line, next) {
                positional.push(format!("{relative}:{number}: {}", line.trim()));
            }
        }
    }
    assert!(
        positional.is_empty(),
        "rows read by position (read them by column name, `row.try_get(\"name\")?`, naming \
         the column in the SQL with `AS name` where it is an expression; a slice or map that \
         is not a row: index it another way):\n{}",
        positional.join("\n")
    );
    // A scan that found nothing would pass for nothing: the queries, the run records, the
    // ingester's store, the CLI's coverage report and the migrate function read rows by name.
    assert!(
        named >= 50,
        "only {named} named row reads in {} files: is the scan looking in the right place?",
        paths.len()
    );
}
