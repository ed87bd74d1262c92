"""Facebook Page (Meta Graph API): the adapter (adapter.py), the Graph client and error classification shared with
Instagram (graph.py), comments as mentions (mentions.py), the Meta OAuth linking shared with Instagram
(linking.py) and the Meta webhook parsing (webhook.py)."""
