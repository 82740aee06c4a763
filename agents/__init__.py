"""Nurses: the registry, their softphone endpoints and the presence state machine.
Every presence change goes through here (routing reserves, wrap-up and pauses call it)."""
