"""Mastodon, on any instance: the adapter (adapter.py), its text rules (text.py) and its API answers (api.py).
Linked with an instance URL and an access token through the accounts API."""
