import asyncio, sys
from tests.e2e.conftest import Harness
from tests.e2e.test_reminders_e2e import _detained_case, _deadline

async def test_debug(harness: Harness) -> None:
    officer, deadline_id = await _detained_case(harness)
    reminder = next(m for m in officer.messages if "案件期限提醒" in m.text)
    await officer.press(reminder, "已延长")
    await officer.wait_for(lambda m: m.message_id == reminder.message_id and "延长2日" in str(m.reply_markup))
    await officer.press(officer.messages[officer.messages.index(reminder)], "延长2日")
    await officer.wait_for(lambda m: m.message_id == reminder.message_id and "已延长" in m.text)
    first = await _deadline(harness, deadline_id)
    print("FIRST", first.status)
    try:
        card = await officer.say("/reminders", wait=8)
        print("GOT", card.text)
    except TimeoutError:
        for t in asyncio.all_tasks():
            print("TASK", t.get_name(), file=sys.stderr)
            t.print_stack(limit=8, file=sys.stderr)
        raise
