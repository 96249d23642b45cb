#!/usr/bin/env python3
"""docs/CONFIG.md states the configuration the code reads.

1. Its "Keys" block is exactly what `dalenet config keys` prints.
2. Every key the paper-config and few-shot-config readers know is in the table of its section.
   The readers list their keys in the error for an unknown key, so this asks the CLI: one config
   per section with an unknown key, the error's "known: ..." list, each name looked up.

Usage: test_config_doc.py PATH_TO_DALENET_CLI
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "CONFIG.md")


def section(doc, heading):
    """The text of the '## heading...' section, up to the next '## '."""
    start = doc.index("\n## " + heading)
    end = doc.find("\n## ", start + 1)
    return doc[start:] if end < 0 else doc[start:end]


def known_keys(cli, args, text, where):
    """The keys an unknown-key error lists for `text` read by `cli args`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "c.toml")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([cli] + args + [path], capture_output=True, text=True, cwd=tmp, timeout=60)
    m = re.search(r"unknown key \(known: ([^)]*)\)", r.stderr)
    if r.returncode != 2 or not m:
        sys.exit(f"FAIL {where}: expected a config error (exit 2) listing the known keys, got exit "
                 f"{r.returncode}: {r.stderr.strip()}")
    return [k for k in m.group(1).split(", ") if " " not in k]


def documented(table, prefix, key):
    """`prefix.key` is named in a row of the table, or `key` in a row that starts with `prefix.`."""
    for row in table.splitlines():
        if f"`{prefix}.{key}`" in row or (row.startswith(f"| `{prefix}.") and f"`{key}`" in row):
            return True
    return False


def main():
    cli = os.path.abspath(sys.argv[1])
    doc = open(DOC, encoding="utf-8").read()
    failures = []

    keys = subprocess.run([cli, "config", "keys"], capture_output=True, text=True, check=True).stdout
    block = re.search(r"Generated with `dalenet config keys`.*?```\n(.*?)```", doc, re.S)
    if block is None:
        failures.append("docs/CONFIG.md has no block generated with `dalenet config keys`")
    elif block.group(1) != keys:
        failures.append("docs/CONFIG.md's Keys block differs from `dalenet config keys`: paste its output there")

    arms = "arms = ['bio', 'bp']\n"
    paper = section(doc, "Paper configs")
    paper_cases = {
        "paper": "[paper]\n" + arms + "bogus_key = 1\n",
        "robustness": "[paper]\n" + arms + "[robustness]\nbogus_key = 1\n",
        "fewshot": "[paper]\n" + arms + "[fewshot]\nbogus_key = 1\n",
        "audit": "[paper]\n" + arms + "[audit]\nbogus_key = 1\n",
    }
    checked = 0
    for prefix, text in paper_cases.items():
        for key in known_keys(cli, ["paper", "--estimate", "--config"], text, f"paper [{prefix}]"):
            checked += 1
            if not documented(paper, prefix, key):
                failures.append(f"paper config key {prefix}.{key} is not in docs/CONFIG.md's Paper configs table")

    fewshot = section(doc, "Few-shot configs")
    fewshot_cases = {
        "fewshot": "[fewshot]\nbogus_key = 1\n",
        "arm": "[[arm]]\nbogus_key = 1\n",
    }
    for prefix, text in fewshot_cases.items():
        for key in known_keys(cli, ["fewshot", "--config"], text, f"fewshot [{prefix}]"):
            checked += 1
            if not documented(fewshot, prefix, key):
                failures.append(f"few-shot config key {prefix}.{key} is not in docs/CONFIG.md's Few-shot configs table")

    if checked < 40:
        failures.append(f"only {checked} reader keys were found: the errors' format changed?")
    for f in failures:
        print("FAIL", f)
    if failures:
        sys.exit(1)
    print(f"OK: the Keys block matches `dalenet config keys`; {checked} paper and few-shot keys documented")


if __name__ == "__main__":
    main()
