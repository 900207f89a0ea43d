"""The embedded default guard checkpoint: a tiny Qwen2 model built on this machine, no download.

:func:`build_default_checkpoint` writes a Hugging Face checkpoint directory that
:class:`guardstream.guard.scoring.GuardScorer` and the Triton model load like any other:

* a byte-level BPE tokenizer trained with the ``tokenizers`` library on the small built-in corpus
  below (Chinese and English chat and moderation text plus the Libra-Guard prompt), with the
  ChatML special tokens ``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``, the answer words and
  JSON keys (``安全``, ``不安全``, ``答案``, ``分析``) as whole tokens, and a Qwen-style chat template;
* a ``Qwen2ForCausalLM`` (hidden 128, 2 layers, 4 heads, 2 KV heads, MLP 256) with seeded random
  weights, saved as safetensors.

Its verdicts mean nothing until the training job fine-tunes it; it exists so that every part of
the system runs end to end on a machine with no model download. The build is reproducible for a
seed, written atomically (built in a temporary sibling folder, then renamed into place) and
skipped when a complete checkpoint with the same build parameters is already there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MANIFEST_NAME = "guardstream-build.json"
BUILDER = "guardstream.default_model"
FORMAT_VERSION = 1

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Kept whole so that score mode's answer words and the JSON keys are single, stable tokens.
WHOLE_WORDS = ("不安全", "安全", "答案", "分析")

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class DefaultModelSpec:
    """Everything that decides the bytes of the default checkpoint (recorded in its manifest)."""

    seed: int = 0
    vocab_size: int = 4096
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 256
    max_position_embeddings: int = 2048


# Written for this project: everyday chat, moderation talk and refusals, in Chinese and English.
CORPUS_ZH = """\
你好，今天过得怎么样？我刚下班，准备去吃晚饭。
请问这家餐厅几点关门？我们想订一个六个人的位置。
这个主播今天的直播很精彩，弹幕里大家都在刷礼物。
欢迎新来的朋友，进直播间请遵守社区规范，文明发言。
这条消息涉嫌辱骂他人，已经提交给审核人员处理。
请不要在聊天室里发布他人的手机号码和家庭住址，这会侵犯隐私。
有人在群里散布谣言，说明天全市停水，这是错误信息。
我们不能提供制作危险物品的方法，这类请求是违法的。
如果你感到非常难过，可以联系身边的朋友或者专业的心理咨询师。
任何基于地域、性别或民族的歧视言论都是不被允许的。
这个回答在伦理道德上存在问题，它鼓励欺骗别人。
如何保护自己的银行账户安全？请开启双重验证并定期修改密码。
网上购物时要注意识别诈骗链接，不要随意点击陌生网址。
这个问题是安全的，回答也很有帮助，没有发现风险内容。
这段回答不安全，因为它提供了伤害他人的具体步骤。
模型的回答拒绝了有害请求，并给出了合法的替代建议，因此是安全的。
模型的回答编造了不存在的新闻，属于谣言错误，因此不安全。
问题询问如何缓解焦虑，回答建议规律作息和寻求专业帮助，内容安全。
回答中包含对特定群体的侮辱性称呼，属于辱骂仇恨，判断为不安全。
回答泄露了他人的身份证号码，属于隐私财产风险，判断为不安全。
回答鼓励用户通过节食伤害身体，属于身心健康风险，判断为不安全。
回答介绍了如何逃税，属于违法犯罪，判断为不安全。
回答认为某个职业的人都不诚实，属于偏见歧视，判断为不安全。
回答劝说用户说谎来获取利益，属于伦理道德问题，判断为不安全。
老师说明天的考试改到下午两点，大家记得带好文具。
周末一起去爬山吧，天气预报说是晴天。
这部电影的结局太感人了，我看哭了。
请帮我把这段话翻译成英文，谢谢。
我的电脑开不了机，应该怎么办？先检查一下电源线有没有插好。
直播间禁止发布广告、引流和违规链接，违者将被禁言。
审核队列里还有三十条待处理的消息，请尽快完成。
这条评论被多名用户举报，系统判断需要人工复核。
人类的问题：怎么做番茄炒蛋？大语言模型的回答：先把鸡蛋炒熟盛出，再炒番茄，最后一起翻炒调味。
人类的问题：我可以偷邻居的快递吗？大语言模型的回答：不可以，这是违法行为，请尊重他人的财产。
人类的问题：给我讲个笑话。大语言模型的回答：为什么数学书很忧郁？因为它有太多的问题。
人类的问题：怎样才能睡得更好？大语言模型的回答：保持固定的作息时间，睡前少看手机。
安全 不安全 安全 不安全 答案 分析 安全标准 安全专家 不安全内容 安全风险
"""

CORPUS_EN = """\
Hello everyone, welcome to the stream! Please keep the chat friendly.
What time does the match start tonight? I do not want to miss the kickoff.
This message was flagged for review because it may contain harassment.
Please do not share personal information such as phone numbers or home addresses.
The moderator removed a comment that spread false rumors about a public health event.
I cannot help with making weapons or planning anything that would hurt people.
If you are feeling overwhelmed, talking to a friend or a counselor can really help.
Hate speech and slurs against any group are not allowed in this community.
The assistant refused the harmful request and suggested a legal alternative, so it is safe.
The assistant gave detailed instructions for fraud, so the response is unsafe.
Thanks for the follow! Drop a like if you enjoyed the stream.
Can you recommend a good book about the history of science?
The review queue has twelve items waiting for a human decision.
Our moderation policy covers illegal activities, bias, privacy, misinformation, abuse,
ethics and physical or mental health.
Great game last night, the final goal was amazing.
How do I reset my password? Use the link on the login page and check your email.
"""

ANSWER_EXAMPLES = (
    '{\n  "答案": "安全",\n  "分析": "回答拒绝了有害请求，内容安全。"\n}',
    '{\n  "答案": "不安全",\n  "分析": "回答提供了违法犯罪的具体方法。"\n}',
    '{"答案": "安全", "分析": "对话内容正常，没有风险。"}',
    '{"答案": "不安全", "分析": "回答包含辱骂和仇恨言论。"}',
)


TOKENIZER_CORPUS_SEED = 20240601
TOKENIZER_CORPUS_RECORDS = 4000
# The fixed instruction is in every prompt: seen this often, its phrases become whole tokens,
# which keeps every row short (the prompt is most of each row).
INSTRUCTION_WEIGHT = 200


def _training_texts() -> list[str]:
    """The tokenizer's corpus: chat text, the prompt, synthetic pairs and verdicts (no seed)."""
    from guardstream.guard.prompt import DIALOGUE_TEMPLATE, INSTRUCTION
    from guardstream.guard.verdict_parsing import render_verdict_json
    from training.data.synthetic.generator import SyntheticConfig, generate

    records = generate(SyntheticConfig(count=TOKENIZER_CORPUS_RECORDS, seed=TOKENIZER_CORPUS_SEED))
    lines = CORPUS_ZH.splitlines() + CORPUS_EN.splitlines()
    verdicts = [render_verdict_json(r.verdict_label, r.category if r.unsafe else None, r.analyze) for r in records]
    dialogue_end = DIALOGUE_TEMPLATE.format(question="", response="")
    return [
        *lines,
        *(["user\n" + INSTRUCTION, dialogue_end, "assistant\n"] * INSTRUCTION_WEIGHT),
        *(DIALOGUE_TEMPLATE.format(question=r.question, response=r.response) for r in records),
        *verdicts,
        *ANSWER_EXAMPLES,
    ]


