"""Conversation state on the embedded database survives a new storage object (a restart)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import storage
from bot.storage import DatabaseStorage
from core.db import Base, make_engine, make_sessionmaker


class _Form(StatesGroup):
    typing = State()


KEY = StorageKey(bot_id=42, chat_id=7, user_id=7)


class TestDatabaseStorage:
    """aiogram's storage contract on the database."""

    async def test_state_and_data_survive_a_new_storage(
        self, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        """What one storage object wrote, a fresh one reads back."""
        first = DatabaseStorage(sessions)
        await first.set_state(KEY, _Form.typing)
        await first.update_data(KEY, {"question_id": 3})
        await first.update_data(KEY, {"asked": {"ab12": {"q": "取保？"}}})
        second = DatabaseStorage(sessions)
        assert await second.get_state(KEY) == "_Form:typing"
        assert await second.get_data(KEY) == {"question_id": 3, "asked": {"ab12": {"q": "取保？"}}}

    async def test_clearing_the_state_keeps_the_data(
        self, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        """set_state(None) leaves the data alone; unknown keys read empty."""
        store = DatabaseStorage(sessions)
        await store.set_data(KEY, {"x": 1})
        await store.set_state(KEY, None)
        assert await store.get_state(KEY) is None
        assert await store.get_data(KEY) == {"x": 1}
        assert await store.get_data(StorageKey(bot_id=42, chat_id=8, user_id=8)) == {}

    async def test_changes_inside_an_update_roll_back_with_it(
        self, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        """A state set by a handler whose update fails is not kept."""
        store = DatabaseStorage(sessions)
        async with sessions() as session:
            token = storage.current_session.set(session)
            try:
                await store.set_state(KEY, _Form.typing)
                assert await store.get_state(KEY) == "_Form:typing"
            finally:
                storage.current_session.reset(token)
            await session.rollback()
        assert await store.get_state(KEY) is None


class TestProcessedUpdates:
    """Handled update ids are remembered so a redelivered update is skipped."""

    async def test_marks_and_recognises_a_handled_update(self, session: AsyncSession) -> None:
        """An update id is known after it is marked, per bot."""
        assert not await storage.already_processed(session=session, bot_id=1, update_id=10)
        await storage.mark_processed(session=session, bot_id=1, update_id=10)
        assert await storage.already_processed(session=session, bot_id=1, update_id=10)
        assert not await storage.already_processed(session=session, bot_id=2, update_id=10)

    async def test_finds_the_handled_ones_in_a_batch(self, session: AsyncSession) -> None:
        """The poller checks a fetched batch in one query: only marked ids of that bot come back."""
        await storage.mark_processed(session=session, bot_id=1, update_id=20)
        await storage.mark_processed(session=session, bot_id=1, update_id=22)
        await storage.mark_processed(session=session, bot_id=2, update_id=21)
        found = await storage.processed_among(session=session, bot_id=1, update_ids=[20, 21, 22, 23])
        assert found == {20, 22}
        assert await storage.processed_among(session=session, bot_id=1, update_ids=[]) == set()


class TestOnPostgres:
    """The same storage and dedupe on PostgreSQL, in a database of its own."""

    async def test_state_and_processed_updates_on_postgres(self, pg_db_url: str) -> None:
        """State, data and handled update ids round-trip on PostgreSQL."""
        engine = make_engine(pg_db_url)
        try:
            tables = [Base.metadata.tables["fsm_states"], Base.metadata.tables["bot_processed_updates"]]
            async with engine.begin() as conn:
                await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=tables))
            pg_sessions = make_sessionmaker(engine)
            await DatabaseStorage(pg_sessions).set_state(KEY, _Form.typing)
            await DatabaseStorage(pg_sessions).update_data(KEY, {"n": 1})
            fresh = DatabaseStorage(pg_sessions)
            assert await fresh.get_state(KEY) == "_Form:typing"
            assert await fresh.get_data(KEY) == {"n": 1}
            async with pg_sessions() as session, session.begin():
                await storage.mark_processed(session=session, bot_id=1, update_id=5)
            async with pg_sessions() as session:
                assert await storage.already_processed(session=session, bot_id=1, update_id=5)
        finally:
            await engine.dispose()

    async def test_an_update_reads_its_row_once(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Inside an update, state and data are read with one query, and a row it adds is seen."""
        from sqlalchemy import event

        store = DatabaseStorage(sessions)
        await store.set_data(KEY, {"x": 1})
        other = StorageKey(bot_id=42, chat_id=9, user_id=9)
        async with sessions() as session:
            reads: list[str] = []

            def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
                if statement.lstrip().upper().startswith("SELECT") and "fsm_states" in statement:
                    reads.append(statement)

            engine = session.bind.sync_engine  # type: ignore[union-attr]
            event.listen(engine, "before_cursor_execute", count)
            token = storage.current_session.set(session)
            try:
                assert await store.get_state(KEY) is None
                assert await store.get_data(KEY) == {"x": 1}
                await store.update_data(KEY, {"y": 2})
                assert await store.get_data(KEY) == {"x": 1, "y": 2}
                assert await store.get_data(other) == {}
                await store.set_data(other, {"z": 3})
                assert await store.get_data(other) == {"z": 3}
                await session.commit()
            finally:
                storage.current_session.reset(token)
                event.remove(engine, "before_cursor_execute", count)
        assert len(reads) == 2  # one per key, however often it was asked for
        assert await DatabaseStorage(sessions).get_data(other) == {"z": 3}



class TestOfficerReadWithState:
    """The officer bound to the account comes with the update's state row, in one query."""

    async def test_one_query_brings_officer_roles_and_state(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """With the account named first, the state read also loads the officer, unit and roles."""
        from sqlalchemy import event

        from core import identity

        async with sessions() as session, session.begin():
            await identity.add_unit(session=session, name="法制大队")
            officer = await identity.add_officer(
                session=session, badge="8801", name="李四", unit="法制大队", roles=["legal"]
            )
            officer.telegram_user_id = 4242
        store = DatabaseStorage(sessions)
        key = StorageKey(bot_id=42, chat_id=4242, user_id=4242)
        await store.set_data(key, {"asked": {}})
        async with sessions() as session:
            statements: list[str] = []

            def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
                statements.append(statement)

            engine = session.bind.sync_engine  # type: ignore[union-attr]
            event.listen(engine, "before_cursor_execute", count)
            storage.read_officer_with_state(session, 4242)
            token = storage.current_session.set(session)
            try:
                assert await store.get_data(key) == {"asked": {}}
                read, found = storage.officer_read_with_state(session)
                assert read and found is not None and found.badge == "8801"
                assert found.unit.name == "法制大队" and found.has_role(identity.Role.LEGAL)
            finally:
                storage.current_session.reset(token)
                event.remove(engine, "before_cursor_execute", count)
        assert len(statements) == 1

    async def test_a_stranger_still_gets_the_state(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """No officer is bound: the officer is known to be absent and the state is read on its own."""
        store = DatabaseStorage(sessions)
        key = StorageKey(bot_id=42, chat_id=5151, user_id=5151)
        await store.set_state(key, _Form.typing)
        async with sessions() as session:
            storage.read_officer_with_state(session, 5151)
            token = storage.current_session.set(session)
            try:
                assert await store.get_state(key) == "_Form:typing"
                assert storage.officer_read_with_state(session) == (True, None)
            finally:
                storage.current_session.reset(token)
