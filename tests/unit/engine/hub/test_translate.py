"""The error seam: real huggingface_hub/httpx failures become plain-word Quantpick errors."""

from __future__ import annotations

import errno

import httpx2
import pytest
from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
from huggingface_hub.utils import hf_raise_for_status

from engine.errors import (
    AccessDeniedError,
    HubError,
    NotFoundError,
    OfflineError,
    OutOfDiskError,
    QuantpickError,
    RateLimitedError,
)
from engine.hub.translate import hub_errors, translate

REPO = "meta-llama/Llama-3.2-1B-Instruct"


def hub_failure(status: int, code: str | None = None, message: str = "x",
                url: str = f"https://huggingface.co/{REPO}/resolve/main/config.json") -> Exception:
    """The exception huggingface_hub itself raises for this response."""
    headers = {"X-Error-Message": message} | ({"X-Error-Code": code} if code else {})
    response = httpx2.Response(status, headers=headers, request=httpx2.Request("GET", url))
    with pytest.raises(Exception) as info:
        hf_raise_for_status(response)
    return info.value


def test_gated_without_login_says_accept_the_license_then_log_in() -> None:
    err = translate(hub_failure(401, "GatedRepo"), repo_id=REPO)
    assert isinstance(err, AccessDeniedError)
    assert "gated" in err.message and REPO in err.message
    assert f"https://huggingface.co/{REPO}" in err.hint and "accept the license" in err.hint and "log in" in err.hint


def test_gated_when_logged_in_says_wait_for_approval() -> None:
    err = translate(hub_failure(403, "GatedRepo"), repo_id=REPO, logged_in=True)
    assert isinstance(err, AccessDeniedError) and "approve" in err.hint


@pytest.mark.parametrize(("status", "code", "kind", "words"), [
    (401, "RepoNotFound", NotFoundError, "no model called"),
    (404, "RevisionNotFound", NotFoundError, "revision"),
    (404, "EntryNotFound", NotFoundError, "no file called config.json"),
    (429, None, RateLimitedError, "limiting"),
    (503, None, HubError, "server problem"),
    (403, None, AccessDeniedError, "not allowed"),
])
def test_http_failures(status: int, code: str | None, kind: type, words: str) -> None:
    err = translate(hub_failure(status, code), repo_id=REPO, filename="config.json")
    assert type(err) is kind and words in str(err)


def test_a_rejected_token_is_named_as_such() -> None:
    exc = hub_failure(401, None, "Invalid credentials in Authorization header")
    err = translate(exc, repo_id=REPO, logged_in=True)
    assert isinstance(err, AccessDeniedError) and "rejected your login token" in err.message


@pytest.mark.parametrize("exc", [
    httpx2.ConnectError("Name or service not known"), httpx2.ReadTimeout("timed out"),
    OfflineModeIsEnabled("offline"), LocalEntryNotFoundError("not cached"),
])
def test_network_failures_are_offline(exc: Exception) -> None:
    assert isinstance(translate(exc, repo_id=REPO), OfflineError)


def test_disk_full_and_short_downloads() -> None:
    assert isinstance(translate(OSError(errno.ENOSPC, "No space left on device")), OutOfDiskError)
    short = translate(OSError("Consistency check failed: file should be of size 10 but has size 5"),
                      repo_id=REPO, filename="a.gguf")
    assert isinstance(short, HubError) and "ended early" in short.message


def test_bugs_pass_through_and_errors_chain() -> None:
    assert translate(ValueError("a bug")) is None
    with pytest.raises(ValueError):
        with hub_errors(REPO):
            raise ValueError("a bug")
    with pytest.raises(NotFoundError) as info:
        with hub_errors(REPO):
            raise hub_failure(404, "RepoNotFound")
    assert info.value.__cause__ is not None
    mine = QuantpickError("already plain")
    with pytest.raises(QuantpickError) as again:
        with hub_errors(REPO):
            raise mine
    assert again.value is mine
