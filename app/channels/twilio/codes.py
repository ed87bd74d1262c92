"""Twilio error codes → retryable or permanent, in one table.

Sources: Twilio's error dictionary (twilio.com/docs/api/errors). Anything not listed: 5xx and 429 are
retryable, other 4xx permanent.
"""

from __future__ import annotations

# code: (retryable, short reason)
TWILIO_CODES: dict[int, tuple[bool, str]] = {
    20003: (False, "auth"),  # authentication failed
    20429: (True, "rate_limited"),  # too many requests
    20500: (True, "twilio_internal"),
    20503: (True, "twilio_unavailable"),
    21211: (False, "invalid_number"),  # invalid 'To' phone number
    21212: (False, "invalid_from"),
    21408: (False, "region_disabled"),  # permission to send to this region not enabled
    21606: (False, "invalid_from"),  # 'From' is not a valid message-capable number
    21608: (False, "unverified_number"),  # trial account
    21610: (False, "opted_out"),  # the recipient replied STOP: unsubscribed
    21611: (True, "queue_full"),  # this 'From' number has exceeded the queue size
    21612: (False, "unreachable_route"),
    21614: (False, "not_mobile"),  # 'To' is not a mobile number
    21617: (False, "too_long"),  # body exceeds 1600 characters
    30001: (True, "queue_overflow"),
    30002: (False, "account_suspended"),
    30003: (False, "unreachable"),  # handset off or out of coverage (final from the carrier)
    30004: (False, "blocked"),
    30005: (False, "unknown_destination"),
    30006: (False, "landline"),
    30007: (False, "filtered"),  # carrier filtering
    30008: (True, "unknown_error"),
    30034: (False, "unregistered_10dlc"),
}


def classify(code: int | None, http_status: int) -> tuple[bool, str]:
    """(retryable, reason) for a failed Twilio call."""
    if code is not None and code in TWILIO_CODES:
        return TWILIO_CODES[code]
    if http_status == 429 or http_status >= 500:
        return True, f"http_{http_status}"
    return False, f"http_{http_status}" if code is None else f"twilio_{code}"
