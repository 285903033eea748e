"""Outputs others can use: files follow the user's umask, figures are byte-identical when redrawn."""

import os

import pytest

from lab import store


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_write_follows_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    path = tmp_path / "results.jsonl"
    store.atomic_write(path, "{}\n")
    assert path.stat().st_mode & 0o777 == mode
    assert os.umask(mask) == mask  # reading the umask left it as it was
