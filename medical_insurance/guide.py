"""What a person reads before filing: each category in plain words with the fields it
needs, and the personal commitment letter (承诺书) with its version. No I/O.

The server owns these texts so that the version a person signs is the text they were
shown (the filing route refuses any other version), and the fields a client asks for are
the ones the rules require (``RULES``), never a copy that drifts.
"""

from __future__ import annotations

from dataclasses import dataclass

from medical_insurance.model import CATEGORY_NAMES, RULES, Category


@dataclass(frozen=True)
class FieldGuide:
    field: str
    label: str
    placeholder: str
    required: bool  # False: the filing may go without it (a referral then waits for review)


@dataclass(frozen=True)
class CategoryGuide:
    category: Category
    name: str
    who: str
    long_term: bool
    commitment: bool
    pensioners_only: bool
    fields: tuple[FieldGuide, ...]


@dataclass(frozen=True)
class Letter:
    version: str
    title: str
    paragraphs: tuple[str, ...]


_WHO = {
    Category.RESETTLED_RETIREE: "退休后户籍迁到外地，或在外地长期生活的退休人员",
    Category.LONG_TERM_RESIDENT: "在外地长期居住（一般半年以上）的参保人",
    Category.WORK_ELSEWHERE: "单位派到外地长期工作的参保人",
    Category.REFERRAL: "本地医院开了转诊证明，要到外地医院看病",
    Category.EMERGENCY: "在外地突发疾病急诊、抢救",
    Category.TEMPORARY_TRIP: "出门探亲、旅游等临时在外地，可能要看病",
}

_FIELDS = {
    "hospital": ("就医的医院", "例如：广州市第一人民医院"),
    "referring_hospital": ("开转诊证明的医院", "本地转出的医院"),
    "transfer_reference": ("转诊证明编号（没有可以先不填，备案会等工作人员审核）",
                           "转诊单上的编号"),
    "employer": ("工作单位", "单位全称"),
}

# Every version ever signed stays here: a filing records the version its person signed.
COMMITMENT_LETTERS = {
    "2026-01": Letter("2026-01", "个人承诺书", (
        "本人承诺：所填写的异地居住、工作或外出情况真实。",
        "本人知道：用承诺书代替居住证明办理备案，如情况不实，要退回医保基金支付的费用，"
        "并承担相应责任。",
        "本人会在情况变化时及时变更或取消备案。",
    )),
}


@dataclass(frozen=True)
class FilingGuide:
    categories: tuple[CategoryGuide, ...]
    letter: Letter
    temporary_months: int


def category_guides() -> list[CategoryGuide]:
    """Every category in the order of 医保发〔2022〕22号, with the fields its rule needs."""
    return [_guide(category) for category in Category]


def _guide(category: Category) -> CategoryGuide:
    rule = RULES[category]
    fields = [_field(name, required=True) for name in rule.required]
    if rule.review_without:
        fields.append(_field(rule.review_without, required=False))
    return CategoryGuide(category=category, name=CATEGORY_NAMES[category], who=_WHO[category],
                         long_term=rule.long_term, commitment=rule.commitment,
                         pensioners_only=rule.pensioners_only, fields=tuple(fields))


def _field(name: str, *, required: bool) -> FieldGuide:
    label, placeholder = _FIELDS[name]
    return FieldGuide(field=name, label=label, placeholder=placeholder, required=required)


def commitment_letter(version: str) -> Letter:
    """The letter of ``version``; a configured version without its text is a setup error."""
    try:
        return COMMITMENT_LETTERS[version]
    except KeyError:
        raise LookupError(f"no commitment letter text for version {version}") from None
