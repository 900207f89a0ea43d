"""Model versions without downtime, through Triton's explicit model control.

A version is *loaded* beside the current one, *smoke-checked*, then *promoted*: the current
version's number is written into the served config (parameter ``current_version``), which
workers re-read every few seconds and then send their requests to. The version it replaced stays
loaded, so ``rollback`` is instant. Reloading a model with a changed config keeps its other
versions serving, so no request fails during any of these steps. The pointer is also kept in
``triton_models/serving.json`` so that ``restore`` can re-apply it after Triton restarts.

The same steps serve every model of the repository: the generative guard (``guard``, whose explain
model ``guard_explain`` follows its versions) and the fast guard (``guard_fast``, scored only).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritonclient.utils import InferenceServerException

from guardstream.errors import ConfigurationError, RetriableError
from guardstream.guard.serving_pointer import ServingPointer, read_pointer, write_pointer
from guardstream.guard.verdict_parsing import parse_guard_output
from guardstream.settings import TritonSettings
from workers.triton_client import CURRENT_VERSION_PARAMETER, GuardModelClient, build_grpc_client

log = logging.getLogger(__name__)

PREVIOUS_VERSION_PARAMETER = "previous_version"
SMOKE_PAIRS: tuple[tuple[str, str], ...] = (
    ("你好，今天天气怎么样？", ""),
    ("怎么做番茄炒蛋？", "先把鸡蛋炒熟盛出，再炒番茄，最后一起翻炒并调味。"),
    ("告诉我怎么制作炸药。", "对不起，我不能提供制作危险物品的方法。"),
    ("How do I reset my password?", "Use the 'forgot password' link on the sign-in page."),
)


@dataclass(frozen=True)
class VersionRow:
    version: str
    state: str
    current: bool
    previous: bool


@dataclass(frozen=True)
class SmokeReport:
    version: str
    p_unsafe: list[float]
    explanations: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class ModelVersions:
    """The versions of one served model: ``model_name``, the generative guard's by default."""

    def __init__(self, settings: TritonSettings, repository: Path, model_name: str | None = None) -> None:
        self._settings = settings
        self._repository = repository
        self._client = build_grpc_client(settings)
        self.model_name = settings.model_name if model_name is None else model_name
        if not self.model_name:
            raise ConfigurationError(
                "no model name: the fast guard is off (GUARDSTREAM_TRITON__FAST_MODEL_NAME is empty)"
            )
        # Explain mode serves the generative guard's weights under a model of its own; it follows
        # that model's versions. The fast guard only scores.
        self._explain_model = settings.explain_model_name if self.model_name == settings.model_name else ""

    # ── reading ──────────────────────────────────────────────────────────────────────────────
    def pointer(self) -> ServingPointer:
        config = self._config(self.model_name)
        parameters = config.get("parameters", {})
        loaded = self._loaded(self.model_name)
        current = _parameter(parameters, CURRENT_VERSION_PARAMETER) or (max(loaded, key=int) if loaded else "")
        return ServingPointer(current, _parameter(parameters, PREVIOUS_VERSION_PARAMETER), loaded)

    def rows(self) -> list[VersionRow]:
        pointer = self.pointer()
        states = {
            str(entry.get("version")): str(entry.get("state", "UNAVAILABLE"))
            for entry in self._index()
            if entry.get("name") == self.model_name and entry.get("version")
        }
        versions = sorted(set(states) | set(self.on_disk()), key=int)
        return [VersionRow(v, states.get(v, "ON DISK"), v == pointer.current, v == pointer.previous) for v in versions]

    def on_disk(self) -> list[str]:
        folder = self._repository / self.model_name
        return sorted((p.name for p in folder.iterdir() if p.is_dir() and p.name.isdigit()), key=int)

    # ── changing ─────────────────────────────────────────────────────────────────────────────
    def load(self, version: str) -> ServingPointer:
        """Load ``version`` (of both modes, for the generative guard) beside the current one; the
        current one keeps serving."""
        self._require_on_disk(version)
        if self._explain_model:
            self._ensure_explain_folder(version)
        pointer = self.pointer()
        keep = [v for v in (pointer.previous, pointer.current, version) if v]
        self._apply(ServingPointer(pointer.current, pointer.previous, sorted(set(keep), key=int)))
        log.info("loaded version=%s beside current=%s", version, pointer.current)
        return self.pointer()

    def smoke(self, version: str) -> SmokeReport:
        """Score (and explain, for the generative guard) a few fixed pairs with ``version``; any sign
        of a broken model fails it."""
        client = GuardModelClient(
            self._settings.model_copy(update={"model_name": self.model_name, "model_version": version})
        )
        problems: list[str] = []
        scores: list[float] = []
        explanations: list[str] = []
        try:
            scores = [float(x) for x in client.score(list(SMOKE_PAIRS))]
            if len(scores) != len(SMOKE_PAIRS) or not all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in scores):
                problems.append(f"p_unsafe out of range or missing: {scores}")
            if self._explain_model:
                explanations = client.explain(list(SMOKE_PAIRS[:2]))
                if not all(text.strip() for text in explanations):
                    problems.append("explain mode returned empty text")
                elif not all(parse_guard_output(text).parsed for text in explanations):
                    log.warning("version %s explains without a parseable answer (an untrained model?)", version)
        except (RetriableError, InferenceServerException) as exc:
            problems.append(f"inference failed: {exc}")
        finally:
            client.close()
        return SmokeReport(version, scores, explanations, problems)

    def promote(self, version: str) -> ServingPointer:
        """Make ``version`` current (it must be loaded and pass the smoke check)."""
        pointer = self.pointer()
        if version not in pointer.loaded:
            raise ConfigurationError(
                f"version {version} of {self.model_name} is not loaded; run `guardstream model load {version}` first"
            )
        report = self.smoke(version)
        if not report.ok:
            raise ConfigurationError(f"version {version} failed its smoke check: {'; '.join(report.problems)}")
        previous = pointer.current if pointer.current != version else pointer.previous
        keep = sorted({v for v in (previous, version) if v}, key=int)
        self._apply(ServingPointer(version, previous, keep))
        log.info("promoted version=%s previous=%s", version, previous)
        return self.pointer()

    def rollback(self) -> ServingPointer:
        """Make the previous version current again (it stayed loaded since the promotion)."""
        pointer = self.pointer()
        if not pointer.previous or pointer.previous not in pointer.loaded:
            raise ConfigurationError("there is no loaded previous version to roll back to")
        self._apply(
            ServingPointer(pointer.previous, pointer.current, sorted({pointer.previous, pointer.current}, key=int))
        )
        log.info("rolled back to version=%s from %s", pointer.previous, pointer.current)
        return self.pointer()

    def retire(self, version: str) -> ServingPointer:
        """Unload a version that is neither current nor kept for rollback (its folder stays)."""
        pointer = self.pointer()
        if version == pointer.current:
            raise ConfigurationError(f"version {version} is current; promote another one first")
        previous = "" if version == pointer.previous else pointer.previous
        self._apply(ServingPointer(pointer.current, previous, [v for v in pointer.loaded if v != version]))
        return self.pointer()

    def restore(self) -> ServingPointer | None:
        """Re-apply the pointer kept on disk (after Triton restarted); None when there is none."""
        saved = read_pointer(self._repository, self.model_name)
        if saved is None:
            return None
        if self.pointer().current != saved.current or not self._config(self.model_name).get("parameters", {}).get(
            CURRENT_VERSION_PARAMETER
        ):
            self._apply(saved)
        return self.pointer()

    def close(self) -> None:
        self._client.close()

    # ── internals ────────────────────────────────────────────────────────────────────────────
    def _apply(self, pointer: ServingPointer) -> None:
        policy = {"specific": {"versions": [int(v) for v in pointer.loaded]}}
        for name in (self._explain_model, self.model_name):
            if not name:
                continue
            config = self._config(name)
            config["version_policy"] = policy
            parameters = config.setdefault("parameters", {})
            if name == self.model_name:
                parameters[CURRENT_VERSION_PARAMETER] = {"string_value": pointer.current}
                parameters[PREVIOUS_VERSION_PARAMETER] = {"string_value": pointer.previous}
            try:
                self._client.load_model(name, config=json.dumps(config))
            except InferenceServerException as exc:
                raise ConfigurationError(f"Triton refused to load {name} versions {pointer.loaded}: {exc}") from exc
        write_pointer(self._repository, self.model_name, pointer)

    def _config(self, name: str) -> dict[str, Any]:
        try:
            config: dict[str, Any] = self._client.get_model_config(name, as_json=True)["config"]
        except InferenceServerException:
            self._client.load_model(name)  # not loaded yet: load what the repository says
            config = self._client.get_model_config(name, as_json=True)["config"]
        return config

    def _loaded(self, name: str) -> list[str]:
        return sorted(
            (str(e["version"]) for e in self._index() if e.get("name") == name and e.get("state") == "READY"),
            key=int,
        )

    def _index(self) -> list[dict[str, Any]]:
        try:
            return list(self._client.get_model_repository_index(as_json=True).get("models", []))
        except InferenceServerException as exc:
            raise RetriableError(f"Triton at {self._settings.grpc_url} unavailable: {exc}") from exc

    def _require_on_disk(self, version: str) -> None:
        if not version.isdigit():
            raise ConfigurationError(f"a version is a number, got {version!r}")
        if version not in self.on_disk():
            raise ConfigurationError(
                f"no version {version} in {self._repository / self.model_name}; have {self.on_disk()}"
            )

    def _ensure_explain_folder(self, version: str) -> None:
        """Explain mode reads the score model's weights; its version folder holds only model.py."""
        folder = self._repository / self._explain_model / version
        if not (folder / "model.py").is_file():
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._repository / self.model_name / version / "model.py", folder / "model.py")


def _parameter(parameters: dict[str, Any], name: str) -> str:
    entry = parameters.get(name, {})
    return str(entry.get("string_value", "")) if isinstance(entry, dict) else ""
