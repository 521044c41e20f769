"""One statement for all the requests of one kind that arrive together.

Why: on the 2-core machine the service is measured on, a database round trip costs a
request more CPU than everything else it does (the client's and the server's work
to send, wake up, read and answer). One round trip per request caps a request at
about a third of what FastAPI serves without a database (docs/BENCHMARKS.md,
"Coalesced reads"). The hot reads — the counts, /status, the session look-up and a
record's audited read — are therefore coalesced: in each worker, the requests of
one kind that arrive while a statement of that kind is in flight wait for it to
finish, then are answered together by the next statement, one statement (arrays of
parameters) for the whole batch. Under load a round trip serves ten or twenty
requests; alone, a request waits for nothing but its own statement.

Exactness: a request joins the next batch, never one already sent, so its answer
comes from a statement that PostgreSQL began after the request arrived. Whatever was
committed before the request (a creation answered 201, a logout) is in it.

Isolation: a batch must not fail because of one request. Inputs are validated before
they are queued; should a batch statement fail anyway on its data (not on a lost
database), its requests are answered one statement each, so that only the one at
fault gets the error.

A coalescer uses one connection at a time, from a pool of its own
(``db.engine.make_batch_pool``): a request that holds a connection of the main pool
while it waits for a batch can never keep the batch from getting one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")
# Runs one statement for the batch's keys (distinct, unless the coalescer does not
# deduplicate); answers in the keys' order.
RunBatch = Callable[[AsyncConnection, list[Key]], Awaitable[Sequence[Result]]]

# A bound on the parameters of one statement; more waiting requests take the next.
MAX_BATCH = 256


class Coalescer(Generic[Key, Result]):
    """``await coalescer(key)``: the answer for ``key``, computed by ``run_batch``
    together with the keys of the requests waiting at the same time. Equal keys
    share one answer (one entry of the batch), unless ``deduplicate`` is False: then
    each request is an entry of its own (a read that writes an audit row per request)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        run_batch: RunBatch[Key, Result],
        *,
        name: str,
        deduplicate: bool = True,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._pool = pool
        self._run_batch = run_batch
        self.name = name
        self._deduplicate = deduplicate
        self._max_batch = max_batch
        # Insertion-ordered: the oldest requests go first when a batch is full. Keyed
        # by the key itself, or by the request's number when not deduplicating.
        self._waiting: dict[Hashable, _Entry[Key, Result]] = {}
        self._requests = itertools.count()
        self._runner: asyncio.Task[None] | None = None

    async def __call__(self, key: Key) -> Result:
        answer: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        entry_key = key if self._deduplicate else next(self._requests)
        entry = self._waiting.get(entry_key)
        if entry is None:
            self._waiting[entry_key] = _Entry(key, [answer])
        else:
            entry.futures.append(answer)
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=f"coalescer {self.name}")
        # A request cancelled while it waits cancels only its own future.
        return await answer

    async def _run(self) -> None:
        try:
            while self._waiting:
                await self._answer_on_one_connection()
        finally:
            # No await between the loop's last check and here: nothing can have
            # arrived unseen, and the next request starts a new runner.
            self._runner = None

    async def _answer_on_one_connection(self) -> None:
        """Answer batch after batch on one connection for as long as requests keep
        coming: taking a connection from the pool and giving it back costs about as
        much as a small batch's statement."""
        try:
            async with self._pool.connection() as db:
                while self._waiting:
                    entry_keys = list(islice(self._waiting, self._max_batch))
                    batch = [self._waiting.pop(entry_key) for entry_key in entry_keys]
                    error = await self._answer(db, batch)
                    if error is not None:
                        self._fail_waiting(error)
                        return
        except Exception as error:  # no connection: the database is away
            self._fail_waiting(error)

    def _fail_waiting(self, error: Exception) -> None:
        """The database is away (or the statement broken): the requests that waited
        meanwhile get the same answer now, rather than each batch after it waiting
        for a connection in turn."""
        _settle(list(self._waiting.values()), error=error)
        self._waiting.clear()

    async def _answer(
        self, db: AsyncConnection, batch: list[_Entry[Key, Result]]
    ) -> Exception | None:
        """Answer the batch; the error it failed with, unless the error was confined to
        the requests at fault."""
        try:
            results = await self._run_batch(db, [entry.key for entry in batch])
        except Exception as error:
            if len(batch) > 1 and _caused_by_data(error):
                log.warning(
                    "%s: a batch of %d failed (%s); answering each alone",
                    self.name,
                    len(batch),
                    type(error).__name__,
                )
                for entry in batch:
                    await self._answer(db, [entry])
                return None
            _settle(batch, error=error)
            return error
        except BaseException:
            # Cancelled (the app is stopping): no request may wait forever.
            _settle(batch, error=None)
            raise
        if len(results) != len(batch):
            mismatch = RuntimeError(f"{self.name}: {len(results)} answers to {len(batch)} requests")
            _settle(batch, error=mismatch)
            return mismatch
        for entry, result in zip(batch, results, strict=True):
            for answer in entry.futures:
                if not answer.done():
                    answer.set_result(result)
        return None

    async def aclose(self) -> None:
        """Stop the runner (at shutdown); the requests it was answering are cancelled."""
        runner = self._runner
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        _settle(list(self._waiting.values()), error=None)
        self._waiting.clear()


def _caused_by_data(error: Exception) -> bool:
    """An error of the statement on this batch's data, which answering each request
    alone confines to the one at fault; not a lost or overloaded database (which
    would fail each of them again, one after the other)."""
    return isinstance(error, psycopg.DatabaseError) and not isinstance(
        error, psycopg.OperationalError
    )


@dataclass(slots=True)
class _Entry(Generic[Key, Result]):
    """One entry of a batch: a key and the requests waiting for its answer."""

    key: Key
    futures: list[asyncio.Future[Result]]


def _settle(batch: Iterable[_Entry[Any, Any]], *, error: Exception | None) -> None:
    """Fail the waiting requests with ``error``, or cancel them if None."""
    for entry in batch:
        for answer in entry.futures:
            if answer.done():
                continue
            if error is None:
                answer.cancel()
            else:
                answer.set_exception(error)


def one_answer(
    read: Callable[[AsyncConnection], Awaitable[Result]],
) -> RunBatch[None, Result]:
    """A batch function for a read that takes no parameter (/status's counts):
    every request of the batch gets the one answer."""

    async def run_batch(db: AsyncConnection, keys: list[None]) -> list[Result]:
        return [await read(db)] * len(keys)

    return run_batch
