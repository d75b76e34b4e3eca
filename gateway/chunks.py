"""A queue that one task drains in chunks: the gateway's bulk lane and the watch adapter's telemetry."""

from __future__ import annotations

import asyncio
import collections
from typing import Generic, TypeVar

Item = TypeVar("Item")


class ChunkQueue(Generic[Item]):
    """Callbacks put (never blocking); the one draining task awaits the next chunk of what is waiting."""

    def __init__(self) -> None:
        self._items: collections.deque[Item] = collections.deque()
        self._waiting = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> None:
        self._items.append(item)
        self._waiting.set()

    def drop_oldest(self) -> None:
        self._items.popleft()

    def put_back(self, chunk: list[Item]) -> None:
        """Return a chunk that could not be handled to the front, in order, to be taken again first."""
        self._items.extendleft(reversed(chunk))

    async def next_chunk(self, most: int) -> list[Item]:
        """Up to `most` items from the front, once there is at least one."""
        while not self._items:
            self._waiting.clear()
            await self._waiting.wait()
        return [self._items.popleft() for _ in range(min(len(self._items), most))]
