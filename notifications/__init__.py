"""Notifications: Aliyun SMS and WeChat subscribe messages through a durable outbox."""
