"""Google Business Profile notifications through a Pub/Sub push: the envelope read into a notification. The route,
its token check and the polls it enqueues are ``app.mentions.webhooks``."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from app.networks.facebook.graph import graph_obj

REVIEW_TYPES = frozenset({"NEW_REVIEW", "UPDATED_REVIEW"})


@dataclass(frozen=True, slots=True)
class GoogleNotification:
    type: str
    location: str  # accounts/{a}/locations/{l} (or locations/{l})
    review: str  # accounts/{a}/locations/{l}/reviews/{r}, "" when absent
    message_id: str


def google_notification(envelope: Any) -> GoogleNotification | None:
    """The notification inside a Pub/Sub push envelope; None when it cannot be read. The Business Profile
    notification names its fields ``location_name`` / ``review_name`` (camelCase in JSON); the type may also come
    as a message attribute."""
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        return None
    attributes = graph_obj(message.get("attributes"))
    data: Any = {}
    if raw := message.get("data"):
        try:
            data = json.loads(base64.b64decode(str(raw), validate=False))
        except (ValueError, binascii.Error):
            return None
    if not isinstance(data, dict):
        return None

    def pick(*names: str) -> str:
        for source in (data, attributes):
            for name in names:
                if value := source.get(name):
                    return str(value)
        return ""

    review = pick("reviewName", "review_name", "review")
    location = pick("locationName", "location_name", "location") or review.partition("/reviews/")[0]
    return GoogleNotification(
        type=pick("notificationType", "notification_type", "type"),
        location=location,
        review=review,
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
    )


def location_id(name: str) -> str:
    """``accounts/1/locations/2`` or ``locations/2`` → ``2``."""
    _, _, rest = name.partition("locations/")
    return rest.split("/", 1)[0]
