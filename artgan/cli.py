"""The ``artgan`` command line: parses arguments, calls the library, prints with rich."""
from __future__ import annotations

import inspect
import json
import signal
import sys
from contextlib import contextmanager
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import List, Optional

import tomli_w
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from artgan import bundled, distributed, plugins, progress, rendering, runner, scaffold
from artgan.credits import collect, dataset_of, unknown_licences, write_credits
from artgan.dataset import build_dataset, contact_sheet, skipped_sheet
from artgan.errors import ArtganError
from artgan.files import NO_SPACE, ensure_writable_folder, no_space
from artgan.kinds import KINDS
from artgan.recipe import Recipe, load_recipe
from artgan.sampling import write_samples
from artgan.starting_points import find_starting_points

# Paths, recipes and plugin help are printed as they are: no markup, emoji codes or wrapping.
out = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


class _Group(TyperGroup):
    """Maps ArtganError (bad input) to a one-line message and exit status 2, and so a write that
    failed for lack of space wherever it happened (a film's encoder, a plugin's cache)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ArtganError as exc:
            err.print(f"error: {exc}")
            ctx.exit(2)
        except OSError as exc:
            if exc.errno not in NO_SPACE:
                raise
            err.print(f"error: {no_space(Path(exc.filename or '.').parent, exc)}")
            ctx.exit(2)


app = typer.Typer(cls=_Group, no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False, help="Train GANs on deliberately wrong image sets; film the training.")

RecipeArg = typer.Argument(..., help="recipe file (.toml), or the name of a bundled recipe (see `artgan recipes`)",
                           show_default=False)
SetOpt = typer.Option(None, "--set", help="override a recipe key: --set train.steps=3000 (repeatable)")
OutOpt = typer.Option(Path("."), "--out", help="folder that holds data/ and runs/")


@app.callback()
def _options(
    plugins_dir: Optional[Path] = typer.Option(None, "--plugins-dir", help="load loose plugin .py files from DIR",
                                              envvar="ARTGAN_PLUGINS_DIR"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="plain progress lines instead of bars"),
):
    if plugins_dir is not None:
        plugins.load_plugins_dir(plugins_dir)
    progress.QUIET = quiet


def _load(path: Path, overrides: Optional[List[str]]) -> Recipe:
    return load_recipe(bundled.find_recipe(path), overrides or [])


def _say(label: str, path: Path) -> None:
    out.print(f"{label:<12} {path}")


@app.command()
def run(recipe: Path = RecipeArg, set_: Optional[List[str]] = SetOpt, root: Path = OutOpt,
        resume: bool = typer.Option(False, "--resume", help="continue from the run's last checkpoint"),
        rebuild: bool = typer.Option(False, "--rebuild", help="rebuild the dataset even if up to date"),
        dry_run: bool = typer.Option(False, "--dry-run", help="only validate; print the resolved recipe")):
    """Build the dataset, train, and render: the whole recipe (each run of its \\[sweep], then a
    compare film of them)."""
    loaded = _load(recipe, set_)
    if dry_run:
        sys.stdout.write(tomli_w.dumps(loaded.as_dict()))
        return
    ensure_writable_folder(root)
    runner.check(loaded, root, resume)
    rebuilt: set[str] = set()  # --rebuild: each dataset once, though sweep runs share one

    def run_one(variant: Recipe):
        force = rebuild and variant.dataset not in rebuilt
        rebuilt.add(variant.dataset)
        return _run(variant, root, resume, force)

    with _job(loaded):
        if loaded.sweep:
            for path in runner.sweep(loaded, root, run_one):
                _say("rendered", path)
        else:
            run_one(loaded)


@contextmanager
def _job(loaded: Recipe):
    """Started by torchrun: join the job for the block, and let only rank 0 print."""
    with distributed.session(loaded.train.device):
        out.quiet = not distributed.is_main()
        yield


def _run(loaded: Recipe, root: Path, resume: bool, rebuild: bool = False):
    with distributed.main_first():  # rank 0 builds the dataset; the others then find it built
        report = build_dataset(loaded, root, force=rebuild and distributed.is_main())
    _report_dataset(report)
    trained = _train(loaded, root, resume)
    for path in runner.render(loaded, trained.dir):
        _say("rendered", path)
    return trained


@app.command()
def dataset(recipe: Path = RecipeArg, set_: Optional[List[str]] = SetOpt, root: Path = OutOpt,
            sheet: bool = typer.Option(False, "--contact-sheet", help="also write a PNG of the dataset, and one of the dropped inputs by reason"),
            rebuild: bool = typer.Option(False, "--rebuild", help="rebuild even if up to date")):
    """Build only the dataset; print counts, skips and why."""
    loaded = _load(recipe, set_)
    ensure_writable_folder(root)
    report = build_dataset(loaded, root, force=rebuild)
    _report_dataset(report)
    if sheet:
        _say("contact", contact_sheet(report.dataset))
        skips = skipped_sheet(report.dataset)
        if skips is not None:
            _say("skipped", skips)


@app.command()
def train(recipe: Path = RecipeArg, set_: Optional[List[str]] = SetOpt, root: Path = OutOpt,
          resume: bool = typer.Option(False, "--resume", help="continue from the run's last checkpoint")):
    """Train on an already built dataset."""
    loaded = _load(recipe, set_)
    ensure_writable_folder(root)
    with _job(loaded):
        _train(loaded, root, resume)


@app.command()
def sample(checkpoint_path: Path = typer.Argument(..., metavar="CHECKPOINT", help="a .pt file or a run folder"),
           n: int = typer.Option(16, "--n", min=1, help="how many images"),
           out_dir: Path = typer.Option(..., "--out", help="folder for the PNG files"),
           seed: int = typer.Option(0, "--seed", help="seed of the latents"),
           truncation: float = typer.Option(1.0, "--truncation", min=0.0, help="below 1: closer to the average"),
           device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps")):
    """Write N sample images from a checkpoint as PNG files."""
    paths = write_samples(checkpoint_path, n, out_dir, seed, truncation, device)
    out.print(f"wrote {len(paths)} images to {out_dir}")


@app.command()
def credits(target: Path = typer.Argument(..., metavar="DATASET_OR_RUN",
                                          help="a dataset folder (data/NAME) or a run folder (runs/NAME)")):
    """Print who made the dataset's images, under which licence; write CREDITS.md beside them; warn about unknown licences."""
    text, path = write_credits(target)
    out.print(text)
    _say("written", path)
    unknown = unknown_licences(collect(dataset_of(target))[0])
    if unknown:
        err.print(f"warning: {len(unknown)} works have no known licence (first: {unknown[0].attribution}); "
                  f"give it with the source's `license` option or a credits.toml (docs/sources.md)")


