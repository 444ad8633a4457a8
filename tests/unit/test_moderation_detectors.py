"""The Thunder Plan detectors: corpus precision/recall, and obfuscation never hides a contact."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from laotie_moderation import evaluate
from laotie_moderation.domain.advertising import detect_false_advertising
from laotie_moderation.domain.diversion import detect_diversion
from laotie_moderation.policy import load_policy


@pytest.mark.parametrize(
    ("name", "detector", "corpus"),
    [
        ("diversion", detect_diversion, "diversion.tsv"),
        ("false_advertising", detect_false_advertising, "false_advertising.tsv"),
    ],
)
def test_corpus_precision_and_recall_are_at_least_95_percent(name, detector, corpus) -> None:
    misses: list[str] = []
    score = evaluate.evaluate(name, detector, evaluate.CORPUS / corpus, misses)
    assert score.tp + score.fn >= 40, "enough positives to mean something"
    assert score.fp + score.tn >= 40, "enough close negatives to mean something"
    assert score.precision >= 0.95, misses
    assert score.recall >= 0.95, misses


CN = "零一二三四五六七八九"
CN_FORMAL = "零壹贰叁肆伍陆柒捌玖"
CIRCLED = "⓪①②③④⑤⑥⑦⑧⑨"
FULL = "０１２３４５６７８９"
SEPARATORS = [" ", "-", ".", "·", "*", "_", "~", "❤", "✨", "|", "/", "、"]


def obfuscate_digits(digits: str, rng: random.Random) -> str:
    out = []
    for d in digits:
        form = rng.choice(["plain", "cn", "formal", "circled", "full"])
        n = int(d)
        out.append(
            {
                "plain": d,
                "cn": CN[n],
                "formal": CN_FORMAL[n],
                "circled": CIRCLED[n],
                "full": FULL[n],
            }[form]
        )
        if rng.random() < 0.4:
            out.append(rng.choice(SEPARATORS) * rng.randint(1, 2))
    return "".join(out)


def obfuscate_text(text: str, rng: random.Random) -> str:
    out = []
    for ch in text:
        if ch.isascii() and ch.isalnum() and rng.random() < 0.3:
            ch = chr(ord(ch) + 0xFEE0)  # full-width form
        elif ch.isascii() and ch.isalpha() and rng.random() < 0.3:
            ch = ch.upper()
        out.append(ch)
        if rng.random() < 0.25:
            out.append(rng.choice(SEPARATORS))
    return "".join(out)


phones = st.builds(
    lambda p, rest: f"1{p}{rest:09d}", st.sampled_from("3456789"), st.integers(0, 999_999_999)
)
wechat_words = st.sampled_from(["微信", "薇信", "威信", "V信", "vx", "wx", "加v", "加微"])
ids = st.from_regex(r"[a-z]{2,6}[0-9]{3,6}", fullmatch=True)
frames = st.sampled_from(["加我 {}", "{} 私聊", "联系 {}", "有事找我 {}", "{}"])


@given(phones, st.randoms(use_true_random=False), frames)
@settings(max_examples=300)
def test_an_obfuscated_phone_number_is_still_detected(phone, rng, frame) -> None:
    text = frame.format(obfuscate_digits(phone, rng))
    assert detect_diversion(text) is not None, text


@given(wechat_words, ids, st.randoms(use_true_random=False))
@settings(max_examples=300)
def test_an_obfuscated_wechat_contact_is_still_detected(word, account, rng) -> None:
    plain = f"加我{word} {account}"
    assert detect_diversion(plain) is not None, plain
    disguised = obfuscate_text(plain, rng)
    assert detect_diversion(disguised) is not None, disguised


@given(
    st.integers(1, 99_999),
    st.sampled_from(["¥{}", "{} 元", "价格 {}", "库存 {} 件", "订单号 2026{}0001", "{} 号链接"]),
)
def test_prices_and_order_numbers_are_not_contacts(n, frame) -> None:
    assert detect_diversion(frame.format(n)) is None


def test_the_policy_file_is_valid_and_versioned() -> None:
    policy = load_policy()
    assert policy.version.startswith("thunder-plan/")
    assert policy.closure_points == 100
    assert policy.code("counterfeit").ladder[0].points == 100
    assert policy.code("diversion_by_viewer").ladder[0].measures == []
    late = policy.code("late_shipment")
    assert [s.severity for s in late.ladder] == ["general", "general", "serious"]
    assert late.step(7).severity == "serious", "the last step repeats"
