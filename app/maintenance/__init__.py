"""Housekeeping jobs."""
