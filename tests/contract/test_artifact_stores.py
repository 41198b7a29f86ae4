"""One contract, two artifact stores: the filesystem (the embedded default) and S3 (moto's server on
127.0.0.1). Keys, bytes, overwrite, missing keys, deletion, bad keys, and the zip round trip that tasks use."""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from myrmica.artifacts import ArtifactMissing, ArtifactStore, BadKey, open_artifact_store
from myrmica.artifacts.archive import ArchiveError, unzip_into, zip_paths
from myrmica.artifacts.store import digest
from tests.support.s3 import S3Server, moto_s3


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "filesystem":
        return open_artifact_store(f"file://{tmp_path / 'artifacts'}")
    server: S3Server = request.getfixturevalue("s3_server")
    return open_artifact_store(server.url(f"b-{uuid.uuid4().hex[:10]}", "formicary/"))


async def test_put_get_exists_delete(store: ArtifactStore) -> None:
    await store.ping()
    data = b"\x00binary\xffcontent" * 1000
    stored = await store.put("org/job-1/build/te-0.zip", data, "application/zip")
    assert (stored.size, stored.sha256) == (len(data), digest(data))
    assert stored.etag
    assert await store.exists("org/job-1/build/te-0.zip")
    assert await store.get("org/job-1/build/te-0.zip") == data
    await store.delete("org/job-1/build/te-0.zip")
    assert not await store.exists("org/job-1/build/te-0.zip")
    with pytest.raises(ArtifactMissing):
        await store.get("org/job-1/build/te-0.zip")
    await store.delete("org/job-1/build/te-0.zip")  # deleting what is gone is no error


async def test_a_put_replaces_and_empty_objects_work(store: ArtifactStore) -> None:
    await store.put("k/one", b"first")
    await store.put("k/one", b"")
    assert await store.get("k/one") == b""
    assert not await store.exists("k/two")
    with pytest.raises(ArtifactMissing):
        await store.get("never/was")


async def test_concurrent_puts_of_distinct_keys(store: ArtifactStore) -> None:
    await asyncio.gather(*(store.put(f"many/{i}", str(i).encode()) for i in range(20)))
    assert [await store.get(f"many/{i}") for i in range(20)] == [str(i).encode() for i in range(20)]


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "./a", "a/.", "a\\b", "nul\x00", "tab\tkey"])
async def test_bad_keys_are_refused(store: ArtifactStore, key: str) -> None:
    with pytest.raises(BadKey):
        await store.put(key, b"x")
    with pytest.raises(BadKey):
        await store.get(key)


def test_the_filesystem_store_keeps_objects_under_its_root(tmp_path: Path) -> None:
    store = open_artifact_store("", tmp_path)
    asyncio.run(store.put("a/b/c.zip", b"zz"))
    assert (tmp_path / "artifacts" / "a" / "b" / "c.zip").read_bytes() == b"zz"
    asyncio.run(store.delete("a/b/c.zip"))
    assert not (tmp_path / "artifacts" / "a").exists()  # emptied directories go too


@pytest.mark.parametrize("url, message", [
    ("ftp://x", "scheme"), ("file://host/x", "absolute"), ("s3:///prefix", "bucket"),
    ("s3://key:secret@bucket", "credentials"), ("s3://bucket?colour=red", "unknown option"),
])
def test_bad_store_urls_are_refused_naming_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_artifact_store(url)


def test_zip_round_trip_selects_only_inside_the_directory(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "out" / "deep").mkdir(parents=True)
    (work / "out" / "a.txt").write_text("a")
    (work / "out" / "deep" / "b.txt").write_text("b")
    (work / "report.txt").write_text("r")
    (tmp_path / "secret").write_text("s")
    (work / "link").symlink_to(tmp_path / "secret")
    data, names = zip_paths(work, ["out", "report.txt", "link", "../secret", "/etc/passwd", "missing*"])
    assert names == ["out/a.txt", "out/deep/b.txt", "report.txt"]
    target = tmp_path / "target"
    assert unzip_into(data, target) == names
    assert (target / "out" / "deep" / "b.txt").read_text() == "b"


@pytest.mark.parametrize("member", ["../escape.txt", "/abs.txt"])
def test_extraction_refuses_members_that_climb_out(tmp_path: Path, member: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, "x")
    with pytest.raises(ArchiveError):
        unzip_into(buffer.getvalue(), tmp_path / "t")
    assert not (tmp_path / "escape.txt").exists()
    with pytest.raises(ArchiveError):
        unzip_into(b"not a zip", tmp_path / "t")
