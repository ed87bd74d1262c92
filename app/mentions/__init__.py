"""Mentions, comments and reviews collected from the networks, and the digests that bring them to the owner.

``digest`` composes the SMS digest from each item's ``gist`` (both pure: no I/O, no database, no clock); the
email digest is written by ``app.email.digest``.
"""
