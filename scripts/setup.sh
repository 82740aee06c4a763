#!/usr/bin/env bash
# Installs what Vårdlinje needs on Debian 12 (run as root), skipping what is already there:
# system packages, the virtualenv with the project, and the private Asterisk 22 root.
# Safe to run again; a warm run takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

PACKAGES=(redis-server sip-tester espeak-ng sox debootstrap postgresql util-linux ca-certificates docker-compose)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $EUID -eq 0 ]] || { log "ERROR: need root to install: ${missing[*]}"; exit 2; }
    log "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" > /tmp/vardlinje-apt.log 2>&1 \
        || { tail -30 /tmp/vardlinje-apt.log; log "ERROR: apt-get install failed"; exit 2; }
fi

PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { log "ERROR: Python 3.11 or newer is needed ($PY is $("$PY" -V 2>&1))"; exit 2; }
STAMP=.venv/.vardlinje-installed
if [[ ! -x .venv/bin/python || ! -f $STAMP || pyproject.toml -nt $STAMP || constraints.txt -nt $STAMP ]]; then
    log "creating the virtualenv .venv with the project"
    [[ -x .venv/bin/python ]] || "$PY" -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]' > .venv/pip.log 2>&1 \
        || { tail -30 .venv/pip.log; log "ERROR: pip install failed (see .venv/pip.log)"; exit 2; }
    touch "$STAMP"
fi

if [[ -z "${VARDLINJE_ASTERISK__MODE:-}" || "${VARDLINJE_ASTERISK__MODE}" == "private" ]]; then
    bash scripts/asterisk-root.sh
fi
log "ready"
