"""Faust codec of the processors' internal topics (JSON). Pipeline topics are read as bytes and
decoded by `schemas.decoder`."""

from __future__ import annotations

import json
from typing import Any

from faust.serializers.codecs import Codec


class CompactJson(Codec):
    """JSON for internal topics and table changelogs."""

    def _dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    def _loads(self, s: bytes) -> Any:
        return json.loads(s)
