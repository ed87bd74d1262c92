"""Inbound and outbound messages: the Twilio webhooks, the outbound queue, delivery status."""
