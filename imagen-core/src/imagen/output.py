"""Atomic, no-clobber writes of an image and its sidecar.

Each file is written to a hidden temp file in the target folder, fsynced, and then claimed
under its final name with ``os.link``, which fails rather than overwrite. When a name is
taken the next suffix is tried (``stem-2``, ``stem-3``, ...); the image and its ``.json``
sidecar are claimed as a pair, so both always share one stem. Several processes may write
the same name at once: each ends with its own files and none is clobbered. Nothing
half-written is ever left under a final name, and temp files are always removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
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
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temps.append(_write_temp(folder, image))
        if sidecar is not None:
            temps.append(_write_temp(folder, sidecar))
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


def _write_temp(folder: Path, data: bytes) -> Path:
    """Write ``data`` to a new hidden temp file in ``folder``, fsynced; return its path."""
    while True:
        temp = folder / f".imagen-{uuid.uuid4().hex[:12]}.tmp"
        try:
            # 0o666 so the umask decides the final mode, as for any file the user creates.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except FileExistsError:
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


__all__ = ["write_take"]
