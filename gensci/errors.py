"""Errors a user can cause and fix: the CLI prints their message as one line and exits 2."""

from __future__ import annotations

__all__ = ["GensciError"]


class GensciError(Exception):
    """A user-facing problem (bad input file, unknown condition, bad override, missing checkpoint).

    The message must say what is wrong and what would be accepted; the command-line
    interface prints ``error: <message>`` and exits with status 2, without a traceback.
    """
