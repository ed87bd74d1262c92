"""Bluesky (atproto): the adapter (adapter.py), its text rules and facets (text.py), record keys (records.py) and
error classification (errors.py). Linked with a handle and an app password through the accounts API."""
