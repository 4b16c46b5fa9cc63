"""Start-up's objects are kept out of later garbage collections."""

from __future__ import annotations

import gc

from mmstream.core.heap import freeze_startup_heap


def test_objects_alive_at_start_up_are_out_of_later_collections_and_new_ones_are_not() -> None:
    built_at_start_up = {"schema": ["fields"]}
    try:
        assert freeze_startup_heap() > 0
        made_later = {"record": ["values"]}
        collected = gc.get_objects()
        assert not any(o is built_at_start_up for o in collected)
        assert any(o is made_later for o in collected)
        assert gc.collect() >= 0 and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
