"""Where the project's shared test data lives: ``../shared`` beside the checkout.

CI clones the repository with ``shared/`` beside it; a developer's checkout
has it at the same place. ``$REFMAIL_SHARED`` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    candidates = [Path(os.environ["REFMAIL_SHARED"])] if os.environ.get("REFMAIL_SHARED") else []
    candidates += [ROOT.parent / "shared", Path("/work/shared")]
    for candidate in candidates:
        if (candidate / "corpus").is_dir():
            return candidate
    raise RuntimeError(
        "the shared test data (corpus/, samples/) was not found beside the checkout "
        f"(looked in {', '.join(map(str, candidates))}); set REFMAIL_SHARED"
    )


SHARED = shared_dir()
