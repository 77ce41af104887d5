"""Errors a user can fix, shared by every command.

Kept apart from callradar.pipeline.cli.main so that ``python -m callradar.pipeline.cli.main`` (how worker
processes are started) and ``import callradar.pipeline.cli.main`` see one and the same class.
"""


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""
