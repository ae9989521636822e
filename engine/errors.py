"""One error hierarchy whose messages a non-programmer can act on.

Every error carries two parts: what happened (``message``) and what to do about it (``hint``).
``str(error)`` joins them, so a CLI or a dialog can show it as one plain sentence pair.
"""

from __future__ import annotations

import re

# Messages quote names and values from untrusted files; a 1 MB tensor name must not become a 1 MB
# message, nor a newline in a name a second line.
_LONG_WORD = re.compile(r"\S{121,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_MAX_CHARS = 900


def plain_text(text: str) -> str:
    """One printable line of at most ~900 characters: control characters escaped, long runs shortened."""
    text = _CONTROL.sub(lambda m: ascii(m[0])[1:-1], text)
    text = _LONG_WORD.sub(lambda m: f"{m[0][:60]}...({len(m[0]) - 80} more)...{m[0][-20:]}", text)
    if len(text) > _MAX_CHARS:
        text = f"{text[:600]} ...({len(text) - 800} more characters)... {text[-200:]}"
    return text


class QuantpickError(Exception):
    """Base of every error Quantpick raises on purpose."""

    default_hint = "If this keeps happening, run again with --debug and report the details."

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = plain_text(message)
        self.hint = plain_text(hint if hint is not None else self.default_hint)
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class UnsupportedInputError(QuantpickError):
    """The input is readable but not something Quantpick converts or inspects."""

    default_hint = "Use a GGUF file, a .safetensors file, or a Hugging Face model folder."


class PickledCheckpointError(UnsupportedInputError):
    """A pickled PyTorch checkpoint: loading it could run arbitrary code, so we never do."""

    default_hint = (
        "Look for the same model in safetensors format on its Hugging Face page, "
        "or convert it to safetensors in a trusted environment first."
    )


class CorruptInputError(QuantpickError):
    """The input claims to be a known format but its contents are damaged or inconsistent."""

    default_hint = "The file may be truncated or damaged; download it again and retry."


class UnsupportedArchitectureError(QuantpickError):
    """The model's architecture is not one Quantpick knows how to convert."""

    default_hint = "Look for a ready-made GGUF of this model, or convert a supported architecture."


class InvalidValuesError(QuantpickError):
    """Weights contain NaN or infinity, or overflow the target type."""

    default_hint = "The source weights are damaged or out of range for this type; try a wider type such as BF16 or F32."


class OutOfDiskError(QuantpickError):
    """Not enough free space to write the output."""

    default_hint = "Free some disk space or choose another output folder, then try again."


class CancelledError(QuantpickError):
    """The user stopped the operation; nothing was left behind."""

    default_hint = "Nothing was written. Start it again whenever you like."


class UsageError(QuantpickError):
    """A request that cannot be honoured as stated (unknown type name, bad option, bad shape)."""

    default_hint = "Check the spelling and the allowed values, then try again."


class HubError(QuantpickError):
    """Talking to the Hugging Face Hub failed (server trouble, a broken download)."""

    default_hint = "Try again in a few minutes; downloads pick up where they stopped."


class OfflineError(HubError):
    """The Hub cannot be reached: no network, a firewall, or offline mode."""

    default_hint = (
        "Check your internet connection. The built-in catalog and models already on this computer still work."
    )


class AccessDeniedError(HubError):
    """The Hub refused access: a gated or private model, or a rejected token."""

    default_hint = "Open the model's page on huggingface.co, accept its license if asked, then log in."


class NotFoundError(HubError):
    """The model, revision or file does not exist on the Hub (or is private)."""

    default_hint = "Check the spelling of the model name; private models also need you to log in."


class RateLimitedError(HubError):
    """The Hub asked us to slow down."""

    default_hint = "Wait a few minutes and try again; logging in gives a higher limit."