@app.command("starting-points")
def starting_points(runs: Optional[List[Path]] = typer.Option(None, "--runs", help="a folder of runs to look in "
                                                              "(repeatable; default: ./runs)"),
                    library: Optional[Path] = typer.Option(None, "--library", envvar="ARTGAN_LIBRARY",
                                                           help="your folder of starting points")):
    """List checkpoints to start new runs from (train.init_from): model, dataset, resolution, step."""
    points, skipped = find_starting_points(runs, library)
    if points:
        # Plain columns with the path last and never wrapped, so it can be copied into a recipe.
        rows = [("model", "dataset", "px", "step")]
        rows += [(p.model, p.dataset, str(p.resolution), str(p.step)) for p in points]
        widths = [max(map(len, column)) for column in zip(*rows)]
        for row, path in zip(rows, ["checkpoint"] + [str(p.path) for p in points]):
            out.print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + path)
    else:
        out.print("no checkpoints found; train a run, or point --runs / --library at a folder of them")
    for skip in skipped:
        err.print(f"skipped {skip.origin}: {skip.reason}")


@app.command("plugins")
def list_plugins(name: Optional[str] = typer.Argument(None, help="show this plugin's options"),
                 as_json: bool = typer.Option(False, "--json", help="print JSON")):
    """List installed plugins, or one plugin's options."""
    found = plugins.all_plugins()
    if name is not None:
        found = [info for info in found if info.name == name]
        if not found:
            raise ArtganError(f'no plugin named "{name}"; see `artgan plugins`')
    described = [info.describe() for info in found]
    if as_json:
        out.print_json(json.dumps(described))
    elif name is None:
        table = Table("name", "kind", "from", "what it does")
        for d in described:
            table.add_row(d["name"], d["kind"], d["distribution"], d["summary"])
        out.print(table)
    else:
        for d in described:
            out.print(f"{d['name']} ({d['kind']}, {d['distribution']}): {d['summary']}", style="bold")
            table = Table("option", "type", "default", "help")
            for option in d["options"]:
                default = "(required)" if option["required"] else json.dumps(option["default"])
                table.add_row(option["name"], option["type"], default, option["help"])
            out.print(table)


