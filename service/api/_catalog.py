"""/v1/tasks and /v1/search-spaces: what a study may name."""

from __future__ import annotations

from fastapi import APIRouter

from service.api._auth import ReadPrincipal
from service.api._deps import SettingsDep
from service.schemas import SearchSpaceInfo, TaskInfo
from service.spaces import compile_space, list_space_names, load_space_file
from service.tasks import TASKS, get_task

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get("/tasks", response_model=list[TaskInfo])
def list_tasks(_: ReadPrincipal) -> list[TaskInfo]:
    infos = []
    for name in sorted(TASKS):
        task = get_task(name)
        infos.append(TaskInfo(
            name=task.name,
            kind=task.kind,
            description=task.description,
            metrics=[f"val_{m}" for m in task.metrics()],
            allows_bidirectional=task.allows_bidirectional,
            options=task.Options.model_json_schema(),
        ))
    return infos


@router.get("/search-spaces", response_model=list[SearchSpaceInfo])
def list_search_spaces(settings: SettingsDep, _: ReadPrincipal) -> list[SearchSpaceInfo]:
    directory = settings.search_spaces_dir
    return [
        SearchSpaceInfo(
            name=name, params=compile_space(load_space_file(name, directory)).describe()
        )
        for name in list_space_names(directory)
    ]


@router.get("/search-spaces/{name}", response_model=SearchSpaceInfo)
def get_search_space(name: str, settings: SettingsDep, _: ReadPrincipal) -> SearchSpaceInfo:
    space = compile_space(load_space_file(name, settings.search_spaces_dir))
    return SearchSpaceInfo(name=name, params=space.describe())
