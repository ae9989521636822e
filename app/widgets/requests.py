"""What the recommendation view and the wizard ask the main window to do: plain data, no Qt.

The main window owns the job queue and downloads; these requests say exactly what to run, so the
receiver needs no knowledge of how the choice was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.hub import GGUFVariant
from engine.quant.ftypes import FileType


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """Download one ready-made GGUF quant: ``HubClient.download_quant(repo_id, variant)``.

    Attributes:
        repo_id: the repo holding the GGUF files (may differ from the picked model: a catalog model's
            well-known GGUF conversion).
        variant: the quant, with every shard.
        run_command: llama-server command for the downloaded file (its file name as in the repo).
    """

    repo_id: str
    variant: GGUFVariant
    run_command: str = ""


@dataclass(frozen=True, slots=True)
class ConversionRequest:
    """Convert a checkpoint into ``ftype``: ``JobQueue.add(source, ftype, out_dir)`` once ``source`` exists.

    Attributes:
        ftype: the target file type.
        source: a file or folder on this computer; None when the weights must be downloaded first.
        repo_id: the Hub repo to download the safetensors from (``HubClient.download_source``) when
            ``source`` is None.
        out_dir: where to write the GGUF; None means the app's default output folder.
        run_command: llama-server command for the result (file name as the converter names it).
    """

    ftype: FileType
    source: Path | None = None
    repo_id: str | None = None
    out_dir: Path | None = None
    run_command: str = ""

    @property
    def needs_download(self) -> bool:
        return self.source is None
