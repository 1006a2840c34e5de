"""Assembling split GGUF models from part packages (fake packages: no download)."""

import hashlib
import sys

import pytest

from r2route.errors import R2RouteError
from r2route.pair import registry
from r2route.pair.registry import RegistryModel, resolve


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    parts = [b"GGUF" + bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 33, b"tail"]
    for i, data in enumerate(parts, 1):
        pkg = tmp_path / "site" / f"fakepart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise ImportError('part packages must not be imported')\n")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    blob = b"".join(parts)
    model = RegistryModel(
        "fake-model", "Fake model", tuple(f"fakepart{i}" for i in (1, 2, 3)), tuple(f"data/part{i:02d}.bin" for i in (1, 2, 3)),
        size=len(blob), sha256=hashlib.sha256(blob).hexdigest(), pypi=tuple(f"fake-part{i}" for i in (1, 2, 3)),
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(registry.MODELS, "fake-model", model)
    monkeypatch.setenv("R2ROUTE_CACHE", str(tmp_path / "cache"))
    return model, blob, tmp_path


def test_assembles_once_and_verifies(fake_model):
    model, blob, tmp = fake_model
    path = resolve("fake-model", progress=False)
    assert path.read_bytes() == blob and path.parent == tmp / "cache" / "models"
    mtime = path.stat().st_mtime_ns
    assert resolve("fake-model", progress=False).stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_missing_part_names_the_package(fake_model, monkeypatch):
    _, _, tmp = fake_model
    (tmp / "site" / "fakepart2" / "__init__.py").unlink()
    (tmp / "site" / "fakepart2" / "data" / "part02.bin").unlink()
    (tmp / "site" / "fakepart2" / "data").rmdir()
    (tmp / "site" / "fakepart2").rmdir()
    sys.modules.pop("fakepart2", None)
    with pytest.raises(R2RouteError, match="missing package fake-part2: pip install"):
        resolve("fake-model", progress=False)


def test_corrupt_part_fails_the_checksum_and_leaves_nothing(fake_model):
    _, blob, tmp = fake_model
    part = tmp / "site" / "fakepart1" / "data" / "part01.bin"
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(R2RouteError, match="SHA-256"):
        resolve("fake-model", progress=False)
    assert not (tmp / "cache" / "models" / "fake-model.gguf").exists()
    assert not list((tmp / "cache" / "models").iterdir())


def test_truncated_part_fails_the_size_check(fake_model):
    _, _, tmp = fake_model
    part = tmp / "site" / "fakepart3" / "data" / "part03.bin"
    part.write_bytes(b"ta")
    with pytest.raises(R2RouteError, match="hold .* bytes, expected"):
        resolve("fake-model", progress=False)


def test_unknown_registry_model():
    with pytest.raises(R2RouteError, match="unknown registry model"):
        resolve("no-such-model")
