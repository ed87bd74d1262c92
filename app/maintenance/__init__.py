"""Housekeeping and the operator's tools behind ``ardoise`` (keys, jobs, backups, pruning)."""


class OpsError(Exception):
    """A failure to tell the operator in one plain line (the CLI prints it without a traceback)."""
