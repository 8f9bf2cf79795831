"""The desk in a real browser (Debian's Chromium, driven by Playwright) beside the real bot.

The bot polls the fake Bot API and delivers pushes through the outbox; the desk is served by
uvicorn on 127.0.0.1 on the same database. An officer signs in with the link /desk gave them,
is refused a page their role does not open, imports a case file with a bad row, and answers a
question whose answer is then seen arriving in the asker's chat. The run saves a screenshot of
the overview for the README (docs/desk-overview.png).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import identity
from core.db import utcnow
from desk.app import create_app
from desk.server import bind, server_for
from reminders.models import Case
from tests.desk.desk_fakes import Seeded, rights_application, seed
from tests.e2e.conftest import Harness, MakeHarness

playwright_api = pytest.importorskip("playwright.async_api")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "desk-overview.png"
LINK = re.compile(r"(http://\S+/signin/[A-Za-z0-9_-]+)")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """Finds Debian's chromium (playwright's own browser download is not reachable here)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


pytestmark = pytest.mark.skipif(
    chromium_path() is None, reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
)


@dataclass
class Stack:
    """The bot, the desk and the sample bureau they share."""

    harness: Harness
    seeded: Seeded
    desk_url: str

    async def chat_id(self, badge: str) -> int:
        """The Telegram id of a sample officer."""
        async with self.harness.session() as session:
            officer = await identity.get_officer(session=session, badge=badge)
        assert officer is not None and officer.telegram_user_id is not None
        return officer.telegram_user_id

    async def link_from_bot(self, badge: str) -> str:
        """Asks the bot for a desk link the way an officer does (/desk) and returns it."""
        reply = await self.harness.user(await self.chat_id(badge)).say("/desk")
        found = LINK.search(reply.text)
        assert found is not None, reply.text
        await self.harness.server.wait_idle()
        return found.group(1)


@pytest.fixture
async def stack(make_harness: MakeHarness) -> AsyncIterator[Stack]:
    """The bot and the desk (uvicorn on a free port) on one database with the sample bureau."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    harness = await make_harness(desk_port=port)
    async with harness.session() as session:
        seeded = await seed(session, harness.settings, utcnow())

    async def username() -> str:
        return "frontline_test_bot"

    assert harness.sessions is not None
    app = create_app(harness.settings, sessions=harness.sessions, bot_username=username)
    server = server_for(app, harness.settings, quiet=True, embedded=True)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    yield Stack(harness, seeded, harness.settings.desk_public_url)
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """A headless Chromium (the module is skipped, saying why, when none is installed)."""
    path = chromium_path()
    assert path is not None
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def new_page(browser: object) -> object:
    """A fresh browser window (its own cookies)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")  # type: ignore[attr-defined]
    return await context.new_page()


async def signed_in_page(stack: Stack, browser: object, badge: str, link: str | None = None) -> object:
    """Opens the link the bot gave an officer and presses Sign in; returns the page on the overview."""
    page = await new_page(browser)
    await page.goto(link or await stack.link_from_bot(badge))  # type: ignore[attr-defined]
    await page.get_by_role("button", name="登录").click()  # type: ignore[attr-defined]
    await page.wait_for_url(stack.desk_url + "/")  # type: ignore[attr-defined]
    return page


