"""Every table. Alembic imports this package to see the whole schema."""

from app.models.account import AccountStatus, NetworkAccount
from app.models.business import ApiKey, AuditEvent, Business, BusinessNumber, Lang, PublishMode
from app.models.job import Job, JobState
from app.models.member import Member
from app.models.mention import DigestSettings, MentionCursor, MentionSeen
from app.models.mention import Mention as MentionRow
from app.models.message import (
    Channel,
    InboundMessage,
    InboundStatus,
    OutboundMessage,
    OutboundStatus,
    PendingAction,
    StatusEvent,
)
from app.models.oauth import OAuthState
from app.models.post import Delivery, DeliveryStatus, Post, PostStatus
from app.models.schedule import Schedule

__all__ = [
    "AccountStatus",
    "ApiKey",
    "AuditEvent",
    "Business",
    "BusinessNumber",
    "Channel",
    "Delivery",
    "DeliveryStatus",
    "DigestSettings",
    "InboundMessage",
    "InboundStatus",
    "Job",
    "JobState",
    "Lang",
    "Member",
    "MentionCursor",
    "MentionRow",
    "MentionSeen",
    "NetworkAccount",
    "OAuthState",
    "OutboundMessage",
    "OutboundStatus",
    "PendingAction",
    "Post",
    "PostStatus",
    "PublishMode",
    "Schedule",
    "StatusEvent",
]
