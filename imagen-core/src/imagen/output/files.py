"""Atomic, no-clobber writes of an image and its sidecar.

Each file is written to a hidden temp file in the target folder, fsynced, and then claimed
under its final name with ``os.link``, which fails rather than overwrite. When a name is
taken the next suffix is tried (``stem-2``, ``stem-3``, ...); the image and its ``.json``
sidecar are claimed as a pair, so both always share one stem, image first. Several processes
may write the same name at once: each ends with its own files and none is clobbered. Nothing
half-written is ever left under a final name.

A process killed outright (``kill -9``, power loss) cannot remove its temp files, and one killed
between the two claims leaves an image without its sidecar. Temp files are named after their
writer's pid and pair (``.imagen-<pid>-<pair>-image.tmp``), so the next write into that folder
sweeps those of dead writers (after a minute) and first gives a half-claimed image its sidecar.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
import uuid
from pathlib import Path, PurePosixPath

from imagen.errors import OutputError

# Far more than any real collision run; stops a loop if a filesystem misreports EEXIST.
MAX_SUFFIX = 9999

_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.EEXIST: "part of the path is a file, not a folder",
}
_ADVICE = "choose another output directory with -o or output.directory"
_ADVICE_FOR = {
    errno.ENOSPC: f"free some space or {_ADVICE}",
    errno.EDQUOT: f"free some space or {_ADVICE}",
    errno.ENAMETOOLONG: "use a shorter output.naming template or output directory",
}
# os.link fails with these where a filesystem has no hard links (FAT, some network mounts).
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK}
_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines

#: A temp file older than this whose writer is gone is left over from a crash.
STALE_AFTER = 60.0
_TEMP_NAME = re.compile(
    r"\.imagen-(?P<pid>\d+)-(?P<pair>[0-9a-f]{12})-(?P<role>image|sidecar|probe)\.tmp"
)
#: Temp files of imagen versions before the pid was in the name: no writer to ask.
_OLD_TEMP_NAME = re.compile(r"\.imagen-[0-9a-f]{12}\.tmp")
_PROBE = b"imagen checks that this folder can take a file\n" * 64


def write_take(
    directory: str | os.PathLike[str],
    relpath: str,
    ext: str,
    image: bytes,
    sidecar: bytes | None,
) -> tuple[str, str | None]:
    """Write ``image`` (and ``sidecar`` as ``<stem>.json``) under ``directory/relpath.ext``.

    ``relpath`` is a rendered naming path (relative POSIX, no extension); ``ext`` is ``png``
    or ``.png``. Returns the relative POSIX paths actually written (image, sidecar or None).
    Raises ``OutputError`` with what to do when the files cannot be written.
    """
    relative = PurePosixPath(relpath)
    if relative.is_absolute() or ".." in relative.parts or not relative.name:
        raise ValueError(f"output path must be relative and inside the directory: {relpath!r}")
    root = Path(directory)
    folder = root.joinpath(*relative.parent.parts)
    ext = ext.lstrip(".")
    if sidecar is not None and ext.lower() == "json":
        raise ValueError("an image with the extension .json cannot have a .json sidecar")
    temps: list[Path] = []
    pair = uuid.uuid4().hex[:12]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        sweep_stale(folder)
        temps.append(_write_temp(folder, image, pair, "image"))
        if sidecar is not None:
            temps.append(_write_temp(folder, sidecar, pair, "sidecar"))
        suffixes = [f".{ext}", ".json"][: len(temps)]
        stem = _claim_pair(folder, relative.name, list(zip(temps, suffixes, strict=True)))
        if stem is None:
            raise OutputError(
                f"cannot write to {folder}: {MAX_SUFFIX} files named {relative.name} already "
                "exist; change output.naming (add {time} or {seed}) or clear that folder"
            )
        _sync_folder(folder)
    except OSError as error:
        raise OutputError(_message(root, error)) from error
    finally:
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
    image_path = str(relative.parent / f"{stem}.{ext}")
    sidecar_path = str(relative.parent / f"{stem}.json") if sidecar is not None else None
    return image_path, sidecar_path


def probe_directory(directory: str | os.PathLike[str]) -> None:
    """Check that ``directory`` can take a new file (creating it), before anything is spent.

    Writes and removes a small hidden probe file. Raises ``OutputError`` saying what to do when
    the folder is read-only, full, not a folder or otherwise unwritable.
    """
    root = Path(directory)
    probe = root / f".imagen-{os.getpid()}-{uuid.uuid4().hex[:12]}-probe.tmp"
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        try:
            view = memoryview(_PROBE)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as error:
        raise OutputError(_message(root, error)) from error
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)


def sweep_stale(folder: Path) -> list[str]:
    """Remove temp files that crashed writers left in ``folder``; never raises.

    A pair whose image was claimed but whose sidecar was not (the writer died between the two
    links) gets its sidecar under the image's stem first. Returns the images so repaired.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    now = time.time()
    pairs: dict[str, dict[str, os.DirEntry[str]]] = {}
    for entry in entries:
        if not entry.name.startswith(".imagen-") or not entry.name.endswith(".tmp"):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER:
                continue
        except OSError:
            continue
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is not None and not _process_alive(int(match["pid"])):
            pairs.setdefault(match["pair"], {})[match["role"]] = entry
        elif match is None and _OLD_TEMP_NAME.fullmatch(entry.name):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    repaired: list[str] = []
    for files in pairs.values():
        image = _claimed_name(entries, files.get("image"))
        sidecar = files.get("sidecar")
        if image is not None and sidecar is not None:
            with contextlib.suppress(OSError):
                os.link(sidecar.path, folder / f"{os.path.splitext(image)[0]}.json")
                repaired.append(image)
        for entry in files.values():
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    return repaired