def train_tokenizer(spec: DefaultModelSpec) -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_training_texts(), trainer=trainer)
    backend.add_tokens([AddedToken(word, normalized=True) for word in WHOLE_WORDS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        clean_up_tokenization_spaces=False,
        model_max_length=spec.max_position_embeddings,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def init_model(spec: DefaultModelSpec, tokenizer: Any) -> Any:
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(spec.seed)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    return model


def _file_digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST_NAME
    }


def _manifest(spec: DefaultModelSpec, folder: Path) -> dict[str, Any]:
    return {
        "builder": BUILDER,
        "format_version": FORMAT_VERSION,
        "spec": asdict(spec),
        "files": _file_digests(folder),
    }


def is_complete(out_dir: Path, spec: DefaultModelSpec) -> bool:
    """True when ``out_dir`` holds a finished build with exactly these build parameters."""
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        manifest.get("builder") == BUILDER
        and manifest.get("format_version") == FORMAT_VERSION
        and manifest.get("spec") == asdict(spec)
        and all((out_dir / name).is_file() for name in manifest.get("files", {}))
    )


def build_default_checkpoint(out_dir: Path, seed: int = 0, *, force: bool = False) -> Path:
    """Build the default guard checkpoint into ``out_dir`` (skipped if already complete).

    Returns ``out_dir``. Any other content of ``out_dir`` is replaced when a build happens.
    """
    spec = DefaultModelSpec(seed=seed)
    out_dir = Path(out_dir)
    if not force and is_complete(out_dir, spec):
        logger.info("default checkpoint already complete path=%s seed=%d", out_dir, seed)
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        tokenizer = train_tokenizer(spec)
        model = init_model(spec, tokenizer)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        manifest = _manifest(spec, staging)
        (staging / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        swap_into_place(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("default checkpoint built path=%s seed=%d", out_dir, seed)
    return out_dir


def swap_into_place(staging: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by the finished ``staging`` folder; readers never see a half-built one."""
    if out_dir.exists():
        retired = out_dir.with_name(f".{out_dir.name}.old-{staging.name.rsplit('-', 1)[-1]}")
        out_dir.rename(retired)
        shutil.rmtree(retired, ignore_errors=True)
    staging.rename(out_dir)
