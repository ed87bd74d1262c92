"""Linked social-network accounts: link (credentials verified, stored encrypted), test, disable."""
