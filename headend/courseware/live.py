"""Live classes (网络党课, issue 16): ``run_live`` encodes one live source into HLS for every
player profile in use, as ``live_recipe`` compiles it, and keeps ``status.json`` up to date.

Layout under the data root (``live_dir``)::

    live/<ID>/master.m3u8            every video profile's variant (BANDWIDTH, RESOLUTION), then the audio one
    live/<ID>/<profile>/index.m3u8   a live window of 6 segments; #EXT-X-ENDLIST once the class ends
    live/<ID>/<profile>/seg-00001.ts segments of ``segment_s`` seconds, numbered, never reused, never deleted
    live/<ID>/recording.ts           the best video profile's segments joined at the end (for ingest)
    live/<ID>/status.json            what the encoder is doing (``LiveStatus``), rewritten atomically

When ffmpeg exits before ``until`` (the studio PC's OBS dropped, a file ran out) the state goes
``waiting`` and ffmpeg starts again (listening again / reading again) with ``append_list``: the
playlists go on, the numbering goes on, and ffmpeg marks the join ``#EXT-X-DISCONTINUITY``.
``#EXT-X-ENDLIST`` is added once, when the class really ends (``until``, or ``stop``: ffmpeg gets
SIGINT and writes its last segment first). The recording is made at the end by joining the best
video profile's segments (concat demuxer, stream copy): it holds what was broadcast, drops left
out. Runs that write no segment and exit with an error ``max_failures`` times in a row (a corrupt
file, a port already taken) end ``failed`` naming the input and what ffmpeg said; so does a class
to which nothing arrived. A cancelled ``run_live`` kills its ffmpeg.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from catalogue.display import china_time
from headend.config import HeadendConfig, selected_profiles
from headend.courseware.live_recipe import (
    INDEX,
    MASTER,
    RECORDING,
    SEGMENT_NAME,
    SEGMENT_RE,
    SEGMENT_S_CHOICES,
    LiveSource,
    best,
    check_live_id,
    concat_list,
    live_args,
    master_playlist,
    parse_source,
    plan,
    recording_args,
)
from headend.errors import BadRequest
from playlists.atomic import atomic_move, atomic_write

log = logging.getLogger(__name__)

STATUS = "status.json"
ENDLIST = "#EXT-X-ENDLIST"
LOG_LINES = 20  # ffmpeg's last stderr lines kept in the status
STOP_GRACE_S = 15  # after SIGINT, ffmpeg gets this long to write its last segment before it is killed


def live_dir(cfg: HeadendConfig, live_id: str) -> Path:
    return cfg.root / "live" / check_live_id(live_id)


def segment_numbers(folder: Path) -> list[int]:
    """The numbers of the whole segments in a profile's folder (``.tmp`` files are not whole)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(int(m[1]) for m in map(SEGMENT_RE.match, names) if m)


# -- the status ------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class LiveStatus:
    """``status.json``: what a live class's encoder is doing."""

    id: str
    source: str
    state: str = "starting"  # starting | running | waiting | ended | failed
    started_at: str = ""  # ISO 8601 UTC
    ended_at: str = ""
    until: str = ""
    segments: Mapping[str, int] = field(default_factory=dict)  # whole segments on disk, per profile
    restarts: int = 0  # times ffmpeg was started again after the source stopped
    last_error: str = ""
    last_lines: tuple[str, ...] = ()  # ffmpeg's stderr, the last LOG_LINES lines
    recording: str = ""  # relative to live/<ID>/, once made
    updated_at: str = ""

    def to_json(self) -> bytes:
        body = dataclasses.asdict(self)
        body["segments"], body["last_lines"] = dict(self.segments), list(self.last_lines)
        return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> LiveStatus:
        body = json.loads(data)
        names = {f.name for f in dataclasses.fields(cls)}
        body = {k: v for k, v in body.items() if k in names}
        body["last_lines"] = tuple(body.get("last_lines", ()))
        return cls(**body)


def read_status(cfg: HeadendConfig, live_id: str) -> LiveStatus | None:
    try:
        return LiveStatus.from_json((live_dir(cfg, live_id) / STATUS).read_bytes())
    except FileNotFoundError:
        return None


# -- the runner ------------------------------------------------------------------------------


@contextlib.contextmanager
def _encoder_lock(folder: Path, live_id: str) -> Iterator[None]:
    """One encoder per class: a second ``run_live`` of the same id is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".encoder.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BadRequest(f"live class {live_id} is already being encoded by another process", field="id") from None
        yield
    finally:
        os.close(fd)


_NOISE = re.compile(r"Conversion failed!|Exiting normally|frame size not set")  # says nothing about the source


def _said(lines: Iterable[str]) -> str:
    """ffmpeg's most telling line: the last one that is not a sign-off or harmless noise."""
    for line in reversed(list(lines)):
        if line.strip() and not _NOISE.search(line):
            return line.strip()
    return ""


