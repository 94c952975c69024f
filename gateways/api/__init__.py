"""The gateways' HTTP API: one FastAPI app serving one or many nodes under ``/nodes/{code}/...``."""

from gateways.api.app import create_app

__all__ = ["create_app"]
