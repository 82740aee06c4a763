"""The nurse desktop's server side: her presence, her queues, the supervisors' region view, and the
desktop WebSocket with its liveness check (docs/desktop.md). `setup_desktop(app)` adds it all."""
