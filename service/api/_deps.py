"""FastAPI dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.config import Settings
from service.store import StudyStore

__all__ = ["SettingsDep", "StoreDep"]


def _store(request: Request) -> StudyStore:
    store: StudyStore = request.app.state.store
    return store


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[StudyStore, Depends(_store)]
SettingsDep = Annotated[Settings, Depends(_settings)]
