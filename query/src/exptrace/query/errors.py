"""Every error exptrace query raises on purpose, under one base, :class:`QueryError`.

Errors say what went wrong in words for people; none carries an HTTP status. Which status
each answers with is decided in one place, by type, in the web layer
(``web/statuses.py``); the CLI prints the words. An error outside this tree is a bug.
"""

from __future__ import annotations


class QueryError(Exception):
    """Something exptrace query refuses or cannot do, with the reason in words."""


class BadInput(QueryError, ValueError):
    """A value a caller gave that cannot be used: a parameter, a body field, a window, a page.

    Also a ``ValueError``, as Python code calling the API expects of a bad argument."""


class WindowOutOfRange(BadInput):
    """A window or moment the store cannot represent."""


class RegistryError(BadInput):
    """A registry request that cannot be carried out, with the reason."""


class UnknownExperiment(RegistryError):
    """No such experiment is registered."""


class RegistryConflict(RegistryError):
    """The change conflicts with the registry's state: an existing id, a forbidden transition."""


class ExperimentsFrozen(RegistryConflict):
    """Experiments are frozen: none may start until they are unfrozen."""


class MissingParameters(QueryError):
    """A query was run without values for parameters its SQL declares: a bug in the caller."""


class NotFound(QueryError):
    """A page of something that does not exist; ``title`` and ``body`` say what."""

    def __init__(self, title: str, body: str) -> None:
        super().__init__(title)
        self.title = title
        self.body = body


class ClientError(QueryError):
    """A request the server or the store refused, with its message."""


class SignInError(QueryError):
    """A sign-in that cannot go on (a malformed form)."""


class WrongToken(SignInError):
    """The token given to sign in is not the server's."""


class CrossSite(SignInError):
    """A sign-in posted from another site."""
