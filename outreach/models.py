"""Every model, imported so that Base.metadata is complete (Alembic, tests)."""

from __future__ import annotations

from outreach.accounts.models import AdminUser, ApiToken, SignInThrottle
from outreach.campaigns.models import Campaign, CampaignGroup, CampaignStatus, Variant
from outreach.consent.models import (
    ConsentAction,
    ConsentEvent,
    NoticeVersion,
    Purpose,
    Suppression,
    UsedToken,
)
from outreach.contacts.models import Contact, ContactStatus
from outreach.db import Base
from outreach.delivery.models import Delivery, DeliveryStatus
from outreach.groups.models import Group, GroupKind, GroupMembership
from outreach.inbound.models import InboundMessage
from outreach.ops.models import Worker
from outreach.outbox.models import OutboxMessage, OutboxStatus
from outreach.privacy.models import AuditEntry, DataRequest, RequestKind, RequestState
from outreach.stored_settings import Setting
from outreach.tracking.models import (
    DeliveryTally,
    EngagementTally,
    HitKind,
    HourlyTally,
    LinkClick,
    RecordedBatch,
    TrackingHit,
)

__all__ = [
    "AdminUser",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Campaign",
    "CampaignGroup",
    "CampaignStatus",
    "ConsentAction",
    "ConsentEvent",
    "Contact",
    "ContactStatus",
    "DataRequest",
    "Delivery",
    "DeliveryTally",
    "DeliveryStatus",
    "EngagementTally",
    "Group",
    "GroupKind",
    "GroupMembership",
    "HitKind",
    "HourlyTally",
    "InboundMessage",
    "LinkClick",
    "NoticeVersion",
    "OutboxMessage",
    "OutboxStatus",
    "Purpose",
    "RecordedBatch",
    "RequestKind",
    "RequestState",
    "Setting",
    "SignInThrottle",
    "Suppression",
    "TrackingHit",
    "UsedToken",
    "Variant",
    "Worker",
]
