"""The outbox: every email that is not a campaign delivery, stored before it is sent."""
