"""The one place an error's type becomes an HTTP status (JSON API and pages alike)."""

from __future__ import annotations

from exptrace.query.errors import (
    BadInput,
    CrossSite,
    NotFound,
    QueryError,
    RegistryConflict,
    SignInError,
    UnknownExperiment,
    WrongToken,
)

# Most specific first: the first type the error is an instance of decides.
STATUSES: tuple[tuple[type[QueryError], int], ...] = (
    (UnknownExperiment, 404),
    (NotFound, 404),
    (RegistryConflict, 409),
    (WrongToken, 401),
    (CrossSite, 403),
    (SignInError, 400),
    (BadInput, 400),
)


def status_of(error: QueryError) -> int | None:
    """The status a refused request answers with; None: not a refusal but a failure (500)."""
    return next((status for kind, status in STATUSES if isinstance(error, kind)), None)


TITLES = {400: "Bad request", 401: "Sign in", 403: "Forbidden", 404: "Not found", 409: "Conflict"}
"""A page's title for a refusal, by its status."""
