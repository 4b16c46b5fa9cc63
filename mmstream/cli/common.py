"""What sub-commands share: logging set-up from settings, env overrides from flags."""

from __future__ import annotations

import os

from mmstream.core.logging import configure_logging
from mmstream.core.settings import StackSettings, load_settings

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
COMMON_EXIT_CODES = {
    EXIT_FAILURE: "failure (Kafka or the registry unreachable, an error reported on stderr)",
    EXIT_CONFIG: "bad setting or argument (the message names it)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C) outside a clean stop",
}


def exit_codes(ok: str = "done", **specific: str) -> str:
    """The `Exit codes:` paragraph of a command's --help (`specific`: code_N="meaning")."""
    codes = {EXIT_OK: ok, **COMMON_EXIT_CODES}
    codes.update({int(name.removeprefix("code_")): text for name, text in specific.items()})
    # \b keeps click from re-wrapping the lines into one paragraph
    return "\b\nExit codes:\n" + "\n".join(
        f"  {code:<4}{text}" for code, text in sorted(codes.items())
    )


def setup_logging() -> StackSettings:
    settings = load_settings(StackSettings)
    configure_logging(settings.log_level, settings.log_format == "json")
    return settings


def override_env(prefix: str, **values: object) -> None:
    """Turn command-line flags into the settings' environment variables (flags win)."""
    for name, value in values.items():
        if value is not None:
            os.environ[f"{prefix}{name.upper()}"] = str(value)
