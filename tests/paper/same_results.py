#!/usr/bin/env python3
"""Exit 0 when two `dalenet paper` results.json files agree in everything measured (all but the
"environment" section: wall times, host, process count); else print the first differences."""
import json
import sys


def diff(a, b, path, out):
    if type(a) is not type(b):
        out.append(f"{path}: {a!r} vs {b!r}")
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'second' if k in b else 'first'}")
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} vs {len(b)} entries")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: {a!r} vs {b!r}")


def main():
    a, b = (json.load(open(p)) for p in sys.argv[1:3])
    for r in (a, b):
        r.pop("environment", None)
    out = []
    diff(a, b, "results", out)
    if out:
        print(f"{sys.argv[1]} and {sys.argv[2]} differ in {len(out)} places:", *out[:20], sep="\n  ")
        return 1
    print(f"same results ({len(json.dumps(a))} bytes of JSON compared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
