"""Process-wide tuning a mount applies while it serves (gotfs/mount/tuning.py), undone after."""

from __future__ import annotations

import gc

from gotfs.mount import tuning


def test_fewer_collections_while_serving_and_the_collector_as_it_was_after():
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    kept = [object() for _ in range(3)]  # (made before: frozen during the block)
    with tuning.fewer_collections():
        assert gc.get_threshold() == tuning.GC_THRESHOLDS
        assert gc.get_freeze_count() > frozen
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    assert kept


def test_the_collector_is_restored_when_serving_fails():
    before = gc.get_threshold()
    try:
        with tuning.fewer_collections((5000, 5, 5)):
            raise RuntimeError("the session loop stopped")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
