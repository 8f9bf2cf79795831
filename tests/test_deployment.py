"""docker-compose.yml and .env.example stay consistent with the settings Frontline reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


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
            values = {k.removeprefix("FRONTLINE_").lower(): re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", v) for k, v in env.items()}
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
