"""What every `python -m <stage>` shares: one argument parser, one set of option types, one error wrapper.

- CliParser: a bad option is one line naming it (exit 2), like every other user error, instead of argparse's
  usage dump; the option types below judge values with common.validate, the same checks the configs run.
- run_cli: QYoloError -> "error: ..." on stderr, exit 2; Ctrl-C (exit 130) and SIGTERM (exit 143) unwind
  through the same cleanup (temporary files removed, finished outputs intact), never a traceback.
"""
import argparse
import signal
import sys
from typing import Any, Callable, Sequence

from common import validate
from common.errors import QYoloError


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so `finally`/`except BaseException` cleanups run as for Ctrl-C."""


class CliParser(argparse.ArgumentParser):
    """argparse with errors raised as QYoloError (one line, exit 2 through run_cli)."""

    def error(self, message: str):
        raise QYoloError(f"{message} (see {self.prog} --help)")


def _option_type(check: Callable[..., Any], convert: Callable[[str], Any], what: str):
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            return check(value, "")  # argparse puts the option's name in front: "argument --threads: must be ..."
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).strip()) from None
    parse.__name__ = what
    return parse


positive_int = _option_type(validate.positive_int, int, "a positive integer")
non_negative_int = _option_type(validate.non_negative_int, int, "an integer >= 0")
image_size = _option_type(validate.image_size, int, "a multiple of 32")
fraction = _option_type(validate.fraction, float, "a number in [0, 1]")
torch_device = _option_type(validate.torch_device, str, "a device")


def make_config(config_class: type, **fields):
    """config_class(**fields), its ValueError (a bad value) turned into the one-line user error."""
    try:
        return config_class(**fields)
    except ValueError as exc:
        raise QYoloError(str(exc)) from None


def _raise_terminated(signum, frame):
    raise Terminated()


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (a CLI called from a worker thread): leave signals alone
        pass
    try:
        code = main(argv)
    except QYoloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("terminated: temporary files removed; files already written are complete (writes are atomic)",
              file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: temporary files removed; files already written are complete (writes are atomic)",
              file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return int(code or 0)
