"""Python gets every option of every CLI command, with the same defaults (issue 36).

For each command, the options and positionals `dalenet <command> --help` lists are set against the
parameters of its Python function (inspect.signature, or the first line of a pybind11 docstring).
Every CLI option must be a Python parameter (named with '_' for '-', or as RENAMED says) unless
CLI_ONLY names it with the reason, and every Python parameter must be a CLI option unless
PYTHON_ONLY names it. Where the help shows a default, Python's must equal it.

Usage: test_cli_parity.py DALENET
"""
import inspect
import re
import subprocess
import sys

import dalenet
from common import check

cli = sys.argv[1]

# Options no Python function takes, for every command: what stands for them in Python.
CLI_ONLY_EVERYWHERE = {
    "help": "help()",
    "threads": "dalenet.set_threads(n)",
    "json": "Python returns the document",
    "log-json": "Python returns the document (progress: a callable)",
    "quiet": "Python prints no progress unless given a callable",
}
# Python parameters no CLI option of the command has: what stands for them on the command line.
PYTHON_ONLY_EVERYWHERE = {
    "data_dir": "the program's --data-dir",
    "progress": "the CLI prints progress itself",
}

# command: (Python function, {CLI option: Python parameter}, {CLI-only option: why},
#           {Python-only parameter: why})
COMMANDS = {
    "train": (dalenet.train, {"set": "settings"}, {}, {}),
    "eval": (dalenet.evaluate, {}, {}, {}),
    "predict": (dalenet.predict, {"images": "x"}, {"out": "predict returns the logits array"}, {}),
    "data fetch": (dalenet.fetch_data, {}, {}, {}),
    "data verify": (dalenet.verify_data, {}, {}, {}),
    "data info": (dalenet.data_info, {}, {}, {}),
    "analyze": (dalenet.analyze, {}, {"out": "analyze returns the report"}, {}),
    "attack": (dalenet.attack_job, {"model": "models", "no-unbounded-check": "unbounded_check",
                                    "save-adv": "save_adv"}, {}, {}),
    "fewshot": (dalenet.fewshot, {"no-novel": "novel"}, {}, {}),
    "represent": (dalenet.represent, {}, {"out": "represent returns the report"}, {}),
    "config keys": (dalenet.config_keys, {}, {}, {}),
    "config show": (dalenet.config_show, {"set": "settings"}, {}, {}),
    "paper": (dalenet.paper, {"no-estimate": "estimate"},
              {"worker-index": "internal: a local worker (Python's are dalenet/_worker.py)",
               "stage": "internal: a local worker"}, {}),
    "rules": (dalenet.rules, {}, {"plugin": "dalenet.load_plugin(path) before rules()"}, {}),
}
# Inverted flags: --no-x is x=True in Python; --estimate/--no-estimate are estimate="only"/"no".
INVERTED = {"no-unbounded-check", "no-novel", "no-estimate"}
NAMED_VALUE = {("paper", "estimate"): "estimate"}  # --estimate is estimate="only"


def cli_options(command):
    text = subprocess.run([cli, *command.split(), "--help"], capture_output=True, text=True, check=True).stdout
    options, section = {}, None
    for line in text.splitlines():
        if line in ("Options:", "Positionals:"):
            section = line
            continue
        if section == "Options:":
            m = re.match(r"^  (?:-\w,)?--([\w-]+)(.*)$", line)
        elif section == "Positionals:":
            m = re.match(r"^  (\w+)(.*)$", line)
        else:
            continue
        if not m:
            continue
        spec = m.group(2).split("  ")[0].strip()
        default = re.search(r"=(\S+)$", spec)
        options[m.group(1)] = default.group(1) if default else None
    return options


def python_params(fn):
    try:
        return {name: (None if p.default is inspect.Parameter.empty else repr(p.default))
                for name, p in inspect.signature(fn).parameters.items()}
    except (TypeError, ValueError):  # a pybind11 function: its signature is the docstring's first line
        first = fn.__doc__.splitlines()[0]
        inside = first[first.index("(") + 1:first.rindex(")")]
        return dict(re.findall(r"(\w+): [^=,]+?(?: = ('[^']*'|\[[^\]]*\]|[^,]+))?(?=, \w+:|$)", inside))


def same_default(cli_value, py_value):
    a, b = cli_value.strip("'\""), (py_value or "").strip("'\"")
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


total = 0
for command, (fn, renamed, cli_only, python_only) in COMMANDS.items():
    options = cli_options(command)
    params = python_params(fn)
    check(len(params) > 0 or command in ("rules", "config keys"), f"{command}: read the Python signature {params}")
    wanted = set()
    for option, default in options.items():
        name = renamed.get(option, option.replace("-", "_"))
        if option in cli_only or (option in CLI_ONLY_EVERYWHERE and name not in params):
            continue
        if (command, option) in NAMED_VALUE:
            name = NAMED_VALUE[(command, option)]
        wanted.add(name)
        total += 1
        check(name in params, f"{command}: --{option} is Python's {fn.__name__}({name}=...)")
        if name in params and default is not None and option not in INVERTED:
            check(same_default(default, params[name]),
                  f"{command}: --{option}'s default {default} is Python's {params[name]}")
    extra = sorted(set(params) - wanted - set(PYTHON_ONLY_EVERYWHERE) - set(python_only) - {"model", "overrides"})
    check(not extra, f"{command}: every Python parameter of {fn.__name__} is a CLI option (extra: {extra})")
check(total >= 55, f"compared {total} CLI options with Python parameters")

# The check can fail: an option Python lacks, and a different default.
options = cli_options("attack")
check("steps" in options and options["steps"] is not None, "attack --steps shows its default")
params = python_params(dalenet.attack_job)
check(not same_default(options["steps"], str(int(params["steps"]) + 1)), "a different default is noticed")
print("all CLI/Python parity checks passed")
