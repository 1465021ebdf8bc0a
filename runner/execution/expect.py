"""Decide whether a call met its endpoint's ``expect`` block."""

from __future__ import annotations

from runner.config.models import Expect
from runner.errors import ErrorKind
from runner.transport.classify import Failure
from runner.transport.request import Response


def evaluate(
    expect: Expect, response: Response | None, failure: Failure | None
) -> tuple[bool, Failure | None]:
    """Return (ok, error for the record).

    With ``fails_with`` the call succeeds only when it failed with that kind; the
    record then keeps the expected error so readers see what happened.
    """
    if expect.fails_with is not None:
        return _expect_failure(expect.fails_with, response, failure)
    if failure is not None:
        return False, failure
    assert response is not None
    status = response.status
    if status is None or not status_matches(expect.status, status):
        return False, Failure(
            ErrorKind.UNEXPECTED_RESPONSE,
            f"expected status {describe_status(expect.status)}, got {status}",
            "check the URL, method and headers, and the response body in the record",
        )
    needle = expect.body_contains
    if needle is not None and needle.encode() not in response.found_needles:
        return False, Failure(
            ErrorKind.UNEXPECTED_RESPONSE,
            f"response body does not contain {needle!r}",
            "check the response body in the record against 'body_contains'",
        )
    return True, None


def _expect_failure(
    kind: ErrorKind, response: Response | None, failure: Failure | None
) -> tuple[bool, Failure | None]:
    if failure is not None and failure.kind == kind:
        return True, failure
    if failure is not None:
        return False, Failure(
            failure.kind,
            f"expected the call to fail with {kind}, but it failed with "
            f"{failure.kind}: {failure.message}",
            failure.hint,
        )
    status = response.status if response else None
    if status is not None and status >= 400:
        # An error page that mtls-runner does not know as a gateway's refusal.
        hint = (
            f"the server rejected the call with HTTP {status}, but not in a way "
            f"that mtls-runner recognises as {kind}; if this response is how the "
            f"server reports it, expect 'status: {status}' instead of 'fails_with'"
        )
    else:
        hint = (
            "the server accepted the call; check that it really enforces what this "
            "endpoint asserts"
        )
    return False, Failure(
        ErrorKind.UNEXPECTED_RESPONSE,
        f"expected the call to fail with {kind}, but it completed with status {status}",
        hint,
    )


def status_matches(expected: int | str | list[int | str], status: int) -> bool:
    """Match a status against a code, a class such as 2xx, or a list of them."""
    if isinstance(expected, list):
        return any(status_matches(item, status) for item in expected)
    if isinstance(expected, int):
        return status == expected
    text = str(status)
    return len(text) == len(expected) and all(
        e in ("x", t) for e, t in zip(expected, text, strict=True)
    )


def describe_status(expected: int | str | list[int | str]) -> str:
    if isinstance(expected, list):
        return " or ".join(str(item) for item in expected)
    return str(expected)
