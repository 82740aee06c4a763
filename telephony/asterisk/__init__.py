"""The private Asterisk 22 root: per-run configuration rendering and the supervised process
(chroot, own mount namespace so nothing stale survives a killed run)."""
