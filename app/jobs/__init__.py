"""Admin view of the job engine."""