def _claimed_name(entries: list[os.DirEntry[str]], temp: os.DirEntry[str] | None) -> str | None:
    """The final name a temp file was linked to in the same folder, if it was claimed."""
    if temp is None:
        return None
    try:
        info = temp.stat(follow_symlinks=False)
    except OSError:
        return None
    if info.st_nlink < 2:
        return None
    for entry in entries:
        if entry.name.startswith(".imagen-"):
            continue
        with contextlib.suppress(OSError):
            if entry.inode() == info.st_ino and entry.is_file(follow_symlinks=False):
                return entry.name
    return None


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def _write_temp(folder: Path, data: bytes, pair: str, role: str) -> Path:
    """Write ``data`` to a new hidden temp file in ``folder``, fsynced; return its path."""
    while True:
        temp = folder / f".imagen-{os.getpid()}-{pair}-{role}.tmp"
        try:
            # 0o666 so the umask decides the final mode, as for any file the user creates.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except FileExistsError:
            pair = uuid.uuid4().hex[:12]
            continue
        break
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temp


def _claim_pair(folder: Path, stem: str, files: list[tuple[Path, str]]) -> str | None:
    """Claim ``<candidate><suffix>`` for every ``(temp, suffix)`` at once; return the candidate.

    None when every candidate up to ``MAX_SUFFIX`` is taken.
    """
    for number in range(1, MAX_SUFFIX + 1):
        candidate = stem if number == 1 else f"{stem}-{number}"
        claimed: list[tuple[Path, Path]] = []
        try:
            for temp, suffix in files:
                final = folder / f"{candidate}{suffix}"
                _claim(temp, final)
                claimed.append((temp, final))
        except FileExistsError:
            _release(claimed)
            continue
        except BaseException:
            _release(claimed)
            raise
        return candidate
    return None


def _claim(temp: Path, final: Path) -> None:
    """Give ``temp``'s content the name ``final``; FileExistsError if the name is taken."""
    try:
        os.link(temp, final)
        return
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
    # No hard links: reserve the name exclusively, then move the content over it.
    os.close(os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        os.replace(temp, final)
    except BaseException:
        final.unlink(missing_ok=True)
        raise


def _release(claimed: list[tuple[Path, Path]]) -> None:
    """Undo claims: put the content back under its temp name so it can be claimed again."""
    for temp, final in reversed(claimed):
        with contextlib.suppress(OSError):
            if temp.exists():
                final.unlink()
            else:
                os.replace(final, temp)


def _sync_folder(folder: Path) -> None:
    """Make the new names durable; not every platform can open a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _message(root: Path, error: OSError) -> str:
    code = error.errno or 0
    reason = _REASONS.get(code) or (error.strerror or str(error)).lower()
    advice = _ADVICE_FOR.get(code, _ADVICE)
    return f"cannot write to {root}: {reason}; {advice}"


__all__ = ["probe_directory", "sweep_stale", "write_take"]
