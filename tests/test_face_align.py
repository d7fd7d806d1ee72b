"""The face-align preprocessor on real photographs, with real mediapipe inference.

Fixtures, from scikit-image's sample data (skimage/data): astronaut.jpg (Eileen Collins, NASA,
public domain), cameraman.jpg (the cameraman, CC0 by Lav Varshney) and rocket.jpg (DSCOVR on a
Falcon 9, SpaceX, public domain; scaled to 480x320), saved as JPEG.
"""
from __future__ import annotations

import math
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import artgan
from artgan import plugins
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.face_align import FaceAlign
from artgan_plugins.face_align.align import EYE_TO_MOUTH, apply
from artgan_plugins.face_align.detect import SHORT_RANGE, Detector, Face, merged, tile_sides, tile_starts
from group_photos import face_free, found, group_photo

FIXTURES = Path(__file__).parent / "fixtures"
SIZE = 256
# where an aligned face's eyes sit: their midpoint a tenth of the eye-to-mouth distance above
# the centre (FFHQ's framing), level
CANONICAL_EYES = np.array([SIZE / 2, SIZE / 2 - 0.1 * EYE_TO_MOUTH * SIZE])


def photo(name: str) -> Image.Image:
    with Image.open(FIXTURES / name) as image:
        return image.convert("RGB")


def align(image: Image.Image, origin="photo.jpg", **options) -> list:
    plugin = FaceAlign(FaceAlign.Options(**{"size": SIZE, **options}))
    return list(plugin.process(artgan.Item(image, origin, info={"file": origin})))


def eyes(image: Image.Image) -> np.ndarray:
    """The (right, left) eye positions (2, 2) mediapipe finds in ``image``, which has one face."""
    (face,) = Detector.for_process(SHORT_RANGE, 0.5).faces(np.asarray(image))
    return face.keypoints[:2]


def alignment_difference(alone: dict, grouped: dict, offset) -> float:
    """How many output pixels apart a face's eyes land when aligned from a portrait of its own
    (``alone``'s info["face"]) and from a photo it sits in at ``offset`` (``grouped``'s)."""
    keypoints = np.array(list(alone["keypoints"].values()))[:2]  # the eyes
    there = apply(np.array(grouped["transform"]), keypoints + offset)
    return np.abs(there - apply(np.array(alone["transform"]), keypoints)).max()


def tilt(pair: np.ndarray) -> float:
    """Degrees the line from the right to the left eye is off horizontal."""
    dx, dy = pair[1] - pair[0]
    return math.degrees(math.atan2(dy, dx))


def turned(image: Image.Image, degrees: float, scale: float) -> Image.Image:
    rotated = image.rotate(degrees, Image.Resampling.BICUBIC, expand=True)
    smaller = (round(rotated.width * scale), round(rotated.height * scale))
    return rotated.resize(smaller, Image.Resampling.LANCZOS)


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    canvas = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), (128, 128, 128))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    return canvas


def astronaut_head(scale: float = 1.0) -> Image.Image:
    head = photo("astronaut.jpg").crop((96, 0, 352, 256))
    return head.resize((round(256 * scale),) * 2, Image.Resampling.LANCZOS)


def test_aligned_face_has_level_eyes_at_the_canonical_place():
    (out,) = align(photo("astronaut.jpg"))
    assert out.image.size == (SIZE, SIZE) and out.image.mode == "RGB"
    found = eyes(out.image)
    assert np.abs(found.mean(0) - CANONICAL_EYES).max() < 3
    assert abs(tilt(found)) < 2
    assert 50 < found[1, 0] - found[0, 0] < 70  # the right eye on the image's left
    # the recorded transform takes the recorded source keypoints to where the eyes are now
    face = out.info["face"]
    source_eyes = np.array([face["keypoints"]["right_eye"], face["keypoints"]["left_eye"]])
    assert np.abs(apply(np.array(face["transform"]), source_eyes) - found).max() < 3


def test_aligned_face_records_its_provenance():
    (out,) = align(photo("astronaut.jpg"), origin="astronaut.jpg")
    assert out.origin == "astronaut.jpg" and out.info["file"] == "astronaut.jpg"
    face = out.info["face"]
    assert face["index"] == 0 and face["score"] > 0.8 and face["source_size"] == [512, 512]
    left, top, width, height = face["box"]
    assert 150 < left < 200 and 60 < top < 100 and 80 < width < 120 and 80 < height < 120
    assert list(face["keypoints"]) == ["right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear"]
    right_eye, left_eye = face["keypoints"]["right_eye"], face["keypoints"]["left_eye"]
    assert right_eye[0] < left_eye[0]  # the subject's right eye is on the image's left
    for x, y in face["keypoints"].values():
        assert left - width / 2 < x < left + 1.5 * width and top - height / 2 < y < top + 1.5 * height
    assert abs(face["yaw"]) < 10
    assert len(face["transform"]) == 3 and face["transform"][2] == [0, 0, 1]


