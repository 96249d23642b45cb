"""Runs every ```python block of a Markdown file in order, in one namespace, inside a
temporary working folder (so docs/PYTHON.md is a test). Usage: run_doc.py FILE.md SOURCE_DIR"""
import os
import re
import sys
import tempfile

doc, source = sys.argv[1], sys.argv[2]
if not os.path.exists(os.path.join(os.environ.get("DALENET_DATA", os.path.expanduser("~/.cache/dalenet")),
                                   "fashion")):
    print("SKIP: Fashion-MNIST not fetched (dalenet data fetch)")
    sys.exit(77)
blocks = re.findall(r"```python\n(.*?)```", open(doc).read(), flags=re.S)
assert blocks, f"no python blocks in {doc}"
namespace = {}
with tempfile.TemporaryDirectory() as tmp:
    # Paths in the tutorial are relative to the repository root; outputs go to the temp folder.
    os.symlink(os.path.join(source, "experiments"), os.path.join(tmp, "experiments"))
    os.chdir(tmp)
    for i, code in enumerate(blocks, 1):
        print(f"--- block {i}")
        exec(compile(code, f"{doc} block {i}", "exec"), namespace)
    assert os.path.getsize("receptive_fields.png") > 1000
print(f"ran {len(blocks)} blocks of {doc}")
