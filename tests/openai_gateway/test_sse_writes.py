"""How the gateway's event stream reaches the socket (chat.EventStream.stream_response),
seen through the ASGI `send` it is given: chunks made together leave in one write (one
system call each was the cost of 20 concurrent streams), a chunk made alone leaves at
once, nothing is lost or reordered, and a client slower than the model holds the
stream back instead of letting it run ahead without bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from omnichat.openai_compat.chat import WRITE_AHEAD_CHUNKS, EventStream

OnWrite = Callable[[list[bytes]], Awaitable[None]]


async def _nothing() -> None:
    return None


def _serve(body: AsyncIterator[bytes], on_write: OnWrite | None = None) -> list[bytes]:
    """The body writes `send` received (the last one ends the body)."""
    writes: list[bytes] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body":
            writes.append(message["body"])
            if on_write is not None:
                await on_write(writes)

    asyncio.run(asyncio.wait_for(EventStream(body, _nothing).stream_response(send), 10))
    return writes


def test_chunks_made_together_leave_in_one_write() -> None:
    async def burst() -> AsyncIterator[bytes]:
        for i in range(100):  # all ready at once, as the events of one network read are
            yield b"data: %d\n\n" % i

    writes = _serve(burst())
    assert b"".join(writes) == b"".join(b"data: %d\n\n" % i for i in range(100))
    assert writes[-1] == b"" and len(writes) <= 3


def test_a_chunk_made_alone_is_written_before_the_next_is_made() -> None:
    seen: list[int] = []
    count = [0]

    async def on_write(writes: list[bytes]) -> None:
        count[0] = len(writes)

    async def slow() -> AsyncIterator[bytes]:
        for i in range(5):
            seen.append(count[0])  # writes done when this chunk is made
            yield b"chunk %d;" % i
            for _ in range(3):  # the model is slower than the socket: the loop turns
                await asyncio.sleep(0)

    writes = _serve(slow(), on_write)
    assert seen == [0, 1, 2, 3, 4]  # each chunk was out before the next one was made
    assert writes[:-1] == [b"chunk %d;" % i for i in range(5)]


def test_a_slow_client_holds_the_stream_back() -> None:
    made, ahead = [0], []

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(10 * WRITE_AHEAD_CHUNKS):
            made[0] += 1
            yield b"x"

    async def slow_client(writes: list[bytes]) -> None:
        ahead.append(made[0] - sum(map(len, writes)))  # made, not yet given to the socket
        await asyncio.sleep(0.001)

    writes = _serve(endless(), slow_client)
    assert sum(map(len, writes)) == 10 * WRITE_AHEAD_CHUNKS  # every chunk, once
    assert len(writes) > 10 and all(len(w) <= WRITE_AHEAD_CHUNKS for w in writes)
    assert max(ahead) <= WRITE_AHEAD_CHUNKS + 1  # the buffer, and one chunk waiting for room
