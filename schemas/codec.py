"""A Faust codec per topic on the project's serde, so agents read and write the same bytes."""

from __future__ import annotations

from typing import Any

from faust.serializers.codecs import Codec

from schemas.serde import AvroSerde


class AvroTopicCodec(Codec):
    """Faust codec for one topic's values (Confluent wire format via `AvroSerde`)."""

    def __init__(self, serde: AvroSerde, topic_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.serde = serde
        self.topic_id = topic_id

    def _dumps(self, obj: Any) -> bytes:
        return self.serde.encode(self.topic_id, obj)

    def _loads(self, s: bytes) -> Any:
        return self.serde.decode(self.topic_id, s)
