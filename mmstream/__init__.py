"""mmstream: the ground floor every part stands on (`core/`), the embedded stack, registry and
simulators apart (`stack/`, `registry/`, `simulators/`), and the roof: the `mmstream` command
(`cli/`), `mmstream up` (`pipeline/`) and its live view (`view/`). README, "Layout"."""

__version__ = "0.1.0"
