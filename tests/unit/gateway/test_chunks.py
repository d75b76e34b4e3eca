"""The chunk queue: the draining task waits for work, takes at most a chunk, and can put a chunk back."""

from __future__ import annotations

import asyncio

from gateway.chunks import ChunkQueue


async def test_a_chunk_waits_for_the_first_item_and_takes_at_most_the_chunk_size() -> None:
    queue: ChunkQueue[int] = ChunkQueue()
    waiting = asyncio.create_task(queue.next_chunk(2))
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing queued yet
    for item in (1, 2, 3):
        queue.put(item)
    assert await asyncio.wait_for(waiting, 1) == [1, 2]
    assert len(queue) == 1
    assert await queue.next_chunk(2) == [3]


async def test_a_chunk_put_back_comes_first_in_its_order_and_the_oldest_can_be_dropped() -> None:
    queue: ChunkQueue[int] = ChunkQueue()
    for item in (1, 2, 3, 4):
        queue.put(item)
    chunk = await queue.next_chunk(2)
    queue.put_back(chunk)
    queue.drop_oldest()
    assert await queue.next_chunk(10) == [2, 3, 4]
