#!/bin/sh
# Fills the two placeholders of /etc/asterisk from the environment, then runs Asterisk in the
# foreground (it drops to the asterisk user itself: asterisk.conf runuser/rungroup).
#   ARI_PASSWORD        the ARI user's password (same value as the app's VARDLINJE_ASTERISK__ARI_PASSWORD)
#   SIP_TRUNK_NETWORKS  comma-separated addresses/networks of the SIP trunk (pjsip.conf identify)
#   SIP_TRUNK_CONTACT   host:port the IVR's transfers to external numbers are sent to
set -eu

case "${ARI_PASSWORD:-}" in
    ""|change-me)
        echo "asterisk: set ARI_PASSWORD (e.g. openssl rand -hex 24); refusing the placeholder" >&2; exit 2 ;;
esac
# Only characters that need no quoting in a config file or a sed expression.
if ! printf '%s' "$ARI_PASSWORD" | grep -Eq '^[A-Za-z0-9._~-]{16,128}$'; then
    echo "asterisk: ARI_PASSWORD must be 16-128 characters of A-Z a-z 0-9 . _ ~ -" >&2; exit 2
fi
NETWORKS="${SIP_TRUNK_NETWORKS:-127.0.0.1/32}"
if ! printf '%s' "$NETWORKS" | grep -Eq '^[0-9a-fA-F.:/,]+$'; then
    echo "asterisk: SIP_TRUNK_NETWORKS must be comma-separated addresses or networks" >&2; exit 2
fi

sed -i "s|@ARI_PASSWORD@|$ARI_PASSWORD|" /etc/asterisk/ari.conf
sed -i "s|@SIP_TRUNK_NETWORKS@|$NETWORKS|" /etc/asterisk/pjsip.conf
# Transfers to external numbers leave through the trunk; without one they fail over to a nurse.
CONTACT="${SIP_TRUNK_CONTACT:-127.0.0.1:5062}"
case "$CONTACT" in *[!A-Za-z0-9.:-]*) echo "asterisk: SIP_TRUNK_CONTACT must be host:port" >&2; exit 2;; esac
sed -i "s|@SIP_TRUNK_CONTACT@|$CONTACT|" /etc/asterisk/pjsip.conf
chown -R asterisk:asterisk /var/lib/asterisk /var/spool/asterisk /var/log/asterisk /var/cache/asterisk /var/run/asterisk

exec /usr/sbin/asterisk -f -vvv "$@"
