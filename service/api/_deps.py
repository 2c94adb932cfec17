"""FastAPI dependencies, as ``Annotated`` aliases.

They only read the application's state, so they are ``async``: FastAPI runs a plain ``def``
dependency on its thread pool, one hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from service.api._lanes import Lanes
from service.api._study_views import StudyViews
from service.api._trial_views import TrialViews
from service.config import Settings
from service.store import StudyStore

__all__ = ["LanesDep", "SettingsDep", "StoreDep", "StudyId", "StudyViewsDep", "TrialViewsDep"]


async def _store(request: Request) -> StudyStore:
    store: StudyStore = request.app.state.store
    return store


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _trial_views(request: Request) -> TrialViews:
    views: TrialViews = request.app.state.trial_views
    return views


async def _study_views(request: Request) -> StudyViews:
    views: StudyViews = request.app.state.study_views
    return views


async def _lanes(request: Request) -> Lanes:
    lanes: Lanes = request.app.state.lanes
    return lanes


StoreDep = Annotated[StudyStore, Depends(_store)]
TrialViewsDep = Annotated[TrialViews, Depends(_trial_views)]
StudyViewsDep = Annotated[StudyViews, Depends(_study_views)]
SettingsDep = Annotated[Settings, Depends(_settings)]
LanesDep = Annotated[Lanes, Depends(_lanes)]

# Ids are database integers; bounding them turns an absurd id into a 422, not an overflow.
StudyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The study's id")]
