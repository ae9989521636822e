"""Facts of a picked model, whatever tab it came from."""

from __future__ import annotations

from pathlib import Path

from app.widgets.model_choice import ChoiceKind, ModelChoice
from engine.formats.summary import summarize
from engine.hub import load_catalog
from tests.conftest import GOLDEN


def test_catalog_choice_facts() -> None:
    entry = next(e for e in load_catalog().entries if e.gated)
    facts = dict(ModelChoice(ChoiceKind.CATALOG, entry.repo_id, entry.name, catalog=entry).facts())
    assert facts["Layers"] == str(entry.dims.n_layer)
    assert facts["License"] == entry.license
    assert facts["Gated"].startswith("yes")
    assert "tokens" in facts["Trained context"]


def test_local_choice_reads_the_summary() -> None:
    path = GOLDEN / "convert" / "hf-tiny-llama-spm"
    summary = summarize(path)
    choice = ModelChoice(ChoiceKind.LOCAL, str(path), path.name, local=summary)
    facts = dict(choice.facts())
    assert choice.path == Path(path) and choice.repo_id is None
    assert facts["Layers"] == str(summary.layers)
    assert facts["Gated"].startswith("no")
    assert "Hugging Face folder" in facts["What it is"]
