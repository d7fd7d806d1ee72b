"""What Windows and macOS users meet that Linux hides: text files in the ANSI code page, names the
file system refuses or takes for another, paths written with backslashes, output a console
cannot encode, and worker processes that start the user's script again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tomli_w
from PIL import Image

import artgan
from artgan.runfolder import RunFolder

# Runs a small project with non-ASCII names from dataset to films, in a child process, and prints
# every text file artgan opened in the OS's default encoding (the ANSI code page on Windows):
# the code of ours that called open(), read_text(), a subprocess with text=True… without one.
# Other libraries' defaults (torch reading /proc) are theirs to fix.
DEFAULT_ENCODINGS = textwrap.dedent('''
    import json, os, sys, sysconfig, traceback, warnings
    from pathlib import Path
    import artgan, artgan_plugins
    from artgan.scaffold import new_plugin

    ours = tuple(os.path.dirname(m.__file__) + os.sep for m in (artgan, artgan_plugins))
    library = tuple(sysconfig.get_paths()[key] + os.sep for key in ("stdlib", "platstdlib"))
    found = set()

    def caller(frames):
        """The innermost frame outside the standard library: who left the encoding out."""
        return next((f for f in reversed(frames) if not f.filename.startswith(library + ("<",))
                     or "site-packages" in f.filename), None)

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, EncodingWarning):
            frame = caller(traceback.extract_stack()[:-1])
            if frame is not None and frame.filename.startswith(ours):
                found.add(f"{frame.filename}:{frame.lineno}")

    warnings.showwarning = show
    warnings.simplefilter("always", EncodingWarning)
    root = Path(sys.argv[1])
    run = artgan.run(artgan.load_recipe(root / "Zoë.toml"), out=root)
    artgan.run(artgan.load_recipe(run.dir / "recipe.lock.toml"), out=root, resume=True)
    opened = artgan.open_run(run.dir)
    opened.folder.metrics(), opened.folder.lock(), opened.folder.status()
    new_plugin("zoe", ["source"], root / "插件")
    print(json.dumps(sorted(found)))
''')


def picture(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 40), colour).save(path)


def test_no_text_file_is_read_or_written_in_the_os_default_encoding(tmp_path):
    root = tmp_path / "Zoë 中文"
    picture(root / "photos" / "Zoë.png", "red")
    picture(root / "photos" / "照片.png", "blue")
    (root / "photos" / "credits.toml").write_text('creator = "Zoë Ñúñez 张伟"\nlicense = "CC BY 4.0"\n',
                                                  encoding="utf-8")
    recipe = {"name": "zoe", "resolution": 32, "source": [{"use": "folder", "path": str(root / "photos")}],
              "model": {"use": "dcgan", "g_width": 8, "d_width": 8, "z_dim": 16},
              "train": {"steps": 2, "batch_size": 2, "snapshot_every": 1, "checkpoint_every": 1,
                        "metrics_every": 1, "grid": 2, "device": "cpu", "threads": 1},
              "render": [{"use": "grid"}, {"use": "timelapse", "end_card": 0.2}, {"use": "loss-plot"},
                         {"use": "credits"}]}
    (root / "Zoë.toml").write_text(tomli_w.dumps(recipe), encoding="utf-8")
    done = subprocess.run([sys.executable, "-X", "warn_default_encoding", "-c", DEFAULT_ENCODINGS, str(root)],
                          capture_output=True, encoding="utf-8", errors="replace",
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [], "text opened in the OS's default encoding"
    assert "Zoë Ñúñez 张伟" in (root / "runs" / "zoe" / "CREDITS.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["con", "NUL", "aux.old", "com1", "faces."])
def test_a_run_name_windows_refuses_stops_the_recipe_naming_the_key(write_recipe, name):
    path = write_recipe(f'name = "{name}"\n[[source]]\nuse = "shapes"\n[model]\nuse = "dcgan"\n')
    refused = rf"recipe.toml: name: .*Windows.*; choose another name \(got '{name}'\)"
    with pytest.raises(artgan.ArtganError, match=refused):
        artgan.load_recipe(path)
    assert artgan.load_recipe(path, {"name": "con-test"}).name == "con-test"  # a device name only whole


SWEPT = '''
    name = "s"
    [[source]]
    use = "shapes"
    [model]
    use = "dcgan"
    [sweep]
    "train.init_from" = ["library/Faces.pt", "more/faces.pt"]
'''


def test_sweep_runs_whose_names_differ_only_in_case_get_other_names(write_recipe):
    # runs/s-Faces and runs/s-faces would be one folder on macOS and Windows: one run over the other
    recipe = artgan.load_recipe(write_recipe(SWEPT))
    assert [variant.name for _, variant in artgan.recipe.expand_sweep(recipe)] == ["s-0", "s-1"]
    labelled = write_recipe(SWEPT + '    labels = ["Faces", "faces"]\n', "labelled.toml")
    with pytest.raises(artgan.ArtganError, match=r"labelled.toml: sweep.labels: two runs have the same label "
                                                 r"\(letter case aside"):
        artgan.load_recipe(labelled)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A workspace (data/tiny, runs/tiny) of a real tiny training."""
    from artgan.testing import tiny_run

    return tiny_run(tmp_path_factory.mktemp("trained")).parent.parent


