"""Every router of the bot, in the order updates meet them."""

from __future__ import annotations

import importlib

from aiogram import Router

from bot.middlewares import FloodControl

REMINDERS_MODULE = "bot.routers.reminders"


def _optional_router(module_name: str) -> Router | None:
    """Returns a feature's router, or None when that feature is not installed."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    if hasattr(module, "create_router"):
        made: Router = module.create_router()
        return made
    router: Router = module.router
    # A module-level router can belong to one dispatcher only; tests and the console build several
    # applications in one process, so release it from the previous one.
    router._parent_router = None
    return router


def all_routers(flood: FloodControl | None = None) -> list[Router]:
    """Lists the routers: enrollment gate first, free-text questions last."""
    from bot.routers import ask, broadcasts, legal, menu, notices, start

    routers: list[Router] = [start.create_router(), menu.create_router(), legal.create_router()]
    reminders = _optional_router(REMINDERS_MODULE)
    if reminders is not None:
        routers.append(reminders)
    routers.extend([notices.create_router(), broadcasts.create_router()])
    routers.append(ask.create_router(flood))
    return routers
