"""A thin typed client for the Asterisk REST Interface over aiohttp: REST calls, the event
WebSocket with reconnect and resync, per-channel ordered dispatch."""
