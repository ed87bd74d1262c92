"""Job lanes of the features: which remote service a job waits on.

The job engine (app/worker) only caps how many jobs of one lane a worker runs at once; what a lane *is* is a
domain rule and lives here, computed by the feature when it enqueues (``queue.enqueue(..., lane=...)``).
``app.accounts.service.lane_of`` applies it to a linked account.
"""

from __future__ import annotations

LANE_SIZE = 40  # the job.lane column


def network_lane(network: str, handle: str = "") -> str:
    """The lane of jobs that call ``network`` (deliveries, removals, polls, likes). Each Mastodon instance is its
    own server, so its lane is the instance (from the ``@user@instance`` handle): one stuck instance does not
    hold back the accounts on the others."""
    if network == "mastodon" and "@" in handle.lstrip("@"):
        return f"net:mastodon:{handle.rsplit('@', 1)[1].strip().lower()}"[:LANE_SIZE]
    return f"net:{network}"[:LANE_SIZE]
