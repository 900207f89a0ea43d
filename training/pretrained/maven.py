"""Fetch one pinned artifact from Maven Central (the way the Kafka jars are fetched) and check it.

The coordinates and the artifact's sha256 are pinned together: a registry that serves different
bytes under the same coordinates is refused, never used.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class ArtifactError(RuntimeError):
    """The artifact could not be fetched, or its bytes are not the pinned ones."""


@dataclass(frozen=True, slots=True)
class PinnedArtifact:
    group: str
    artifact: str
    version: str
    sha256: str

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_artifact(pin: PinnedArtifact, cache_dir: Path) -> Path:
    """The artifact's jar in ``cache_dir``, fetched with Maven when missing; sha256 checked."""
    target = cache_dir / pin.file_name
    if target.is_file() and sha256_of(target) == pin.sha256:
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ArtifactError(f"mvn not found: install Maven (apt-get install -y maven) to fetch {pin.coordinates}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".fetch-") as staging:
        result = subprocess.run(
            [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={pin.coordinates}", f"-DoutputDirectory={staging}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        fetched = Path(staging) / pin.file_name
        if result.returncode != 0 or not fetched.is_file():
            output = (result.stdout + result.stderr)[-4000:]
            raise ArtifactError(f"fetching {pin.coordinates} failed (mvn exit {result.returncode}):\n{output}")
        actual = sha256_of(fetched)
        if actual != pin.sha256:
            raise ArtifactError(f"{pin.coordinates}: sha256 {actual} is not the pinned {pin.sha256}; refusing it")
        fetched.replace(target)
    return target
