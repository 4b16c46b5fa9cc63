"""Connector settings, one class per feed (`MMAPI_*`, `PREDEXON_*`), validated at start-up."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from connectors.backoff import Backoff
from connectors.edge import EdgeLimits
from mmstream.core.errors import ConfigurationError
from mmstream.core.settings import settings_config

MMAPI_CHANNELS = ("orders", "bets", "accounts", "scores", "emergency")
# what the Predexon documents write in place of the key: `wss://wss.predexon.com/v1/<API_KEY>`
KEY_PLACEHOLDERS = frozenset({"<API_KEY>", "{API_KEY}", "{api_key}", "YOUR_DATA_KEY", "<KEY>"})


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class FeedSettings(BaseSettings):
    """What both connectors share: the key, where the feed is, delivery and session knobs."""

    api_key: SecretStr | None = Field(default=None, description="the provider's API key")
    ws_url: str = ""
    rest_url: str = ""
    max_in_flight: int = Field(default=10_000, ge=1, le=1_000_000)
    flush_timeout_s: float = Field(default=30.0, gt=0)
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 = no metrics server")
    metrics_host: str = "0.0.0.0"
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_cap_s: float = Field(default=30.0, gt=0)
    backoff_reset_s: float = Field(
        default=0.0, ge=0, description="a session streaming this long resets the back-off; 0 = cap"
    )
    handshake_timeout_s: float = Field(default=10.0, gt=0)
    refused_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="consecutive non-retriable HTTP answers (404 …) before the connector stops",
    )
    rest_requests_per_min: int = Field(default=600, ge=1, le=100_000)
    rest_max_attempts: int = Field(default=6, ge=1, le=50)
    offset_flush_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="how often the published position is recorded"
    )
    remembered_entities: int = Field(
        default=100_000,
        ge=1_000,
        description="last published state kept per entity (dedup, gap fills)",
    )
    remembered_bytes: int = Field(
        default=128 * 2**20,
        ge=2**20,
        description="byte budget of the remembered states (large values kept as digests)",
    )
    max_frame_bytes: int = Field(
        default=2**23, ge=2**10, description="larger WebSocket frames close the connection (1009)"
    )
    max_message_bytes: int = Field(
        default=1_000_000,
        ge=2**14,
        le=2**30,
        description="the producer's message.max.bytes: larger frames are dead-lettered truncated",
    )
    time_window_past_s: float = Field(default=30 * 86_400.0, gt=0)
    time_window_future_s: float = Field(default=86_400.0, ge=0)
    max_clock_skew_s: float = Field(
        default=300.0, ge=0, description="a time further ahead of its arrival does not order"
    )
    max_json_depth: int = Field(default=32, ge=4, le=200)

    def edge_limits(self) -> EdgeLimits:
        return EdgeLimits(
            past_ms=int(self.time_window_past_s * 1000),
            future_ms=int(self.time_window_future_s * 1000),
            max_depth=self.max_json_depth,
        )

    def backoff(self) -> Backoff:
        """The feed's one retry policy, for its WebSocket sessions and its REST requests."""
        return Backoff(
            self.backoff_base_s, self.backoff_cap_s, reset_after_s=self.backoff_reset_s or None
        )

    @field_validator("ws_url")
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError(f"expected a ws:// or wss:// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("rest_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s):// URL, got {value!r}")
        return value.rstrip("/")


class MmapiSettings(FeedSettings):
    model_config = settings_config("MMAPI_")

    ws_url: str = "wss://mmapi.55-tech.com/ws/subscribe"
    rest_url: str = "https://mmapi.55-tech.com"
    channels: str = Field(default=",".join(MMAPI_CHANNELS), description="comma-separated")
    ping_interval_s: float = Field(default=30.0, gt=0)
    heartbeat_interval_s: float = Field(default=60.0, gt=0)
    max_connections: int = Field(default=1, ge=1, le=5, description="provider limit: 5 per key")
    backfill_margin_s: float = Field(default=5.0, ge=0)
    rest_page_size: int = Field(default=500, ge=1, le=2000)
    rest_requests_per_min: int = Field(default=600, ge=1, le=2000, description="provider: 2000")

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: str) -> str:
        unknown = [c for c in split_list(value) if c not in MMAPI_CHANNELS]
        if unknown or not split_list(value):
            raise ValueError(f"channels must be among {', '.join(MMAPI_CHANNELS)}; got {value!r}")
        return value

    @property
    def channel_list(self) -> list[str]:
        return split_list(self.channels)


class PredexonSettings(FeedSettings):
    model_config = settings_config("PREDEXON_")

    ws_url: str = "wss://wss.predexon.com"
    rest_url: str = "https://api.predexon.com"
    game_ids: str = Field(default="", description='comma-separated; "*" = every game')
    leagues: str = ""
    sports: str = ""
    ping_interval_s: float = Field(default=20.0, gt=0)
    silence_timeout_s: float = Field(default=0.0, ge=0, description="0 = rely on ping/pong")
    rest_page_size: int = Field(default=200, ge=1, le=200)
    max_sequence_jump: int = Field(
        default=100_000, ge=1, description="a farther sequence number does not advance its game"
    )

    def _url_parts(self) -> tuple[str, str | None]:
        """(URL without the key segment, the key segment if one is given)."""
        parts = urlsplit(self.ws_url)
        segments = [s for s in parts.path.split("/") if s]
        key = None
        if len(segments) >= 2 and segments[-2] == "v1":
            key, segments = segments[-1], segments[:-1]
        elif not segments or segments[-1] != "v1":
            segments.append("v1")
        base = urlunsplit(parts._replace(path="/" + "/".join(segments)))
        return base, key

    def key_in_url(self) -> str | None:
        """A real key written into `PREDEXON_WS_URL` (the documented `…/v1/<KEY>` form)."""
        key = self._url_parts()[1]
        return None if key is None or key in KEY_PLACEHOLDERS else key

    def websocket_url(self, api_key: str) -> str:
        """The endpoint `…/v1/<KEY>`. `PREDEXON_WS_URL` may be the host alone, end in `/v1`, or be
        the documented form with the key or a placeholder (`<API_KEY>`) in the last segment."""
        return f"{self._url_parts()[0]}/{api_key}"

    def subscription_filter(self) -> tuple[str, list[str]]:
        """Exactly one of game_ids / leagues / sports (default: every game)."""
        given = [
            (name, split_list(value))
            for name, value in (
                ("game_ids", self.game_ids),
                ("leagues", self.leagues),
                ("sports", self.sports),
            )
            if split_list(value)
        ]
        if len(given) > 1:
            raise ConfigurationError(
                "set only one of PREDEXON_GAME_IDS, PREDEXON_LEAGUES, PREDEXON_SPORTS"
            )
        return given[0] if given else ("game_ids", ["*"])
