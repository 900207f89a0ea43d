"""Score mode at production size: a Qwen2.5-0.5B-shaped guard with random weights, served by Triton.

Nothing is downloaded. The architecture is Qwen2.5-0.5B's (transformers ``Qwen2Config``), the
weights are random (throughput does not depend on them), and the tokenizer is the project's
default checkpoint's (``triton_models/guard/1/checkpoint``; trained on the spot when that is
missing). The model is served in score mode by the project's own Triton backend, on ``cuda`` in
bfloat16, then swept over batch size × concurrency with the asyncio gRPC client.

Model FLOP utilisation = 2 × N × tokens/s ÷ peak, where N is the parameter count without the
embedding table (score mode runs the LM head on a few positions per row only, so the embedding
lookup costs no matmul) and tokens are the real (unpadded) prompt tokens of the items.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devtools.bench.direct import SweepPoint, best_point, sweep, sweep_grid
from guardstream.guard.backend_settings import OUTPUT_P_UNSAFE
from guardstream.paths import repository_root

log = logging.getLogger(__name__)

QWEN25_0_5B: dict[str, Any] = {
    "hidden_size": 896,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "intermediate_size": 4864,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "max_position_embeddings": 32768,
    "rope_theta": 1_000_000.0,
    "rms_norm_eps": 1e-6,
}
SMALL: dict[str, Any] = {
    **QWEN25_0_5B,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
}
# Dense bfloat16 tensor-core peaks (no sparsity), from the vendors' data sheets, in FLOP/s.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("RTX 4090", 165e12),
    ("RTX 6000 Ada", 364e12),
    ("A6000", 155e12),
)


def peak_flops(device_name: str) -> float | None:
    """The bf16 dense peak of a GPU from its name (first table entry it contains); None if unknown."""
    upper = device_name.upper()
    for key, flops in PEAK_BF16_FLOPS:
        if key.upper() in upper:
            return flops
    return None


def mfu(params: int, tokens_per_s: float, peak: float | None) -> float | None:
    """Model FLOP utilisation: 2 × params × tokens/s ÷ peak FLOP/s."""
    if not peak or peak <= 0:
        return None
    return 2.0 * params * tokens_per_s / peak


@dataclass(frozen=True, slots=True)
class GpuReport:
    device: str
    device_name: str
    dtype: str
    architecture: str
    params: int
    non_embedding_params: int
    mean_tokens_per_item: float
    best: SweepPoint
    sweep: list[SweepPoint]
    tokens_per_s: float
    peak_flops: float | None
    mfu: float | None
    seconds: float

    def lines(self) -> list[str]:
        from devtools.bench.figures import Figure

        figures = [
            Figure("gpu_items_per_s", self.best.items_per_s, "items/s", note="score mode, best sweep point"),
            Figure("gpu_tokens_per_s", self.tokens_per_s, "tokens/s"),
            Figure("gpu_mfu", self.mfu if self.mfu is not None else float("nan"), "ratio"),
        ]
        return [f.line() for f in figures]


def _tokenizer_source(root: Path) -> Any:
    from guardstream.guard.checkpoint import load_tokenizer

    checkpoint = root / "triton_models" / "guard" / "1" / "checkpoint"
    if (checkpoint / "tokenizer.json").is_file():
        return load_tokenizer(checkpoint)
    from training.default_model import DefaultModelSpec, train_tokenizer

    log.info("no default checkpoint at %s: training its tokenizer (seconds)", checkpoint)
    return train_tokenizer(DefaultModelSpec())


def build_random_guard(out: Path, small: bool, device: str, dtype: str) -> tuple[int, int]:
    """Write a random-weight Qwen2 checkpoint with the default tokenizer; (params, non-embedding params)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = _tokenizer_source(repository_root())
    arch = dict(SMALL if small else QWEN25_0_5B)
    arch["vocab_size"] = max(arch["vocab_size"], len(tokenizer))
    config = Qwen2Config(
        **arch, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None
    )
    torch.manual_seed(0)
    torch_dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch_dtype).eval()
    params = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    return params, params - embedding


