"""The errors a user can cause, each one line that names the problem and the fix; anything else
raised in ``dpe`` is a bug and keeps its traceback."""

from __future__ import annotations

from typing import NoReturn

__all__ = ["ConfigError", "DataNotFound", "fail"]


class ConfigError(ValueError):
    """A bad setting; the message names the setting, the value and the fix."""


class DataNotFound(FileNotFoundError):
    """A dataset's files are missing; the message says where it looked and how to get them."""


def fail(name: str, value, fix: str) -> NoReturn:
    """The one error style of every setting: ``name=value is invalid: fix``."""
    raise ConfigError(f"{name}={value!r} is invalid: {fix}")
