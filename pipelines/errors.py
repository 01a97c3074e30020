"""Errors about input data, each a single line naming file, field, problem."""


class DataError(ValueError):
    """Bad input data: the message names the file (and line or field) and
    what was expected, in one line."""
