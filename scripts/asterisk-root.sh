#!/usr/bin/env bash
# Builds (once) and checks the private Asterisk 22 root: a minimal Debian testing
# tree made by debootstrap, in which Asterisk runs under chroot.
#
#   scripts/asterisk-root.sh [DIR]      default: $VARDLINJE_ASTERISK_ROOT or ~/.cache/vardlinje/asterisk-root
#
# The root is built in DIR.partial and renamed when complete, so a killed build never
# leaves a half root that looks ready. Never copy a root while a /proc is mounted in it.
set -euo pipefail

ROOT="${1:-${VARDLINJE_ASTERISK_ROOT:-$HOME/.cache/vardlinje/asterisk-root}}"
WANT_MAJOR=22
MARK="$ROOT/.vardlinje-root"

log() { printf '[asterisk-root] %s\n' "$*" >&2; }

check_version() {
    local v
    v="$(chroot "$ROOT" /usr/sbin/asterisk -V 2>/dev/null || true)"
    case "$v" in
        "Asterisk ${WANT_MAJOR}."*) log "ready: $v in $ROOT" ;;
        *) log "ERROR: $ROOT holds '${v:-no asterisk}', Vårdlinje needs Asterisk ${WANT_MAJOR}."
           log "Remove $ROOT and run this script again, or point VARDLINJE_ASTERISK_ROOT elsewhere."
           exit 3 ;;
    esac
}

if [[ -f "$MARK" ]]; then
    check_version
    exit 0
fi

command -v debootstrap >/dev/null || { log "ERROR: debootstrap is missing (apt-get install debootstrap)"; exit 2; }

PARTIAL="$ROOT.partial"
# A killed earlier build may have left mounts inside the partial tree.
if [[ -d "$PARTIAL" ]]; then
    grep -o " $PARTIAL/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf --one-file-system "$PARTIAL"
fi
mkdir -p "$(dirname "$ROOT")"

built=""
for suite in testing sid; do
    log "debootstrap $suite into $PARTIAL (about a minute) ..."
    if debootstrap --variant=minbase --include=asterisk,asterisk-modules,asterisk-config \
        "$suite" "$PARTIAL" > "$ROOT.debootstrap.log" 2>&1; then
        built="$suite"; break
    fi
    log "debootstrap $suite failed (see $ROOT.debootstrap.log); trying the next suite"
    rm -rf --one-file-system "$PARTIAL"
done
[[ -n "$built" ]] || { log "ERROR: could not build an Asterisk root from testing or sid"; exit 2; }

# Asterisk drops privileges to the asterisk user unless told not to; our per-run
# directories belong to root, so it must stay root inside its chroot.
sed -i -E 's/^\s*(runuser|rungroup)/;\1/' "$PARTIAL/etc/asterisk/asterisk.conf"
# No DNS inside the root: a hosts file keeps name lookups of localhost instant.
printf '127.0.0.1 localhost\n::1 localhost\n' > "$PARTIAL/etc/hosts"
# Package caches are not needed at run time.
rm -rf "$PARTIAL"/var/cache/apt/archives/*.deb "$PARTIAL"/var/lib/apt/lists/*
mkdir -p "$PARTIAL/var/lib/vardlinje-runs"
echo "$built $(date -u +%FT%TZ)" > "$PARTIAL/.vardlinje-root"
mv "$PARTIAL" "$ROOT"
check_version
