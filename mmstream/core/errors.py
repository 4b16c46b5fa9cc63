"""The project's one exception hierarchy: every error mmstream raises derives from MmstreamError."""


class MmstreamError(Exception):
    """Root of every error raised by mmstream."""


class ConfigurationError(MmstreamError):
    """A setting is missing or invalid; the message names the setting."""


class StackError(MmstreamError):
    """The embedded broker or registry could not be started or stopped."""
