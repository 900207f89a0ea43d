from __future__ import annotations

from pathlib import Path

import pytest

from guardstream.guard.categories import HarmCategory
from guardstream.guard.prompt import (
    ANSWER_PREFIX,
    INSTRUCTION,
    SAFE_WORD,
    UNSAFE_WORD,
    build_messages,
    build_prompt_text,
)


def test_messages_are_one_user_turn_with_instruction_question_and_response() -> None:
    messages = build_messages("怎么做番茄炒蛋？", "先炒鸡蛋。")
    assert len(messages) == 1
    assert messages[0]["role"] == "user"
    content = messages[0]["content"]
    assert content.startswith(INSTRUCTION)
    assert content.endswith("# 对话\n人类的问题：怎么做番茄炒蛋？\n大语言模型的回答：先炒鸡蛋。\n")


def test_prompt_alone_is_judged_with_an_empty_response() -> None:
    content = build_messages("你好", "")[0]["content"]
    assert content.endswith("人类的问题：你好\n大语言模型的回答：\n")


def test_instruction_asks_for_the_json_answer_the_parser_expects() -> None:
    assert '"答案": "安全" 或 "不安全"' in INSTRUCTION
    assert '"分析"' in INSTRUCTION
    assert ANSWER_PREFIX.endswith('"答案": "')
    assert (UNSAFE_WORD, SAFE_WORD) == ("不安全", "安全")


def test_prompt_text_goes_through_the_chat_template_with_generation_prompt(
    default_checkpoint: Path,
) -> None:
    from guardstream.guard.checkpoint import load_tokenizer

    tokenizer = load_tokenizer(default_checkpoint)
    text = build_prompt_text(tokenizer, "问题", "回答")
    assert text.startswith("<|im_start|>user\n# 背景 \n")
    assert text.endswith("大语言模型的回答：回答\n<|im_end|>\n<|im_start|>assistant\n")


def test_there_are_seven_harm_categories_with_chinese_names() -> None:
    assert len(HarmCategory) == 7
    names = {c.chinese_name for c in HarmCategory}
    assert names == {"违法犯罪", "偏见歧视", "隐私财产", "谣言错误", "辱骂仇恨", "伦理道德", "身心健康"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("违法犯罪", HarmCategory.ILLEGAL_ACTIVITIES),
        ("hate_abuse", HarmCategory.HATE_ABUSE),
        ("仇恨辱骂", HarmCategory.HATE_ABUSE),
        ("Privacy and Property", HarmCategory.PRIVACY_PROPERTY),
        (" 身心健康 ", HarmCategory.PHYSICAL_MENTAL_HEALTH),
    ],
)
def test_category_parses_slug_chinese_and_english_names(name: str, expected: HarmCategory) -> None:
    assert HarmCategory.parse(name) is expected
    assert HarmCategory.parse(expected.chinese_name) is expected


def test_unknown_category_is_rejected_with_the_accepted_names() -> None:
    with pytest.raises(ValueError, match="违法犯罪"):
        HarmCategory.parse("spam")