@pytest.mark.parametrize("degrees, scale", [(20, 0.6), (-20, 0.5)])
def test_rotated_smaller_photo_aligns_the_same_way(degrees, scale):
    (upright,) = align(photo("astronaut.jpg"))
    (rotated,) = align(turned(photo("astronaut.jpg"), degrees, scale))
    found = eyes(rotated.image)
    assert np.abs(found - eyes(upright.image)).max() < 3
    assert abs(tilt(found)) < 2


def test_frontal_only_drops_a_turned_face():
    cameraman = photo("cameraman.jpg")  # in three-quarter profile, facing the image's right
    (skipped,) = align(cameraman, origin="cameraman.jpg", frontal_only=True)
    assert isinstance(skipped, artgan.Skipped) and skipped.origin == "cameraman.jpg"
    yaw = int(skipped.reason.split("yaw ")[1].split("°")[0])
    assert skipped.reason == f"turned away (yaw {yaw}° > 25°)" and yaw > 40
    (kept,) = align(cameraman)  # frontal_only is off by default
    assert kept.info["face"]["yaw"] > 40  # nose to the image's right
    (frontal,) = align(photo("astronaut.jpg"), frontal_only=True)
    assert isinstance(frontal, artgan.Item)
    (loose,) = align(cameraman, frontal_only=True, max_yaw=80)
    assert isinstance(loose, artgan.Item)