class TestDeskInABrowser:
    async def test_sign_in_by_link_shows_the_overview(self, stack: Stack, browser: object) -> None:
        """The legal officer's link signs in to the overview (screenshot saved); the link then is spent."""
        link = await stack.link_from_bot(stack.seeded.legal)
        page = await signed_in_page(stack, browser, stack.seeded.legal, link)
        heading = page.locator("h1")  # type: ignore[attr-defined]
        assert await heading.inner_text() == "总览"
        chart = page.locator("section.panel-deadlines svg.chart")  # type: ignore[attr-defined]
        assert await chart.count() == 1
        assert await page.locator("section.panel-questions .figure .num").first.inner_text() == "4"  # type: ignore[attr-defined]
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT), full_page=True)  # type: ignore[attr-defined]
        assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # The same link in another browser no longer works.
        other = await new_page(browser)
        spent = await other.goto(link)  # type: ignore[attr-defined]
        assert spent.status == 410 and "该链接已被使用" in await other.content()  # type: ignore[attr-defined]

    async def test_a_page_outside_the_role_is_refused(self, stack: Stack, browser: object) -> None:
        """The legal officer has no Audit menu entry, and opening /audit directly is refused politely."""
        page = await signed_in_page(stack, browser, stack.seeded.legal)
        assert await page.get_by_role("link", name="审计").count() == 0  # type: ignore[attr-defined]
        answer = await page.goto(stack.desk_url + "/audit")  # type: ignore[attr-defined]
        assert answer.status == 403
        assert "您的角色无权打开此页面" in await page.content()  # type: ignore[attr-defined]
        # The rights officer signs in too, and the case pages are closed to them.
        rights = await signed_in_page(stack, browser, stack.seeded.rights)
        assert (await rights.goto(stack.desk_url + "/cases")).status == 403  # type: ignore[attr-defined]

    async def test_a_case_file_with_a_bad_row_is_refused_by_line(self, stack: Stack, browser: object, tmp_path: Path) -> None:
        """Uploading a file whose third line names an unknown officer lists that line and imports nothing."""
        page = await signed_in_page(stack, browser, stack.seeded.legal)
        async with stack.harness.session() as session:
            before = await session.scalar(select(func.count()).select_from(Case))
        upload = tmp_path / "新案件.csv"
        upload.write_text(
            "案件编号,案件名称,案件类型,办案民警警号,事件,事件日期\n"
            "XZ20269001,新的治安案件,治安,P001,行政案件受理,2026-01-05\n"
            "XZ20269002,另一个案件,治安,X999,行政案件受理,2026-01-05\n",
            encoding="utf-8",
        )
        await page.get_by_role("link", name="案件", exact=True).click()  # type: ignore[attr-defined]
        await page.get_by_role("link", name="导入案件").click()  # type: ignore[attr-defined]
        await page.set_input_files("input[type=file]", str(upload))  # type: ignore[attr-defined]
        await page.get_by_role("button", name="检查并导入").click()  # type: ignore[attr-defined]
        errors = page.locator("table.errors tbody tr")  # type: ignore[attr-defined]
        await errors.first.wait_for()
        assert await errors.count() == 1
        row = await errors.first.inner_text()
        assert row.startswith("3") and "没有警号为 X999 的民警" in row
        assert "未导入任何数据" in await page.content()  # type: ignore[attr-defined]
        async with stack.harness.session() as session:
            assert await session.scalar(select(func.count()).select_from(Case)) == before

    async def test_an_answer_reaches_the_officer_through_the_bot(self, stack: Stack, browser: object) -> None:
        """The legal officer answers the oldest question; the asker's chat receives it from the bot."""
        page = await signed_in_page(stack, browser, stack.seeded.legal)
        await page.get_by_role("link", name="未答问题").click()  # type: ignore[attr-defined]
        first = page.locator("article.question").first  # type: ignore[attr-defined]
        assert "醉酒的人在派出所里打伤了同伴" in await first.inner_text()
        await first.locator("textarea").fill("可以。醉酒的人违反治安管理的，应当给予处罚（治安管理处罚法第十五条）。")
        await first.get_by_role("button", name="发送答复").click()
        await page.locator(".flash.good").wait_for()  # type: ignore[attr-defined]
        assert "答复已发送给 张伟" in await page.locator(".flash.good").inner_text()  # type: ignore[attr-defined]
        asker = await stack.chat_id("P001")
        delivered = await stack.harness.server.wait_for(
            asker, lambda m: "治安管理处罚法第十五条" in m.text, timeout=15
        )
        assert "法制大队已答复您的问题" in delivered.text and "醉酒的人在派出所里打伤了同伴" in delivered.text


