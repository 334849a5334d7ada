"""Settings from arguments and EXPTRACE_* / OTEL_* variables, with clear errors."""

import pytest

from exptrace.propagation import PropagationSettings, SettingsError


def test_environment_is_read_and_overrides_win():
    env = {
        "EXPTRACE_HEADER_NAME": "X-Exp",
        "EXPTRACE_KNOWN_EXPERIMENTS": "checkout-v2, search,",
        "EXPTRACE_MAX_EXPERIMENTS": "4",
        "EXPTRACE_ECHO_HEADER": "yes",
        "OTEL_SDK_DISABLED": "true",
    }
    settings = PropagationSettings.from_env(env, max_experiments=2)
    assert settings.header_name == "x-exp"
    assert settings.known_experiments == frozenset({"checkout-v2", "search"})
    assert settings.max_experiments == 2
    assert settings.echo_header is True and settings.sdk_disabled is True
    assert settings.limits.max_experiments == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EXPTRACE_MAX_EXPERIMENTS": "many"}, "EXPTRACE_MAX_EXPERIMENTS must be a whole number"),
        ({"EXPTRACE_ECHO_HEADER": "maybe"}, "EXPTRACE_ECHO_HEADER must be true or false"),
        ({"EXPTRACE_MAX_TOKEN_LENGTH": "0"}, "EXPTRACE_MAX_TOKEN_LENGTH must be at least 1"),
        ({"EXPTRACE_SET_COOKIE": "1"}, "EXPTRACE_SET_COOKIE needs a cookie name"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        PropagationSettings.from_env(env)


def test_settings_passed_in_code_and_the_environment_combine(monkeypatch):
    """As the README documents: an argument in code wins over its variable, and the
    variables fill every field the code leaves out (the FastAPI snippet's settings still obey
    EXPTRACE_KNOWN_EXPERIMENTS)."""
    monkeypatch.setenv("EXPTRACE_KNOWN_EXPERIMENTS", "checkout-v2")
    monkeypatch.setenv("EXPTRACE_MAX_EXPERIMENTS", "3")
    monkeypatch.setenv("EXPTRACE_COOKIE_NAME", "from-env")
    settings = PropagationSettings(cookie_name="exp", set_cookie=True, max_experiments=5)
    assert settings.known_experiments == frozenset({"checkout-v2"})  # from the environment
    assert (settings.cookie_name, settings.max_experiments) == ("exp", 5)  # the code wins
    assert PropagationSettings().max_experiments == 3
    assert PropagationSettings.from_env({}).known_experiments is None  # only the mapping given
    monkeypatch.setenv("EXPTRACE_MAX_EXPERIMENTS", "many")
    with pytest.raises(SettingsError, match="EXPTRACE_MAX_EXPERIMENTS must be a whole number"):
        PropagationSettings(cookie_name="exp")
