"""Images and sidecars are written atomically, as a pair, and never over an existing file."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imagen.errors import OutputError
from imagen.output import files as output
from imagen.output.files import write_take


def files_under(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def fail_on_call(
    real: Callable[..., Any], failing_call: int, error: BaseException
) -> Callable[..., Any]:
    """Wrap ``real`` so that its ``failing_call``-th call (1-based) raises ``error``."""
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == failing_call:
            raise error
        return real(*args, **kwargs)

    return wrapper


def test_writes_image_and_sidecar_under_the_rendered_path(tmp_path: Path) -> None:
    paths = write_take(tmp_path, "2026-03-04/0506-cat-42", "png", b"IMAGE", b"{}\n")
    assert paths == ("2026-03-04/0506-cat-42.png", "2026-03-04/0506-cat-42.json")
    assert (tmp_path / paths[0]).read_bytes() == b"IMAGE"
    assert (tmp_path / "2026-03-04/0506-cat-42.json").read_bytes() == b"{}\n"
    assert files_under(tmp_path) == ["2026-03-04/0506-cat-42.json", "2026-03-04/0506-cat-42.png"]


def test_without_a_sidecar_only_the_image_is_written(tmp_path: Path) -> None:
    assert write_take(tmp_path, "cat", ".jpeg", b"IMAGE", None) == ("cat.jpeg", None)
    assert files_under(tmp_path) == ["cat.jpeg"]


def test_output_directory_is_created(tmp_path: Path) -> None:
    write_take(tmp_path / "new" / "out", "a/b/cat", "png", b"IMAGE", None)
    assert (tmp_path / "new/out/a/b/cat.png").read_bytes() == b"IMAGE"


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(b"FIRST")
    (tmp_path / "cat-2.png").write_bytes(b"SECOND")
    assert write_take(tmp_path, "cat", "png", b"THIRD", None) == ("cat-3.png", None)
    assert (tmp_path / "cat.png").read_bytes() == b"FIRST"
    assert (tmp_path / "cat-2.png").read_bytes() == b"SECOND"
    assert (tmp_path / "cat-3.png").read_bytes() == b"THIRD"


def test_image_and_sidecar_are_claimed_as_a_pair(tmp_path: Path) -> None:
    (tmp_path / "cat.json").write_bytes(b"OTHER SIDECAR")
    assert write_take(tmp_path, "cat", "png", b"IMAGE", b"{}") == ("cat-2.png", "cat-2.json")
    assert files_under(tmp_path) == ["cat-2.json", "cat-2.png", "cat.json"]
    assert (tmp_path / "cat.json").read_bytes() == b"OTHER SIDECAR"


def test_repeated_writes_get_successive_suffixes(tmp_path: Path) -> None:
    written = [write_take(tmp_path, "cat", "png", bytes([n]), b"{}")[0] for n in range(4)]
    assert written == ["cat.png", "cat-2.png", "cat-3.png", "cat-4.png"]
    assert [(tmp_path / name).read_bytes() for name in written] == [bytes([n]) for n in range(4)]


def test_final_files_get_the_usual_mode_from_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_take(tmp_path, "cat", "png", b"IMAGE", None)
    finally:
        os.umask(old)
    assert (tmp_path / "cat.png").stat().st_mode & 0o777 == 0o640


def test_filesystems_without_hard_links_still_never_clobber(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "cat.png").write_bytes(b"FIRST")
    (tmp_path / "cat-2.json").write_bytes(b"OTHER")
    assert write_take(tmp_path, "cat", "png", b"IMAGE", b"{}") == ("cat-3.png", "cat-3.json")
    assert files_under(tmp_path) == ["cat-2.json", "cat-3.json", "cat-3.png", "cat.png"]
    assert (tmp_path / "cat.png").read_bytes() == b"FIRST"
    assert (tmp_path / "cat-3.png").read_bytes() == b"IMAGE"
    assert (tmp_path / "cat-3.json").read_bytes() == b"{}"


def test_path_through_a_regular_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_bytes(b"a file, not a folder")
    with pytest.raises(OutputError) as caught:
        write_take(tmp_path, "taken/cat", "png", b"IMAGE", b"{}")
    assert str(caught.value) == (
        f"cannot write to {tmp_path}: part of the path is a file, not a folder; "
        "choose another output directory with -o or output.directory"
    )
    assert files_under(tmp_path) == ["taken"]


def test_output_directory_that_is_a_file_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "out").write_bytes(b"")
    with pytest.raises(OutputError, match="part of the path is a file"):
        write_take(tmp_path / "out", "cat", "png", b"IMAGE", None)


def test_disk_full_while_writing_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "write", fail_on_call(os.write, 1, OSError(errno.ENOSPC, "full")))
    with pytest.raises(OutputError) as caught:
        write_take(tmp_path, "cat", "png", b"IMAGE", b"{}")
    assert str(caught.value) == (
        f"cannot write to {tmp_path}: no space left on the device; "
        "free some space or choose another output directory with -o or output.directory"
    )
    assert files_under(tmp_path) == []


def test_disk_full_while_writing_the_sidecar_leaves_no_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "write", fail_on_call(os.write, 2, OSError(errno.ENOSPC, "full")))
    with pytest.raises(OutputError, match="no space left"):
        write_take(tmp_path, "cat", "png", b"IMAGE", b"{}")
    assert files_under(tmp_path) == []


def test_failure_claiming_the_sidecar_releases_the_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "link", fail_on_call(os.link, 2, OSError(errno.ENOSPC, "full")))
    with pytest.raises(OutputError, match="no space left"):
        write_take(tmp_path, "cat", "png", b"IMAGE", b"{}")
    assert files_under(tmp_path) == []


def test_read_only_file_system_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "open", fail_on_call(os.open, 1, OSError(errno.EROFS, "ro")))
    with pytest.raises(OutputError, match="the file system is read-only; choose another"):
        write_take(tmp_path, "cat", "png", b"IMAGE", None)


def test_permission_denied_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "open", fail_on_call(os.open, 1, PermissionError(errno.EACCES, "no")))
    with pytest.raises(OutputError, match=r"permission denied; choose another output directory"):
        write_take(tmp_path, "cat", "png", b"IMAGE", None)


def test_name_too_long_is_an_output_error_that_points_at_the_template(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as caught:
        write_take(tmp_path, "x" * 300, "png", b"IMAGE", b"{}")
    assert "the file name is too long; use a shorter output.naming template" in str(caught.value)
    assert files_under(tmp_path) == []


def test_interrupt_while_writing_removes_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", fail_on_call(os.fsync, 2, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_take(tmp_path, "cat", "png", b"IMAGE", b"{}")
    assert files_under(tmp_path) == []


def test_interrupt_between_image_and_sidecar_claims_leaves_no_half_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "link", fail_on_call(os.link, 2, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_take(tmp_path, "cat", "png", b"IMAGE", b"{}")
    assert files_under(tmp_path) == []


def test_running_out_of_suffixes_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "MAX_SUFFIX", 3)
    for name in ("cat.png", "cat-2.png", "cat-3.png"):
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(OutputError, match="3 files named cat already exist"):
        write_take(tmp_path, "cat", "png", b"IMAGE", b"{}")
    assert files_under(tmp_path) == ["cat-2.png", "cat-3.png", "cat.png"]


@pytest.mark.parametrize("relpath", ["/etc/cat", "../cat", "a/../../cat", ""])
def test_paths_outside_the_directory_are_refused(tmp_path: Path, relpath: str) -> None:
    with pytest.raises(ValueError, match="relative"):
        write_take(tmp_path, relpath, "png", b"IMAGE", None)


# --- crashed writers: stale temp files are swept, a half-claimed pair is repaired ----------

KILLED_WRITER = """
import sys
from imagen.output import files as output

