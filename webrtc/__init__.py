"""Escalation from a phone call to image upload and WebRTC video: one-time links,
upload sanitising, video rooms and their signalling."""
