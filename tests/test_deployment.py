"""docker-compose.yml and .env.example stay consistent with the settings Frontline reads."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


def _interpolate(value: str, given: dict[str, str] | None = None) -> str:
    """Substitutes ${VAR:-default} and ${VAR:?message} as compose does (VAR from `given`)."""
    given = {"POSTGRES_PASSWORD": "s3cret"} if given is None else given

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3)
        if given.get(name):
            return given[name]
        if kind == ":-":
            return rest
        raise AssertionError(f"compose would stop: {rest}")

    return re.sub(r"\$\{(\w+)(:-|:\?)([^}]*)\}", one, value)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Tells whether Docker leaves a path out of the build context (patterns in order, ! re-includes)."""
    excluded = False
    parts = path.split("/")
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.removeprefix("!").rstrip("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            candidates = [prefix]
            if pattern.startswith("**/"):
                candidates = ["/".join(parts[start:depth]) for start in range(depth)]
                pattern_here = pattern.removeprefix("**/")
            else:
                pattern_here = pattern
            if any(fnmatch.fnmatchcase(c, pattern_here) for c in candidates):
                excluded = not negate
                break
    return excluded


def _setting_names() -> set[str]:
    return {f"FRONTLINE_{name.upper()}" for name in Settings.model_fields}


class TestDeployment:
    def test_env_example_documents_every_setting(self) -> None:
        """Every setting appears in .env.example, and nothing else with the prefix does."""
        documented = set(re.findall(r"^(FRONTLINE_\w+)=", (ROOT / ".env.example").read_text(encoding="utf-8"), re.M))
        assert documented == _setting_names()

    def test_env_example_values_are_valid_settings(self) -> None:
        """The example file, as shipped, is a valid configuration."""
        load_settings(_env_file=ROOT / ".env.example")

    def test_compose_has_every_service_with_health_checks_and_named_volumes(self) -> None:
        """bot, worker, desk, PostgreSQL, Redis and Chroma are there; the long-running ones have health checks."""
        compose = _compose()
        services = compose["services"]
        assert {"bot", "worker", "desk", "postgres", "redis", "chroma"} <= set(services)
        for name in ("bot", "worker", "desk", "postgres", "redis", "chroma"):
            assert "healthcheck" in services[name], name
        declared = set(compose["volumes"])
        for name, service in services.items():
            for volume in service.get("volumes", []):
                source = volume.split(":", 1)[0]
                assert source in declared, f"{name} mounts {source}, which is not a named volume"

    def test_compose_environment_is_valid_for_the_settings(self) -> None:
        """Every FRONTLINE_ variable compose sets is a real setting with a value the settings accept."""
        compose = _compose()
        for name in ("bot", "worker", "migrate", "desk"):
            env: dict[str, str] = compose["services"][name]["environment"]
            assert set(env) <= _setting_names(), set(env) - _setting_names()
            values = {k.removeprefix("FRONTLINE_").lower(): _interpolate(v) for k, v in env.items()}
            settings = load_settings(_env_file=None, **values)
            assert settings.effective_database_url.startswith("postgresql+asyncpg://")
            assert settings.redis_url and settings.chroma_url
        assert compose["services"]["bot"]["command"] == ["run"]
        assert compose["services"]["worker"]["command"] == ["worker"]
        desk = compose["services"]["desk"]
        assert desk["command"] == ["desk"] and desk["healthcheck"]["test"] == ["CMD", "frontline", "desk", "health"]
        assert desk["environment"]["FRONTLINE_DESK_HOST"] == "0.0.0.0"
        assert any(str(port).endswith(":" + desk["environment"]["FRONTLINE_DESK_PORT"]) for port in desk["ports"])

    def test_services_wait_for_migrations_and_dependencies(self) -> None:
        """The bot and worker start only after the migration job succeeded and the stores are healthy."""
        services = _compose()["services"]
        for name in ("bot", "worker"):
            depends = services[name]["depends_on"]
            assert depends["migrate"]["condition"] == "service_completed_successfully"
            assert depends["redis"]["condition"] == "service_healthy"
        assert services["desk"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services["migrate"]["command"] == ["db", "upgrade"]

    def test_compose_needs_a_postgres_password(self) -> None:
        """Without POSTGRES_PASSWORD compose refuses to start rather than use a default password."""
        services = _compose()["services"]
        for value in (
            services["postgres"]["environment"]["POSTGRES_PASSWORD"],
            services["bot"]["environment"]["FRONTLINE_DATABASE_URL"],
        ):
            assert _interpolate(value, {"POSTGRES_PASSWORD": "x1"}).count("x1") == 1
            try:
                _interpolate(value, {})
            except AssertionError as exc:
                assert "POSTGRES_PASSWORD" in str(exc)
            else:
                raise AssertionError(f"{value} has a default password")

    def test_env_example_has_the_postgres_password_the_readme_asks_for(self) -> None:
        """.env.example carries POSTGRES_PASSWORD, which the README tells to set."""
        example = (ROOT / ".env.example").read_text(encoding="utf-8")
        assert re.search(r"^POSTGRES_PASSWORD=", example, re.M)
        assert "POSTGRES_PASSWORD" in (ROOT / "README.md").read_text(encoding="utf-8")


class TestDockerignore:
    def test_secrets_environments_and_data_stay_out_of_the_image(self) -> None:
        """.env (the bot token), .venv, .uv, data/ and caches are never sent to the image build."""
        patterns = [
            line.strip()
            for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        for path in (
            ".env",
            ".env.production",
            ".venv/bin/python",
            ".uv/bin/uv",
            "data/frontline.db",
            "data/chroma/chroma.sqlite3",
            "core/__pycache__/db.cpython-311.pyc",
            ".git/HEAD",
            "frontline.db",
        ):
            assert _ignored(path, patterns), f"{path} would enter the image"

    def test_everything_the_image_runs_is_sent(self) -> None:
        """The project files the Dockerfile installs and runs are all in the build context."""
        patterns = [
            line.strip()
            for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        for path in ("pyproject.toml", "uv.lock", "README.md", "cli.py", "schema.py", "jobs.py", "alembic.ini"):
            assert not _ignored(path, patterns), path
        import subprocess

        tracked = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        for path in tracked:
            top = path.split("/", 1)[0]
            if top in {"core", "ingest", "knowledge", "reminders", "rights", "broadcasts", "tasks", "bot", "desk", "locales"}:
                assert not _ignored(path, patterns), path
