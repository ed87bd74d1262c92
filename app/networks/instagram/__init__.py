"""Instagram professional account (Instagram Graph API through Facebook Login): the adapter (adapter.py), its
linking (linking.py, Meta OAuth shared with Facebook) and its webhook parsing (webhook.py)."""
