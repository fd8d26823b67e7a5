"""Group commit (storage/group_commit.py): what many threads submit at once is committed together,
each caller hears its own result, an item the store refuses fails only its own caller, and stop
commits what was handed over first."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from storage.group_commit import GroupCommitter


class Store:
    """A write that takes 5 ms (a commit's fsync) and refuses negative items."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.committed: list[int] = []

    def write(self, items: Sequence[int]) -> list[int]:
        time.sleep(0.005)
        if any(item < 0 for item in items):
            raise ValueError(f"refused: {min(items)}")
        self.batches.append(list(items))
        self.committed.extend(items)
        return [item * 10 for item in items]


def test_twenty_threads_share_commits_and_each_hears_its_own_result() -> None:
    store = Store()
    committer = GroupCommitter(store.write, name="test-commits")
    heard: dict[int, int] = {}
    lock = threading.Lock()

    def door(k: int) -> None:
        for n in range(10):
            item = k * 100 + n
            result = committer.submit(item).result(timeout=30)
            with lock:
                heard[item] = result

    threads = [threading.Thread(target=door, args=(k,)) for k in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committer.stop()
    assert heard == {k * 100 + n: (k * 100 + n) * 10 for k in range(20) for n in range(10)}
    assert sorted(store.committed) == sorted(heard)
    # Twenty callers waiting on a 5 ms commit: most rounds carry several of them.
    assert len(store.batches) < 100
    assert max(len(batch) for batch in store.batches) > 1


def test_an_item_the_store_refuses_fails_only_its_own_caller() -> None:
    store = Store()
    gate = threading.Event()
    original = store.write

    def write(items: Sequence[int]) -> list[int]:
        gate.wait(10)  # hold the first commit so the next items wait together
        return original(items)

    committer = GroupCommitter(write, name="test-commits")
    first = committer.submit(1)
    time.sleep(0.05)
    together = [committer.submit(item) for item in (2, -3, 4)]
    gate.set()
    assert first.result(timeout=10) == 10
    assert together[0].result(timeout=10) == 20
    with pytest.raises(ValueError, match="refused: -3"):
        together[1].result(timeout=10)
    assert together[2].result(timeout=10) == 40
    committer.stop()
    # The batch of three failed as a whole, then went one at a time.
    assert store.batches == [[1], [2], [4]]


def test_stop_commits_what_was_handed_over() -> None:
    store = Store()
    committer = GroupCommitter(store.write, name="test-commits", limit=3)
    futures = [committer.submit(n) for n in range(10)]
    committer.stop()
    assert [f.result(timeout=0) for f in futures] == [n * 10 for n in range(10)]
    assert all(len(batch) <= 3 for batch in store.batches)
