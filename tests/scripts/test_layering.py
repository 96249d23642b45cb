#!/usr/bin/env python3
"""The library stays below its application (issue 36, docs/ARCHITECTURE.md).

libdalenet (src/) starts no processes and needs no symbol of libdalenet_app (app/): its
undefined dynamic symbols name no process call and nothing in namespace dalenet, and no file
under src/ includes an application header (paper.hpp, fetch.hpp) or a file under app/.

Usage: test_layering.py LIBDALENET_SO SOURCE_ROOT
"""
import pathlib
import re
import subprocess
import sys

PROCESS_CALLS = {"system", "popen", "posix_spawn", "posix_spawnp", "fork", "vfork", "execv", "execve", "execvp",
                 "execl", "execlp", "execle"}
APP_HEADERS = ("dalenet/paper.hpp", "dalenet/fetch.hpp")


def undefined_symbols(lib):
    out = subprocess.run(["nm", "-D", "--undefined-only", "--demangle", lib], capture_output=True, text=True,
                         check=True).stdout
    return [line.split(None, 1)[1].split("@")[0] for line in out.splitlines() if line.strip()]


def main(lib, root):
    problems = []
    symbols = undefined_symbols(lib)
    if len(symbols) < 20:
        problems.append(f"{lib}: only {len(symbols)} undefined symbols read; nm's output is not what this test expects")
    for s in symbols:
        if s in PROCESS_CALLS:
            problems.append(f"{lib} calls {s}(): starting processes is the application's (app/)")
        if s.startswith("dalenet::"):
            problems.append(f"{lib} needs {s}, defined outside the library (app/?)")
    for path in sorted(pathlib.Path(root, "src").rglob("*.[ch]pp")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if m and (m.group(1) in APP_HEADERS or m.group(1).startswith("app/") or m.group(1).startswith("paper/")):
                problems.append(f"{path}:{n} includes {m.group(1)}, a header of the application layer")
    for p in problems:
        print("FAIL:", p)
    if problems:
        return 1
    print(f"ok: {len(symbols)} undefined symbols of {lib}, none a process call or a dalenet symbol; "
          "src/ includes no application header")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