@app.command()
def recipes(as_json: bool = typer.Option(False, "--json", help="print JSON")):
    """List the bundled recipes, one per experiment: `artgan run NAME` runs one."""
    found = bundled.bundled_recipes()
    if as_json:
        out.print_json(json.dumps([{"name": r.name, "summary": r.summary, "needs": r.needs, "path": str(r.path)}
                                   for r in found]))
        return
    table = Table("name", "what it is", "give with --set")
    for r in found:
        table.add_row(r.name, r.summary, "\n".join(r.needs))
    out.print(table)
    out.print(f"run one: artgan run NAME [--set KEY=VALUE]...; each file's opening comment says more "
              f"(they are in {bundled.folder()})")


Kind = Enum("Kind", {kind: kind for kind in KINDS}, type=str)


@app.command("new-plugin")
def new_plugin(name: str = typer.Argument(..., help="the plugins' name, e.g. glitch (the distribution is "
                                                    "artgan-NAME)"),
               kinds: Optional[List[Kind]] = typer.Option(None, "--kind", help="a kind of plugin to include "
                                                          "(repeatable; default: all four)"),
               folder: Optional[Path] = typer.Option(None, "--out", help="the new folder (default: ./artgan-NAME)")):
    """Write a new plugin distribution, copied from artgan's plugin template, ready to pip install -e."""
    folder = folder or Path(f"artgan-{name}")
    for path in scaffold.new_plugin(name, [k.value for k in kinds or Kind], folder):
        _say("written", path)
    out.print(f"next: pip install -e {folder} && python -m pytest {folder / 'tests'}  "
              "(a walk-through: docs/writing-plugins.md)")


@app.command()
def demo(root: Path = typer.Option(Path("artgan-demo"), "--out", help="folder for the demo's data and run"),
         set_: Optional[List[str]] = SetOpt):
    """Run the built-in demo: coloured ellipses, a small DCGAN on the CPU, a grid and two films."""
    recipe_file = resources.files("artgan") / "demo.toml"
    with resources.as_file(recipe_file) as path:
        loaded = _load(path, set_)
    existing = runner.training.run_folder(loaded, root)
    ensure_writable_folder(root)
    with _job(loaded):
        _run(loaded, root, resume=existing.exists())


class _RenderGroup(TyperGroup):
    """`artgan render NAME`: one command per installed renderer, its options made from the plugin's."""

    def list_commands(self, ctx):
        return sorted(plugins.collect("renderer"))

    def get_command(self, ctx, name):
        return _render_command(plugins.get("renderer", name))


render_app = typer.Typer(cls=_RenderGroup, invoke_without_command=True,
                         help="Render films and pictures: artgan render NAME TARGET [--OPTION VALUE]...")
app.add_typer(render_app, name="render")


@render_app.callback()
def _list_renderers(ctx: typer.Context):
    if ctx.invoked_subcommand is None:
        table = Table("renderer", "what it does", "from")
        for name, info in sorted(plugins.collect("renderer").items()):
            table.add_row(name, info.summary, info.distribution)
        out.print(table)
        out.print("options of one: artgan render NAME --help")


