"""HTTP layer: ``create_app(settings)`` builds the API (and the dashboard beside it)."""

from service.api._app import create_app

__all__ = ["create_app"]
