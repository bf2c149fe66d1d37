"""Slow clients are cut off, and connections are bounded (issue 13, point 10), against
``invitebot serve`` as a real process, with each HTTP parser uvicorn has installed.

Before, 200 connections sending a byte every 2 s were held for as long as they kept it up.
Now a request whose headers, or then whose body, are not in within
``INVITEBOT_REQUEST_TIMEOUT_SECONDS`` gets 408 and the connection is closed, and a connection
beyond ``INVITEBOT_MAX_CONNECTIONS`` gets 503. The timeout is 1 s here; the checks allow many
times that, so a busy machine does not fail them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.live_server import (
    SECURITY_HEADERS,
    Answer,
    Server,
    protocols,
    read_answer,
    request_head,
    running_server,
    serve_env,
    trickle,
)

TIMEOUT = 1.0
WITHIN = 20.0
"""How long a cut-off may take here: the 1 s timeout, and room for a slow machine."""


@pytest.fixture(params=protocols(), scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server per parser for the module's tests (starting one costs seconds): each test
    closes the connections it opened, and checks the server still answers afterwards."""
    tmp_path = tmp_path_factory.mktemp("slow-clients")
    env = serve_env(
        f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        INVITEBOT_REQUEST_TIMEOUT_SECONDS=str(TIMEOUT),
        INVITEBOT_HTTP_PROTOCOL=request.param,
    )
    with running_server(tmp_path, env) as running:
        yield running


def assert_408_and_closed(answer: Answer, took: float) -> None:
    assert answer.status == 408, answer.data[:300]
    assert answer.closed
    assert took < WITHIN
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (name, answer.headers)


def test_many_connections_trickling_their_headers_are_answered_408_and_closed(
    server: Server,
) -> None:
    count = 100
    sockets = [server.connect() for _ in range(count)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sock.setblocking(False)
        answers: dict[int, bytes] = {i: b"" for i in range(count)}
        open_ = set(range(count))
        started = time.monotonic()
        while open_ and time.monotonic() - started < WITHIN:
            for i in list(open_):  # a byte of a header line from each, every 0.25 s
                try:
                    chunk = sockets[i].recv(65536)
                except BlockingIOError:
                    try:
                        sockets[i].send(b"X")
                    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                        pass
                    continue
                except ConnectionResetError:
                    chunk = b""
                answers[i] += chunk
                if not chunk:
                    open_.discard(i)
            time.sleep(0.25)
        assert not open_, f"{len(open_)} of {count} slow connections still open"
        for data in answers.values():
            assert data.startswith(b"HTTP/1.1 408 "), data[:200]
    finally:
        for sock in sockets:
            sock.close()
    assert server.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("framing", "byte"),
    [("Content-Length: 1000", b"x"), ("Transfer-Encoding: chunked", b"1\r\nx\r\n")],
)
def test_a_body_trickling_in_is_answered_408_and_closed(
    server: Server, framing: str, byte: bytes
) -> None:
    head = request_head("POST", "/twilio/sms", framing)
    with server.connect() as sock:
        answer, took = trickle(sock, head, byte, every=0.25, up_to=WITHIN)
    assert_408_and_closed(answer, took)
    assert server.get("/healthz").status_code == 200


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with server.connect() as sock:
        started = time.monotonic()
        answer = read_answer(sock, within=WITHIN)
    assert answer.closed and answer.data == b""
    assert time.monotonic() - started < WITHIN


def test_the_next_request_on_a_kept_alive_connection_has_the_same_deadline(
    server: Server,
) -> None:
    with server.connect() as sock:
        sock.sendall(request_head("GET", "/healthz"))
        sock.settimeout(10)
        first = b""
        while not first.endswith(b"}"):  # the whole of the first answer, a JSON object
            chunk = sock.recv(65536)
            assert chunk, first
            first += chunk
        assert first.startswith(b"HTTP/1.1 200 "), first
        answer, took = trickle(sock, b"GET /hea", b"l", every=0.25, up_to=WITHIN)
    assert_408_and_closed(answer, took)


def test_a_request_the_server_cannot_parse_gets_400_with_the_security_headers(
    server: Server,
) -> None:
    with server.connect() as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = read_answer(sock, within=WITHIN)
    assert answer.status == 400 and answer.closed
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (name, answer.headers)


@pytest.mark.parametrize("protocol", protocols())
def test_connections_beyond_the_bound_get_503(protocol: str, tmp_path: Path) -> None:
    bound = 20
    env = serve_env(
        f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        INVITEBOT_MAX_CONNECTIONS=str(bound),
        INVITEBOT_REQUEST_TIMEOUT_SECONDS="60",  # the holders below must not time out
        INVITEBOT_HTTP_PROTOCOL=protocol,
    )
    with running_server(tmp_path, env) as server:
        holders = [server.connect() for _ in range(bound)]
        try:
            for sock in holders:
                sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # the rest of it never comes
            answer = probe_until(server, 503)
            assert answer.headers.get("connection") == "close"
            assert answer.headers.get("retry-after") == "1"
            for name, value in SECURITY_HEADERS.items():
                assert answer.headers.get(name) == value, (name, answer.headers)
        finally:
            for sock in holders:
                sock.close()
        probe_until(server, 200)  # the bound counts open connections, not past ones


def probe_until(server: Server, status: int) -> Answer:
    """``GET /healthz`` on new connections until one gets ``status`` (the server counts a
    connection once it has accepted it, a moment after the client's connect returns)."""
    deadline = time.monotonic() + WITHIN
    while True:
        try:
            with server.connect(timeout=10) as sock:
                sock.sendall(request_head("GET", "/healthz", "Connection: close"))
                answer = read_answer(sock, within=10)
        except OSError:
            answer = Answer(b"", closed=True)
        if answer.status == status:
            return answer
        assert time.monotonic() < deadline, answer.data[:300]
        time.sleep(0.1)
