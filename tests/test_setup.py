"""The set-up itself: the face stack imports and works, indexes are idempotent."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from composition import all_indexes, init_db

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_the_face_stack_is_installed_and_encodes_a_real_face():
    import face_recognition  # the dlib-bin build, installed without compiling dlib

    image = face_recognition.load_image_file(SHARED / "faces" / "people" / "obama" / "obama.jpg")
    encodings = face_recognition.face_encodings(image)
    assert len(encodings) == 1
    assert encodings[0].shape == (128,)
    assert np.isfinite(encodings[0]).all()


async def test_index_creation_is_idempotent(deps):
    first = await init_db(deps)
    second = await init_db(deps)
    assert first == second
    names = {index["name"] async for index in await deps.db["people"].list_indexes()}
    assert "id_number_unique" in names
    assert len(first) == len(all_indexes())
