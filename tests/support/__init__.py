"""Helpers more than one test package needs, kept once: the clock, the owner's phone, a worker subprocess,
headless Chromium and a live server."""
