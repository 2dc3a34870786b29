"""Outreach: the outbox, webhook and alert settings, the SSRF guard and the senders."""
