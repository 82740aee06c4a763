"""SMS to callers through Twilio: chat and form links, image and video invitations.
Outbound messages and the signed status webhooks."""
