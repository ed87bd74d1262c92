"""How businesses talk to Ardoise: SMS and email providers. Pure I/O: no DB, no settings."""
