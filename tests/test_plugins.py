"""The plugin manager: entry points, in-process plugins, loose files, names, tracing, commands."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types

import pytest
from typer.testing import CliRunner

import artgan
from artgan import plugins
from artgan.cli import app


class Dots(artgan.Source):
    """Test source: nothing at all."""

    def items(self):
        return iter(())


class NotASource(artgan.Model):
    """A model class, wrongly registered as a source."""


def source_plugin(name, cls=Dots):
    """A plugin object (a module, as a loose file would be) that registers one source."""

    @artgan.hookimpl
    def register_sources(register):
        register(name, cls)

    module = types.ModuleType(f"test_plugin_{name}")
    module.register_sources = register_sources
    return module


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTGAN_")}
    env.update(extra)
    return env


def write_loose_plugin(folder, stem, source_name):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text(textwrap.dedent(f'''
        from pydantic import Field
        import artgan

        class LooseOptions(artgan.Options):
            dots: int = Field(3, ge=1, description="how many dots")

        class Loose(artgan.Source):
            """A loose test source."""
            Options = LooseOptions

            def items(self):
                return iter(())

        @artgan.hookimpl
        def register_sources(register):
            register("{source_name}", Loose)
    '''), encoding="utf-8")
    return path


def test_builtins_come_from_entry_points():
    shapes = plugins.collect("source")["shapes"]
    dcgan = plugins.collect("model")["dcgan"]
    assert shapes.distribution.startswith("artgan")
    assert dcgan.distribution.startswith("artgan")
    assert issubclass(shapes.cls, artgan.Source)
    assert issubclass(dcgan.cls, artgan.Model)
    assert "grid" in plugins.collect("renderer")
    # the built-in modules are registered under the entry-point group, like third-party ones
    assert plugins.pm.get_plugin("artgan:shapes") is not None


def test_in_process_plugin_appears_and_disappears(register_plugin):
    name = register_plugin(source_plugin("test-dots"), name="test-in-process-dots")
    found = plugins.collect("source")
    assert found["test-dots"].cls is Dots
    assert found["test-dots"].provider == name
    assert found["test-dots"].distribution == "in-process"
    assert plugins.get("source", "test-dots").cls is Dots
    plugins.unregister(name)
    assert "test-dots" not in plugins.collect("source")


def test_in_process_class_plugin(register_plugin):
    class Plugin:
        @artgan.hookimpl
        def register_sources(self, register):
            register("test-class-dots", Dots)

    register_plugin(Plugin(), name="test-class-plugin")
    assert plugins.collect("source")["test-class-dots"].cls is Dots


def test_unhashable_plugin_object_is_refused_clearly():
    """pluggy needs hashable plugin objects; a SimpleNamespace is refused at once, by name."""

    @artgan.hookimpl
    def register_sources(register):
        register("test-namespace-dots", Dots)

    with pytest.raises(artgan.ArtganError, match="test-namespace: a plugin must be hashable"):
        plugins.register(types.SimpleNamespace(register_sources=register_sources), name="test-namespace")
    assert "test-namespace-dots" not in plugins.collect("source")


def test_duplicate_name_names_both_providers(register_plugin):
    register_plugin(source_plugin("shapes"), name="test-impostor")
    with pytest.raises(artgan.ArtganError) as caught:
        plugins.collect("source")
    message = str(caught.value)
    assert '"shapes"' in message
    assert "test-impostor" in message
    assert "artgan:shapes" in message


def test_duplicate_name_between_two_in_process_plugins(register_plugin):
    register_plugin(source_plugin("test-twice"), name="test-first")
    register_plugin(source_plugin("test-twice"), name="test-second")
    with pytest.raises(artgan.ArtganError, match="test-twice") as caught:
        plugins.collect("source")
    assert "test-first" in str(caught.value) and "test-second" in str(caught.value)


def test_an_in_process_plugin_registered_again_under_its_name_replaces_the_first(register_plugin):
    register_plugin(source_plugin("test-again"), name="test-cell")
    again = source_plugin("test-again")
    register_plugin(again, name="test-cell")  # a notebook cell run again
    assert plugins.collect("source")["test-again"].provider == "test-cell"  # once: not "registered twice"
    assert plugins.pm.get_plugin("test-cell") is again


def test_an_installed_plugins_name_or_one_object_twice_is_refused_in_one_line(register_plugin):
    plugins.collect("source")  # the entry points loaded
    with pytest.raises(artgan.ArtganError, match=r"^artgan:shapes: a plugin of this name is registered already "
                                                 r"\(artgan \S+\); register yours under another name$"):
        plugins.register(source_plugin("test-x"), name="artgan:shapes")
    assert plugins.collect("source")["shapes"].provider == "artgan:shapes"
    one = register_plugin(source_plugin("test-one-object"), name="test-one")
    with pytest.raises(artgan.ArtganError, match=r"registered already, under the name 'test-one'$"):
        plugins.register(plugins.pm.get_plugin(one))


@pytest.mark.parametrize("cls", [NotASource, object, "not a class"])
def test_registering_a_non_subclass_is_refused(register_plugin, cls):
    register_plugin(source_plugin("test-wrong", cls), name="test-wrong-kind")
    with pytest.raises(artgan.ArtganError, match="subclass of artgan.Source") as caught:
        plugins.collect("source")
    assert "test-wrong-kind" in str(caught.value)


def test_misspelt_name_suggests_the_closest():
    with pytest.raises(artgan.ArtganError, match='did you mean "shapes"'):
        plugins.get("source", "shapse")
    with pytest.raises(artgan.ArtganError, match='did you mean "dcgan"'):
        plugins.get("model", "dcgna")


def test_unrelated_name_points_to_the_list():
    with pytest.raises(artgan.ArtganError, match="artgan plugins") as caught:
        plugins.get("model", "zzzzzzzz")
    assert "did you mean" not in str(caught.value)


def test_loose_file_loads_from_a_folder(tmp_path, restore_plugins):
    path = write_loose_plugin(tmp_path / "loose", "loose_dots", "test-loose-dots")
    plugins.load_plugins_dir(tmp_path / "loose")
    info = plugins.collect("source")["test-loose-dots"]
    assert info.distribution.startswith("loose file")
    assert str(path) in info.distribution
    assert [o["name"] for o in info.describe()["options"]] == ["dots"]
    # loading the same folder again does not register it twice
    plugins.load_plugins_dir(tmp_path / "loose")
    assert "test-loose-dots" in plugins.collect("source")


def test_missing_plugins_folder_is_a_user_error(tmp_path):
    with pytest.raises(artgan.ArtganError, match="does not exist"):
        plugins.load_plugins_dir(tmp_path / "nowhere")


def test_broken_loose_file_is_a_user_error_naming_it(tmp_path, restore_plugins):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(artgan.ArtganError, match="broken_plugin.py") as caught:
        plugins.load_plugins_dir(folder)
    assert "boom" in str(caught.value)


def test_cli_plugins_dir_option_lists_a_loose_plugin(tmp_path, restore_plugins):
    write_loose_plugin(tmp_path / "cli-loose", "cli_loose_dots", "test-cli-loose")
    result = CliRunner().invoke(app, ["--plugins-dir", str(tmp_path / "cli-loose"), "plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    assert listed["test-cli-loose"]["kind"] == "source"
    assert listed["test-cli-loose"]["distribution"].startswith("loose file")
    assert listed["test-cli-loose"]["options"][0]["default"] == 3
    assert "shapes" in listed


def test_trace_prints_every_hook_call(tmp_path):
    result = subprocess.run([sys.executable, "-m", "artgan", "plugins"], capture_output=True, text=True,
                            env=clean_env(ARTGAN_TRACE_PLUGINS="1"), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    trace = [line for line in result.stderr.splitlines() if line.startswith("artgan trace")]
    for hook in ("register_sources", "register_models", "register_renderers", "register_preprocessors"):
        assert any(line.startswith(f"artgan trace: {hook}(register=<function") for line in trace), hook
        assert f"artgan trace: {hook} returned []" in trace, hook  # registering returns nothing
    assert "artgan trace:   artgan:shapes registered source 'shapes': artgan_plugins.shapes.Shapes" in trace
    assert "shapes" in result.stdout


def test_trace_shows_a_runs_hook_calls_with_their_arguments_and_results(tmp_path):
    folder = tmp_path / "watching"
    folder.mkdir()
    (folder / "watch_checkpoints.py").write_text(textwrap.dedent('''
        import artgan

        @artgan.hookimpl
        def on_checkpoint(step, path):
            return f"saw {path.name}"
    '''), encoding="utf-8")
    (tmp_path / "tiny.toml").write_text(textwrap.dedent('''
        name = "tiny"
        resolution = 32
        [[source]]
        use = "shapes"
        count = 4
        [model]
        use = "dcgan"
        g_width = 4
        d_width = 4
        [train]
        steps = 1
        batch_size = 2
        grid = 2
    '''), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "artgan", "--plugins-dir", str(folder), "run", "tiny.toml"],
                            capture_output=True, text=True, env=clean_env(ARTGAN_TRACE_PLUGINS="1"), cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    trace = [line.removeprefix("artgan trace: ") for line in result.stderr.splitlines()
             if line.startswith("artgan trace: ")]
    loose = f"file:{folder / 'watch_checkpoints.py'}"
    assert any(line.startswith("on_run_start(run=Run(name='tiny'") for line in trace)
    snapshots = [line for line in trace if line.startswith("on_snapshot(")]
    assert len(snapshots) == 2 and "step=1, images=ndarray(4, 32, 32, 3) uint8)" in snapshots[1]
    assert any(line.startswith("on_checkpoint(run=Run(") and line.endswith(f"-> {loose}") for line in trace)
    assert trace.count("on_checkpoint returned ['saw step-0000000.pt']") == 1
    assert trace.count("on_checkpoint returned ['saw step-0000001.pt']") == 1
    assert any(line.startswith("on_run_end(run=Run(name='tiny'") for line in trace)


def test_trace_is_off_when_the_variable_is_0(tmp_path):
    result = subprocess.run([sys.executable, "-m", "artgan", "plugins"], capture_output=True, text=True,
                            env=clean_env(ARTGAN_TRACE_PLUGINS="0"), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "artgan trace" not in result.stderr


def test_no_trace_without_the_variable(tmp_path):
    result = subprocess.run([sys.executable, "-m", "artgan", "plugins"], capture_output=True, text=True,
                            env=clean_env(), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "artgan trace" not in result.stderr


def test_loose_plugin_adds_a_command(tmp_path):
    folder = tmp_path / "commands"
    folder.mkdir()
    (folder / "hello_command.py").write_text(textwrap.dedent('''
        import typer
        import artgan

        @artgan.hookimpl
        def register_commands(app):
            @app.command()
            def hello(name: str = typer.Option("world", "--name")):
                """Say hello."""
                print(f"hello {name}")
    '''), encoding="utf-8")
    env = clean_env(ARTGAN_PLUGINS_DIR=str(folder))
    result = subprocess.run([sys.executable, "-m", "artgan", "hello", "--name", "Ada"], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello Ada"
    listing = subprocess.run([sys.executable, "-m", "artgan", "--help"], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=120)
    assert "hello" in listing.stdout
