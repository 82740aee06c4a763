# The Vårdlinje app. Build context: the repository root.
FROM python:3.11-slim

# espeak-ng and sox render the prompts at start (telephony/prompts.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng sox \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/vardlinje --create-home vardlinje \
 && mkdir -p /var/lib/vardlinje/prompts \
 && chown -R vardlinje:vardlinje /var/lib/vardlinje

WORKDIR /opt/vardlinje
COPY pyproject.toml constraints.txt README.md ./
COPY vardlinje ./vardlinje
COPY telephony ./telephony
COPY calls ./calls
COPY identity ./identity
COPY ivr ./ivr
COPY agents ./agents
COPY routing ./routing
COPY sms ./sms
COPY webrtc ./webrtc
COPY config ./config
COPY advice ./advice
COPY migrations ./migrations
RUN pip install --no-cache-dir -c constraints.txt . && rm -rf build *.egg-info

USER vardlinje
WORKDIR /var/lib/vardlinje
ENV VARDLINJE_DATA_DIR=/var/lib/vardlinje \
    VARDLINJE_ASTERISK__MODE=external \
    VARDLINJE_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1

EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('VARDLINJE_HTTP__PORT', '8080'), timeout=3)"

# Migrates the database, renders the prompts, competes for the leader lease and serves HTTP.
CMD ["vardlinje", "run"]
