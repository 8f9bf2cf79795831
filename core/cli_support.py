"""What every ``frontline`` command shares: one-line errors, exit codes, a database session.

A command never shows a traceback for something the operator can fix: a bad setting exits with
code 2 and a line naming the variable, expected failures (bad input, a missing file, a database
that is not set up or not reachable) exit with code 1 and one line on stderr.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import DatabaseUnavailable, is_sqlite, make_engine, make_sessionmaker, transaction
from core.settings import Settings, SettingsError

P = ParamSpec("P")
T = TypeVar("T")

NOT_SET_UP = "the database is not set up yet: run `frontline db upgrade`"
# What a database says when a table is missing: SQLite, PostgreSQL.
_MISSING_TABLE = ("no such table", "UndefinedTableError")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Prints one error line on stderr and returns the exit to raise."""
    typer.echo(f"frontline: {message}", err=True)
    return typer.Exit(code)


def database_error_line(exc: DBAPIError) -> str:
    """Says in one line what a database error means for the operator."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    kind = type(exc.orig).__name__ if exc.orig is not None else ""
    if any(marker in text or marker in kind for marker in _MISSING_TABLE) or (
        "relation" in text and "does not exist" in text
    ):
        return NOT_SET_UP
    return f"database error: {text.strip().splitlines()[0] if text.strip() else type(exc).__name__}"


def explain(exc: BaseException) -> tuple[str, int] | None:
    """Says in one line, with its exit code, what an operator-fixable failure means; None for a bug.

    A bad setting is exit code 2; a database that is missing, unreachable or not set up, a file
    that cannot be read, exit code 1.
    """
    if isinstance(exc, SettingsError):
        return str(exc), 2
    if isinstance(exc, DatabaseUnavailable):
        return str(exc), 1
    if isinstance(exc, DBAPIError):
        return database_error_line(exc), 1
    if isinstance(exc, BrokenPipeError):
        return None
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}", 1
    return None


def cli_errors(*expected: type[Exception]) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Turns a command's expected failures (and ``expected`` ones) into one line and an exit code."""

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return func(*args, **kwargs)
            except (typer.Exit, click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
                raise  # already an exit with its own message (typer's Exit is not click's)
            except expected as exc:
                raise fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
            except Exception as exc:
                known = explain(exc)
                if known is None:
                    raise  # a bug (or the reader of a pipe went away): cli.main deals with it
                raise fail(*known) from None

        return wrapper

    return decorate


def run_in_session(
    settings: Settings, work: Callable[[AsyncSession], Coroutine[Any, Any, T]], *, commit: bool = True
) -> T:
    """Runs async work in one session on the configured database (committed unless commit=False)."""
    url = settings.effective_database_url
    if is_sqlite(url):
        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).exists():
            raise fail(NOT_SET_UP)

    async def _main() -> T:
        engine = make_engine(url)
        try:
            sessions = make_sessionmaker(engine)
            if commit:
                async with transaction(sessions) as session:
                    return await work(session)
            async with sessions() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(_main())
