"""Print the OpenAPI document without a server or a database, for the front ends' typed
client (``make types``):

    python -m api.document > var/openapi.json
"""

from __future__ import annotations

import json
import sys

from api.openapi import build_document
from api.routes import all_routes

VERSION = "0.2.0"


def document() -> dict[str, object]:
    return build_document(all_routes(), version=VERSION)


def document_text() -> str:
    """The document as ``make types`` feeds it to the generator (keys sorted, so the
    generated types do not change with the order routes are listed in)."""
    return json.dumps(document(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document_text())
