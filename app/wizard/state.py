"""Everything the hardware-fit wizard has learned so far, and the rules for moving on. No Qt.

Pages write into one ``WizardState``; whether a page may be left, which actions are possible and what
the final request and command are all follow from it here, so the rules are tested without a screen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from app.widgets.model_choice import ChoiceKind, ModelChoice
from app.widgets.recommend_rows import OptionRow, RecommendInputs, RecommendResult, Verdict
from app.widgets.requests import ConversionRequest, DownloadRequest
from engine.hardware import HardwareProfile
from engine.hub import GGUFVariant
from engine.quant.ftypes import parse_file_type
from engine.recommend.commands import run_commands


class Step(enum.IntEnum):
    """Wizard pages in order (their QWizard ids)."""

    HARDWARE = 0
    MODEL = 1
    GOALS = 2
    RECOMMENDATION = 3
    ACTION = 4
    DONE = 5


class Priority(enum.Enum):
    """What matters most; each sets a speed floor the engine's ranking honours (value: label, floor, help)."""

    QUALITY = ("&Quality", 0.0, "The best quality that fits, however slow.")
    BALANCED = ("Ba&lanced", 10.0, "The best quality that still reads fluently (10 tokens/s or more).")
    SPEED = ("S&peed", 30.0, "Fast answers (30 tokens/s or more), giving up some quality.")

    @property
    def label(self) -> str:
        return self.value[0]

    @property
    def floor(self) -> float:
        return self.value[1]

    @property
    def help(self) -> str:
        return self.value[2]


class ActionKind(enum.Enum):
    DOWNLOAD = "download"
    CONVERT = "convert"


@dataclass(frozen=True, slots=True)
class ReadyFile:
    """A ready-made GGUF of the chosen type on the Hub: which repo, which quant."""

    repo_id: str
    variant: GGUFVariant


@dataclass
class WizardState:
    """What the user told the wizard and what it worked out (mutable: pages fill it in as they go)."""

    hardware: HardwareProfile | None = None
    model: ModelChoice | None = None
    n_ctx: int = 8192
    kv_type: str = "f16"
    priority: Priority = Priority.BALANCED
    min_tokens_per_s: float = 0.0
    result: RecommendResult | None = None
    file_type: str | None = None
    ready: ReadyFile | None = None
    action: ActionKind | None = None
    out_dir: Path | None = None
    submitted: DownloadRequest | ConversionRequest | None = None

    # -- goals --------------------------------------------------------------------------------------

    @property
    def speed_floor(self) -> float:
        """The engine's ``min_tokens_per_s``: the user's minimum or the priority's floor, whichever is higher."""
        return max(self.min_tokens_per_s, self.priority.floor)

    def inputs(self) -> RecommendInputs | None:
        if self.hardware is None or self.model is None:
            return None
        return RecommendInputs(self.hardware, self.model, self.n_ctx, self.kv_type, self.speed_floor)

    # -- moving on ----------------------------------------------------------------------------------

    def missing(self, step: Step) -> str | None:
        """Why the page ``step`` cannot be left yet, or None when it can."""
        if step is Step.HARDWARE and self.hardware is None:
            return "Wait for the hardware check to finish, or pick a machine under Simulate hardware."
        if step is Step.MODEL and self.model is None:
            return "Pick a model: search the Hub, choose one from the catalog, or drop a checkpoint here."
        if step is Step.GOALS and self.n_ctx < 256:
            return "The context must be at least 256 tokens."
        if step is Step.RECOMMENDATION:
            row = self.chosen_row()
            if row is None:
                return "Wait for the recommendation, then select a file type that fits."
            if row.verdict is Verdict.NONE:
                return f"{row.file_type} does not fit this machine; select one that does."
        if step is Step.ACTION and self.action not in self.actions():
            return "Choose whether to download the ready-made file or to convert the model."
        return None

    def chosen_row(self) -> OptionRow | None:
        if self.result is None:
            return None
        if self.file_type is not None:
            return self.result.row(self.file_type)
        return self.result.best_row

    def choose(self, file_type: str) -> None:
        """Select a row; a ready-made file found for another type no longer applies."""
        if file_type != self.file_type:
            self.file_type = file_type
            if self.ready is not None and self.ready.variant.quant != file_type:
                self.ready = None

    # -- actions ------------------------------------------------------------------------------------

    def ready_in_repo(self) -> ReadyFile | None:
        """A ready-made GGUF of the chosen type in the picked repo itself."""
        row = self.chosen_row()
        if row is not None and row.variant is not None and self.model is not None and self.model.repo_id:
            return ReadyFile(self.model.repo_id, row.variant)
        return None

    def gguf_repos(self) -> tuple[str, ...]:
        """Repos the catalog knows as this model's GGUF conversions (where a ready file may be found)."""
        if self.model is None or self.model.catalog is None:
            return ()
        return self.model.catalog.gguf_repos

    def conversion_source(self) -> tuple[Path | None, str | None] | None:
        """(local path, None) or (None, repo to download safetensors from); None when nothing can be converted."""
        model = self.model
        if model is None:
            return None
        if model.path is not None:
            return model.path, None
        if model.kind is ChoiceKind.HUB and model.details is not None and model.details.safetensors_files:
            return None, model.ref
        if model.kind is ChoiceKind.CATALOG and model.catalog is not None:
            return None, model.catalog.repo_id
        return None

    def actions(self) -> list[ActionKind]:
        """What can be done with the chosen type: download a ready file, convert locally, or both."""
        found: list[ActionKind] = []
        if self.ready_in_repo() is not None or self.ready is not None:
            found.append(ActionKind.DOWNLOAD)
        if self.conversion_source() is not None:
            found.append(ActionKind.CONVERT)
        return found

    def _command_for(self, gguf_name: str) -> str:
        row = self.chosen_row()
        result = self.result
        if row is None or result is None or not row.option.fit.fits:
            return ""
        commands = run_commands(result.description, row.option.fit, result.inputs.request(), gguf_name=gguf_name)
        return commands.llama_server

    def request(self) -> DownloadRequest | ConversionRequest:
        """The request for the chosen action.

        Raises:
            ValueError: called before an action is possible (a bug: pages check ``missing`` first).
        """
        row = self.chosen_row()
        if row is None or self.model is None or self.action is None:
            raise ValueError("no action chosen yet")
        if self.action is ActionKind.DOWNLOAD:
            ready = self.ready_in_repo() or self.ready
            if ready is None:
                raise ValueError("no ready-made file to download")
            return DownloadRequest(ready.repo_id, ready.variant, self._command_for(ready.variant.first_file.name))
        origin = self.conversion_source()
        if origin is None or self.result is None:
            raise ValueError("nothing to convert")
        name = f"{self.result.description.name.replace(' ', '-')}-{row.file_type}.gguf"
        target = str(self.out_dir / name) if self.out_dir is not None else name
        return ConversionRequest(parse_file_type(row.file_type), source=origin[0], repo_id=origin[1],
                                 out_dir=self.out_dir, run_command=self._command_for(target))
