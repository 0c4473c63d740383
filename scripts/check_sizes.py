#!/usr/bin/env python3
"""Fails when a C++ file is over 600 lines or a function over 80 lines, in the folders given.

The house rule (docs/architecture.md): files under about 600 lines, functions under about 80. The
function scan is a brace matcher, not a compiler: comments, string and character literals are blanked
first; a `{` whose preceding declaration ends in `)` (plus qualifiers, a trailing return type or a
constructor's initialiser list) at namespace or class level opens a function, and its length runs from
the line of its signature's name to the closing `}`. Lambdas count toward the function around them.

Usage: python3 scripts/check_sizes.py [--max-file N] [--max-function N] DIR...   (default: inference trainers)
"""
import argparse
import pathlib
import re
import sys

SOURCES = {".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh"}
SCOPE_KEYWORDS = re.compile(r"\b(namespace|class|struct|union|enum)\b[^()]*$")
CONTROL = re.compile(r"^\s*(if|for|while|switch|catch|do|else)\b")


def blank(text: str) -> str:
    """Comments and literals replaced by spaces (newlines kept, so line numbers stay right)."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|R"([^(]*)\(.*?\)\1"|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def functions(text: str):
    """Yields (name, first_line, last_line) of every function body at namespace or class level."""
    src = blank(text)
    stack = []  # one entry per open brace: ("scope" | "function" | "other", start line, name)
    decl_start = 0
    for i, ch in enumerate(src):
        if ch in ";":
            decl_start = i + 1
        elif ch == "{":
            decl = src[decl_start:i]
            kind, name, line = "other", "", 0
            if all(k == "scope" for k, _, _ in stack):
                flat = " ".join(decl.split())
                if SCOPE_KEYWORDS.search(flat) or flat.endswith("=") or flat.startswith("extern"):
                    kind = "scope" if SCOPE_KEYWORDS.search(flat) or flat.startswith("extern") else "other"
                else:
                    m = re.search(r"([~\w:<>]+)\s*\(", decl)
                    if m and ")" in decl and not CONTROL.match(flat):
                        kind, name = "function", m.group(1)
                        line = src.count("\n", 0, decl_start + m.start(1) - (len(decl) - len(decl.lstrip()))) + 1
                        line = src.count("\n", 0, decl_start + decl.find(m.group(1))) + 1
            stack.append((kind, line, name))
            decl_start = i + 1
        elif ch == "}":
            if stack:
                kind, line, name = stack.pop()
                if kind == "function":
                    yield name, line, src.count("\n", 0, i) + 1
            decl_start = i + 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*", default=["inference", "trainers"])
    ap.add_argument("--max-file", type=int, default=600)
    ap.add_argument("--max-function", type=int, default=80)
    ap.add_argument("--root", default=str(pathlib.Path(__file__).resolve().parents[1]))
    a = ap.parse_args()
    root = pathlib.Path(a.root)
    problems = []
    for d in a.dirs:
        for path in sorted((root / d).rglob("*")):
            if path.suffix not in SOURCES or not path.is_file():
                continue
            text = path.read_text(errors="replace")
            rel = path.relative_to(root)
            n = text.count("\n") + (0 if text.endswith("\n") else 1)
            if n > a.max_file:
                problems.append(f"{rel}: {n} lines (a file stays under {a.max_file}: split it by responsibility)")
            for name, first, last in functions(text):
                if last - first + 1 > a.max_function:
                    problems.append(f"{rel}:{first}: function {name} is {last - first + 1} lines "
                                    f"(under {a.max_function}: extract steps into named helpers)")
    for p in problems:
        print(p)
    print(f"check_sizes: {len(problems)} problem(s) in {', '.join(a.dirs)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
