"""Who may use an image already in the engine's store (runs/engine/local/image_access.py)."""

import json

from runs.engine.local.image_access import image_pulled, image_usable

IMAGE = "sha256:5f0e1c"


def test_an_image_pulled_with_a_teams_credentials_is_that_teams_until_pulled_without(
    settings, tmp_path
):
    settings.LOCAL_ENGINE_IMAGE_STORE = str(tmp_path)

    assert not image_usable(IMAGE, None), "an image no pull recorded is pulled before use"
    image_pulled(IMAGE, 7)
    assert image_usable(IMAGE, 7)
    assert not image_usable(IMAGE, 8)
    assert not image_usable(IMAGE, None)

    image_pulled(IMAGE, None)
    assert image_usable(IMAGE, 8) and image_usable(IMAGE, None)
    assert json.loads((tmp_path / "image-access.json").read_text()) == {IMAGE: ["7", "public"]}


def test_a_damaged_record_fails_closed(settings, tmp_path):
    settings.LOCAL_ENGINE_IMAGE_STORE = str(tmp_path)
    image_pulled(IMAGE, None)
    (tmp_path / "image-access.json").write_text("{not json")

    assert not image_usable(IMAGE, None)
    image_pulled(IMAGE, 3)
    assert image_usable(IMAGE, 3) and not image_usable(IMAGE, None)
