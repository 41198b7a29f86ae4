"""Where the example job files are: the project's own, and Formicary's set beside the checkout (if any).

Formicary's examples (``../shared/examples/formicary/``) exist only in the project's workspace; a fresh
clone has none, and the tests that read them are skipped there. ``MYRMICA_TEST_SHARED_EXAMPLES`` points
elsewhere (a checkout whose ``../shared`` is further up, such as a git worktree).
"""

from __future__ import annotations

import os
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PROJECT_EXAMPLES = REPOSITORY / "examples"
SHARED_EXAMPLES = Path(os.environ.get("MYRMICA_TEST_SHARED_EXAMPLES") or REPOSITORY.parent / "shared" / "examples")
FORMICARY_EXAMPLES = SHARED_EXAMPLES / "formicary"
TORK_EXAMPLES = SHARED_EXAMPLES / "tork"
NO_SHARED_EXAMPLES = f"{SHARED_EXAMPLES} (../shared/examples) not beside this checkout"
