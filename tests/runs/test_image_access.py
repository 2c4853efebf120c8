"""Who may use an image already in the engine's store (runs/engine/local/image_access.py)."""

import json

from runs.engine.local.image_access import image_pulled, image_usable

IMAGE = "registry.example:5000/team/app:1"


def test_an_image_pulled_with_a_teams_credentials_is_that_teams_until_pulled_without(
    settings, tmp_path
):
    settings.LOCAL_ENGINE_IMAGE_STORE = str(tmp_path)

    assert image_usable(IMAGE, None), "an image no pull recorded (loaded by hand) is public"
    image_pulled(IMAGE, 7)
    assert image_usable(IMAGE, 7)
    assert not image_usable(IMAGE, 8)
    assert not image_usable(IMAGE, None)

    image_pulled(IMAGE, None)
    assert image_usable(IMAGE, 8) and image_usable(IMAGE, None)
    assert json.loads((tmp_path / "image-access.json").read_text()) == {IMAGE: ["7", "public"]}


def test_a_damaged_record_is_read_as_empty(settings, tmp_path):
    settings.LOCAL_ENGINE_IMAGE_STORE = str(tmp_path)
    (tmp_path / "image-access.json").write_text("{not json")

    image_pulled(IMAGE, 3)

    assert not image_usable(IMAGE, None)
