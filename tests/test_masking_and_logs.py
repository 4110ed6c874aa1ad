"""Masking of ID numbers and phones, in text and in every log line (property-based)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.logs import JsonFormatter, MaskingFilter, configure_logging, request_id_var
from common.masking import mask_card_number, mask_id_number, mask_name, mask_phone, mask_text
from people.model import check_character

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    first17 = draw(st.text(alphabet="0123456789", min_size=17, max_size=17))
    return first17 + check_character(first17)


@st.composite
def phones(draw: st.DrawFn) -> str:
    return "1" + draw(st.sampled_from("3456789")) + draw(
        st.text(alphabet="0123456789", min_size=9, max_size=9))


# Surrounding text of any kind (Chinese, punctuation, letters, JSON) that does not
# itself end or start with a digit, which would make the number a longer one.
surroundings = st.text(max_size=30).filter(
    lambda s: not (s[:1].isdigit() or s[-1:].isdigit() or s[:1] in "Xx"))


def test_the_masked_shapes():
    assert mask_id_number("150102199001011234") == "1501**********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_text("身份证150102199001011234,电话13812345678") == (
        "身份证1501**********1234,电话138****5678")
    assert mask_text("+8613812345678") == "+86138****5678"
    assert mask_text("11010519491231002X") == "1101**********002X"


@given(surroundings, id_numbers(), surroundings)
def test_no_id_number_survives_masking(before, number, after):
    masked = mask_text(before + number + after)
    assert number not in masked
    assert mask_id_number(number) in masked


@given(surroundings, phones(), surroundings)
def test_no_phone_number_survives_masking(before, phone, after):
    masked = mask_text(before + phone + after)
    assert phone not in masked
    assert phone[:3] + "****" + phone[-4:] in masked


@given(st.lists(st.one_of(id_numbers(), phones()), min_size=1, max_size=6),
       st.sampled_from([" ", "，", "、", "\n", '", "', "手机:"]))
def test_lists_of_numbers_never_leak_and_masking_is_stable(numbers, separator):
    masked = mask_text(separator.join(numbers))
    for number in numbers:
        assert number not in masked
    assert mask_text(masked) == masked


@given(id_numbers(), phones())
def test_log_lines_mask_message_arguments_and_extras(number, phone):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("test.masking")
    logger.addHandler(handler)
    logger.propagate = False
    token = request_id_var.set("req-mask-1")
    try:
        logger.warning("bind %s by phone %s", number, phone, extra={"caller": f"{phone}"})
        try:
            raise ValueError(f"lookup failed for {number}")
        except ValueError:
            logger.exception("crash")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert number not in output and phone not in output
    first = json.loads(output.splitlines()[0])
    assert first["request_id"] == "req-mask-1"
    assert first["caller"] == mask_phone(phone)
    assert mask_id_number(number) in first["msg"]


def test_configure_logging_writes_json_lines_with_masking():
    stream = io.StringIO()
    handler = configure_logging("INFO", stream)
    try:
        logging.getLogger("any.module").info("手机 %s", "13912345678")
    finally:
        logging.getLogger().removeHandler(handler)
    line = json.loads(stream.getvalue().strip())
    assert line["msg"] == "手机 139****5678"
    assert line["level"] == "INFO"


def test_a_request_id_of_digits_is_logged_as_it_was_answered():
    stream = io.StringIO()
    handler = configure_logging("INFO", stream)
    token = request_id_var.set("150102195003040117")  # looks like an ID number
    try:
        logging.getLogger("any.module").info("caller 150102195003040117 asked",
                                             extra={"phone": 13812345678})
    finally:
        request_id_var.reset(token)
        logging.getLogger().removeHandler(handler)
    line = json.loads(stream.getvalue().strip())
    assert line["request_id"] == "150102195003040117"
    assert "150102195003040117" not in line["msg"]
    assert "13812345678" not in stream.getvalue().replace(line["request_id"], "")


@pytest.mark.parametrize(("number", "shown"), [
    ("6217195910147366", "6217********7366"),
    ("621700001111222233", "6217**********2233"),
    ("N12345678", "N123*5678"),
])
def test_card_numbers_show_their_ends_only(number, shown):
    assert mask_card_number(number) == shown
    assert number not in mask_card_number(number)


@pytest.mark.parametrize(("name", "shown"), [("张建国", "张**"), ("巴特尔·乌云", "巴*****"),
                                             ("李四", "李*")])
def test_names_show_their_first_character_only(name, shown):
    assert mask_name(name) == shown
