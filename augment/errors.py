"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback."""


class AugmentError(Exception):
    """A mistake in the user's input (file, column, value, option) with a message that names it."""

    exit_code = 2


class MissingExtraError(AugmentError):
    """An optional dependency (an extra such as ``augment[sdv]``) is not installed."""

    exit_code = 3
