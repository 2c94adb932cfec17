"""Python client for the rnntune REST API, over the same schemas the server uses.

Errors come back as the service's own exceptions (``service.errors``), so callers can catch
``SpecError`` for a bad spec, ``NotFoundError`` for an unknown study, and so on.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from service.errors import RnntuneError, SpecError, TransientError, UnknownNameError, error_class
from service.schemas import (
    DatasetList,
    DatasetPublic,
    EnqueueRequest,
    EnqueueResult,
    EnqueueTrial,
    ImportancePublic,
    PredictionResult,
    SearchSpaceInfo,
    StudyPublic,
    StudySpec,
    StudySummaryList,
    SweepPublic,
    TaskInfo,
    TrialPublic,
    TrialsPage,
)

__all__ = ["DEFAULT_URL", "Client"]

DEFAULT_URL = "http://127.0.0.1:8000"
_FINAL_STATUSES = frozenset({"completed", "cancelled", "failed"})
_EVALUATING = frozenset({"pending", "running"})


# The most the server gives in one page of GET /v1/studies.
_STUDIES_PER_REQUEST = 1000


class Client:
    """``Client("http://host:8000", api_key=...)``; ``http=`` reuses an ``httpx.Client``."""

    def __init__(
        self, base_url: str = DEFAULT_URL, *, api_key: str | None = None,
        timeout_s: float = 30.0, http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self._headers = {"authorization": f"Bearer {api_key}"} if api_key else {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- studies -----------------------------------------------------------------------

    def submit(self, spec: str | Path | Mapping[str, Any] | StudySpec) -> StudyPublic:
        """Submit a spec: a path to a YAML/JSON file, a YAML/JSON string, a mapping or model."""
        if isinstance(spec, Path):
            body, kind = spec.read_text(encoding="utf-8"), "application/yaml"
        elif isinstance(spec, str):
            body, kind = spec, "application/yaml"
        elif isinstance(spec, StudySpec):
            body, kind = spec.model_dump_json(exclude_none=True), "application/json"
        else:
            body, kind = json.dumps(dict(spec)), "application/json"
        data = self._request("POST", "/v1/studies", content=body,
                             headers={"content-type": kind})
        return StudyPublic.model_validate(data)

    def study(self, study_id: int) -> StudyPublic:
        return StudyPublic.model_validate(self._request("GET", f"/v1/studies/{study_id}"))

    def studies(self, *, status: str | None = None, tag: str | None = None,
                page_size: int = _STUDIES_PER_REQUEST) -> list[StudyPublic]:
        """Every study visible to the key; ``status`` and ``tag`` narrow the list. The server
        gives them a page (at most 1,000) at a time; this reads every page."""
        params: dict[str, Any] = {key: value for key, value in (("status", status), ("tag", tag))
                                  if value}
        found: list[StudyPublic] = []
        while True:
            page = StudySummaryList.model_validate(self._request(
                "GET", "/v1/studies", params={**params, "offset": len(found),
                                              "limit": page_size}))
            found.extend(page.studies)
            if not page.studies or len(found) >= page.total:
                return found

    def sweep(
        self,
        template: str | Path | Mapping[str, Any] | StudySpec,
        *,
        name: str,
        over: Mapping[str, list[Any]],
        tags: list[str] | None = None,
    ) -> SweepPublic:
        """One study per combination of ``over``'s values, from one ``template`` (a path, YAML
        text, mapping or model of a spec without a name).

        ``over`` maps a field's dotted path to its values, e.g. ``{"seed": [0, 1, 2]}`` or
        ``{"task.dataset": [3, 4]}``. Each study is named ``<name>-<field>-<value>`` and tagged
        ``name`` (and ``field=value``), so ``studies(tag=name)`` lists the sweep. Nothing is
        created if any study is refused.
        """
        body = {"name": name, "template": _template(template), "over": dict(over),
                "tags": list(tags or [])}
        data = self._request("POST", "/v1/sweeps", json=body)
        return SweepPublic.model_validate(data)

    def trials(
        self, study_id: int, *, offset: int = 0, limit: int = 100, state: str | None = None
    ) -> TrialsPage:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if state:
            params["state"] = state
        data = self._request("GET", f"/v1/studies/{study_id}/trials", params=params)
        return TrialsPage.model_validate(data)

    def all_trials(self, study_id: int, *, state: str | None = None) -> list[TrialPublic]:
        """Every trial, following the pages."""
        trials: list[TrialPublic] = []
        while True:
            page = self.trials(study_id, offset=len(trials), limit=1000, state=state)
            trials.extend(page.trials)
            if len(trials) >= page.total or not page.trials:
                return trials

    def best(self, study_id: int) -> TrialPublic:
        return TrialPublic.model_validate(self._request("GET", f"/v1/studies/{study_id}/best"))

    def cancel(self, study_id: int) -> StudyPublic:
        data = self._request("POST", f"/v1/studies/{study_id}/cancel")
        return StudyPublic.model_validate(data)

    def delete(self, study_id: int) -> None:
        self._request("DELETE", f"/v1/studies/{study_id}")

    def importance(self, study_id: int) -> ImportancePublic:
        """Hyperparameter importance (PED-ANOVA), with a note when it may mislead."""
        data = self._request("GET", f"/v1/studies/{study_id}/importance")
        return ImportancePublic.model_validate(data)

    def enqueue(
        self,
        study_id: int,
        *,
        trials: list[dict[str, Any]] | None = None,
        from_study: int | None = None,
        top_k: int = 3,
        best_practice: bool = False,
    ) -> EnqueueResult:
        """Run known configurations first (given, an earlier study's best, or defaults)."""
        body = EnqueueRequest(
            trials=[EnqueueTrial(params=p) for p in trials or []], from_study=from_study,
            top_k=top_k, best_practice=best_practice,
        )
        data = self._request("POST", f"/v1/studies/{study_id}/enqueue",
                             json=body.model_dump(exclude_none=True))
        return EnqueueResult.model_validate(data)

    def report(self, study_id: int) -> str:
        """The study's self-contained HTML report."""
        response = self._http.get(f"/v1/studies/{study_id}/report", headers=self._headers)
        if response.status_code >= 400:
            raise _error_from(response)
        return response.text

    def metrics(self) -> str:
        """The Prometheus metrics text."""
        response = self._http.get("/metrics", headers=self._headers)
        if response.status_code >= 400:
            raise _error_from(response)
        return response.text

    def wait(
        self,
        study_id: int,
        *,
        poll_s: float = 1.0,
        timeout_s: float | None = None,
        on_progress: Callable[[StudyPublic], None] | None = None,
        evaluation: bool = False,
    ) -> StudyPublic:
        """Poll until the study is completed, cancelled or failed; report each poll.

        With ``evaluation``, also wait for the final evaluation on the test split.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            study = self.study(study_id)
            if on_progress is not None:
                on_progress(study)
            evaluating = study.evaluation is not None and study.evaluation.status in _EVALUATING
            if study.status in _FINAL_STATUSES and not (evaluation and evaluating):
                return study
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"study {study_id} still {study.status} after {timeout_s}s")
            time.sleep(poll_s)

    # -- the best model ----------------------------------------------------------------

    def download_model(
        self, study_id: int, path: str | Path | None = None, *, torchscript: bool = False
    ) -> bytes:
        """The study's best model file (``service.load_model`` reads it; with
        ``torchscript``, ``torch.jit.load``); written to ``path`` when given.

        Raises:
            ConflictError: the study's final evaluation has not finished yet.
            NotFoundError: no such study, or it has no model (see the message).
        """
        params = {"format": "torchscript" if torchscript else "torch"}
        response = self._raw("GET", f"/v1/studies/{study_id}/model", params=params)
        if path is not None:
            Path(path).write_bytes(response.content)
        return response.content

    def predict(
        self, study_id: int, data: str | Path | bytes | Any, *, lengths: Any = None,
        format: str | None = None,
    ) -> PredictionResult:
        """Run the study's best model on new data: a path to an NPZ or CSV file, its bytes,
        or an array X (N, T, F) with optional ``lengths``."""
        if isinstance(data, str | Path):
            path = Path(data)
            content = path.read_bytes()
            if format is None and path.suffix.lower() in (".csv", ".npz"):
                format = path.suffix.lower()[1:]
        elif isinstance(data, bytes):
            content = data
        else:
            import numpy as np

            arrays = {"X": np.asarray(data)}
            if lengths is not None:
                arrays["lengths"] = np.asarray(lengths)
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)  # type: ignore[arg-type]
            content, format = buffer.getvalue(), "npz"
        params = {"format": format} if format else None
        result = self._request("POST", f"/v1/studies/{study_id}/predict", content=content,
                               params=params,
                               headers={"content-type": "application/octet-stream"})
        return PredictionResult.model_validate(result)

    # -- data sets ---------------------------------------------------------------------

    def upload_dataset(
        self,
        data: str | Path | bytes,
        *,
        name: str | None = None,
        filename: str | None = None,
        format: str | None = None,
        kind: str | None = None,
        target: str | None = None,
        time_column: str | None = None,
    ) -> DatasetPublic:
        """Upload an NPZ or CSV file (a path, or its bytes with ``filename`` or ``format``).

        Raises:
            DatasetError: the file is not its format or not usable; the message says why.
            PayloadTooLargeError: the file is over the server's upload limit.
        """
        if isinstance(data, str | Path):
            path = Path(data)
            content = path.read_bytes()
            filename = filename or path.name
        else:
            content = data
        params = {key: value for key, value in {
            "name": name, "filename": filename, "format": format, "kind": kind,
            "target": target, "time_column": time_column,
        }.items() if value is not None}
        response = self._request("POST", "/v1/datasets", content=content, params=params,
                                 headers={"content-type": "application/octet-stream"})
        return DatasetPublic.model_validate(response)

    def datasets(self) -> list[DatasetPublic]:
        return DatasetList.model_validate(self._request("GET", "/v1/datasets")).datasets

    def dataset(self, dataset_id: int) -> DatasetPublic:
        return DatasetPublic.model_validate(self._request("GET", f"/v1/datasets/{dataset_id}"))

    def delete_dataset(self, dataset_id: int) -> None:
        self._request("DELETE", f"/v1/datasets/{dataset_id}")

    # -- catalog -----------------------------------------------------------------------

    def tasks(self) -> list[TaskInfo]:
        return [TaskInfo.model_validate(t) for t in self._request("GET", "/v1/tasks")]

    def search_spaces(self) -> list[SearchSpaceInfo]:
        data = self._request("GET", "/v1/search-spaces")
        return [SearchSpaceInfo.model_validate(s) for s in data]

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = self._request("GET", "/healthz")
        return data

    # -- transport ---------------------------------------------------------------------

    def _raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            headers = {**self._headers, **kwargs.pop("headers", {})}
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise TransientError(f"cannot reach rnntune at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._raw(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def _template(spec: str | Path | Mapping[str, Any] | StudySpec) -> dict[str, Any] | str:
    """A template as a mapping, or as YAML text the server parses (as it parses specs)."""
    if isinstance(spec, StudySpec):
        return spec.model_dump(mode="json", exclude_none=True, exclude={"name"})
    if isinstance(spec, Mapping):
        return dict(spec)
    return spec.read_text(encoding="utf-8") if isinstance(spec, Path) else spec


def _error_from(response: httpx.Response) -> RnntuneError:
    """Rebuild the service's exception from an RFC 9457 problem body."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    message = problem.get("detail") or f"HTTP {response.status_code}: {response.text[:200]}"
    kind = error_class(problem.get("code"), response.status_code)
    if issubclass(kind, SpecError):
        details = [(e.get("loc", []), e.get("msg", "")) for e in problem.get("errors", [])]
        # An unknown name's parts (kind, name, valid names) are only in its message.
        return (SpecError if kind is UnknownNameError else kind)(message, details=details)
    return kind(message)
