"""The call record: one `call` row per contact and its append-only `call_event` log.
Every capability writes its events here; statistics and the journal read them."""
