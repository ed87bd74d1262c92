"""Email: the built-in SMTP listener (more in the email issue)."""
