"""Ardoise: run a small business's social-media presence from a basic phone or plain email."""
