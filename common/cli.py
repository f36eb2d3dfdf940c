"""What every `python -m <stage>` shares: one argument parser, one set of option types, one error wrapper.

- CliParser: a bad option is one line naming it (exit 2), like every other user error, instead of argparse's
  usage dump; the option types below judge values with common.validate, the same checks the configs run.
- run_cli: QYoloError -> "error: ..." on stderr, exit 2; Ctrl-C (exit 130), SIGTERM (143) and SIGHUP (129, the
  terminal closed) unwind through the same cleanup (temporary files removed, finished outputs intact), never a
  traceback. A second interrupt during that cleanup quits at once with one line; what it leaves behind is
  recognisable and removed by the next run (common.atomic).
"""
import argparse
import os
import signal
import sys
from typing import Any, Callable, Sequence

from common import validate
from common.errors import QYoloError


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so `finally`/`except BaseException` cleanups run as for Ctrl-C."""


class HungUp(Terminated):
    """Raised in the main thread on SIGHUP (the terminal that started the run was closed)."""


class CliParser(argparse.ArgumentParser):
    """argparse with errors raised as QYoloError (one line, exit 2 through run_cli), and options that contradict
    each other refused instead of the last one silently winning: --x with --no-x, or one option given twice with
    different values."""

    def error(self, message: str):
        raise QYoloError(f"{message} (see {self.prog} --help)")

    def _action_of(self, token: str) -> argparse.Action | None:
        name = token.split("=", 1)[0]
        if name in self._option_string_actions:
            return self._option_string_actions[name]
        matches = {a for option, a in self._option_string_actions.items() if option.startswith(name)}
        return matches.pop() if len(matches) == 1 and name.startswith("--") else None

    def _check_contradictions(self, args: Sequence[str]) -> None:
        given: dict[str, list[tuple[str, argparse.Action, object]]] = {}
        tokens = list(args)
        for index, token in enumerate(tokens):
            if token == "--":
                break
            if not token.startswith("-") or token == "-":
                continue
            action = self._action_of(token)
            if action is None or action.nargs not in (None, 0) or isinstance(action, (argparse._AppendAction,
                                                                                      argparse._CountAction)):
                continue
            if action.nargs == 0:
                value = None
            elif "=" in token:
                value = token.split("=", 1)[1]
            else:
                value = tokens[index + 1] if index + 1 < len(tokens) else None
            given.setdefault(action.dest, []).append((token.split("=", 1)[0], action, value))
        for uses in given.values():
            if len({(id(action), value) for _, action, value in uses}) > 1:
                shown = " and ".join(f"{option}{'' if value is None else ' ' + str(value)}"
                                     for option, _, value in uses)
                self.error(f"{shown} contradict each other; give one")

    def parse_known_args(self, args=None, namespace=None):
        self._check_contradictions(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)


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
finite_float = _option_type(validate.finite_number, float, "a number")
thread_count = _option_type(validate.thread_count, int, "a thread count")


thread_count_or_zero = _option_type(lambda value, name: validate.thread_count(value, name, allow_zero=True), int,
                                    "a thread count or 0")


def make_config(config_class: type, **fields):
    """config_class(**fields), its ValueError (a bad value) turned into the one-line user error."""
    try:
        return config_class(**fields)
    except ValueError as exc:
        raise QYoloError(str(exc)) from None


_SIGNALS = {signal.SIGINT: KeyboardInterrupt, signal.SIGTERM: Terminated,
            **({signal.SIGHUP: HungUp} if hasattr(signal, "SIGHUP") else {})}


def _install_handlers() -> dict:
    """The first of SIGINT/SIGTERM/SIGHUP raises its exception in the main thread (the cleanups run); a second one
    while they run exits at once with one line instead of a traceback from the middle of a cleanup."""
    state = {"first": None}

    def handler(signum, frame):
        if state["first"] is not None:
            os.write(2, b"interrupted again: quitting without finishing the cleanup (leftover temporary files are "
                        b"removed by the next run)\n")
            os._exit(128 + signum)
        state["first"] = signum
        raise _SIGNALS[signum]()

    previous = {}
    try:
        for signum in _SIGNALS:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread (a CLI called from a worker thread): leave signals alone
        for signum, old in previous.items():
            signal.signal(signum, old)
        return {}
    return previous


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> int:
    previous = _install_handlers()
    try:
        code = main(argv)
    except QYoloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except HungUp:
        print("hung up: temporary files removed; files already written are complete (writes are atomic)",
              file=sys.stderr)
        return 129
    except Terminated:
        print("terminated: temporary files removed; files already written are complete (writes are atomic)",
              file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: temporary files removed; files already written are complete (writes are atomic)",
              file=sys.stderr)
        return 130
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
    return int(code or 0)
