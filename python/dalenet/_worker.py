"""One local worker of dalenet.paper(workers=N): `python3 -m dalenet._worker TASK_JSON`.

The parent (dalenet.paper) starts one per worker and stage; the worker runs its share of the
stage's units into the run folder and exits non-zero, with the error on stderr, when one fails.
"""
import json
import sys

from . import Error, _core


def main(argv):
    if len(argv) != 2:
        print("usage: python3 -m dalenet._worker TASK_JSON (started by dalenet.paper)", file=sys.stderr)
        return 2
    try:
        _core._paper_worker(**json.loads(argv[1]))
    except Error as e:
        print(f"dalenet paper worker: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
