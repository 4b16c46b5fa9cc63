"""Faust codec of the processors' internal topics (JSON), and the one compact JSON writer of the
internal topics and the tables' changelogs. Pipeline topics are read as bytes and decoded by
`schemas.decoder`.

`compact_json` is orjson's: the changelog value written once per changed key per batch was the
largest single cost of the hedge join's batch after the Avro codecs (12 % of its samples with
`json.dumps`, about three times orjson's time on its states). Its bytes read back, with
`json.loads` as Faust's recovery reads them, to what `json.dumps` would have written (non-str
keys as strings, tuples as arrays; `tests/unit/processors/test_codec.py`).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from faust.serializers.codecs import Codec

OPTIONS = orjson.OPT_NON_STR_KEYS  # int keys written as strings, as `json.dumps` does


def compact_json(value: Any) -> bytes:
    return orjson.dumps(value, option=OPTIONS)


class CompactJson(Codec):
    """JSON for internal topics and table changelogs."""

    def _dumps(self, obj: Any) -> bytes:
        return compact_json(obj)

    def _loads(self, s: bytes) -> Any:
        return json.loads(s)
