"""The one exception type for user errors (bad input, missing files): the CLIs print it as one line, no traceback."""


class QYoloError(Exception):
    """A problem with what the user gave us (a path, a value, a file's content). Message says what and what to do."""