def test_mirrored_face_turns_the_other_way():
    (kept,) = align(photo("cameraman.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert kept.info["face"]["yaw"] < -40


@pytest.mark.parametrize("image, smallest", [
    (photo("rocket.jpg"), 24), (Image.new("RGB", (400, 300), (90, 140, 200)), 20),
    (Image.new("L", (64, 64), 0), 16)], ids=["landscape", "plain-color", "black-greyscale"])
def test_image_without_a_face_is_reported_with_the_smallest_face_searched_for(image, smallest):
    # min_face is 1/20 of the longer side by default, and never under 16 px
    assert align(image, origin="nothing.jpg") == [
        artgan.Skipped("nothing.jpg", f"no face as wide as min_face (searched down to {smallest} px wide)")]


@pytest.mark.parametrize("name", sorted(face_free()))
def test_face_free_photos_give_no_face(name):
    (skipped,) = align(face_free()[name], origin=name)
    assert isinstance(skipped, artgan.Skipped) and skipped.reason.startswith("no face as wide as min_face (searched down to")


@pytest.mark.parametrize("seed", [0, 1])
def test_faces_in_a_group_photo_are_found_and_aligned(seed):
    group = group_photo(1 / 11, seed=seed)  # six faces, each 1/11 of the width, 136 px
    out = align(group.image, origin="group.jpg", max_faces=10)
    assert all(isinstance(face, artgan.Item) for face in out)
    boxes = [face.info["face"]["box"] for face in out]
    assert found(group.faces, boxes) >= 5 and len(out) == found(group.faces, boxes)  # nothing else
    # Aligned as the same face is in a portrait of its own (face-align's way before tiles). The
    # astronaut is a sharp photo; BlazeFace's eyes on the others (25 px LFW crops scaled up, the
    # cameraman turned away) jitter by up to 6 px at 256 px between two copies of one portrait
    # shifted by a few pixels, so they are held to that.
    differences = {}
    for face in out:
        (index,) = [i for i, box in enumerate(group.faces) if found([box], [face.info["face"]["box"]])]
        image, offset = group.portraits[index]
        (alone,) = align(image)
        differences[index] = alignment_difference(alone.info["face"], face.info["face"], offset)
    assert differences[0] < 2  # the astronaut, the only sharp face
    assert max(differences.values()) < 8 and np.mean(list(differences.values())) < 4


def test_fabric_under_a_chin_is_not_a_face():
    # in this photo, a tile shows BlazeFace a face in the folds under the astronaut's chin
    large = photo("astronaut.jpg").resize((1024, 1024), Image.Resampling.LANCZOS)
    image = large.rotate(-25 + 5 * 50 / 15, Image.Resampling.BICUBIC).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    (face,) = align(image, max_faces=5)
    assert face.info["face"]["box"][2] > 150


def test_group_photo_faces_narrower_than_min_face_are_not_searched_for():
    group = group_photo(1 / 11, seed=0)
    for min_face in (0.2, 300):  # a fraction of the longer side, or pixels
        assert align(group.image, origin="group.jpg", min_face=min_face, max_faces=10) == [
            artgan.Skipped("group.jpg", "no face as wide as min_face (searched down to 300 px wide)")]


def test_full_range_model_aligns_a_portrait():
    (out,) = align(photo("astronaut.jpg"), model="full-range")
    assert np.abs(eyes(out.image).mean(0) - CANONICAL_EYES).max() < 3


def test_tiles_cover_the_image_overlapping_by_half():
    assert tile_starts(1000, 400) == [0, 200, 400, 600]
    assert tile_starts(1000, 375) == [0, 187, 374, 561, 625]
    assert tile_starts(300, 400) == [0]
    assert tile_sides(1500, 375) == [600, 375]
    assert tile_sides(1500, 1600) == []


def test_detections_of_one_face_in_several_tiles_merge_into_the_best():
    def face(box, score):
        return Face(box, score, np.zeros((6, 2)))

    whole, cut, other = face((100, 100, 50, 50), 0.9), face((100, 120, 50, 30), 0.95), face((160, 100, 50, 50), 0.7)
    assert merged([whole, other, cut]) == [cut, other]


def test_two_faces_give_two_items_largest_first():
    image = side_by_side(astronaut_head(0.8), astronaut_head().transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    first, second = align(image, max_faces=2)
    assert first.info["face"]["index"] == 0 and second.info["face"]["index"] == 1
    assert first.info["face"]["box"][0] > 205 > second.info["face"]["box"][0]  # the larger, right one first
    for out in (first, second):
        assert np.abs(eyes(out.image).mean(0) - CANONICAL_EYES).max() < 3


def test_max_faces_keeps_the_largest_and_reports_the_rest():
    image = side_by_side(astronaut_head(0.8), astronaut_head())
    kept, skipped = align(image, origin="pair.jpg")
    assert kept.info["face"]["box"][0] > 205
    assert skipped == artgan.Skipped("pair.jpg", "over max_faces (1)")


def test_min_face_drops_small_faces():
    (skipped,) = align(photo("astronaut.jpg"), origin="a.jpg", min_face=200)
    assert skipped == artgan.Skipped("a.jpg", "face too small (96 px < 200 px)")
    assert isinstance(align(photo("astronaut.jpg"), min_face=90)[0], artgan.Item)


def test_min_score_drops_weak_detections():
    assert align(photo("astronaut.jpg"), origin="a.jpg", min_score=0.99) == [
        artgan.Skipped("a.jpg", "no face as wide as min_face (searched down to 26 px wide)")]


def test_zoom_and_size():
    (near,) = align(photo("astronaut.jpg"), zoom=2)
    (far,) = align(photo("astronaut.jpg"), size=None)
    assert far.image.size == (64, 64)  # the recipe's resolution by default
    assert np.hypot(*near.info["face"]["transform"][0][:2]) == pytest.approx(
        2 * SIZE / 64 * np.hypot(*far.info["face"]["transform"][0][:2]), rel=1e-4)


def test_fill_beyond_the_edges():
    head = astronaut_head()  # a zoomed-out square around its face reaches far past every edge
    (plain,) = align(head, zoom=0.2, fill="color", color=(0, 255, 0))
    (mirrored,) = align(head, zoom=0.2)
    plain, mirrored = np.asarray(plain.image).astype(int), np.asarray(mirrored.image).astype(int)
    assert (plain[:8, :8] == (0, 255, 0)).all() and (plain[-8:, -8:] == (0, 255, 0)).all()
    # far out, the mirror image has faded to the photo's median colour
    assert np.abs(mirrored[:4, :4] - np.median(np.asarray(head), axis=(0, 1))).max() <= 1


def test_reflect_fill_leaves_the_photo_away_from_its_edges_alone():
    # at zoom 0.5 the square reaches past the photo's top only; the face is far from that edge
    (plain,) = align(photo("astronaut.jpg"), zoom=0.5, fill="color")
    (mirrored,) = align(photo("astronaut.jpg"), zoom=0.5)
    plain, mirrored = np.asarray(plain.image).astype(int), np.asarray(mirrored.image).astype(int)
    assert (plain[0] == 0).all() and (mirrored[0] > 100).all()
    assert np.abs(plain[SIZE // 3:] - mirrored[SIZE // 3:]).max() <= 1


def test_model_path_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(artgan.ArtganError, match=f"model_path {tmp_path / 'nope.tflite'}: no such file"):
        FaceAlign(FaceAlign.Options(model_path=tmp_path / "nope.tflite"))


def test_model_path_that_is_not_a_model_is_an_error():
    with pytest.raises(artgan.ArtganError, match="astronaut.jpg: not a face detection model"):
        FaceAlign(FaceAlign.Options(model_path=FIXTURES / "astronaut.jpg"))


def test_model_path_names_the_recipe_section(tmp_path):
    recipe = parse_recipe({"name": "faces", "source": [{"use": "shapes", "count": 1}],
                           "preprocess": [{"use": "face-align", "model_path": "missing.tflite"}],
                           "model": {"use": "dcgan"}}, tmp_path / "recipe.toml")
    with pytest.raises(artgan.ArtganError) as caught:
        build_dataset(recipe, tmp_path)
    assert str(caught.value) == (f"{tmp_path / 'recipe.toml'}: preprocess[0] (face-align): "
                                 "model_path missing.tflite: no such file")


def test_plugin_pickles_and_works_after():
    plugin = FaceAlign(FaceAlign.Options(size=SIZE))
    copy = pickle.loads(pickle.dumps(plugin))
    item = artgan.Item(photo("astronaut.jpg"), "a.jpg")
    assert np.array_equal(np.asarray(copy.process(item)[0].image), np.asarray(plugin.process(item)[0].image))


def test_registered():
    assert plugins.get("preprocessor", "face-align").cls is FaceAlign


def test_dataset_of_faces_with_provenance_and_reasons(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.jpg", "cameraman.jpg", "rocket.jpg"):
        shutil.copy(FIXTURES / name, photos / name)
    side_by_side(astronaut_head(0.8), astronaut_head()).save(photos / "pair.png")

    def build(workers: int, root: Path):
        recipe = parse_recipe({
            "name": "faces", "resolution": 64, "workers": workers,
            "source": [{"use": "folder", "path": str(photos)}],
            "preprocess": [{"use": "face-align", "frontal_only": True, "max_faces": 2}],
            "model": {"use": "dcgan"}}, tmp_path / "recipe.toml")
        return build_dataset(recipe, root)

    report = build(1, tmp_path / "one")
    manifest = report.dataset.manifest()
    assert [(m["info"]["file"], m["info"]["face"]["index"]) for m in manifest] == [
        ("astronaut.jpg", 0), ("pair.png", 0), ("pair.png", 1)]
    assert manifest[0]["origin"] == str(photos / "astronaut.jpg")
    assert manifest[0]["steps"] == [{"use": "face-align", "zoom": 1.0, "min_score": 0.6, "min_face": 0.05,
                                     "max_faces": 2, "frontal_only": True, "max_yaw": 25.0,
                                     "fill": "reflect", "color": [0, 0, 0], "model": "short-range"}]
    assert set(manifest[0]["info"]["face"]) == {"index", "score", "box", "keypoints", "yaw",
                                                "source_size", "transform"}
    assert report.skip_reasons() == {"turned away": 1, "no face as wide as min_face": 1}
    # the same dataset, byte for byte, from two worker processes
    pooled = build(2, tmp_path / "two")
    for name in ("manifest.jsonl", "images.u8"):
        assert (pooled.dataset.folder / name).read_bytes() == (report.dataset.folder / name).read_bytes()


def test_mediapipe_log_lines_never_reach_the_terminal(tmp_path):
    # mediapipe's C++ logging ("Logging before InitGoogle()...", XNNPACK and LiteRT lines, the
    # full-range model's sparsity warnings) bypasses sys.stderr: only a real process shows it
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.jpg", "rocket.jpg"):
        shutil.copy(FIXTURES / name, photos / name)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(f'name = "faces"\nresolution = 32\n'
                      f'[[source]]\nuse = "folder"\npath = "{photos}"\n'
                      f'[[preprocess]]\nuse = "face-align"\nmodel = "full-range"\n'
                      f'[model]\nuse = "dcgan"\n')
    done = subprocess.run([sys.executable, "-m", "artgan", "dataset", str(recipe)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "dataset built" in done.stdout
    assert done.stderr == ""


def test_no_detection_writes_to_stderr():
    # LiteRT warns (through mediapipe's C++ logging) about a misaligned input tensor at whichever
    # detection first meets one: here the first, on a buffer that starts at an odd address
    script = ("import numpy as np\n"
              "from artgan_plugins.face_align.detect import SHORT_RANGE, Detector\n"
              "detector = Detector.for_process(SHORT_RANGE, 0.5)\n"
              "for offset in (1, 3, 8, 16):\n"
              "    buffer = np.zeros(128 * 128 * 3 + 64, np.uint8)\n"
              "    detector.faces(buffer[offset:offset + 128 * 128 * 3].reshape(128, 128, 3))\n"
              "print('done')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (0, "done\n", "")
