"""Entry wrapper for every `python -m <stage>`: user errors become one line on stderr and exit code 2."""
import sys
from typing import Callable, Sequence

from common.errors import QYoloError


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    try:
        code = main(argv)
    except QYoloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: artifacts already written are intact (writes are atomic)", file=sys.stderr)
        return 130
    return int(code or 0)
