# The two commands of the README: `make run` and `make test`. Both install what they need.
PACKAGES := vardlinje telephony calls identity ivr agents routing sms webrtc config advice desktop journal catalog

.PHONY: setup run test lint typecheck

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/vardlinje run

lint: setup
	.venv/bin/ruff check $(PACKAGES) tests bench migrations

typecheck: setup
	.venv/bin/mypy $(PACKAGES)

# Two workers: most integration tests wait on real calls (prompts, ring times), so two halve the wall time
# even on two cores; every test starts its own ports and Asterisk run directory.
test: setup lint typecheck
	.venv/bin/pytest -n 2
