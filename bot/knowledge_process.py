"""The knowledge base in a process of its own, so its searches never compete with the bot's event loop.

A question costs ~20 ms of CPU in the knowledge base: ~17 ms embedding it (native code, no
Python lock held) and ~4 ms of Python (word segmentation, ranking). In the bot's own process
that Python shares one interpreter lock with the event loop, which must also parse updates,
query the database and send replies; with 20 officers asking at once the two queue for the lock
(bench/README.bot.md). Here the knowledge base lives in a child interpreter, called over a pipe;
the bot process keeps only the event loop.

Calls block (the bot makes them from worker threads, as it does for an in-process knowledge base)
and run in the child on a few threads of their own. A child that dies fails the calls in flight,
which the bot answers with its usual apology, and is started again on the next call.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from multiprocessing.connection import Connection
from typing import Any

from bot.services import AnswerLike, CitationLike, KnowledgeBaseLike

log = logging.getLogger(__name__)

DEFAULT_FACTORY = "bot.services:open_knowledge_base"
CALL_THREADS = 4  # enough to keep two embedding engines busy while others rank or wait


class KnowledgeProcessError(RuntimeError):
    """The knowledge-base process stopped or could not start."""


def _factory(path: str) -> Callable[[Any], KnowledgeBaseLike]:
    module, _sep, name = path.partition(":")
    factory: Callable[[Any], KnowledgeBaseLike] = getattr(importlib.import_module(module), name)
    return factory


def _child(conn: Connection, factory: str, settings: Any, threads: int) -> None:
    """Opens the knowledge base, then answers calls until the bot closes the pipe."""
    import gc

    try:
        kb = _factory(factory)(settings)
    except BaseException as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    gc.collect()
    gc.freeze()  # the knowledge base's records and indexes: out of the collector's way
    conn.send(("ready", None))
    sending = threading.Lock()

    def run(call_id: int, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            outcome = (call_id, True, getattr(kb, method)(*args, **kwargs))
        except Exception as exc:
            outcome = (call_id, False, exc)
        with sending:
            try:
                conn.send(outcome)
            except Exception as exc:  # an unpicklable result or error
                conn.send((call_id, False, KnowledgeProcessError(f"{type(exc).__name__}: {exc}")))

    with ThreadPoolExecutor(threads, thread_name_prefix="kb-call") as calls:
        while True:
            try:
                call = conn.recv()
            except (EOFError, OSError):
                return
            if call is None:  # the bot is closing: finish the calls in flight, then exit
                return
            calls.submit(run, *call)


class KnowledgeBaseProcess:
    """A KnowledgeBaseLike whose calls run in a child process holding the knowledge base."""

    def __init__(
        self,
        settings: Any,
        *,
        factory: str = DEFAULT_FACTORY,
        threads: int = CALL_THREADS,
        start_timeout: float = 600.0,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.threads = threads
        self.start_timeout = start_timeout
        self._lock = threading.Lock()  # starting the child; sending a call
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count()
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.starts = 0
        self._closing = False
        self._start()

    def _start(self) -> None:
        """Starts the child and waits until its knowledge base is open (lock held or at init)."""
        context = multiprocessing.get_context("spawn")  # a clean interpreter, not a copy of this one
        parent, child = context.Pipe()
        process = context.Process(
            target=_child,
            args=(child, self.factory, self.settings, self.threads),
            name="frontline-knowledge",
            daemon=True,
        )
        started = time.monotonic()
        process.start()
        child.close()
        if not parent.poll(self.start_timeout):
            process.kill()
            raise KnowledgeProcessError("the knowledge base process did not start in time")
        try:
            status, detail = parent.recv()
        except EOFError as exc:
            raise KnowledgeProcessError("the knowledge base process died while starting") from exc
        if status != "ready":
            process.join(5)
            raise KnowledgeProcessError(f"the knowledge base could not be opened: {detail}")
        self._conn, self._process = parent, process
        self.starts += 1
        threading.Thread(target=self._read, args=(parent,), name="kb-replies", daemon=True).start()
        log.info("knowledge base process %s ready in %.1f s", process.pid, time.monotonic() - started)

    def _read(self, conn: Connection) -> None:
        """Hands each reply to its caller; when the child is gone, fails every call still waiting."""
        while True:
            try:
                call_id, ok, value = conn.recv()
            except (EOFError, OSError):
                break
            future = self._pending.pop(call_id, None)
            if future is not None:
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        with self._lock:
            if self._conn is conn:
                self._conn = None
        for call_id in list(self._pending):
            future = self._pending.pop(call_id, None)
            if future is not None and not future.done():
                future.set_exception(KnowledgeProcessError("the knowledge base process stopped"))
        if not self._closing:
            log.error("the knowledge base process stopped; it is started again on the next call")

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        future: Future[Any] = Future()
        with self._lock:
            if self._conn is None:
                self._start()
            assert self._conn is not None
            call_id = next(self._ids)
            self._pending[call_id] = future
            try:
                self._conn.send((call_id, method, args, kwargs))
            except (OSError, ValueError) as exc:
                self._pending.pop(call_id, None)
                raise KnowledgeProcessError(f"could not reach the knowledge base process: {exc}") from exc
        return future.result()

    def ask(self, question: str, *, language: str = "zh", as_of: date | None = None) -> AnswerLike:
        """Answers a question (see knowledge.service.KnowledgeBase.ask)."""
        # the day is passed only when given: today is the child's own default
        extra = {"as_of": as_of} if as_of is not None else {}
        answer: AnswerLike = self._call("ask", question, language=language, **extra)
        return answer

    def get(self, record_id: str) -> CitationLike | None:
        """Gets a citation by record id."""
        citation: CitationLike | None = self._call("get", record_id)
        return citation

    def related(self, record_id: str, *, limit: int = 5) -> Sequence[CitationLike]:
        """Returns articles related to a record."""
        related: Sequence[CitationLike] = self._call("related", record_id, limit=limit)
        return related

    def add_guidance(self, *, title: str, question: str, answer: str, author: str) -> CitationLike:
        """Saves curated guidance into the knowledge base."""
        citation: CitationLike = self._call("add_guidance", title=title, question=question, answer=answer, author=author)
        return citation

    def ingest_bundled(self) -> Any:
        """Re-reads the bundled corpus and curated guidance where they changed (guidance edited on the desk)."""
        return self._call("ingest_bundled")

    def risk_tips(self, topic: str, *, limit: int = 3) -> Sequence[CitationLike]:
        """Returns risk tips for a measure or case type."""
        tips: Sequence[CitationLike] = self._call("risk_tips", topic, limit=limit)
        return tips

    @property
    def pid(self) -> int | None:
        """The child's process id (None while it is not running)."""
        return self._process.pid if self._process is not None and self._conn is not None else None

    def close(self) -> None:
        """Stops the child once the calls in flight are answered."""
        self._closing = True
        with self._lock:
            conn, process = self._conn, self._process
            self._conn = None
            if conn is not None:
                with contextlib.suppress(OSError, ValueError):
                    conn.send(None)
        if process is not None:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)
        if conn is not None:
            conn.close()
