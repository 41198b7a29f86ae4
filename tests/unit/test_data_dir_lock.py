"""The data directory's lock: one holder at a time, named by pid; free again once released."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from myrmica.data_dir_lock import DataDirBusy, DataDirLock


def test_a_second_holder_is_refused_at_once_naming_the_first(tmp_path: Path) -> None:
    first = DataDirLock.acquire(tmp_path / "data")
    try:
        assert (tmp_path / "data" / "server.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(DataDirBusy) as info:
            DataDirLock.acquire(tmp_path / "data")
        assert str(info.value) == f"another server (pid {os.getpid()}) is using {tmp_path / 'data'}"
    finally:
        first.release()
    DataDirLock.acquire(tmp_path / "data").release()  # free again; a stale file blocks nobody
