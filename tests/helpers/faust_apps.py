"""Set-up shared by the tiny Faust apps the broker tests run as child processes."""

from __future__ import annotations

import os
from typing import Any

import faust

from mmstream.core.kafka.config import ClusterTarget, faust_settings
from mmstream.core.kafka.faust_fixes import install_faust_fixes


def target_with_fixes() -> ClusterTarget:
    """The cluster named by TEST_BOOTSTRAP / TEST_PROFILE (or TEST_EMBEDDED), with the Faust fixes
    its broker needs installed, except those listed in TEST_FAUST_FIXES_OFF (comma-separated:
    to show what each one fixes)."""
    profile = os.environ.get("TEST_PROFILE") or (
        "tansu" if os.environ.get("TEST_EMBEDDED") == "1" else "default"
    )
    target = ClusterTarget.with_profile(os.environ["TEST_BOOTSTRAP"], profile)
    install_faust_fixes(target)  # reads TEST_FAUST_FIXES_OFF itself
    return target


def child_app(**settings: Any) -> faust.App:
    """The child process's Faust app: id TEST_APP_ID, data under TEST_DATADIR, one partition per
    new topic, in-memory tables, no web server, the client settings of `target_with_fixes()`'s
    cluster (its fixes installed); `settings` added or overriding."""
    target = target_with_fixes()
    return faust.App(
        os.environ["TEST_APP_ID"],
        **{
            "store": "memory://",
            "web_enabled": False,
            "topic_partitions": 1,
            "datadir": os.environ["TEST_DATADIR"],
            **faust_settings(target),
            **settings,
        },
    )
