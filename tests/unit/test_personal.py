"""Personal data of the public in free text: found as people type it, masked, and ordinary numbers left alone."""

from __future__ import annotations

import random

import pytest

from domain.personal import find, mask, mask_phone, mask_text, phone_subject

# What people type (the forms), with what must remain of each after masking.
FOUND = [
    ("13812345678", "138****5678", "phone:13812345678"),
    ("138 1234 5678", "138****5678", "phone:13812345678"),
    ("139-8765-4321", "139****4321", "phone:13987654321"),
    ("+8613712345678", "137****5678", "phone:13712345678"),
    ("+86 137 1234 5678", "137****5678", "phone:13712345678"),
    ("0086-13712345678", "137****5678", "phone:13712345678"),
    ("１３８１２３４５６７８", "138****5678", "phone:13812345678"),
    ("１３８ １２３４ ５６７８", "138****5678", "phone:13812345678"),
    ("(0739)7654321", "0739-****4321", "phone:07397654321"),
    ("（0739）7654321", "0739-****4321", "phone:07397654321"),
    ("0739-7654321", "0739-****4321", "phone:07397654321"),
    ("0731-88889999", "0731-****9999", "phone:073188889999"),
    ("010 6512 3456", "010-****3456", "phone:01065123456"),
    ("430521199001011234", "430**************4", "id:430521199001011234"),
    ("43052119900101123X", "430**************X", "id:43052119900101123X"),
    ("43052119900101123x", "430**************X", "id:43052119900101123X"),
    ("430521 19900101 1234", "430**************4", "id:430521199001011234"),
    ("430521-19900101-1234", "430**************4", "id:430521199001011234"),
    ("430521900101123", "430***********3", "id:430521900101123"),
    ("４３０５２１１９９００１０１１２３４", "430**************4", "id:430521199001011234"),
]

# Ordinary text that must come back unchanged.
ORDINARY = [
    "2024年1月15日下午",
    "2024-01-15",
    "20240115",
    "9.06亿元",
    "投资 906000000 元",
    "第12号联络站",
    "联络站编号 0012",
    "区划代码 430521",
    "乡镇代码 430521101",
    "统计用区划代码 430521101000",
    "12345热线工单 HN2024011500123",
    "12345",
    "共 1,328 件",
    "2025 年 5 月 1 日至 2025 年 12 月 31 日",
    "人数 138 人, 占比 12.34%",
    "邵阳 829 个联络站合并为 559 个",
    "296 个民生实事项目",
    "第十八届人大第二次会议",
    "¥88.8万",
    "0.5",
]


@pytest.mark.parametrize(("typed", "masked", "subject"), FOUND)
def test_each_form_is_found_alone_and_in_a_sentence(typed: str, masked: str, subject: str) -> None:
    [found] = find(typed)
    assert (found.start, found.end, found.subject, found.masked) == (0, len(typed), subject, masked)
    sentence = f"村民反映:{typed},请回电。"
    assert mask_text(sentence) == f"村民反映:{masked},请回电。"


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert find(text) == []
    assert mask_text(text) == text


def test_a_generated_corpus_masks_every_number_and_nothing_else() -> None:
    rng = random.Random(13)
    for _ in range(500):
        pieces = rng.sample(FOUND, 2)
        filler = rng.sample(ORDINARY, 2)
        text = f"{filler[0]}，{pieces[0][0]}；{filler[1]}，联系人电话 {pieces[1][0]}。"
        out = mask_text(text)
        assert out == f"{filler[0]}，{pieces[0][1]}；{filler[1]}，联系人电话 {pieces[1][1]}。"
        assert mask_text(out) == out  # masking again changes nothing
        assert not find(out)


def test_names_a_form_gave_are_masked_where_the_text_repeats_them() -> None:
    assert mask_text("张三反映张三家门口路灯坏了", names=("张三",)) == "张*反映张*家门口路灯坏了"
    assert mask_text("王反映", names=("王",)) == "王反映"  # one character: too short to tell from text


def test_form_fields_mask_as_the_text_does() -> None:
    assert mask_phone("13812345678") == mask_phone("138 1234 5678") == "138****5678"
    assert mask_phone("0739-7654321") == "0739-****4321"
    assert mask_phone("12345") == "1****"
    assert phone_subject("+86 138-1234-5678") == phone_subject("１３８１２３４５６７８") == "phone:13812345678"


def test_the_output_rule_masks_fields_by_name_and_text_everywhere() -> None:
    data = {
        "raised_by_name": "李四",
        "raised_by_phone": "13812345678",
        "issues": [{"summary": "电话 139-8765-4321", "raised_by_phone": "138****5678"}],
        "count": 3,
        "station": "第12号联络站",
    }
    assert mask(data) == {
        "raised_by_name": "李*",
        "raised_by_phone": "138****5678",
        "issues": [{"summary": "电话 139****4321", "raised_by_phone": "138****5678"}],
        "count": 3,
        "station": "第12号联络站",
    }


def test_ids_are_never_taken_for_numbers() -> None:
    ids = ["03246b4f-e55a-5aa0-88aa-073176543210", "03246b4f-e55a-5aa0-88aa-138123456789"]
    assert mask({"id": ids[0], "ids": ids}) == {"id": ids[0], "ids": ids}
