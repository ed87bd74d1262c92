"""Tenants: businesses, their SMS numbers and their built-in page account."""
