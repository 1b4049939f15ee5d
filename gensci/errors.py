"""Errors a user can cause and fix: the CLI prints their message as one line and exits 2."""

from __future__ import annotations

__all__ = ["GensciError", "IncompatibleSampler"]


class GensciError(Exception):
    """A user-facing problem (bad input file, unknown condition, bad override, missing checkpoint).

    The message must say what is wrong and what would be accepted; the command-line
    interface prints ``error: <message>`` and exits with status 2, without a traceback.
    """


class IncompatibleSampler(GensciError, TypeError):
    """A sampler asked to drive a process (or a field of one) whose step it cannot take.

    The message names the field, what the sampler needs and the samplers that can drive it.
    """
