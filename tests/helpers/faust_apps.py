"""Set-up shared by the tiny Faust apps the broker tests run as child processes."""

from __future__ import annotations

import os

from mmstream.core.kafka.config import ClusterTarget
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
