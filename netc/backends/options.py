"""`netc build`'s options given to the backends that take them (``Backend.options``)."""
from __future__ import annotations

from typing import Any

from netc.diagnostics import NetcError

#: option name -> (its default, its flag)
BUILD_OPTIONS = {"opset": (17, "--opset"), "io_layout": ("nchw", "--io-layout"),
                 "external_data": (None, "--external-data")}


def backend_options(backend: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The options ``backend`` takes; one given away from its default that the backend does not take is an
    error naming the backends that take it."""
    from netc.backends import BACKENDS
    options = {}
    for key, value in given.items():
        default, flag = BUILD_OPTIONS[key]
        if key in backend.options:
            options[key] = value
        elif value != default:
            takers = ", ".join(b.name for b in BACKENDS.values() if key in b.options)
            raise NetcError(f"`{flag}` does not apply to the {backend.name} backend (it applies to {takers})")
    return options
