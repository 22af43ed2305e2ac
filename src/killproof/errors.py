"""The one error type that reaches the user: bad input or bad usage (exit status 2)."""

from __future__ import annotations


class InputError(Exception):
    """Input killproof cannot use: an unreadable path, a truncated JSON, a bad flag value.

    The CLI prints it as one line (``killproof: PATH:LINE: MESSAGE``) and exits 2.
    """

    def __init__(self, message: str, path: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = self.path
        if where and self.line:
            where += f":{self.line}"
        return f"{where}: {self.message}" if where else self.message


class ReadRefused(OSError):
    """A file ``check`` declines to read on purpose: a link out of the checked tree or in
    a loop, something that is not a regular file, a file over the size limit. It is
    listed as skipped work, not reported as a file that could not be read (KP001). Its
    message ends with ``: not read`` (kustomize's resolver passes it on as text)."""
