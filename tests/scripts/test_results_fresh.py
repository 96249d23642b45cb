#!/usr/bin/python3
"""docs/RESULTS.md, docs/RULE.md and the README state the present: every generated section carries a stamp
`<!-- fresh: commit=C configs=path=sha256[:16],... -->` (scripts/results_md.py), and each config it
names must still hash to what it had when the section was generated. A config edited since fails
this test until the section is regenerated. The README's verdict lines must be the verdicts of
the report section of docs/RESULTS.md, claim by claim (both copied from the report's results.json,
which src/report/verdict.cpp decides). Run by ctest (Scripts.ResultsAreFresh)."""
import hashlib
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
STAMP = re.compile(r"<!-- fresh: commit=(\S+) configs=(\S*) -->")


def check_stamps(path, failures):
    text = open(os.path.join(ROOT, path)).read()
    stamps = STAMP.findall(text)
    for commit, configs in stamps:
        for item in filter(None, configs.split(",")):
            name, digest = item.rsplit("=", 1)
            full = os.path.join(ROOT, name)
            if not os.path.exists(full):
                failures.append(f"{path}: section of commit {commit} describes {name}, which no longer exists")
            elif hashlib.sha256(open(full, "rb").read()).hexdigest()[:16] != digest:
                failures.append(f"{path}: section of commit {commit} is older than {name} (regenerate it)")
    return text, len(stamps)


def main():
    failures = []
    results, n = check_stamps("docs/RESULTS.md", failures)
    if n == 0:
        failures.append("docs/RESULTS.md has no stamped section")
    for heading, end in (("<!-- paper:", "<!-- /paper -->"), ("## Backprop baselines", "\n## "),
                         ("## The bio rule", "\n## ")):
        i = results.find(heading)
        j = results.find(end, i + 1)
        if i < 0:
            failures.append(f"docs/RESULTS.md lacks '{heading}'")
        elif not STAMP.search(results[i:j if j > 0 else None]):
            failures.append(f"docs/RESULTS.md: section '{heading}' has no freshness stamp")
    # docs/RULE.md's generated sections (scripts/rule_v2.sh) follow the same rule.
    rule, _ = check_stamps("docs/RULE.md", failures)
    if "<!-- rule_v2:" in rule and "<!-- /rule_v2 -->" not in rule:
        failures.append("docs/RULE.md: the rule_v2 section has no end marker")
    readme, m = check_stamps("README.md", failures)
    if m == 0:
        failures.append("README.md has no stamped verdict block")
    table = dict(re.findall(r"^\| ([^|]+?) \| \*\*([^*]+)\*\* \|", results[results.find("<!-- paper:"):], re.M))
    block = readme[readme.find("<!-- verdicts:"):readme.find("<!-- /verdicts -->")]
    lines = dict(re.findall(r"^- (.+?): \*\*(.+?)\*\*$", block, re.M))
    if not lines:
        failures.append("README.md has no verdict lines")
    if lines != table:
        failures.append(f"README verdicts {lines} differ from docs/RESULTS.md's report table {table}")
    for f in failures:
        print("FAIL", f)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