def written_on_windows(workspace, tmp_path):
    """A copy of ``workspace`` whose lock says its paths as an older artgan wrote them on Windows."""
    import shutil

    copy = shutil.copytree(workspace, tmp_path / "copied")
    lock = RunFolder(copy / "runs" / "tiny").lock_file
    windows = r'dataset = "C:\\Users\\Zoë\\art\\data\\tiny"'
    lock.write_text(lock.read_text(encoding="utf-8").replace(f'dataset = "{workspace / "data" / "tiny"}"', windows),
                    encoding="utf-8")
    assert "C:\\\\Users" in lock.read_text(encoding="utf-8")
    return copy


def test_a_run_trained_on_windows_finds_its_dataset_when_copied_here(trained, tmp_path):
    copy = written_on_windows(trained, tmp_path)
    run = copy / "runs" / "tiny"
    assert artgan.credits.dataset_of(run) == copy / "data" / "tiny"
    assert artgan.load_recipe(run / "recipe.lock.toml").dataset == "tiny"  # data/tiny, not a folder named "C:\…"


def test_a_checkpoint_another_run_started_from_on_windows_is_kept(trained, tmp_path):
    copy = written_on_windows(trained, tmp_path)
    other = copy / "runs" / "other"
    other.mkdir()
    RunFolder(other).lock_file.write_text('[train]\ninit_from = "runs\\\\tiny\\\\checkpoints\\\\step-0000002.pt"\n',
                                          encoding="utf-8")
    folder = RunFolder(copy / "runs" / "tiny")
    folder.prune_checkpoints(1)
    assert [path.name for path in folder.checkpoints()] == ["step-0000002.pt", "step-0000004.pt"]


def test_names_a_console_cannot_encode_are_escaped_not_a_crash(tmp_path):
    # Windows writes redirected output in its ANSI code page (cp1252 in Western Europe), strictly
    out = tmp_path / "中文"
    done = subprocess.run([sys.executable, "-m", "artgan", "new-plugin", "zoe", "--out", str(out)], capture_output=True,
                          env={**os.environ, "PYTHONIOENCODING": "cp1252"})
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"written      " + str(tmp_path).encode() + b"/\\u4e2d\\u6587/README.md" in done.stdout


def test_a_script_without_a_main_guard_is_told_to_add_one(tmp_path):
    # workers are spawned, as on macOS and Windows: each imports the script again, and ran the build
    (tmp_path / "recipe.toml").write_text(textwrap.dedent('''
        name = "pool"
        resolution = 16
        workers = 2
        [[source]]
        use = "shapes"
        count = 4
        [[preprocess]]
        use = "mirror"
        [model]
        use = "dcgan"
    '''), encoding="utf-8")
    (tmp_path / "script.py").write_text('import artgan\nartgan.dataset("recipe.toml", out="out")\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, encoding="utf-8")
    assert done.returncode == 1
    told = 'error: a worker process of the dataset build ran your script again as it started: put the script\'s ' \
           'calls under `if __name__ == "__main__":`, or set workers = 1'
    assert told in done.stderr.splitlines() and "in use by another artgan process" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("artgan.errors.ArtganError: workers: a worker process of the "
                                                   "preprocessors ended abruptly")


def test_a_credits_card_is_read_from_a_folder_named_as_windows_names_them(tmp_path, monkeypatch):
    # ffmpeg reads the card's picture through a filter, whose syntax ":", "\", "'", "," and "[]" are part of
    import tempfile

    from films import read_film

    from artgan.film import write_film

    temporary = tmp_path / "C:\\Users\\O'Brien, [x]; y"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    frames = [np.zeros((16, 16, 3), np.uint8)] * 3
    (film,) = write_film(frames, tmp_path / "film.mp4", 10, card=lambda w, h: Image.new("RGB", (w, h), "white"),
                         card_frames=2)
    _, pictures = read_film(film)
    assert len(pictures) == 5 and pictures[-1].mean() > 200 and pictures[0].mean() < 20


def test_commands_to_copy_are_quoted_for_the_shell_of_the_os():
    """The "continue with" and render lines: cmd.exe takes no single quotes, so a path with a space
    is double-quoted there (as the C runtime splits a command line), and sh-quoted elsewhere."""
    import shlex

    from artgan.portable import command_line

    words = ["artgan", "render", "timelapse", "C:\\Users\\Zoë O'Brien\\runs\\cats", "--out", "film 1.mp4"]
    assert command_line(words, windows=True) == \
        'artgan render timelapse "C:\\Users\\Zoë O\'Brien\\runs\\cats" --out "film 1.mp4"'
    assert shlex.split(command_line(words, windows=False)) == words
