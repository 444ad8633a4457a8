"""Contact details never leave moderation: the evidence text in events and in the views of
anyone but staff has them masked.

A run of seven or more digits (through the same disguises the detector reads: full-width
digits, Chinese numerals, separators) keeps its first three digits, the rest become ``*``.
Whatever still reads as a contact after that (a WeChat or QQ id, a labelled id) makes the
whole text ``[contact details removed]``, as does an e-mail address or another app's handle
(looked for before the digits are masked: ``buyer2031@163.com`` would not read as one after).
"""

from __future__ import annotations

from laotie_moderation.domain.diversion import OTHER_APP, detect_diversion
from laotie_moderation.domain.normalize import digit_runs, digits_folded, fold

REMOVED = "[contact details removed]"
_CONTACT_RULES = (
    "phone_number",
    "phone_contact",
    "labelled_contact",
    "wechat_contact",
    "qq_contact",
    "other_app_contact",
)


def mask_contacts(text: str | None) -> str | None:
    if not text:
        return text
    if OTHER_APP.search(fold(text)):
        return REMOVED
    masked = _mask_digit_runs(text)
    finding = detect_diversion(masked)
    if finding is not None and finding.rule.endswith(_CONTACT_RULES):
        return REMOVED
    return masked


def _mask_digit_runs(text: str) -> str:
    folded = digits_folded(text)
    if len(folded) != len(text):
        # Folding changed lengths (e.g. ⑴ → (1)): positions would not line up; mask by run.
        return REMOVED if any(len(d) >= 7 for _, d in digit_runs(text)) else text
    chars = list(text)
    for start, digits in digit_runs(text):
        if len(digits) < 7:
            continue
        seen = 0
        for at in range(start, len(folded)):
            if folded[at].isdigit():
                seen += 1
                if seen > 3:
                    chars[at] = "*"
                if seen == len(digits):
                    break
    return "".join(chars)
