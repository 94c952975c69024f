"""The gateways' HTTP API: one FastAPI app serving one or many nodes under ``/nodes/{code}/...``.

``create_app`` is imported when first asked for (PEP 562): the app imports every router, and what the routers
share with the command line (``gateways.tokens``, ``gateways.audit``) imports this package's modules
(``gateways.api.storage``, ``gateways.api.auth``); importing one of those must not build the app first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateways.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from gateways.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