real_claim = output._claim
calls = 0

def claim(temp, final):
    global calls
    calls += 1
    if calls == 2:  # the image is claimed; the sidecar is next
        print("between the claims", flush=True)
        sys.stdin.read()  # wait here until killed
    real_claim(temp, final)

output._claim = claim
output.write_take(sys.argv[1], "cat", "png", b"IMAGE", b'{"sidecar": 1}')
"""


def age(folder: Path, seconds: float) -> None:
    """Make every temp file in ``folder`` look ``seconds`` old."""
    for temp in folder.glob(".imagen-*.tmp"):
        stamp = temp.stat().st_mtime - seconds
        os.utime(temp, (stamp, stamp))


def test_a_writer_killed_between_the_claims_is_repaired_by_the_next_write(
    tmp_path: Path,
) -> None:
    import signal
    import subprocess
    import sys

    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "between the claims\n"
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait()
    assert (tmp_path / "cat.png").read_bytes() == b"IMAGE"
    assert not (tmp_path / "cat.json").exists()
    assert len(list(tmp_path.glob(".imagen-*.tmp"))) == 2
    age(tmp_path, output.STALE_AFTER + 1)

    write_take(tmp_path, "dog", "png", b"DOG", b"{}")

    assert (tmp_path / "cat.json").read_bytes() == b'{"sidecar": 1}'
    assert files_under(tmp_path) == ["cat.json", "cat.png", "dog.json", "dog.png"]


def dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_old_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    pid = dead_pid()
    (tmp_path / f".imagen-{pid}-0123456789ab-image.tmp").write_bytes(b"HALF")
    (tmp_path / f".imagen-{pid}-ba9876543210-probe.tmp").write_bytes(b"")
    (tmp_path / ".imagen-0123456789ab.tmp").write_bytes(b"OLD FORMAT")
    age(tmp_path, output.STALE_AFTER + 1)
    assert output.sweep_stale(tmp_path) == []
    assert files_under(tmp_path) == []


# Reports every signal it gets, and answers each line it reads with "pong".
LIVE_WRITER = """
import signal, sys

