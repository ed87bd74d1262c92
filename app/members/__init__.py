"""Owners and staff who command a business by SMS or email."""
