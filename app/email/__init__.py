"""The email channel: receive (SMTP listener, IMAP poller, Mailgun webhook), read (parse, reply extraction),
trust (signed reply tokens, DKIM/SPF, loop detection), act (the SMS command logic) and answer (relay or
console). docs/email.md is the operator's and owner's guide."""
