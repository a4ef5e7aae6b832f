"""settle_optional_imports: a module that fails to import is run once, not on every import."""

import sys

import pytest

from inference.proxy.preload import settle_optional_imports


@pytest.fixture
def modules(tmp_path, monkeypatch):
    (tmp_path / "llmaas_probe_broken.py").write_text(
        "import builtins\nbuiltins.llmaas_probe_runs = getattr(builtins, 'llmaas_probe_runs', 0) + 1\n"
        "import llmaas_probe_not_installed\n"
    )
    (tmp_path / "llmaas_probe_fine.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("llmaas_probe_broken", "llmaas_probe_fine"):
        sys.modules.pop(name, None)
    import builtins

    builtins.__dict__.pop("llmaas_probe_runs", None)


def test_a_failing_import_runs_once_and_then_fails_at_once(modules):
    import builtins

    assert settle_optional_imports(("llmaas_probe_broken", "llmaas_probe_fine")) == ["llmaas_probe_broken"]
    for _ in range(3):
        with pytest.raises(ModuleNotFoundError):
            import llmaas_probe_broken  # noqa: F401
    assert builtins.llmaas_probe_runs == 1
    import llmaas_probe_fine

    assert llmaas_probe_fine.VALUE == 1  # an importable module is left as it is


def test_without_settling_python_reruns_the_failing_module_every_time(modules):
    import builtins

    for _ in range(3):
        with pytest.raises(ModuleNotFoundError):
            import llmaas_probe_broken  # noqa: F401
    assert builtins.llmaas_probe_runs == 3  # what LiteLLM's per-request import costs without it
