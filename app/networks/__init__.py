"""Social networks Ardoise publishes to. Adapters are pure I/O: no DB, no settings."""