class _Run:
    def __init__(self, cfg, live_id, source, until, segment_s, stop, on_status, max_failures, retry_delay_s, poll_s):
        self.dir = live_dir(cfg, live_id)
        self.source = source
        self.renditions = plan(selected_profiles(cfg))
        self.segment_s = segment_s
        self.deadline = None if until is None else time.monotonic() + (until - datetime.now(UTC)).total_seconds()
        self.stop = stop or asyncio.Event()
        self.on_status = on_status
        self.max_failures, self.retry_delay_s, self.poll_s = max_failures, retry_delay_s, poll_s
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.status = LiveStatus(
            id=live_id, source=str(source), started_at=_now(), until=until.astimezone(UTC).isoformat() if until else ""
        )

    def due(self) -> bool:
        return self.stop.is_set() or (self.deadline is not None and time.monotonic() >= self.deadline)

    def counts(self) -> dict[str, int]:
        return {r.name: len(segment_numbers(self.dir / r.name)) for r in self.renditions}

    async def set(self, **changes) -> None:
        """A new status: written atomically, handed to ``on_status``, logged when the state flips."""
        old = self.status
        self.status = dataclasses.replace(old, **changes, last_lines=tuple(self.lines), updated_at=_now())
        if self.status.state != old.state:
            level = logging.WARNING if self.status.state in ("waiting", "failed") else logging.INFO
            why = f" ({self.status.last_error})" if "last_error" in changes else ""
            log.log(level, "live %s: %s%s", old.id, self.status.state, why)
        await asyncio.to_thread(atomic_write, self.dir / STATUS, self.status.to_json())
        if self.on_status is not None:
            self.on_status(self.status)

    def prepare(self) -> None:
        """Before each ffmpeg start: playlists that say the class ended are refused; half-written
        files go; segments a playlist never announced (ffmpeg killed between the two writes) go too,
        so that ``append_list`` cannot write their numbers again."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for r in self.renditions:
            folder = self.dir / r.name
            folder.mkdir(exist_ok=True)
            for tmp in folder.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
            playlist = folder / INDEX
            if not playlist.exists():
                continue
            text = playlist.read_text(encoding="utf-8", errors="replace")
            if ENDLIST in text:
                raise BadRequest(
                    f"live class {self.status.id} has already ended ({playlist}); give a new class a new id",
                    field="id",
                )
            listed = [int(m[1]) for m in re.finditer(r"(?m)^seg-(\d{5,9})\.ts$", text)]
            for n in segment_numbers(folder):
                if listed and n > listed[-1]:
                    (folder / (SEGMENT_NAME % n)).unlink(missing_ok=True)

    def resume(self) -> dict[str, int]:
        out = {}
        for r in self.renditions:
            folder = self.dir / r.name
            numbers = segment_numbers(folder)
            out[r.name] = 0 if (folder / INDEX).exists() else (numbers[-1] + 1 if numbers else 1)
        return out

    async def read_stderr(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while chunk := await stream.read(4096):
            *whole, pending = (pending + chunk).split(b"\n")
            self.lines.extend(x.decode("utf-8", "replace").rstrip() for x in whole if x.strip())
            pending = pending[-4096:]
        if pending.strip():
            self.lines.append(pending.decode("utf-8", "replace").rstrip())

    async def one_ffmpeg(self) -> tuple[int, bool]:
        """Run ffmpeg until it exits or the class is due to end; (exit code, stopped by us)."""
        await asyncio.to_thread(self.prepare)
        args = live_args(self.source, self.renditions, self.dir, self.segment_s, await asyncio.to_thread(self.resume))
        log.info("live %s: %s", self.status.id, " ".join(args))
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C at the terminal reaches us, and we stop ffmpeg cleanly
        )
        assert proc.stderr is not None
        reader = asyncio.create_task(self.read_stderr(proc.stderr))
        waiter = asyncio.create_task(proc.wait())
        stopped = False
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=self.poll_s)
                counts = await asyncio.to_thread(self.counts)
                if counts != dict(self.status.segments):
                    state = "running" if sum(counts.values()) > sum(self.status.segments.values()) else None
                    await self.set(segments=counts, state=state or self.status.state)
                if not waiter.done() and self.due():
                    stopped = True
                    await self.end_ffmpeg(proc)
            await reader
        except BaseException:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            reader.cancel()
            waiter.cancel()
            raise
        return proc.returncode if proc.returncode is not None else -1, stopped

    async def end_ffmpeg(self, proc) -> None:
        """SIGINT (ffmpeg writes its last segment and playlist), then kill if it does not exit."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def hint(self) -> str:
        if self.source.kind == "listen":
            return "check the address and port (is another class using it?), and that the studio's OBS sends to it"
        if self.source.kind == "file":
            return "check that the file plays on a computer, or export it again as MP4 (H.264 + AAC)"
        return "check the lavfi graph"

    async def run(self) -> LiveStatus:
        with _encoder_lock(self.dir, self.status.id):
            await asyncio.to_thread(self.prepare)  # refuses an ended class before anything is written
            await asyncio.to_thread(atomic_write, self.dir / MASTER, master_playlist(self.renditions).encode())
            await self.set(state="starting", segments=await asyncio.to_thread(self.counts))
            failures = 0
            try:
                while not self.due():
                    before = sum(self.status.segments.values())
                    code, stopped = await self.one_ffmpeg()
                    if stopped:
                        break
                    counts = await asyncio.to_thread(self.counts)
                    wrote = sum(counts.values()) - before
                    said = _said(self.lines)
                    failures = failures + 1 if wrote == 0 and code != 0 else 0
                    if failures >= self.max_failures or (self.deadline is None and sum(counts.values()) == 0):
                        what = f"ffmpeg: {said}" if said else f"ffmpeg exited with code {code}"
                        await self.set(
                            segments=counts, last_error=f"{self.source}: cannot encode it ({what}); {self.hint()}"
                        )
                        return await self.finish("failed")
                    if self.deadline is None:
                        break  # no end time: the class ends with its source
                    await self.set(
                        state="waiting",
                        segments=counts,
                        restarts=self.status.restarts + 1,
                        last_error=f"{self.source}: the source stopped at {china_time(datetime.now(UTC))} China time "
                        f"({said if code != 0 and said else 'the input ended'})",
                    )
                    await self.pause(self.retry_delay_s * max(1, failures))
            except asyncio.CancelledError:
                self.status = dataclasses.replace(
                    self.status, state="failed", ended_at=_now(), last_error="interrupted: the encoder was stopped"
                )
                atomic_write(self.dir / STATUS, self.status.to_json())
                raise
            return await self.finish("ended")

    async def pause(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.due() and time.monotonic() < end:
            await asyncio.sleep(min(0.1, end - time.monotonic()))

    async def finish(self, state: str) -> LiveStatus:
        """The class is over: #EXT-X-ENDLIST on every playlist, the recording, the final status
        (``last_error`` keeps the last drop or failure, and a recording that could not be made)."""
        to_record = await asyncio.to_thread(self.close_playlists)
        error = await self.make_recording() if to_record else ""
        counts = await asyncio.to_thread(self.counts)
        if state == "ended" and not any(counts.values()):
            state, error = "failed", f"{self.source}: nothing arrived before the class's end; {self.hint()}"
        await self.set(
            state=state,
            ended_at=_now(),
            segments=counts,
            recording=RECORDING if to_record and not error else "",
            last_error="; ".join(x for x in (self.status.last_error, error) if x),
        )
        return self.status

    def close_playlists(self) -> bool:
        """Add #EXT-X-ENDLIST where missing; True if the best rendition has segments to record."""
        for r in self.renditions:
            folder = self.dir / r.name
            for tmp in folder.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
            playlist = folder / INDEX
            if playlist.exists():
                text = playlist.read_text(encoding="utf-8")
                if ENDLIST not in text:
                    atomic_write(playlist, (text.rstrip("\n") + f"\n{ENDLIST}\n").encode("utf-8"))
        return bool(segment_numbers(self.dir / best(self.renditions).name))

    async def make_recording(self) -> str:
        """recording.ts from the best rendition's segments; "" or what went wrong."""
        folder = best(self.renditions).name
        names = [f"{folder}/{SEGMENT_NAME % n}" for n in segment_numbers(self.dir / folder)]
        list_file, dest = self.dir / ".recording.ffconcat", self.dir / f".{RECORDING}.tmp"
        await asyncio.to_thread(list_file.write_text, concat_list(names), encoding="utf-8")
        try:
            proc = await asyncio.create_subprocess_exec(
                *recording_args(list_file, dest),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            if proc.returncode != 0:
                lines = err.decode("utf-8", "replace").splitlines()
                return f"the recording could not be made (ffmpeg: {_said(lines) or proc.returncode})"
            await asyncio.to_thread(_fsync_then_move, dest, self.dir / RECORDING)
            return ""
        finally:
            list_file.unlink(missing_ok=True)
            dest.unlink(missing_ok=True)


def _fsync_then_move(src: Path, dest: Path) -> None:
    with open(src, "rb+") as fh:
        os.fsync(fh.fileno())
    atomic_move(src, dest)


async def run_live(
    cfg: HeadendConfig,
    live_id: str,
    source: LiveSource | str,
    until: datetime | None,
    *,
    segment_s: int = 2,
    stop: asyncio.Event | None = None,
    on_status: Callable[[LiveStatus], None] | None = None,
    max_failures: int = 3,
    retry_delay_s: float = 1.0,
    poll_s: float = 0.5,
) -> LiveStatus:
    """Encode ``source`` as live class ``live_id`` until ``until`` (an aware datetime; None: until
    the source ends) or ``stop`` is set; returns the final status (``ended`` or ``failed``).
    BadRequest (before anything is written) for a bad id, source, segment length or ``until``, or a
    class that already ended; ConfigError for the profiles."""
    check_live_id(live_id)
    source = parse_source(source) if isinstance(source, str) else source
    if segment_s not in SEGMENT_S_CHOICES:
        raise BadRequest(f"segment length {segment_s} s: choose 2, 3 or 4 seconds", field="segment_s")
    if until is not None and until <= datetime.now(UTC):
        raise BadRequest(f"the class's end {until.isoformat()} has already passed", field="until")
    run = _Run(cfg, live_id, source, until, segment_s, stop, on_status, max_failures, retry_delay_s, poll_s)
    return await run.run()
