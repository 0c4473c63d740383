#!/usr/bin/env python3
"""Fails when a lower layer includes a higher one (docs/architecture.md, "Layers").

Order, lowest first: cuda < core < datasets < models < trainers < inference < analysis < tools.
A file may include its own layer and the ones below it. tests/ and bench/ may include anything.

Usage: python3 scripts/check_layers.py [ROOT]      (exit 0: clean; 1: upward includes, listed)
"""
import pathlib
import re
import sys

LAYERS = ["cuda", "core", "datasets", "models", "trainers", "inference", "analysis", "tools"]
RANK = {name: i for i, name in enumerate(LAYERS)}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/[^"]+"')
SOURCES = {".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh", ".in"}


def violations(root: pathlib.Path):
    for layer in LAYERS:
        folder = root / layer
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix not in SOURCES or not path.is_file():
                continue
            for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if m and m.group(1) in RANK and RANK[m.group(1)] > RANK[layer]:
                    yield (f"{path.relative_to(root)}:{lineno}: {layer}/ includes {m.group(1)}/ "
                           f"({line.strip()}); a lower layer never includes a higher one "
                           f"({' < '.join(LAYERS)})")


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[1])
    found = list(violations(root))
    for v in found:
        print(v)
    if found:
        print(f"check_layers: {len(found)} upward include(s) under {root}")
        return 1
    print(f"check_layers: no upward includes under {root} ({' < '.join(LAYERS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
