"""The outbox: every push to a phone is a row first, then delivered once within Telegram's limits.

A service that causes a push (a reminder falls due, a broadcast, a task notice) calls
:func:`enqueue` in the same transaction as the change itself, so the push exists exactly when
the change does. A delivery loop (:func:`run_delivery_loop`) claims due rows under a lease,
sends them through a :class:`Messenger` and records the outcome.

One module per concern: ``protocol`` (the Messenger seam, messages, media and the errors a
messenger may raise), ``model`` (the table), ``enqueue``, ``admin`` (counts, retry, release),
``claim``, ``quiet`` (quiet hours), ``pacing`` and ``delivery``. Import from here.

Exactly once, and the one window where it cannot be
---------------------------------------------------
A row is claimed atomically (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite a single
conditional ``UPDATE ... RETURNING``, which SQLite runs under its one writer lock), so two
workers never hold the same row. Each claim gets a fresh lease token, and every later state
change is conditional on that token, so a worker that lost its lease can no longer change the
row. A send is only started while enough lease is left for it to time out before the lease
ends, so a row is never re-claimed while its first send may still be in the air.

The row is marked ``sent`` right after the Bot API answers, by one UPDATE on a connection kept
open for the purpose (no pool checkout, no ORM; on PostgreSQL without waiting for the WAL
flush). Telegram offers no idempotency key, so one window remains: if the process dies (or the
database is unreachable) after Telegram accepted a message and before that commit, the row's
lease expires and the message is sent again. Per message the window is the HTTP response's
trip plus one commit (about 2 ms against a local Bot API, see bench/README.outbox.md; plus
the network latency against the real one), so a crash duplicates at most the messages in
flight at that moment: at most ``DeliveryOptions.concurrency``, in practice rate x latency
(0-1 locally, about 3 at 30/s with 100 ms to Telegram). ``concurrency=1`` makes it strictly
at most one, at the cost of a rate of at most one message per round trip. A send that times
out is equally ambiguous and is retried, for the same reason: losing a statutory reminder is
worse than showing it twice. Nothing is ever lost: a row leaves ``sending`` only by a commit.
"""

from core.outbox.admin import (
    list_by_status,
    list_dead,
    list_held,
    release_held,
    retry_dead,
    status_counts,
    topic_counts,
)
from core.outbox.claim import Claimed, claim_due
from core.outbox.delivery import (
    Deliverer,
    DeliveryOptions,
    DeliveryReport,
    backoff_seconds,
    deliver_once,
    run_delivery_loop,
)
from core.outbox.enqueue import (
    MAX_ALBUM,
    MAX_CALLBACK_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    OutboxItem,
    check_buttons,
    enqueue,
    enqueue_many,
    visible_length,
)
from core.outbox.model import OutboxMessage, OutboxStatus
from core.outbox.pacing import Pacer
from core.outbox.protocol import (
    MEDIA_KINDS,
    Media,
    Messenger,
    MessengerUnavailable,
    OutboxError,
    Outgoing,
    PermanentSendError,
    RetryAfter,
    SendError,
    TransientSendError,
    Unreachable,
)
from core.outbox.quiet import parse_window, quiet_until

__all__ = [
    "MAX_ALBUM",
    "MAX_CALLBACK_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "MEDIA_KINDS",
    "Claimed",
    "Deliverer",
    "DeliveryOptions",
    "DeliveryReport",
    "Media",
    "Messenger",
    "MessengerUnavailable",
    "OutboxError",
    "OutboxItem",
    "OutboxMessage",
    "OutboxStatus",
    "Outgoing",
    "Pacer",
    "PermanentSendError",
    "RetryAfter",
    "SendError",
    "TransientSendError",
    "Unreachable",
    "backoff_seconds",
    "check_buttons",
    "claim_due",
    "deliver_once",
    "enqueue",
    "enqueue_many",
    "list_by_status",
    "list_dead",
    "list_held",
    "parse_window",
    "quiet_until",
    "release_held",
    "retry_dead",
    "run_delivery_loop",
    "status_counts",
    "topic_counts",
    "visible_length",
]
