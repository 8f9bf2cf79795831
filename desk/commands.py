"""``frontline desk``: serve the desk; ``frontline desk login-link BADGE``; ``frontline desk health``."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from typing import Annotated

import typer

from core import identity, signin
from core.cli_support import cli_errors, fail, run_in_session
from core.identity import IdentityError
from core.settings import Settings, load_settings

app = typer.Typer(
    help="The desk: the web console of the legal brigade, the rights office and supervisors.",
    invoke_without_command=True,
)

_errors = cli_errors(IdentityError, signin.SignInError)


@app.callback()
@_errors
def desk(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (default FRONTLINE_DESK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default FRONTLINE_DESK_PORT).")] = None,
) -> None:
    """Serves the desk until Ctrl-C or SIGTERM (with no subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["desk_host"] = host
    if port is not None:
        overrides["desk_port"] = port
    settings = load_settings(**overrides)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from core import migrate
    from desk.server import serve

    migrate.upgrade(settings)
    typer.echo(f"desk: {settings.desk_public_url} (listening on {settings.desk_host}:{settings.desk_port})")
    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        raise fail(f"the desk cannot listen on {settings.desk_host}:{settings.desk_port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        pass


@app.command("login-link")
@_errors
def login_link(badge: Annotated[str, typer.Argument(help="Badge number of a legal, rights, supervisor or admin officer.")]) -> None:
    """Issues a single-use sign-in link (10 minutes); the link alone is printed on the last line."""
    settings = load_settings()

    async def work(session: object) -> str:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        officer = await identity.get_officer(session=session, badge=badge)
        if officer is None:
            raise IdentityError(f"no such officer: {badge}")
        issued = await signin.issue_link(
            session=session, officer=officer, base_url=settings.desk_public_url, via="cli", actor="cli"
        )
        return issued.url

    url = run_in_session(settings, work)
    typer.echo(f"sign-in link for {badge}, single use, valid {int(signin.LINK_TTL.total_seconds() // 60)} minutes:")
    typer.echo(url)


def _local_address(settings: Settings) -> str:
    host = settings.desk_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.desk_port}"


@app.command("health")
@_errors
def health(timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for the answer.")] = 5.0) -> None:
    """Exits 0 when the desk on this machine answers and reaches its database (for container health checks)."""
    settings = load_settings()
    url = f"{_local_address(settings)}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # our own address
            status = json.loads(response.read().decode()).get("status")
    except urllib.error.HTTPError as exc:
        raise fail(f"desk: {url} answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise fail(f"desk: {url} does not answer ({getattr(exc, 'reason', exc)})") from None
    if status != "ok":
        raise fail(f"desk: {status}")
    typer.echo(f"desk: ok ({url})")
