"""Fixtures of the tasks tests: the holiday calendar and a small organisation."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tasks_helpers import Org, build_org

from core.holidays import HolidayCalendar


@pytest.fixture
def calendar() -> HolidayCalendar:
    """The official holiday calendar."""
    return HolidayCalendar()


@pytest.fixture
async def org(session: AsyncSession) -> Org:
    """城关分局's units and officers, in the test session."""
    return await build_org(session)
