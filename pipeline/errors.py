"""Errors a user can fix, shared by every command.

Kept apart from pipeline.cli so that ``python -m pipeline.cli`` (how worker
processes are started) and ``import pipeline.cli`` see one and the same class.
"""


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""
