"""The public surface of the package: what `import service` offers, pinned."""

from __future__ import annotations

import service
import service.client
import service.errors


def test_package_exports() -> None:
    assert sorted(service.__all__) == ["LoadedModel", "__version__", "load_model"]
    for name in service.__all__:
        assert getattr(service, name) is not None


def test_unknown_attribute_says_so() -> None:
    try:
        service.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:
        raise AssertionError("service.no_such_thing did not raise")


def test_client_and_errors_export_what_they_define() -> None:
    for module in (service.client, service.errors):
        exported = set(module.__all__)
        assert exported, module.__name__
        assert all(hasattr(module, name) for name in exported)
