"""Posts and their fan-out to every account of the business, exactly once per account."""
