"""Google Business Profile: the adapter (adapter.py, local posts and reviews), its OAuth 2.0 linking (linking.py)
and its Pub/Sub review notifications (webhook.py)."""
