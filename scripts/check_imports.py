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


def strip_tests(text):
    """The file without `#[cfg(test)] mod ... { ... }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    while True:
        j = text.find("#[cfg(test)]", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i:j])
        k = text.find("{", j)
        semi = text.find(";", j)
        if k < 0 or (0 <= semi < k):
            i = semi + 1
            continue
        depth = 0
        for m in range(k, len(text)):
            if text[m] == "{":
                depth += 1
            elif text[m] == "}":
                depth -= 1
                if depth == 0:
                    i = m + 1
                    break
        else:
            return "".join(out)


def module_dir(path):
    """The directory holding the child modules of the module in `path`."""
    base = os.path.basename(path)
    if base in ("mod.rs", "lib.rs", "main.rs"):
        return os.path.dirname(path)
    return path[:-3]


def child_file(path, name):
    d = module_dir(path)
    for candidate in (os.path.join(d, name + ".rs"), os.path.join(d, name, "mod.rs")):
        if os.path.isfile(candidate):
            return candidate
    return None


def parent_file(path, root_file):
    if path == root_file:
        return None
    d = os.path.dirname(path) if os.path.basename(path) == "mod.rs" else os.path.dirname(path)
    if os.path.basename(path) == "mod.rs":
        d = os.path.dirname(d)
    for candidate in (os.path.join(d, "mod.rs"), os.path.join(d, "lib.rs"), os.path.join(d, "main.rs")):
        if os.path.isfile(candidate):
            return candidate
    return d + ".rs" if os.path.isfile(d + ".rs") else None


def expand(path_text):
    """`super::{a, b::{c}}` -> ["super::a", "super::b::c"] (one level of nesting is enough)."""
    path_text = re.sub(r"\s+", "", path_text)
    m = re.match(r"^(.*?)::\{(.*)\}$", path_text)
    if not m:
        return [path_text]
    prefix, inner = m.groups()
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        if p in ("self", ""):
            out.append(prefix)
        else:
            out.extend(expand(prefix + "::" + p))
    return out


def resolve(src, root_file, path):
    segments = path.split("::")
    if segments[0] == "crate":
        current = root_file
        segments = segments[1:]
    else:
        current = src
        while segments and segments[0] == "super":
            current = parent_file(current, root_file)
            if current is None:
                return None
            segments = segments[1:]
    for seg in segments:
        seg = seg.split(" as ")[0]
        nxt = child_file(current, seg)
        if nxt is None:
            break
        current = nxt
    return current


def crate_edges(src_dir):
    root_file = next(
        (os.path.join(src_dir, f) for f in ("lib.rs", "main.rs") if os.path.isfile(os.path.join(src_dir, f))),
        None,
    )
    if root_file is None:
        return {}
    files = []
    for dirpath, _, names in os.walk(src_dir):
        files += [os.path.join(dirpath, n) for n in names if n.endswith(".rs")]
    edges = {f: set() for f in files}
    for f in files:
        text = strip_tests(open(f, encoding="utf-8").read())
        for name in MOD.findall(text):
            child = child_file(f, name)
            if child:
                edges[f].add(child)
        paths = [p for u in USE.findall(text) for p in expand(u.split(" as ")[0])]
        paths += INLINE.findall(USE.sub("", text))
        for p in paths:
            target = resolve(f, root_file, p)
            if target and target != f and target in edges:
                edges[f].add(target)
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
        os.path.join(dirpath, "src")
        for dirpath, _, names in os.walk(ROOT)
        if "Cargo.toml" in names and os.path.isdir(os.path.join(dirpath, "src"))
        and "/target" not in dirpath and "/." not in dirpath[len(ROOT):]
    )
    total_files, problems = 0, []
    for d in dirs:
        edges = crate_edges(d)
        total_files += len(edges)
        for c in cycles(edges):
            problems.append(" -> ".join(os.path.relpath(x, ROOT) for x in c))
    for p in problems:
        print(f"import cycle: {p}")
    print(f"check_imports: {total_files} files in {len(dirs)} crates, {len(problems)} cycles")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
