#!/usr/bin/env bash
# Installs what Vårdlinje needs on Debian 12 (run as root), skipping what is already there:
# system packages, the virtualenv with the project, the softphone's npm packages and JsSIP
# bundle, and the private Asterisk 22 root.
# Safe to run again; a warm run takes a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

# chromium: the browser tests' headless Chromium (/usr/bin/chromium; never `playwright install`).
PACKAGES=(redis-server sip-tester espeak-ng sox debootstrap postgresql util-linux ca-certificates docker-compose chromium)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm build the softphone's JsSIP bundle. By command, not package: a machine with
# another Node.js (e.g. one that brings its own npm) keeps it; Debian's nodejs/npm otherwise.
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)
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

# The softphone's JsSIP, from npm by package-lock.json, bundled for the browser (JsSIP ships no
# browser build): desktop/static/vendor/jssip.min.js. node_modules and the bundle are not in git.
NPM_STAMP=node_modules/.vardlinje-installed
BUNDLE=desktop/static/vendor/jssip.min.js
if [[ ! -f $NPM_STAMP || package.json -nt $NPM_STAMP || package-lock.json -nt $NPM_STAMP ]]; then
    log "installing the softphone's npm packages (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error > /tmp/vardlinje-npm.log 2>&1 \
        || { tail -30 /tmp/vardlinje-npm.log; log "ERROR: npm ci failed"; exit 2; }
    touch "$NPM_STAMP"
fi
if [[ ! -f $BUNDLE || $NPM_STAMP -nt $BUNDLE ]]; then
    log "building $BUNDLE"
    npm run -s build || { log "ERROR: the JsSIP bundle did not build"; exit 2; }
fi

if [[ -z "${VARDLINJE_ASTERISK__MODE:-}" || "${VARDLINJE_ASTERISK__MODE}" == "private" ]]; then
    bash scripts/asterisk-root.sh
fi
log "ready"
