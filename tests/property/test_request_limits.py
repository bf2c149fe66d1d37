"""``handlers.http_limits.RequestLimits`` with any body as the server hands it over: any
number of chunks of any size, with a ``Content-Length`` that is true, false or absent (chunked),
and a client that may hang up at any point. The app sees exactly the body when it is within
the limit, and is never called otherwise; the answer is 413 as soon as the body passes the
limit, and nothing at all for a client that went away. Issue 13 found a chunked body read
whole; this keeps it found."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from handlers.http_limits import RequestLimits
from tests.property.profiles import examples

LIMIT = 1000


class Recorder:
    """The app behind the middleware: what body it read, if it was called."""

    def __init__(self) -> None:
        self.body: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            assert message["type"] == "http.request", message
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.body = body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def run(
    chunks: list[bytes], declared: int | None, hang_up_after: int | None
) -> tuple[Recorder, list[Message], int]:
    """The middleware's answer and how many messages it took from ``receive``."""
    app = Recorder()
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    scope: Scope = {"type": "http", "method": "POST", "path": "/twilio/sms", "headers": headers}
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    if hang_up_after is not None:
        messages = [*messages[:hang_up_after], {"type": "http.disconnect"}]
    taken = 0

    async def receive() -> Message:
        nonlocal taken
        taken += 1
        if taken > len(messages):
            return {"type": "http.disconnect"}
        return messages[taken - 1]

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await RequestLimits(app, default_limit=LIMIT, timeout=5)(scope, receive, send)
    return app, sent, taken


chunk_lists = st.lists(st.binary(max_size=400), min_size=1, max_size=12)


@examples(200)
@given(
    chunks=chunk_lists,
    declared=st.one_of(st.none(), st.just("true"), st.integers(0, 3 * LIMIT)),
    hang_up_after=st.one_of(st.none(), st.integers(0, 12)),
)
@example(chunks=[b"x" * 400] * 12, declared=None, hang_up_after=None)  # chunked, 4.8x the limit
@example(chunks=[b"x" * LIMIT, b""], declared=None, hang_up_after=None)  # exactly the limit
@example(chunks=[b"x" * 400] * 3, declared=10, hang_up_after=None)  # a length that lies
async def test_any_body_is_read_within_its_limit_or_refused(
    chunks: list[bytes], declared: int | str | None, hang_up_after: int | None
) -> None:
    body = b"".join(chunks)
    length = len(body) if declared == "true" else declared
    assert length is None or isinstance(length, int)
    if hang_up_after is not None and hang_up_after >= len(chunks):
        hang_up_after = None  # all of it arrived first
    app, sent, taken = await run(chunks, length, hang_up_after)
    status = sent[0]["status"] if sent else None

    if length is not None and length > LIMIT:
        assert status == 413 and taken == 0  # refused before a byte is read
        assert app.body is None
        return
    # What arrived before the body passed the limit or the client hung up.
    arrived = chunks if hang_up_after is None else chunks[:hang_up_after]
    sizes = [sum(len(c) for c in arrived[: i + 1]) for i in range(len(arrived))]
    passed = next((i for i, size in enumerate(sizes) if size > LIMIT), None)
    if passed is not None:
        assert status == 413 and app.body is None
        assert taken == passed + 1  # answered the moment it passed, nothing more read
        assert (b"connection", b"close") in sent[0]["headers"]
    elif hang_up_after is not None:
        assert sent == [] and app.body is None  # nobody to answer, nothing run
    else:
        assert status == 200 and app.body == body  # the whole body, as sent
