"""The fake Bot API's injected flood control, which the broadcast benchmark relies on."""

from __future__ import annotations

import aiohttp

from tests.fakebotapi import FakeBotAPI


class TestInjectedFloodControl:
    async def test_a_share_of_sends_is_answered_429_with_retry_after(self) -> None:
        """With a share of 1 every send is refused with retry_after; other methods are not; 0 changes nothing."""
        server = FakeBotAPI(flood_share=1.0, flood_retry_after=2)
        await server.start()
        try:
            async with aiohttp.ClientSession() as http:
                url = f"{server.base_url}/bot{server.token}"
                async with http.post(f"{url}/sendMessage", json={"chat_id": 5, "text": "x"}) as answer:
                    body = await answer.json()
                assert answer.status == 429 and body["parameters"]["retry_after"] == 2
                async with http.post(f"{url}/getMe") as answer:
                    assert answer.status == 200
            assert server.injected_429 == 1 and server.messages_to(5) == []
        finally:
            await server.stop()
