"""One zip per task's artifacts (and per cache): what ``paths`` select in a working directory, and back.

Patterns are relative globs; one that is absolute or climbs out (``..``) selects nothing. Symbolic links
are stored as the files they name only when those lie inside the working directory (a task cannot
smuggle ``/etc/shadow`` out through a link). Extraction refuses members that would land outside the
target, and caps the total size so a zip bomb cannot fill the disk.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

MAX_EXTRACTED_BYTES = 4 * 1024**3


class ArchiveError(ValueError):
    pass


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def selected_files(cwd: Path, patterns: list[str]) -> list[Path]:
    """The files ``patterns`` select under ``cwd`` (directories by their files), sorted, no duplicates."""
    chosen: dict[str, Path] = {}
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern or pattern.startswith("/") or ".." in Path(pattern).parts:
            continue
        for path in sorted(cwd.glob(pattern)):
            if not _inside(path, cwd):
                continue
            candidates = sorted(p for p in path.rglob("*")) if path.is_dir() else [path]
            for file in candidates:
                if file.is_file() and _inside(file, cwd):
                    chosen.setdefault(str(file.relative_to(cwd)), file)
    return [chosen[name] for name in sorted(chosen)]


def zip_paths(cwd: Path, patterns: list[str]) -> tuple[bytes, list[str]]:
    """A zip of the selected files (names relative to ``cwd``) and those names."""
    files = selected_files(cwd, patterns)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, str(file.relative_to(cwd)))
    return buffer.getvalue(), [str(f.relative_to(cwd)) for f in files]


def unzip_into(data: bytes, target: Path, *, max_bytes: int = MAX_EXTRACTED_BYTES) -> list[str]:
    """Extract ``data`` under ``target``; the names written. Raises ``ArchiveError`` on a bad archive."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"not a zip archive: {exc}") from None
    names: list[str] = []
    with archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > max_bytes:
            raise ArchiveError(f"the archive would extract to more than {max_bytes} bytes")
        target.mkdir(parents=True, exist_ok=True)
        for member in members:
            name = member.filename
            if name.startswith("/") or ".." in Path(name).parts or "\\" in name:
                raise ArchiveError(f"archive member {name!r} would land outside the directory")
            destination = target / name
            if not _inside(destination, target):  # (through a link already in the target)
                raise ArchiveError(f"archive member {name!r} would land outside the directory")
            if member.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            if destination.is_symlink():
                destination.unlink()
            with archive.open(member) as source, destination.open("wb") as sink:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)
            names.append(name)
    return names
