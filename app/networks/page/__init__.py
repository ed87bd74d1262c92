"""The built-in Ardoise page (adapter.py): every business has one; nothing to link, no webhook."""
