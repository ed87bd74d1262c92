"""Mentions, comments and reviews collected from the networks, and the digests that bring them to the owner.

``digest`` composes the SMS and email digests (pure: no I/O, no database, no clock).
"""
