"""HTTP layer: ``create_app(settings)`` builds the API (and the dashboard beside it)."""

from service.api._app import create_api, create_app
from service.api._dashboard import DashboardDispatcher, is_dashboard_path
from service.api._errors import status_for

__all__ = ["DashboardDispatcher", "create_api", "create_app", "is_dashboard_path", "status_for"]
