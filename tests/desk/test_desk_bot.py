"""/desk in the bot: a sign-in link for the desk roles, a polite refusal for everyone else."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from core.signin import SignInLink
from desk.app import create_app
from tests.desk.conftest import csrf_of
from tests.e2e.conftest import Harness, MakeHarness

LINK = re.compile(r"(https?://\S+/signin/[A-Za-z0-9_-]+)")


class TestDeskCommand:
    async def test_a_legal_officer_gets_a_link_that_signs_in_once(self, make_harness: MakeHarness) -> None:
        """/desk answers with a link on the desk's public address; the link opens a desk session once."""
        harness: Harness = await make_harness(desk_url="https://desk.example.gov.cn")
        await harness.add_officer("L1", name="周法制", roles=("officer", "legal"), telegram_user_id=9101)
        reply = await harness.user(9101).say("/desk")
        found = LINK.search(reply.text)
        assert found is not None, reply.text
        url = found.group(1)
        assert url.startswith("https://desk.example.gov.cn/signin/") and "10" in reply.text
        await harness.server.wait_idle()  # the update's transaction commits just after the reply
        assert harness.sessions is not None
        app = create_app(harness.settings, sessions=harness.sessions)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://desk.example.gov.cn",
                                     headers={"accept": "text/html"}) as browser:
            page = await browser.get(url)
            assert page.status_code == 200 and "周法制" in page.text
            signed = await browser.post(url, data={"csrf_token": csrf_of(page.text)})
            assert signed.status_code == 303
            cookie = next(h for h in signed.headers.get_list("set-cookie") if h.startswith("frontline_desk="))
            assert "secure" in cookie.lower()  # the public address is https
            assert (await browser.get("/")).status_code == 200
            assert (await browser.get(url)).status_code == 410

    async def test_an_officer_without_a_desk_role_is_told_who_it_is_for(self, harness: Harness) -> None:
        """A plain officer's /desk gets an explanation and no link is made."""
        await harness.add_officer("P1", roles=("officer",), telegram_user_id=9102)
        reply = await harness.user(9102).say("/desk")
        assert "工作台" in reply.text and "signin" not in reply.text
        async with harness.session() as session:
            assert await session.scalar(select(func.count()).select_from(SignInLink)) == 0

    async def test_a_stranger_gets_no_link(self, harness: Harness) -> None:
        """An account that has not enrolled meets the enrollment gate, not a link."""
        reply = await harness.user(9103).say("/desk")
        assert "signin" not in reply.text
        async with harness.session() as session:
            assert await session.scalar(select(func.count()).select_from(SignInLink)) == 0
