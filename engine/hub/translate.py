"""The one seam where huggingface_hub / httpx failures become Quantpick errors a person can act on.

Every Hub call in this package runs inside ``hub_errors(...)``. Messages name the model and say what
happened in plain words; hints say what to do. Tokens never appear in them (we never format headers).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from huggingface_hub import errors as hf_errors

from engine.errors import (
    AccessDeniedError,
    HubError,
    NotFoundError,
    OfflineError,
    OutOfDiskError,
    QuantpickError,
    RateLimitedError,
)

HUB_PAGE = "https://huggingface.co"


def _status(e: hf_errors.HfHubHTTPError) -> int:
    response = getattr(e, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def _gated(repo: str, logged_in: bool) -> AccessDeniedError:
    if logged_in:
        hint = (f"Open {HUB_PAGE}/{repo}, accept the license with the account you are logged in with, "
                "and wait for the authors to approve it (often minutes, sometimes days); then try again.")
    else:
        hint = (f"Open {HUB_PAGE}/{repo}, accept the license, then log in to Hugging Face "
                "(a read token from your account settings) and try again.")
    return AccessDeniedError(f"{repo} is a gated model: its authors must grant you access first.", hint)


def _http_error(e: hf_errors.HfHubHTTPError, repo: str, logged_in: bool) -> QuantpickError:
    status = _status(e)
    if status == 401:
        if logged_in:
            return AccessDeniedError("Hugging Face rejected your login token.",
                                     "Log in again with a valid token (hf auth login), then retry.")
        return AccessDeniedError(f"Hugging Face wants you to log in to use {repo}.",
                                 "Log in to Hugging Face with a read token, then retry.")
    if status == 403:
        return AccessDeniedError(f"Your Hugging Face token is not allowed to read {repo}.",
                                 "Create a token with read access in your Hugging Face settings and log in with it.")
    if status == 429:
        return RateLimitedError("Hugging Face is limiting how many requests we make right now.")
    if status >= 500:
        return HubError(f"Hugging Face had a server problem (error {status}).")
    return HubError(f"Hugging Face refused the request for {repo} (error {status}).")


def _hf_error(e: Exception, repo: str, filename: str | None, logged_in: bool) -> QuantpickError | None:
    if isinstance(e, hf_errors.GatedRepoError):
        return _gated(repo, logged_in)
    if isinstance(e, hf_errors.DisabledRepoError):
        return AccessDeniedError(f"{repo} has been disabled on Hugging Face.", "Choose another model.")
    if isinstance(e, hf_errors.RepositoryNotFoundError):
        return NotFoundError(f"There is no model called {repo} on Hugging Face, or it is private.")
    if isinstance(e, hf_errors.RevisionNotFoundError):
        return NotFoundError(f"{repo} has no such branch or revision.", "Use the main branch, or check the name.")
    if isinstance(e, hf_errors.LocalEntryNotFoundError):
        what = filename or "this file"
        return OfflineError(f"Cannot reach Hugging Face, and {what} of {repo} is not on this computer yet.")
    if isinstance(e, hf_errors.EntryNotFoundError):
        return NotFoundError(f"{repo} has no file called {filename or 'that'}.",
                             "The repo may have renamed its files; refresh the model details.")
    if isinstance(e, hf_errors.OfflineModeIsEnabled):
        return OfflineError("Offline mode is on, so Quantpick does not contact Hugging Face.",
                            "Unset HF_HUB_OFFLINE to go online; models on this computer and the catalog still work.")
    if isinstance(e, hf_errors.FileMetadataError):
        return HubError("The server answered, but not like Hugging Face does (a proxy or firewall in the way?).",
                        "Check your proxy settings or HF_ENDPOINT, then try again.")
    if isinstance(e, hf_errors.HfHubHTTPError):
        return _http_error(e, repo, logged_in)
    return None


def translate(e: BaseException, *, repo_id: str | None = None, filename: str | None = None,
              logged_in: bool = False) -> QuantpickError | None:
    """The QuantpickError for ``e``, or None if ``e`` is not a Hub, network or disk failure (a bug)."""
    repo = repo_id or "the model"
    if isinstance(e, QuantpickError):
        return e
    if isinstance(e, Exception):
        mapped = _hf_error(e, repo, filename, logged_in)
        if mapped is not None:
            return mapped
    if isinstance(e, httpx2.TimeoutException):
        return OfflineError("Hugging Face did not answer in time.")
    if isinstance(e, (httpx2.TransportError, ConnectionError)):
        return OfflineError("Cannot reach Hugging Face.")
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutOfDiskError("The disk filled up while downloading.",
                              "Free some space; the download resumes from where it stopped.")
    if isinstance(e, OSError) and "Consistency check failed" in str(e):
        return HubError(f"The download of {filename or 'a file'} from {repo} ended early.")
    return None


@contextmanager
def hub_errors(repo_id: str | None = None, *, filename: str | None = None, logged_in: bool = False) -> Iterator[None]:
    """Run a Hub call; turn its failures into QuantpickErrors (``raise ... from`` the original)."""
    try:
        yield
    except QuantpickError:
        raise
    except Exception as e:
        mapped = translate(e, repo_id=repo_id, filename=filename, logged_in=logged_in)
        if mapped is None:
            raise
        raise mapped from e