class TestOfficeWorkInABrowser:
    async def test_a_rights_application_is_reviewed_with_its_photo(self, stack: Stack, browser: object) -> None:
        """The rights officer opens an application, sees the photo inline, accepts it; the applicant's chat hears."""
        async with stack.harness.session() as session:
            application = await rights_application(session, stack.harness.settings, "P001")
            number = application.number
        page = await signed_in_page(stack, browser, stack.seeded.rights)
        await page.get_by_role("link", name="维权申请", exact=True).click()  # type: ignore[attr-defined]
        # The overview may list the same number (due soon): click it on the list, once the list is there.
        await page.wait_for_url(stack.desk_url + "/rights")  # type: ignore[attr-defined]
        await page.locator("#rights-rows").get_by_role("link", name=number).click()  # type: ignore[attr-defined]
        await page.wait_for_url(f"{stack.desk_url}/rights/{application.id}")  # type: ignore[attr-defined]
        photo = page.locator("img.evidence-photo")  # type: ignore[attr-defined]
        await photo.wait_for()
        loaded = await page.wait_for_function(  # type: ignore[attr-defined]
            "() => { const i = document.querySelector('img.evidence-photo'); return i && i.complete && i.naturalWidth; }"
        )
        assert await loaded.json_value() == 320  # the photo's own width: the file came through the audited route
        assert "处置纠纷时被当事人推倒并踢伤右腿" in await page.content()  # type: ignore[attr-defined]
        await page.get_by_role("button", name="受理", exact=True).click()  # type: ignore[attr-defined]
        await page.locator(".flash.good").wait_for()  # type: ignore[attr-defined]
        assert "已受理，并已告知申请人" in await page.locator(".flash.good").inner_text()  # type: ignore[attr-defined]
        applicant = await stack.chat_id("P001")
        told = await stack.harness.server.wait_for(applicant, lambda m: number in m.text and "已受理" in m.text, timeout=15)
        assert "您的维权申请已受理" in told.text

    async def test_a_broadcast_is_composed_and_its_figures_follow_the_acknowledgements(
        self, stack: Stack, browser: object
    ) -> None:
        """The legal officer picks a station (the head count follows), sends the tip; an officer presses 已阅
        in their chat and the open page's figure changes by itself."""
        page = await signed_in_page(stack, browser, stack.seeded.legal)
        await page.get_by_role("link", name="风险提示", exact=True).click()  # type: ignore[attr-defined]
        await page.wait_for_url(stack.desk_url + "/broadcasts")  # type: ignore[attr-defined]
        await page.get_by_role("link", name="撰写提示").click()  # type: ignore[attr-defined]
        await page.wait_for_url(stack.desk_url + "/broadcasts/new")  # type: ignore[attr-defined]
        await page.locator("textarea[name=text]").fill("近期多发冒充公检法诈骗，接警时注意核实对方身份。")  # type: ignore[attr-defined]
        await page.locator("select[name=units]").select_option("城关派出所")  # type: ignore[attr-defined]
        count = page.locator("#preview .count")  # type: ignore[attr-defined]
        await count.wait_for()
        assert await count.inner_text() == "3 名民警"  # the supervisor and two officers of the station
        assert "近期多发冒充公检法诈骗" in await page.locator("#preview .bubble").inner_text()  # type: ignore[attr-defined]
        await page.get_by_role("button", name="发送提示").click()  # type: ignore[attr-defined]
        acknowledged = page.locator('[data-figure="acknowledged"]')  # type: ignore[attr-defined]
        await acknowledged.wait_for()
        assert await acknowledged.inner_text() == "0"
        officer = stack.harness.user(await stack.chat_id("P001"))
        tip = await officer.wait_for(lambda m: "冒充公检法诈骗" in m.text, wait=15)
        await officer.press_for_answer(tip, "✅")
        for _ in range(100):  # the page refreshes its own figures (every 2 s while sending, 10 s after)
            if await acknowledged.inner_text() == "1":
                break
            await asyncio.sleep(0.2)
        assert await acknowledged.inner_text() == "1"
