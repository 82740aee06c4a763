"""Application assembly: the aiohttp app, settings, logging, the CLI (`vardlinje ...`) and `doctor`.
Everything here wires the capability packages together; decisions live in those packages."""
