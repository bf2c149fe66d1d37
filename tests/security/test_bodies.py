"""Request bodies are read within a limit before any route looks at them (issue 13, points 2
and 3), against ``invitebot serve`` as a real process.

Each webhook checks its caller only once it has the body, so before this a stranger could make
the server buffer any body it liked: five parallel 100 MB chunked POSTs took it from 241 to
819 MB. Now every route that reads a body answers 413 as soon as the body passes its limit
(64 KiB for forms, 1 MiB for JSON), with or without ``Content-Length``, and a client that hangs
up mid-body is counted, not answered with a 500 and a traceback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.security.live_server import (
    SECURITY_HEADERS,
    TELEGRAM_SECRET,
    Answer,
    Server,
    database_url,
    metric,
    request_head,
    running_server,
    send_until_answered,
    serve_env,
)

__all__ = ["database_url"]  # the fixture, imported to be found

TOKEN = "A" * 43
BODY_ROUTES = {
    # path: (its template in /metrics, its limit)
    "/twilio/sms": ("/twilio/sms", 64 * 1024),
    "/twilio/status": ("/twilio/status", 64 * 1024),
    "/slack/events": ("/slack/events", 1024 * 1024),
    "/telegram/webhook": ("/telegram/webhook", 1024 * 1024),
    f"/i/{TOKEN}": ("/i/{token}", 64 * 1024),
}
MIB = 1024 * 1024
CHUNK = 64 * 1024


def credentials(path: str) -> tuple[str, ...]:
    """Header lines that pass the route's check of the headers alone (Telegram's secret
    token; a fresh Slack timestamp and a signature of the right shape, though not the right
    one), so that what is tested is the size limit."""
    if path == "/telegram/webhook":
        return (f"X-Telegram-Bot-Api-Secret-Token: {TELEGRAM_SECRET}",)
    if path == "/slack/events":
        return (
            f"X-Slack-Request-Timestamp: {int(time.time())}",
            "X-Slack-Signature: v0=" + "0" * 64,
        )
    return ()


def chunks(total: int) -> Iterator[bytes]:
    """A chunked body of ``total`` bytes (64 KiB a chunk), with its terminating chunk."""
    data = b"x" * CHUNK
    for _ in range(total // CHUNK):
        yield b"%x\r\n" % CHUNK + data + b"\r\n"
    yield b"0\r\n\r\n"


def post_chunked(server: Server, path: str, total: int) -> Answer:
    head = request_head(
        "POST",
        path,
        "Content-Type: application/x-www-form-urlencoded",
        "Transfer-Encoding: chunked",
        *credentials(path),
    )
    with server.connect() as sock:
        return send_until_answered(sock, head, chunks(total))


def assert_refused_as_too_large(answer: Answer, path: str) -> None:
    assert answer.status == 413, (path, answer.data[:300])
    headers = answer.headers
    assert headers.get("connection") == "close", headers
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (path, name, headers)
    assert answer.closed, path  # the rest of the body is never read


def test_fifty_megabytes_chunked_to_each_body_route_get_413_and_cost_no_memory(
    database_url: str, tmp_path: Path
) -> None:
    with running_server(tmp_path, serve_env(database_url)) as server:
        for path in BODY_ROUTES:  # each route's path once, so nothing is first-time below
            assert_refused_as_too_large(post_chunked(server, path, 2 * MIB), path)
        before = server.peak_rss_kib()
        answers: dict[str, Answer] = {}

        def attack(path: str) -> None:
            answers[path] = post_chunked(server, path, 50 * MIB)

        threads = [threading.Thread(target=attack, args=(path,)) for path in BODY_ROUTES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        after = server.peak_rss_kib()
        for path in BODY_ROUTES:
            assert_refused_as_too_large(answers[path], path)
        # 250 MB offered at once; the peak resident memory stays where it was (10 MB of slack
        # for the allocator's moods, against the 50 MB a single buffered body would take).
        assert after - before < 10 * 1024, (before, after)
        assert server.get("/healthz").status_code == 200


def test_a_declared_length_over_the_limit_gets_413_before_a_byte_is_sent(
    database_url: str, tmp_path: Path
) -> None:
    with running_server(tmp_path, serve_env(database_url)) as server:
        for path, (_, limit) in BODY_ROUTES.items():
            head = request_head(
                "POST",
                path,
                "Content-Type: application/json",
                f"Content-Length: {50 * MIB}",
                *credentials(path),
            )
            with server.connect() as sock:
                sock.sendall(head)  # and not one byte of the body: the server must not wait
                answer = send_until_answered(sock, b"", iter(()))
            assert_refused_as_too_large(answer, path)
            # One byte over the limit is refused the same way; at the limit, the route decides.
            head = request_head("POST", path, f"Content-Length: {limit + 1}", *credentials(path))
            with server.connect() as sock:
                assert_refused_as_too_large(send_until_answered(sock, head, iter(())), path)


def test_json_routes_take_a_megabyte_and_form_routes_sixty_four_kilobytes(
    database_url: str, tmp_path: Path
) -> None:
    with running_server(tmp_path, serve_env(database_url)) as server:
        answer = post_chunked(server, "/twilio/sms", 128 * 1024)
        assert answer.status == 413
        # The same body to Telegram's webhook reaches it: not JSON, so 200 and ignored.
        answer = post_chunked(server, "/telegram/webhook", 128 * 1024)
        assert answer.status == 200, answer.data[:300]


def test_a_client_hanging_up_mid_body_is_counted_not_an_error(
    database_url: str, tmp_path: Path
) -> None:
    with running_server(tmp_path, serve_env(database_url)) as server:
        for path in BODY_ROUTES:
            for framing in ("Content-Length: 10000", "Transfer-Encoding: chunked"):
                head = request_head(
                    "POST", path, "Content-Type: application/json", framing, *credentials(path)
                )
                part = b"x" * 1000 if "Length" in framing else b"%x\r\n" % 1000 + b"x" * 1000
                with server.connect() as sock:
                    sock.sendall(head + part)
                # closed here, mid-body
        expected = 2 * len(BODY_ROUTES)
        scrape = ""
        for _ in range(100):  # the server notices each hang-up on its own time
            scrape = server.get("/metrics").text
            if metric(scrape, "invitebot_http_requests_abandoned_total") >= expected:
                break
            threading.Event().wait(0.2)
        for _path, (template, _) in BODY_ROUTES.items():
            abandoned = metric(scrape, "invitebot_http_requests_abandoned_total", route=template)
            assert abandoned == 2, (template, scrape)
        assert metric(scrape, "invitebot_http_requests_total", status="500") == 0, scrape
        assert server.get("/healthz").status_code == 200
    log = server.output()
    assert "Traceback" not in log, log[-3000:]
    assert '"level": "ERROR"' not in log, log[-3000:]
