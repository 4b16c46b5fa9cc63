"""Connector errors: what ends a connector, what ends a session, what goes to the DLQ."""

from __future__ import annotations

from mmstream.core.errors import MmstreamError


class ConnectorError(MmstreamError):
    """Root of the connectors' errors."""


class FatalSessionError(ConnectorError):
    """The provider refused us for good (invalid key): stop with a clear message."""


class RetryableSessionError(ConnectorError):
    """The session ended but a new one may work (drop, restart, connection limit)."""

    def __init__(self, message: str, slow: bool = False) -> None:
        super().__init__(message)
        self.slow = slow  # back off longer, e.g. after "Connection limit exceeded"


class RejectedInput(ConnectorError):
    """A feed message that cannot become a typed record; it goes to the dead-letter topic."""

    def __init__(self, reason: str, channel: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.channel = channel


class DeliveryError(ConnectorError):
    """Kafka could not take records and they cannot be kept: stop rather than drop."""


class EndpointRefused(RetryableSessionError):
    """An endpoint answered with an HTTP status that will not change on retry (404, 400 …):
    most likely a wrong URL. Retried a bounded number of times, then fatal, naming `setting`."""

    def __init__(self, message: str, status: int, setting: str) -> None:
        super().__init__(message)
        self.status = status
        self.setting = setting


class RecordTooLarge(RejectedInput):
    """A record larger than the producer's `message.max.bytes`: Kafka would refuse it."""
