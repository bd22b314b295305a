#!/usr/bin/env python3
"""Fails when the Rust files of a crate import each other in a cycle.

    scripts/check_imports.py [CRATE_SRC_DIR ...]   (default: every crate of the workspace)

Edges, file to file: a parent module file to each child it declares (`mod x;`), and a file to
the module file that a `use crate::...` / `use super::...` path (or an inline `crate::a::b`)
lands in. A path is followed down the module tree as far as its segments name modules; the
file of the last module reached is the target (so `super::ApiError` from `api/cron.rs` is an
edge to `api/mod.rs`, `super::queries` one to `api/queries.rs`). Test modules (`#[cfg(test)]`
blocks) are ignored: they are compiled only into test builds. The report lists each cycle.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USE = re.compile(r"\buse\s+((?:crate|super)(?:::[^;]+));", re.S)
INLINE = re.compile(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
MOD = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)
ROOTS = ("mod.rs", "lib.rs", "main.rs")


def strip_tests(text):
    """The file without comments and `#[cfg(test)]` items (a `{ ... }` block, or up to `;`)."""
    text = re.sub(r"//[^\n]*", "", text)
    while (j := text.find("#[cfg(test)]")) >= 0:
        k, semi = text.find("{", j), text.find(";", j)
        if k < 0 and semi < 0:
            return text[:j]
        if k < 0 or 0 <= semi < k:
            text = text[:j] + text[semi + 1:]
            continue
        depth, m = 0, k
        for m in range(k, len(text)):
            depth += {"{": 1, "}": -1}.get(text[m], 0)
            if depth == 0:
                break
        else:
            return text[:j]
        text = text[:j] + text[m + 1:]
    return text


def child_file(path, name):
    """The file of module `name` declared in `path`, if it exists."""
    d = os.path.dirname(path) if os.path.basename(path) in ROOTS else path[:-3]
    return next((c for c in (f"{d}/{name}.rs", f"{d}/{name}/mod.rs") if os.path.isfile(c)), None)


def parent_file(path, root_file):
    if path == root_file:
        return None
    d = os.path.dirname(path)
    if os.path.basename(path) == "mod.rs":
        d = os.path.dirname(d)
    return next((c for c in [f"{d}/{r}" for r in ROOTS] + [d + ".rs"] if os.path.isfile(c)), None)


def expand(path_text):
    """`super::{a, b::{c}}` -> ["super::a", "super::b::c"]."""
    path_text = re.sub(r"\s+", "", path_text)
    m = re.match(r"^(.*?)::\{(.*)\}$", path_text)
    if not m:
        return [path_text]
    prefix, inner = m.groups()
    parts, depth, cur = [], 0, ""
    for ch in inner + ",":  # the comma ends the last part
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += (ch == "{") - (ch == "}")
        cur += ch
    return [q for p in parts if p for q in ([prefix] if p == "self" else expand(f"{prefix}::{p}"))]


def resolve(src, root_file, path):
    segments = path.split("::")
    if segments[0] == "crate":
        current, segments = root_file, segments[1:]
    else:
        current = src
        while segments and segments[0] == "super":
            current = parent_file(current, root_file)
            if current is None:
                return None
            segments = segments[1:]
    for seg in segments:
        nxt = child_file(current, seg.split(" as ")[0])
        if nxt is None:
            break
        current = nxt
    return current


def crate_edges(src_dir):
    root_file = next((f"{src_dir}/{f}" for f in ROOTS[1:] if os.path.isfile(f"{src_dir}/{f}")), None)
    if root_file is None:
        return {}
    files = [os.path.join(d, n) for d, _, names in os.walk(src_dir) for n in names if n.endswith(".rs")]
    edges = {f: set() for f in files}
    for f in files:
        text = strip_tests(open(f, encoding="utf-8").read())
        paths = [p for u in USE.findall(text) for p in expand(u.split(" as ")[0])]
        paths += INLINE.findall(USE.sub("", text))
        targets = [child_file(f, name) for name in MOD.findall(text)] + [resolve(f, root_file, p) for p in paths]
        edges[f] = {t for t in targets if t and t != f and t in edges}
    return edges


def cycles(edges):
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    return found


def main(argv):
    dirs = argv or sorted(
        os.path.join(d, "src") for d, _, names in os.walk(ROOT)
        if "Cargo.toml" in names and os.path.isdir(os.path.join(d, "src"))
        and "/target" not in d and "/." not in d[len(ROOT):]
    )
    total_files, problems = 0, []
    for d in dirs:
        edges = crate_edges(d)
        total_files += len(edges)
        problems += [" -> ".join(os.path.relpath(x, ROOT) for x in c) for c in cycles(edges)]
    for p in problems:
        print(f"import cycle: {p}")
    print(f"check_imports: {total_files} files in {len(dirs)} crates, {len(problems)} cycles")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
