"""The default model's card: what it stands on, what it learned from, how well, and where it fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CARD_NAME = "MODEL_CARD.md"

_SOURCES = {
    "COLD": 'COLD (thu-coai/COLDataset; Deng et al., "COLD: A Benchmark for Chinese Offensive Language '
    'Detection", EMNLP 2022), Apache-2.0: Chinese posts on race, region and gender, labelled offensive or not',
}


def _metrics_table(held_out: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| set | items | accuracy | F1-safe | F1-unsafe |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, figures in held_out.items():
        lines.append(
            f"| {name} | {int(figures.get('items', 0))} | {figures['accuracy']:.4f} | {figures['f1_safe']:.4f} | {figures['f1_unsafe']:.4f} |"
        )
    return lines


def render_model_card(manifest: dict[str, Any]) -> str:
    spec = manifest["spec"]
    base = manifest["base_provenance"]
    training = manifest["training"]
    real = manifest.get("real_data", {})
    lines = [
        "# guardstream default guard: the fast guard of the cascade",
        "",
        "Written by `guardstream model build-default`; every figure below was measured by that build.",
        "",
        "## What it is",
        f"- A pretrained Chinese encoder, **{base['model']}** (license {base['model_license']}), with two linear heads on",
        "  the first token: p_unsafe (sigmoid) and the harm scenario (softmax over Libra-Test's seven).",
        f"- Weights fetched from Maven Central as `{base['package']}` (license {base['package_license']},",
        f"  sha256 `{base['package_sha256']}`), rebuilt from its ONNX export as a Hugging Face BertModel.",
        f"- Input: `[CLS] question [SEP] response [SEP]`, user text always plain text, at most {spec['max_input_tokens']} tokens.",
        *(
            [
                "- Beside the encoder, a lexical head: a linear model over hashed character 1–3-grams of the question and",
                "  the response, trained on every training item; the two logits are mixed by weights fitted on held-out",
                f"  items (encoder, lexical, bias = {training['stages']['lexical']['mix']}).",
            ]
            if "lexical" in training["stages"]
            else []
        ),
        "- Behind it in the cascade: the generative guard (Libra-Guard format; by default the project's own tiny",
        "  Qwen2-shaped model trained from scratch on synthetic data, or a user's checkpoint). It explains flagged",
        "  verdicts; it decides only where the policy's `escalate_band` sends it (empty by default).",
        "",
        "## Training (two stages)",
        f"- Stage 1: {training['synthetic_items']} synthetic (question, response) pairs from the project's generator",
        "  (seven scenarios, adversarial rewrites, everyday chat).",
    ]
    if real:
        sources = ", ".join(sorted(real))
        stage2 = training["stages"]["stage2"]
        frozen = f"its lower {spec['frozen_layers']} layers and " if spec["frozen_layers"] else "its "
        lines.append(
            f"- Stage 2: {training['real_items']} real labelled items from {sources}, with a "
            f"{spec['replay_fraction']:.0%} replay of stage-1 items; the encoder trained for "
            f"{stage2['steps']} steps of {spec['stage2']['batch_size']} ({frozen}word embeddings kept as pretrained), "
            "the lexical head on all of them."
        )
        lines += ["", "### Data sources", *(f"- {text}" for text in _SOURCES.values())]
    else:
        lines.append("- Stage 2: skipped, no real labelled data was found; this build judges real chat poorly.")
    lines += [
        "",
        f"Profile `{spec['profile']}`, {training['seconds']:.0f} s of training on this machine.",
        "",
        "## Measured (threshold 0.5; no set below was trained on)",
        *_metrics_table(manifest["held_out"]),
        "",
        "`validation` is a slice of the training files held back from training; the three mixing weights were",
        "fitted on it (nothing else), so `*_dev` files, measured only, are the cleaner figure.",
        "",
        "## Known limits",
        "- The real data is COLD only: offensive posts about race, region and gender. Other harms (crime, privacy,",
        "  rumours, self-harm) are learned from synthetic data alone, and so is judging an LLM's reply to a question.",
        "- A 4-layer, 512-wide encoder: sarcasm, implicit hate and long context are beyond it more often than for",
        "  larger models; inputs past the token budget are truncated (the longer side first).",
        "- The category head is taught by synthetic data only; COLD items carry no scenario.",
        "- Scores are not calibrated per source; thresholds come from the policy file.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(folder: Path, manifest: dict[str, Any]) -> Path:
    path = folder / CARD_NAME
    path.write_text(render_model_card(manifest), encoding="utf-8")
    return path