def _render_command(info):
    """A typer command for renderer ``info``: TARGET (or several), then --OPTION per option."""
    param = inspect.Parameter
    many = rendering.targets_option(info.cls)
    params = [param("targets", param.KEYWORD_ONLY, annotation=List[Path] if many else Path,
                    default=typer.Argument(..., metavar="TARGET..." if many else "TARGET", show_default=False,
                                           help="run folders" if many else "a run folder or a checkpoint (.pt)"))]
    fields = info.cls.Options.model_fields
    for option in info.describe()["options"]:
        name, field, flag = option["name"], fields[option["name"]], rendering.flag(option["name"])
        if name == many:
            continue
        note = " (required)" if option["required"] else \
            "" if option["default"] is None else f" (default: {json.dumps(option['default'])})"
        switch = rendering.is_flag(field)
        params.append(param(name, param.KEYWORD_ONLY, annotation=Optional[bool] if switch else Optional[str],
                            default=typer.Option(None, f"{flag}/--no-{flag[2:]}" if switch else flag,
                                                 metavar=None if switch else rendering.metavar(field),
                                                 help=escape(option["help"] + note), show_default=False)))
    if "device" not in fields:
        params.append(param("device", param.KEYWORD_ONLY, annotation=str,
                            default=typer.Option("auto", "--device", help="auto, cpu, cuda or mps")))

    def command(**values):
        targets = values.pop("targets")
        device = values.pop("device") if "device" not in fields else "auto"
        for path in rendering.render(info.name, targets if many else [targets], values, device):
            _say("rendered", path)

    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    single = typer.Typer(add_completion=False)
    single.command(info.name, help=info.summary)(command)
    return typer.main.get_command(single)


def _report_dataset(report) -> None:
    ds = report.dataset
    verb = "reused" if report.reused else "built"
    out.print(f"dataset {verb}: {ds.count} images of {ds.resolution}px in {ds.folder}")
    for key, count in report.per_source.items():
        out.print(f"  {key}: {count} images")
    if report.skipped:
        out.print(f"  skipped {len(report.skipped)} (listed in {ds.folder / 'dataset.json'}):")
        for reason, count in report.skip_reasons().most_common(10):
            out.print(f"    {count} x {reason}")


def _train(loaded: Recipe, root: Path, resume: bool):
    """Train, report where things went; stopped by Ctrl-C or SIGTERM, exit with the shell's
    status for that signal (130, 143)."""
    trained = runner.train(loaded, root, resume)
    _report_run(trained)
    if trained.interrupted:
        raise typer.Exit(128 + trained.stopped_by)
    return trained


def _report_run(run) -> None:
    state = f"stopped ({_SIGNALS.get(run.stopped_by, 'signal')})" if run.interrupted else "trained"
    out.print(f"{state} {run.step} steps, {run.images_seen} images seen, {run.seconds:.0f}s")
    _say("run folder", run.dir)
    _say("snapshots", run.snapshots)
    _say("checkpoints", run.checkpoints)
    _say("metrics", run.dir / "metrics.jsonl")
    if run.interrupted:
        out.print("continue with --resume")


_SIGNALS = {int(signal.SIGINT): "Ctrl-C", int(signal.SIGTERM): "SIGTERM"}


def _end_on_sigterm(signum, frame):
    """SIGTERM outside training ends the command as Ctrl-C would: cleanups run, status 143.
    (Training itself stops after its step and saves; see artgan.training.)"""
    raise SystemExit(128 + signum)


def main() -> None:
    """Console entry point."""
    signal.signal(signal.SIGTERM, _end_on_sigterm)
    try:
        plugins.hooks().register_commands(app=app)
    except ArtganError as exc:  # e.g. ARTGAN_PLUGINS_DIR names a missing folder
        err.print(f"error: {exc}")
        sys.exit(2)
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
