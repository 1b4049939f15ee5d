"""What the tests of a bundled model share: the models found, a skip mark for one that is not
built, and the JSON record written beside its checkpoint."""

from __future__ import annotations

import json

import pytest

from gensci.model import bundled_models

BUNDLED = bundled_models()


def needs_bundled(name: str) -> pytest.MarkDecorator:
    """Skip unless the bundled model ``name`` is built."""
    return pytest.mark.skipif(name not in BUNDLED, reason=f"the bundled model {name} is not built")


def bundled_record(name: str) -> dict:
    """``gensci/checkpoints/<name>.json``: the command, the machine and the metrics."""
    return json.loads(BUNDLED[name].with_suffix(".json").read_text())
