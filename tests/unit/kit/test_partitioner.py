"""The memoised partitioner picks exactly the partition aiokafka's default (Java-compatible) one does."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from eldercare.kafka import MemoisedKeyPartitioner

partitioner = MemoisedKeyPartitioner(max_keys=64)  # small, so the hypothesis run also exercises eviction


@given(key=st.binary(min_size=0, max_size=80), count=st.integers(min_value=1, max_value=64))
def test_same_partition_as_the_default(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    assert partitioner(key, partitions, partitions) == expected
    assert partitioner(key, partitions, partitions) == expected  # the remembered answer too


# murmur2 results from the Java client's own test (UtilsTest.testMurmur2), as signed 32-bit ints.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_partitions_agree_with_the_java_client() -> None:
    partitions = list(range(6))
    for key, java_hash in JAVA_MURMUR2.items():
        assert partitioner(key, partitions, partitions) == (java_hash & 0x7FFFFFFF) % 6, key


def test_no_key_goes_to_an_available_partition() -> None:
    assert partitioner(None, [0, 1, 2, 3], [2]) == 2
