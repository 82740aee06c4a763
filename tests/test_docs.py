"""The operator docs stay true to the code: every setting is in docs/configuration.md, the
OpenAPI description and the app's routes agree in both directions, docker-compose.yml is valid,
and the production Asterisk configuration in deploy/asterisk/ matches what render.py gives the
private Asterisk."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
import yaml
from pydantic import BaseModel
from redis.asyncio import Redis

from telephony.asterisk.render import AsteriskRunConfig, render
from vardlinje.app import create_app
from vardlinje.db import Database
from vardlinje.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DEPLOY = ROOT / "deploy"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Read by code directly, not through the Settings model.
OTHER_ENV = {"VARDLINJE_SETTINGS_FILE", "VARDLINJE_ASTERISK_ROOT"}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No VARDLINJE_* variable and no vardlinje.toml of the developer leaks into the test."""
    import os

    for name in list(os.environ):
        if name.startswith("VARDLINJE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def setting_env_names(model: type[BaseModel] = Settings, prefix: str = "VARDLINJE_") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


# --- docs/configuration.md --------------------------------------------------------------------


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    names = list(setting_env_names())
    assert "VARDLINJE_ASTERISK__SIP_PORT" in names and "VARDLINJE_DATABASE_URL" in names
    missing = [n for n in names if not re.search(rf"`{re.escape(n)}`", text)]
    assert not missing, f"docs/configuration.md does not document: {', '.join(missing)}"


def test_documented_settings_exist() -> None:
    text = (DOCS / "configuration.md").read_text()
    known = set(setting_env_names()) | OTHER_ENV
    mentioned = set(re.findall(r"\bVARDLINJE_[A-Z0-9_]*[A-Z0-9]", text))
    assert mentioned - known == set(), f"docs/configuration.md names settings that do not exist: {mentioned - known}"


def test_example_toml_is_valid(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (DOCS / "configuration.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert blocks, "docs/configuration.md has no ```toml example"
    path = clean_env / "vardlinje.toml"
    path.write_text(blocks[0])
    monkeypatch.setenv("VARDLINJE_SETTINGS_FILE", str(path))
    settings = load_settings()
    assert settings.asterisk.mode == "external"
    assert settings.auth.cookie_secure is True


# --- docs/openapi.yaml ------------------------------------------------------------------------


def _openapi() -> dict[str, object]:
    doc = yaml.safe_load((DOCS / "openapi.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_openapi_parses() -> None:
    doc = _openapi()
    assert re.fullmatch(r"3\.1\.\d+", str(doc["openapi"])), doc["openapi"]
    assert isinstance(doc["paths"], dict) and doc["paths"]
    components = doc["components"]
    assert isinstance(components, dict)
    schemes = components["securitySchemes"]
    assert schemes["sessionCookie"] == {**schemes["sessionCookie"], "type": "apiKey", "in": "cookie",
                                        "name": "vardlinje_session"}
    assert schemes["csrfToken"]["name"] == "X-CSRF-Token"
    assert schemes["bearerToken"]["scheme"] == "bearer"
    assert components["schemas"]["Error"]["required"] == ["error", "detail"]


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_openapi_refs_resolve() -> None:
    doc = _openapi()
    for ref in set(_refs(doc)):
        assert ref.startswith("#/"), ref
        node: object = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
            node = node[part]


async def test_openapi_matches_app_routes(clean_env: Path) -> None:
    settings = load_settings()
    db = Database.from_url(f"sqlite:///{clean_env}/docs.db")
    redis = Redis.from_url("redis://127.0.0.1:1/0")  # never connected: routes only
    try:
        app = create_app(settings, db, redis, prompt_dir=clean_env)
        registered = {
            (route.resource.canonical, route.method.lower())
            for route in app.router.routes()
            if route.method != "HEAD" and route.resource is not None
        }
    finally:
        await redis.aclose()
        db.dispose()
    paths = _openapi()["paths"]
    assert isinstance(paths, dict)
    documented = {(path, method) for path, item in paths.items() for method in item if method in HTTP_METHODS}
    assert registered - documented == set(), f"routes missing from docs/openapi.yaml: {sorted(registered - documented)}"
    assert documented - registered == set(), f"docs/openapi.yaml documents routes the app lacks: {sorted(documented - registered)}"


# --- docker-compose.yml -----------------------------------------------------------------------


def test_docker_compose_config_is_valid() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is missing: apt-get install docker-compose", pytrace=False)
    done = subprocess.run([binary, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"docker-compose config failed:\n{done.stdout}\n{done.stderr}"


def test_compose_services_and_files() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"app", "asterisk", "redis", "postgres", "coturn"} <= set(services)
    for name, service in services.items():
        assert "restart" in service, f"{name} has no restart policy"
        assert "healthcheck" in service, f"{name} has no healthcheck"
    for name in ("app", "asterisk"):
        dockerfile = DEPLOY / Path(services[name]["build"]["dockerfile"]).name
        assert dockerfile.is_file(), dockerfile
    assert (DEPLOY / "turnserver.conf").is_file()


# --- deploy/asterisk vs render.py -------------------------------------------------------------


def _rendered() -> dict[str, str]:
    return render(AsteriskRunConfig(run_dir=PurePosixPath("/run/x"), app_name="vardlinje", ari_user="vardlinje",
                                    ari_password="x", http_port=8088, sip_port=5060, rtp_start=10000,
                                    rtp_end=10999))


def _section(text: str, name: str) -> str:
    match = re.search(rf"^\[{re.escape(name)}\][^\n]*\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    assert match, f"no [{name}] section"
    lines = [line.strip() for line in match.group(1).splitlines()]
    return "\n".join(line for line in lines if line and not line.startswith(";"))


def _conf(name: str) -> str:
    return (DEPLOY / "asterisk" / name).read_text()


def test_production_asterisk_loads_the_same_modules() -> None:
    loaded = re.findall(r"^load\s*=\s*(\S+)", _conf("modules.conf"), re.M)
    rendered = re.findall(r"^load\s*=\s*(\S+)", _rendered()["modules.conf"], re.M)
    assert sorted(loaded) == sorted(rendered)
    assert "autoload = no" in _conf("modules.conf")


def test_production_dialplan_matches_render() -> None:
    ours, rendered = _conf("extensions.conf"), _rendered()["extensions.conf"]
    for context in ("from-callers", "vardlinje-fallback", "vardlinje-transfer"):
        assert _section(ours, context) == _section(rendered, context), f"[{context}] differs from render.py"
    assert "STASISSTATUS" in _section(ours, "from-callers")


def test_deployment_doc_snippets_match_render() -> None:
    """The snippets operators copy from docs/deployment.md are render.py's, too."""
    blocks = re.findall(r"```ini\n(.*?)```", (DOCS / "deployment.md").read_text(), re.S)
    rendered = _rendered()
    dialplan = next(b for b in blocks if "[from-callers]" in b)
    for context in ("from-callers", "vardlinje-fallback", "vardlinje-transfer"):
        assert _section(dialplan, context) == _section(rendered["extensions.conf"], context), context
    sorcery = next(b for b in blocks if "[res_pjsip]" in b)
    assert _section(sorcery, "res_pjsip") == _section(rendered["sorcery.conf"], "res_pjsip")


def test_production_sorcery_matches_render() -> None:
    assert _section(_conf("sorcery.conf"), "res_pjsip") == _section(_rendered()["sorcery.conf"], "res_pjsip")


def test_production_asterisk_configs_parse() -> None:
    """Every file is well-formed enough for Asterisk: sections before settings, key = value."""
    for path in sorted((DEPLOY / "asterisk").glob("*.conf")):
        section = None
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            line = raw.split(";", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                section = line
                continue
            assert section is not None, f"{path.name}:{number}: setting before any [section]"
            assert re.match(r"^[\w.-]+\s*=>?", line), f"{path.name}:{number}: {raw!r}"