def report(number, frame):
    print(f"signal {number}", flush=True)

for number in signal.valid_signals():
    try:
        signal.signal(number, report)
    except (OSError, ValueError, RuntimeError):
        pass
for line in sys.stdin:
    print("pong", flush=True)
"""


@pytest.fixture
def live_writer() -> Iterator[subprocess.Popen[str]]:
    """A live process this test owns, to stand for a writer (never a stranger's process: a
    broken liveness check could signal it)."""
    child = subprocess.Popen(
        [sys.executable, "-c", LIVE_WRITER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def test_temp_files_of_a_live_writer_are_kept(
    tmp_path: Path, live_writer: subprocess.Popen[str]
) -> None:
    temp = tmp_path / f".imagen-{live_writer.pid}-0123456789ab-image.tmp"
    temp.write_bytes(b"IN PROGRESS")
    age(tmp_path, 3600)
    output.sweep_stale(tmp_path)
    assert temp.exists()


def test_recent_temp_files_are_kept_even_when_their_writer_is_gone(tmp_path: Path) -> None:
    temp = tmp_path / f".imagen-{dead_pid()}-0123456789ab-image.tmp"
    temp.write_bytes(b"JUST WRITTEN")
    output.sweep_stale(tmp_path)
    assert temp.exists()


def test_a_pair_claimed_whole_before_the_crash_is_left_alone(tmp_path: Path) -> None:
    pid = dead_pid()
    image = tmp_path / f".imagen-{pid}-0123456789ab-image.tmp"
    sidecar = tmp_path / f".imagen-{pid}-0123456789ab-sidecar.tmp"
    image.write_bytes(b"IMAGE")
    sidecar.write_bytes(b"{}")
    os.link(image, tmp_path / "cat.png")
    os.link(sidecar, tmp_path / "cat.json")
    age(tmp_path, output.STALE_AFTER + 1)
    assert output.sweep_stale(tmp_path) == []
    assert files_under(tmp_path) == ["cat.json", "cat.png"]


def test_probe_refuses_a_folder_that_cannot_take_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        output.os, "write", fail_on_call(os.write, 1, OSError(errno.ENOSPC, "No space"))
    )
    with pytest.raises(OutputError, match="no space left on the device; free some space"):
        output.probe_directory(tmp_path / "out")
    assert files_under(tmp_path) == []


def test_probe_refuses_a_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_bytes(b"")
    with pytest.raises(OutputError, match="cannot write to"):
        output.probe_directory(tmp_path / "out")


# --- the extension and the .json refusal ----------------------------------------------------


def test_the_extension_is_kept_as_given(tmp_path: Path) -> None:
    assert write_take(tmp_path, "cat", ".Xbm", b"IMAGE", None) == ("cat.Xbm", None)


@pytest.mark.parametrize("ext", ["json", ".JSON"])
def test_an_image_named_json_cannot_have_a_json_sidecar(tmp_path: Path, ext: str) -> None:
    refusal = r"^an image with the extension \.json cannot have a \.json sidecar$"
    with pytest.raises(ValueError, match=refusal):
        write_take(tmp_path, "cat", ext, b"IMAGE", b"{}")
    assert files_under(tmp_path) == []


def test_an_image_named_json_without_a_sidecar_is_written(tmp_path: Path) -> None:
    assert write_take(tmp_path, "cat", "json", b"{}", None) == ("cat.json", None)


def test_a_temp_file_that_cannot_be_removed_does_not_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_unlink = Path.unlink

    def stuck(path: Path, missing_ok: bool = False) -> None:
        if path.name.startswith(".imagen-"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", stuck)
    assert write_take(tmp_path, "cat", "png", b"IMAGE", b"{}") == ("cat.png", "cat.json")
    assert (tmp_path / "cat.png").read_bytes() == b"IMAGE"


def test_the_last_suffix_is_used_before_giving_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "MAX_SUFFIX", 3)
    for name in ("cat.png", "cat-2.png"):
        (tmp_path / name).write_bytes(b"")
    assert write_take(tmp_path, "cat", "png", b"IMAGE", None) == ("cat-3.png", None)


def test_an_os_error_without_a_code_is_shown_in_its_own_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "write", fail_on_call(os.write, 1, OSError("Weird Failure")))
    with pytest.raises(OutputError) as caught:
        write_take(tmp_path, "cat", "png", b"IMAGE", None)
    assert str(caught.value) == (
        f"cannot write to {tmp_path}: weird failure; "
        "choose another output directory with -o or output.directory"
    )


# --- the probe --------------------------------------------------------------------------------


def test_probe_creates_missing_parent_folders_and_leaves_nothing(tmp_path: Path) -> None:
    output.probe_directory(tmp_path / "a" / "b" / "c")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert files_under(tmp_path) == []


def test_probe_names_the_folder_it_cannot_write_to(tmp_path: Path) -> None:
    (tmp_path / "out").write_bytes(b"")
    with pytest.raises(OutputError) as caught:
        output.probe_directory(tmp_path / "out")
    assert str(caught.value) == (
        f"cannot write to {tmp_path / 'out'}: part of the path is a file, not a folder; "
        "choose another output directory with -o or output.directory"
    )


# --- what crashed writers leave, and what the sweep takes -------------------------------------

KILLED_PROBE = """
import os, sys
from imagen.output import files as output

