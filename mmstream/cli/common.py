"""What sub-commands share: logging set-up from settings, env overrides from flags."""

from __future__ import annotations

import os

from mmstream.logging import configure_logging
from mmstream.settings import StackSettings, load_settings


def setup_logging() -> StackSettings:
    settings = load_settings(StackSettings)
    configure_logging(settings.log_level, settings.log_format == "json")
    return settings


def override_env(prefix: str, **values: object) -> None:
    """Turn command-line flags into the settings' environment variables (flags win)."""
    for name, value in values.items():
        if value is not None:
            os.environ[f"{prefix}{name.upper()}"] = str(value)
