"""SMS to callers: chat and form links, image and video invitations.

One provider interface (`provider.SmsProvider`) with two implementations: Twilio's Messages API
(`twilio_provider`) and a local outbox for development and the demo (`outbox`). Every message
is a row in `sms_message` and, when it belongs to a call, events on the call record
(`service.send_sms`). Twilio's signed delivery-status callbacks arrive at `http`.
"""
