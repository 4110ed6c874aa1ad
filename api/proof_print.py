"""The proof of insurance on paper: a printable HTML page and a PDF, both with the QR of
its signed code. The PDF uses STSong-Light, one of the PDF standard CJK fonts (Adobe's
Asian font packs), so the file carries text, not pictures of text, and stays small."""

from __future__ import annotations

import html
import io

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from records.model import TYPE_NAMES
from records.proof import Proof

FONT = "STSong-Light"
TITLE = "社会保险参保缴费证明"
NOTE = ("本证明所列为出具之日的参保缴费信息。扫描二维码或在“12333”核验页输入其内容，"
        "可核对本证明真伪；有效期90天。")
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def proof_rows(proof: Proof) -> list[tuple[str, str]]:
    rows = [("姓名", proof.name), ("身份证号", proof.id_number),
            ("参保险种", "、".join(TYPE_NAMES[t] for t in proof.types) or "无缴费记录")]
    rows += [(f"{TYPE_NAMES[t]}累计缴费", f"{proof.months[t]}个月") for t in proof.types]
    rows += [(f"{TYPE_NAMES[p.insurance_type]}缴费期间", f"{p.first}至{p.last}（{p.months}个月）")
             for p in proof.periods]
    rows += [("出具日期", proof.issued_on.isoformat()),
             ("有效期至", proof.expires_at.date().isoformat()), ("证明编号", proof.proof_id)]
    return rows


def proof_page(proof: Proof) -> str:
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in proof_rows(proof))
    qr = io.BytesIO()
    segno.make(proof.code, error="m").save(qr, kind="svg", scale=3, xmldecl=False)
    return ("<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
            f"<title>{TITLE}</title><style>body{{font-family:sans-serif;max-width:42em;"
            "margin:2em auto}th{text-align:left;padding:.3em 1em .3em 0}"
            "@media print{button{display:none}}</style></head><body>"
            f"<h1>{TITLE}</h1><table>{table}</table><div>{qr.getvalue().decode()}</div>"
            f"<p>{html.escape(NOTE)}</p><button id='print' type='button'>打印</button>"
            "<script src='/assets/print.js'></script></body></html>")


def proof_pdf(proof: Proof) -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    page.setTitle(TITLE)
    width, height = A4
    page.setFont(FONT, 20)
    page.drawCentredString(width / 2, height - 30 * mm, TITLE)
    page.setFont(FONT, 12)
    y = height - 50 * mm
    for label, value in proof_rows(proof):
        page.drawString(25 * mm, y, label)
        page.drawString(75 * mm, y, value)
        y -= 9 * mm
    _draw_qr(page, proof.code, 25 * mm, y - 50 * mm, 45 * mm)
    page.setFont(FONT, 9)
    page.drawString(25 * mm, y - 58 * mm, NOTE[:46])
    page.drawString(25 * mm, y - 63 * mm, NOTE[46:])
    page.showPage()
    page.save()
    return out.getvalue()


def _draw_qr(page: canvas.Canvas, code: str, x: float, y: float, size: float) -> None:
    """The QR's modules as filled squares (no image library, exact at any zoom)."""
    matrix = list(segno.make(code, error="m").matrix)
    cell = size / len(matrix)
    for row, modules in enumerate(matrix):
        for col, dark in enumerate(modules):
            if dark:
                page.rect(x + col * cell, y + size - (row + 1) * cell, cell, cell,
                          stroke=0, fill=1)
