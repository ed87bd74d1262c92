"""The job engine: jobs are rows; workers claim them with a lease. Knows jobs, not features."""
