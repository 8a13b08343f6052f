"""User-facing errors: the CLI prints them as one line and exits non-zero, without a traceback."""


class CbqaError(Exception):
    """An error caused by the user's input or environment, with a message that says what to fix."""


class DataError(CbqaError):
    """Malformed input data. The message starts with `file:line:` where a line is known."""

    def __init__(self, path: object, line: int | None, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason
