"""The audit log: every write, with the key or member that made it."""
