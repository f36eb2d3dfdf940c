"""The one exception type for user errors (bad input, missing files): the CLIs print it as one line, no traceback."""


class QYoloError(Exception):
    """A problem with what the user gave us (a path, a value, a file's content). Message says what and what to do."""


def exception_line(exc: BaseException, limit: int = 160) -> str:
    """`Type: first line of the message` (cut at `limit`), for one-line errors that quote a library's exception."""
    text = str(exc).splitlines()[0][:limit] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