def write_repository(repo: Path, checkpoint: Path, device: str, dtype: str, max_batch: int) -> None:
    """A one-model repository: the project's score-mode ``guard`` on ``device`` in ``dtype``."""
    source = repository_root() / "triton_models" / "guard"
    config = (source / "config.pbtxt").read_text(encoding="utf-8")
    replacements = {
        'key: "device" value: { string_value: "cpu" }': f'key: "device" value: {{ string_value: "{device}" }}',
        'key: "dtype" value: { string_value: "float32" }': f'key: "dtype" value: {{ string_value: "{dtype}" }}',
        'key: "checkpoint_path" value: { string_value: "checkpoint" }': f'key: "checkpoint_path" value: {{ string_value: "{checkpoint}" }}',
    }
    for old, new in replacements.items():
        if old not in config:
            raise RuntimeError(f"triton_models/guard/config.pbtxt no longer holds {old!r}")
        config = config.replace(old, new)
    config = _replace_line(config, "max_batch_size:", f"max_batch_size: {max_batch}")
    target = repo / "guard"
    (target / "1").mkdir(parents=True, exist_ok=True)
    (target / "config.pbtxt").write_text(config, encoding="utf-8")
    shutil.copy2(source / "1" / "model.py", target / "1" / "model.py")


def _replace_line(text: str, prefix: str, line: str) -> str:
    return "\n".join(line if row.startswith(prefix) else row for row in text.splitlines()) + "\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """The bundled tritonserver on free loopback ports, serving ``repo``."""

    def __init__(self, repo: Path, work: Path) -> None:
        from devtools.devstack.triton import assemble_backends, locate_distribution, server_env

        dist = locate_distribution()
        backends = assemble_backends(dist, work / "backends")
        self.http_port, self.grpc_port, metrics = _free_port(), _free_port(), _free_port()
        argv = [
            str(dist.server_binary),
            f"--model-repository={repo}",
            f"--backend-directory={backends}",
            "--http-address=127.0.0.1",
            f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={metrics}",
            "--allow-metrics=false",
            "--model-control-mode=explicit",
            "--load-model=guard",
            "--exit-timeout-secs=5",
            "--log-verbose=0",
        ]
        self.log_path = work / "tritonserver.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env=server_env(dist), cwd=work
        )

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        url = f"http://127.0.0.1:{self.http_port}/v2/health/ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tritonserver exited ({self.process.returncode}); see {self.log_path}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the guard model was not ready within {timeout_s:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def run_gpu_bench(
    work: Path,
    device: str,
    dtype: str,
    small: bool,
    batches: tuple[int, ...],
    concurrency: tuple[int, ...],
    seconds: float,
    items: int = 4000,
    peak_override: float | None = None,
    say: Callable[[str], None] = lambda _line: None,
) -> GpuReport:
    import torch

    from devtools.bench.load import chat_events
    from guardstream.guard.encoding import PromptEncoder
    from guardstream.settings import TritonSettings

    started = time.monotonic()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device (use --device cpu --small)")
    device_name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = work / "checkpoint"
    say(f"building a random-weight {'small Qwen2' if small else 'Qwen2.5-0.5B'} checkpoint ({dtype}) at {checkpoint}")
    params, non_embedding = build_random_guard(checkpoint, small, device if device.startswith("cuda") else "cpu", dtype)
    say(f"  {params / 1e6:,.1f} M parameters ({non_embedding / 1e6:,.1f} M without the embedding)")
    max_batch = max(batches)
    repo = work / "repository"
    if repo.exists():
        shutil.rmtree(repo)
    write_repository(repo, checkpoint, device, dtype, max_batch)

    from guardstream.guard.checkpoint import load_tokenizer

    pool = chat_events(items, seed=11)
    pairs = [event.guard_pair() for event in pool]
    encoder = PromptEncoder(load_tokenizer(checkpoint), 512)
    mean_tokens = sum(len(ids) for ids in encoder.contexts(pairs)) / len(pairs)

    say("starting tritonserver with the guard model in score mode")
    server = Server(repo, work)
    try:
        server.wait_ready(240)
        settings = TritonSettings(grpc_url=f"127.0.0.1:{server.grpc_port}")
        say(f"sweeping batch {list(batches)} × concurrency {list(concurrency)}, {seconds:.0f}s each")
        points = sweep(settings, "guard", OUTPUT_P_UNSAFE, pairs, sweep_grid(batches, concurrency, max_batch), seconds)
    finally:
        server.stop()
    best = best_point(points)
    tokens_per_s = best.items_per_s * mean_tokens
    peak = peak_override or (peak_flops(device_name) if device.startswith("cuda") else None)
    return GpuReport(
        device=device,
        device_name=device_name,
        dtype=dtype,
        architecture="small Qwen2 (test)" if small else "Qwen2.5-0.5B (random weights)",
        params=params,
        non_embedding_params=non_embedding,
        mean_tokens_per_item=mean_tokens,
        best=best,
        sweep=points,
        tokens_per_s=tokens_per_s,
        peak_flops=peak,
        mfu=mfu(non_embedding, tokens_per_s, peak),
        seconds=time.monotonic() - started,
    )


def report_json(report: GpuReport) -> str:
    data = asdict(report)
    return json.dumps(data, indent=2, default=str)
