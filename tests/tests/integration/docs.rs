//! The docs prove their claims with tests they name as cargo does, `module::test_name`
//! (`hardening::a_full_window_starts_...`, `config::tests::debug_output_shows_no_secret`),
//! and point at code the same way (`ingest::plan::window_start`). Every such name in a
//! Markdown file of the repository must be a function that exists, in the module it names.

use std::path::{Path, PathBuf};

/// Not the repository's own text: git, build output, dependencies, local state.
const SKIPPED_DIRS: [&str; 5] = [".git", ".local", "target", "node_modules", "dist"];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The repository's files ending in `.{extension}`, each as its path from the repository
/// root with a leading `/` (`/common/src/config.rs`) and its text, sorted by path.
fn files(extension: &str) -> Vec<(String, String)> {
    fn walk(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) {
                    walk(&path, extension, out);
                }
            } else if path.extension().is_some_and(|x| x == extension) {
                out.push(path);
            }
        }
    }
    let root = repository();
    let mut paths = Vec::new();
    walk(&root, extension, &mut paths);
    let mut files: Vec<(String, String)> = paths
        .iter()
        .map(|path| {
            let relative = path.strip_prefix(&root).unwrap().to_string_lossy();
            (
                format!("/{}", relative.replace('\\', "/")),
                std::fs::read_to_string(path).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// The code spans of `text` that name a function by its path: two or more lower-case
/// segments joined by `::`, the last with an underscore, as `backfill::hourly_retention_...`
/// (`ingest::plan` names a module, `store::RunLock` a type: neither is taken). With the line
/// each is on.
fn cited_functions(text: &str) -> Vec<(usize, &str)> {
    let snake = |segment: &str| {
        segment.starts_with(|c: char| c.is_ascii_lowercase())
            && segment
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let mut cited = Vec::new();
    for (index, line) in text.lines().enumerate() {
        // Between the 1st and 2nd backtick, the 3rd and 4th, ...
        for span in line.split('`').skip(1).step_by(2) {
            let segments: Vec<&str> = span.split("::").collect();
            if segments.len() >= 2
                && segments.iter().all(|s| snake(s))
                && segments.last().unwrap().contains('_')
            {
                cited.push((index + 1, span));
            }
        }
    }
    cited
}

/// Whether a Rust file defines `fn name` (plain, `pub`, `async`, generic).
fn defines(source: &str, name: &str) -> bool {
    source.contains(&format!("fn {name}(")) || source.contains(&format!("fn {name}<"))
}

#[test]
fn every_function_the_docs_name_exists_in_the_module_they_name() {
    let sources = files("rs");
    let docs = files("md");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (doc, text) in &docs {
        for (line, cited) in cited_functions(text) {
            checked += 1;
            let segments: Vec<&str> = cited.split("::").collect();
            let (name, modules) = segments.split_last().unwrap();
            // `config::tests::x` is in the `tests` module inline in config.rs.
            let module = modules
                .iter()
                .filter(|m| **m != "tests")
                .copied()
                .collect::<Vec<_>>()
                .join("/");
            let files: Vec<&(String, String)> = sources
                .iter()
                .filter(|(path, _)| {
                    path.ends_with(&format!("/{module}.rs"))
                        || path.ends_with(&format!("/{module}/mod.rs"))
                })
                .collect();
            let place = format!("{}:{line}: `{cited}`", &doc[1..]);
            if files.is_empty() {
                wrong.push(format!("{place}: no file {module}.rs or {module}/mod.rs"));
            } else if !files.iter().any(|(_, source)| defines(source, name)) {
                let paths: Vec<&str> = files.iter().map(|(path, _)| &path[1..]).collect();
                wrong.push(format!("{place}: no fn {name} in {}", paths.join(", ")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the docs name functions that do not exist (renamed or moved? name the test as it is \
         now, and say what it checks now):\n{}",
        wrong.join("\n")
    );
    // A rule that matched nothing would pass for nothing: the docs name 53 functions today,
    // nearly all of them tests in docs/reliability.md.
    assert!(checked >= 40, "only {checked} functions named in the docs");
}

/// docs/operating.md's call-plan table is what `crypto-dashboard plan` prints
/// (`ingest::call_plan::standard_table`), not numbers worked out by hand.
#[test]
fn the_call_plan_table_in_operating_md_is_the_one_the_code_plans() {
    let doc = std::fs::read_to_string(repository().join("docs/operating.md")).unwrap();
    let (start, end) = (
        "<!-- crypto-dashboard plan -->\n",
        "<!-- /crypto-dashboard plan -->",
    );
    let from = doc.find(start).expect("the table's start marker") + start.len();
    let to = doc[from..].find(end).expect("the table's end marker") + from;
    assert_eq!(
        &doc[from..to],
        common::ingest::call_plan::standard_table(),
        "regenerate the table in docs/operating.md with `crypto-dashboard plan`"
    );
}
