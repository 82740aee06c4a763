# Asterisk 22 from Debian's packages (Debian 12 has none; testing has 22), configured for
# Vårdlinje with the files in deploy/asterisk/ (the same modules and dialplan as the private
# Asterisk that telephony/asterisk/render.py configures). Build context: the repository root.
FROM debian:testing

RUN apt-get update \
 && apt-get install -y --no-install-recommends asterisk asterisk-modules asterisk-config asterisk-moh-opsound-wav ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /etc/asterisk/* \
 && mkdir -p /var/lib/vardlinje/prompts /var/run/asterisk

COPY deploy/asterisk/ /etc/asterisk/
COPY deploy/asterisk-entrypoint.sh /usr/local/bin/asterisk-entrypoint

# SIP (trunk) 5060/udp, RTP 10000-10999/udp (rtp.conf), HTTP 8088 on loopback (ARI, /ws).
EXPOSE 5060/udp 10000-10999/udp

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD asterisk -rx "core show uptime" | grep -q "System uptime" || exit 1

ENTRYPOINT ["/usr/local/bin/asterisk-entrypoint"]
