"""Twilio SMS/MMS."""
