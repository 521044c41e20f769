"""Waiting for a database that starts after us, within a bound."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import make_url

from docmemo.config import Settings
from docmemo.db.engine import wait_for_database
from docmemo.errors import DatabaseUnavailable


def _pump(source: socket.socket, target: socket.socket) -> None:
    with source, target:
        while data := source.recv(65536):
            target.sendall(data)


@pytest.fixture
def late_proxy(database_url: str) -> Iterator[tuple[str, threading.Event]]:
    """A URL of the tests' database through a TCP relay that opens its port only when
    the event is set: a database that is not up yet, then is."""
    real = make_url(database_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    opened = threading.Event()

    def relay() -> None:
        opened.wait()
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen()
            listener.settimeout(10)
            client, _ = listener.accept()
            upstream = socket.create_connection((real.host, real.port or 5432))
            threading.Thread(target=_pump, args=(upstream, client.dup()), daemon=True).start()
            _pump(client, upstream.dup())

    thread = threading.Thread(target=relay, daemon=True)
    thread.start()
    yield real.set(port=port).render_as_string(hide_password=False), opened
    opened.set()


def test_returns_at_once_when_the_database_answers(settings):
    started = time.monotonic()
    wait_for_database(settings, on_retry=lambda *_: pytest.fail("no retry expected"))
    assert time.monotonic() - started < 2


def test_gives_up_after_the_bound_with_a_clear_error():
    down = Settings(
        _env_file=None,
        database_url="postgresql+psycopg://postgres@127.0.0.1:9/x_test",
        db_wait_s=1.5,
    )
    retries: list[float] = []
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match=r"did not answer within 1\.5 s"):
        wait_for_database(down, on_retry=lambda _error, delay_s: retries.append(delay_s))
    assert 1.5 <= time.monotonic() - started < 4
    # Backing off from 0.5 s, the last delay cut short so as not to overshoot the bound.
    assert retries[0] == 0.5
    assert sum(retries) <= 1.5 + 0.05


def test_waits_for_a_database_that_comes_up_later(settings, late_proxy):
    url, opened = late_proxy
    late = settings.model_copy(update={"database_url": url, "db_wait_s": 30})
    retries: list[float] = []

    def open_after_two_failures(_error: Exception, delay_s: float) -> None:
        retries.append(delay_s)
        if len(retries) == 2:
            opened.set()

    wait_for_database(late, on_retry=open_after_two_failures)
    assert len(retries) in (2, 3)