def write(fd, data):
    print("probing", flush=True)
    sys.stdin.read()  # wait here until killed

os.write = write
output.probe_directory(sys.argv[1])
"""

# The first temp name this writer picks is taken already, so it picks another, and is killed
# after writing the image there.
KILLED_COLLIDING_WRITER = """
import os, sys, uuid
from imagen.output import files as output

folder = sys.argv[1]
taken = uuid.UUID(int=0x0123456789AB << 80)
answers = [taken]
real_uuid4 = uuid.uuid4
uuid.uuid4 = lambda: answers.pop() if answers else real_uuid4()
open(os.path.join(folder, f".imagen-{os.getpid()}-{taken.hex[:12]}-image.tmp"), "wb").close()

def fsync(fd):
    print("written", flush=True)
    sys.stdin.read()  # wait here until killed

os.fsync = fsync
output.write_take(folder, "cat", "png", b"IMAGE", None)
"""


def kill_when_it_says(script: str, folder: Path, line: str) -> None:
    import signal
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-c", script, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == line
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()


def test_a_probe_left_by_a_killed_process_is_swept_and_a_new_probe_leaves_none(
    tmp_path: Path,
) -> None:
    kill_when_it_says(KILLED_PROBE, tmp_path, "probing\n")
    assert len(list(tmp_path.glob(".imagen-*.tmp"))) == 1
    age(tmp_path, output.STALE_AFTER + 1)
    write_take(tmp_path, "dog", "png", b"DOG", None)
    assert files_under(tmp_path) == ["dog.png"]
    output.probe_directory(tmp_path)  # and a probe here, in this process, leaves nothing
    assert files_under(tmp_path) == ["dog.png"]


def test_a_writer_whose_first_temp_name_was_taken_leaves_names_the_sweep_knows(
    tmp_path: Path,
) -> None:
    kill_when_it_says(KILLED_COLLIDING_WRITER, tmp_path, "written\n")
    temps = list(tmp_path.glob(".imagen-*.tmp"))
    assert len(temps) == 2
    assert sorted(temp.stat().st_size for temp in temps) == [0, len(b"IMAGE")]
    age(tmp_path, output.STALE_AFTER + 1)
    write_take(tmp_path, "dog", "png", b"DOG", None)
    assert files_under(tmp_path) == ["dog.png"]


def half_claimed_pair(folder: Path, pid: int, pair: str, name: str) -> None:
    """What a writer killed between its two claims leaves: image claimed, sidecar not."""
    image = folder / f".imagen-{pid}-{pair}-image.tmp"
    image.write_bytes(name.encode())
    (folder / f".imagen-{pid}-{pair}-sidecar.tmp").write_bytes(f'{{"name": "{name}"}}'.encode())
    os.link(image, folder / f"{name}.png")


def test_each_half_claimed_pair_gets_its_own_sidecar(tmp_path: Path) -> None:
    pid = dead_pid()
    half_claimed_pair(tmp_path, pid, "0123456789ab", "cat")
    half_claimed_pair(tmp_path, pid, "ba9876543210", "dog")
    unrelated = [f"zebra-{n}.png" for n in range(10)]
    for name in unrelated:
        (tmp_path / name).write_bytes(b"")
    age(tmp_path, output.STALE_AFTER + 1)

    assert sorted(output.sweep_stale(tmp_path)) == ["cat.png", "dog.png"]

    assert (tmp_path / "cat.json").read_bytes() == b'{"name": "cat"}'
    assert (tmp_path / "dog.json").read_bytes() == b'{"name": "dog"}'
    assert files_under(tmp_path) == sorted(
        ["cat.json", "cat.png", "dog.json", "dog.png", *unrelated]
    )


def test_a_writer_killed_before_any_claim_leaves_nothing_after_the_sweep(tmp_path: Path) -> None:
    pid = dead_pid()
    (tmp_path / f".imagen-{pid}-0123456789ab-image.tmp").write_bytes(b"IMAGE")
    (tmp_path / f".imagen-{pid}-0123456789ab-sidecar.tmp").write_bytes(b"{}")
    age(tmp_path, output.STALE_AFTER + 1)
    assert output.sweep_stale(tmp_path) == []
    assert files_under(tmp_path) == []


def test_files_named_like_temps_in_no_known_format_are_kept(tmp_path: Path) -> None:
    kept = [".imagen-notes.tmp", f".imagen-{dead_pid()}-0123456789ab-thumbnail.tmp"]
    for name in kept:
        (tmp_path / name).write_bytes(b"someone else's")
    age(tmp_path, output.STALE_AFTER + 1)
    output.sweep_stale(tmp_path)
    assert files_under(tmp_path) == sorted(kept)


def test_folders_named_like_stale_temps_are_left_and_the_sweep_goes_on(tmp_path: Path) -> None:
    folders = [".imagen-0123456789ab.tmp", f".imagen-{dead_pid()}-0123456789ab-image.tmp"]
    for name in folders:
        (tmp_path / name).mkdir()
    age(tmp_path, output.STALE_AFTER + 1)
    assert output.sweep_stale(tmp_path) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(folders)


def test_stale_temp_files_of_this_very_process_are_kept(tmp_path: Path) -> None:
    temp = tmp_path / f".imagen-{os.getpid()}-0123456789ab-image.tmp"
    temp.write_bytes(b"IN PROGRESS")
    age(tmp_path, 3600)
    output.sweep_stale(tmp_path)
    assert temp.exists()


def test_the_sweep_sends_a_live_writer_no_signal(
    tmp_path: Path, live_writer: subprocess.Popen[str]
) -> None:
    (tmp_path / f".imagen-{live_writer.pid}-0123456789ab-image.tmp").write_bytes(b"WRITING")
    age(tmp_path, 3600)
    output.sweep_stale(tmp_path)
    assert live_writer.stdin is not None
    assert live_writer.stdout is not None
    live_writer.stdin.write("ping\n")
    live_writer.stdin.flush()
    # A signal sent before the ping is handled (and reported) before the ping is read.
    assert live_writer.stdout.readline() == "pong\n"


def test_a_writer_owned_by_another_user_counts_as_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = dead_pid()

    def not_yours(target: int, signal_number: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "kill", not_yours)
    temp = tmp_path / f".imagen-{pid}-0123456789ab-image.tmp"
    temp.write_bytes(b"IN PROGRESS")
    age(tmp_path, 3600)
    output.sweep_stale(tmp_path)
    assert temp.exists()


def test_recent_temp_files_do_not_stop_the_sweep_of_stale_ones(tmp_path: Path) -> None:
    pid = dead_pid()
    stale = tmp_path / f".imagen-{pid}-0123456789ab-image.tmp"
    stale.write_bytes(b"OLD")
    age(tmp_path, output.STALE_AFTER + 1)
    recent = [tmp_path / f".imagen-{pid}-{n:012x}-image.tmp" for n in range(1, 21)]
    for temp in recent:
        temp.write_bytes(b"NEW")
    output.sweep_stale(tmp_path)
    assert not stale.exists()
    assert all(temp.exists() for temp in recent)


def test_a_temp_file_removed_by_another_sweep_meanwhile_does_not_stop_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = dead_pid()
    gone, stale = (tmp_path / f".imagen-{pid}-{pair}-image.tmp" for pair in ("0" * 12, "f" * 12))
    gone.write_bytes(b"OLD")
    stale.write_bytes(b"OLD")
    age(tmp_path, output.STALE_AFTER + 1)
    real_scandir = os.scandir

    def listed_then_removed(path: Path) -> list[os.DirEntry[str]]:
        entries = sorted(real_scandir(path), key=lambda entry: entry.name)
        gone.unlink()  # by another process, between the listing and the look at each file
        return entries

    monkeypatch.setattr(os, "scandir", listed_then_removed)
    output.sweep_stale(tmp_path)
    assert not stale.exists()


def test_a_claim_that_cannot_be_undone_does_not_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stuck(path: Path, missing_ok: bool = False) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    (tmp_path / "cat.json").write_bytes(b"OTHER SIDECAR")
    monkeypatch.setattr(Path, "unlink", stuck)
    assert write_take(tmp_path, "cat", "png", b"IMAGE", b"{}") == ("cat-2.png", "cat-2.json")
    assert (tmp_path / "cat-2.png").read_bytes() == b"IMAGE"
    assert (tmp_path / "cat.json").read_bytes() == b"OTHER SIDECAR"
