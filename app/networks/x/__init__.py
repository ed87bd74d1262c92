"""X (formerly Twitter): the adapter (adapter.py), its text rules (text.py), its API answers (api.py) and its
OAuth 2.0 linking (linking.py)."""
