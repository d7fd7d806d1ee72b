"""The ``artgan`` command line: parses arguments, calls the library, prints with rich."""
from __future__ import annotations

import difflib
import inspect
import io
import json
import os
import signal
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup, TyperOption

import artgan
from artgan import bundled, pipeline, plugins, progress, rendering, scaffold
from artgan.credits import collect, dataset_of, unknown_licences, write_credits
from artgan.dataset import DatasetNotReady, contact_sheet, skipped_sheet
from artgan.errors import ArtganError, out_of_memory
from artgan.files import NO_SPACE, no_space
from artgan.kinds import KINDS
from artgan.portable import command_line
from artgan.recipe import Recipe

# Commands that do not train or sample never import torch (seconds of start-up): the modules
# that need it are imported inside the commands that use them.

# Paths, recipes and plugin help are printed as they are: no markup, emoji codes or wrapping.
out = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


def _hide_flag_types() -> None:
    """Typer's rich help (0.2x) shows every flag as if it took a value (``--quiet -q <bool>``);
    its plain help does not. Show flags bare."""
    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is not None:
        TyperOption.display_type_rich = lambda self, ctx: None if self.is_flag else shown(self, ctx)


_hide_flag_types()


# What to lower when a command runs out of memory (training says its own, with the command to go on).
_LESS_AT_ONCE = {
    # batches are halved until they fit (sampling.generate): here not even one image fits
    "sample": "not even one image at a time fits; close other programs using the device, or sample on the CPU "
              "(--device cpu)",
    "render": "make the film smaller (--size), close other programs using the device, or render on the CPU "
              "(--device cpu)",
    None: "close other programs, or lower the sizes and batch sizes the recipe asks for",
}


class _Group(TyperGroup):
    """Maps ArtganError (bad input) to a one-line message and exit status 2, and so a write that
    failed for lack of space wherever it happened (a film's encoder, a plugin's cache); adds the
    commands of plugins (register_commands) only when a command is looked for or listed, so that
    loading every plugin is not the price of --version."""

    plugin_commands_added = False

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ArtganError as exc:
            _tell(f"error: {exc}")
            ctx.exit(2)
        except KeyboardInterrupt as exc:  # training says more itself; this is for the other commands
            signum = getattr(exc, "signum", int(signal.SIGINT))
            _tell(f"stopped ({_SIGNALS[signum]}): files finished so far are kept whole, and nothing is left "
                  "half-written")
            ctx.exit(128 + signum)
        except OSError as exc:
            if exc.errno not in NO_SPACE:
                raise
            _tell(f"error: {no_space(Path(exc.filename or '.').parent, exc)}")
            ctx.exit(2)
        except Exception as exc:  # training says its own; this is for samples and films
            if not out_of_memory(exc):
                raise
            _tell(f"error: out of memory; {_LESS_AT_ONCE.get(ctx.invoked_subcommand, _LESS_AT_ONCE[None])}")
            ctx.exit(2)

    def list_commands(self, ctx):
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        if name not in self.commands:
            self._add_plugin_commands()
        return super().get_command(ctx, name)

    def _add_plugin_commands(self) -> None:
        if self.plugin_commands_added:
            return
        self.plugin_commands_added = True
        known_commands, known_groups = len(app.registered_commands), len(app.registered_groups)
        try:
            plugins.hooks().register_commands(app=app)
        except ArtganError as exc:  # e.g. ARTGAN_PLUGINS_DIR names a missing folder
            err.print(f"error: {exc}")
            sys.exit(2)
        style = {"pretty_exceptions_short": True, "rich_markup_mode": app.rich_markup_mode}
        for info in app.registered_commands[known_commands:]:
            self.add_command(typer.main.get_command_from_info(info, **style))
        for info in app.registered_groups[known_groups:]:
            self.add_command(typer.main.get_group_from_info(info, suggest_commands=True, **style))


app = typer.Typer(cls=_Group, no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False, help="Train GANs on deliberately wrong image sets; film the training.")

RecipeArg = typer.Argument(..., help="recipe file (.toml), or the name of a bundled recipe (see `artgan recipes`)",
                           show_default=False)
SetOpt = typer.Option(None, "--set", metavar="KEY=VALUE", help="override a recipe key: --set train.steps=3000 (repeatable)")
OutOpt = typer.Option(Path("."), "--out", help="folder that holds data/ and runs/")


def _print_version(value: bool) -> None:
    if value:
        out.print(f"artgan {artgan.__version__}")
        raise typer.Exit()


# The commands whose processes train together when torchrun starts several; the others run in rank 0 alone.
JOBS = ("run", "train", "demo")


@app.callback()
def _options(
    ctx: typer.Context,
    plugins_dir: Optional[Path] = typer.Option(None, "--plugins-dir", help="load loose plugin .py files from DIR",
                                              envvar="ARTGAN_PLUGINS_DIR"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="plain progress lines instead of bars"),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="print artgan's version and exit"),
):
    if _rank() and ctx.invoked_subcommand not in JOBS:  # started by torchrun: rank 0 does it all
        raise typer.Exit()
    if plugins_dir is not None:
        plugins.load_plugins_dir(plugins_dir)
    progress.QUIET = quiet


def _load(path: Path, overrides: Optional[List[str]]) -> Recipe:
    return pipeline.load_recipe(path, overrides=overrides or [])


def _say(label: str, path: Path) -> None:
    out.print(f"{label:<12} {path}")


@app.command()
def run(recipe: Path = RecipeArg, set_: Optional[List[str]] = SetOpt, root: Path = OutOpt,
        resume: bool = typer.Option(False, "--resume", help="continue from the run's last checkpoint"),
        rebuild: bool = typer.Option(False, "--rebuild", help="rebuild the dataset even if up to date"),
        dry_run: bool = typer.Option(False, "--dry-run", help="only validate; print the resolved recipe")):
    """Build the dataset, train and render: the whole recipe (with a \\[sweep], each run, then a film of them)."""
    loaded = _load(recipe, set_)
    if dry_run:
        sys.stdout.write(loaded.as_toml())
        return
    again = _command("run", str(recipe), *_set_words(set_), "--out", str(root), "--resume", job=True)
    with _job(loaded, again):
        go = pipeline.sweep if loaded.sweep else pipeline.run
        _stop_if_interrupted(go(loaded, root, resume, rebuild, _Printer()), again)


@contextmanager
def _job(loaded: Recipe, again: str):
    """Started by torchrun: join the job for the block, and let only rank 0 print. Should another
    process of the job end, rank 0 says the error it left; if it left none (killed, crashed), the
    rank left says what is kept and the command (``again``) that goes on."""
    from artgan import distributed

    with distributed.session(loaded.train.device):
        out.quiet = not distributed.is_main()
        try:
            distributed.check_same_recipe(loaded.as_dict())
            yield
        except ArtganError as exc:  # rank 0 says its own (_tell), and the others' from the store
            distributed.leave_error(str(exc))
            raise
        except (distributed.PeerLost, RuntimeError, KeyboardInterrupt) as exc:
            # a collective failed, or torchrun sent SIGTERM to end the job: another process ended
            left = distributed.errors_left()
            if not (left or isinstance(exc, distributed.PeerLost) or distributed.peer_lost(exc)):
                raise
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # torchrun's, which would cut the message short
            if not left:
                lost = exc if isinstance(exc, distributed.PeerLost) else distributed.PeerLost()
                err.print(f"error: {lost}; continue with `{again}`")
            elif distributed.is_main():
                for other, line in left.items():
                    err.print(f"error: rank {other}: {line}")
            raise typer.Exit(2) from None


@app.command()
def dataset(recipe: Path = RecipeArg, set_: Optional[List[str]] = SetOpt, root: Path = OutOpt,
            sheet: bool = typer.Option(False, "--contact-sheet", help="also write a PNG of the dataset, and one of the dropped inputs by reason"),
            rebuild: bool = typer.Option(False, "--rebuild", help="rebuild even if up to date")):
    """Build only the dataset; print counts, skips and why."""
    loaded = _load(recipe, set_)
    report = pipeline.dataset(loaded, root, rebuild)
    _Printer().dataset_ready(report)
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
    again = _command("train", str(recipe), *_set_words(set_), "--out", str(root), "--resume", job=True)
    with _job(loaded, again):
        try:
            trained = pipeline.train(loaded, root, resume)
        except DatasetNotReady as exc:
            build = _command("dataset", str(recipe), *_set_words(set_), "--out", str(root))
            raise ArtganError(f"{exc.folder}: {exc.why}; build it with `{build}`") from None
        _Printer().trained(trained)
        _stop_if_interrupted(trained, again, renders=False)


@app.command()
def sample(checkpoint_path: Path = typer.Argument(..., metavar="CHECKPOINT", help="a .pt file or a run folder"),
           n: int = typer.Option(16, "--n", min=1, help="how many images"),
           out_dir: Path = typer.Option(..., "--out", help="folder for the PNG files"),
           seed: int = typer.Option(0, "--seed", help="seed of the latents"),
           truncation: float = typer.Option(1.0, "--truncation", min=0.0, help="below 1: closer to the average"),
           device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps"),
           batch_size: int = typer.Option(64, "--batch-size", min=1, max=4096,
                                          help="images generated at once; lower it if the GPU runs out of memory")):
    """Write N sample images from a checkpoint as PNG files."""
    from artgan.sampling import write_samples

    paths = write_samples(checkpoint_path, n, out_dir, seed, truncation, device, batch_size)
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
    from artgan.starting_points import find_starting_points

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
        names = sorted({info.name for info in found})
        found = [info for info in found if info.name == name]
        if not found:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f"did you mean `artgan plugins {close[0]}`?" if close else "see `artgan plugins`"
            raise ArtganError(f'no plugin named "{name}"; {hint}')
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
    """Run the built-in demo: coloured ellipses, a small DCGAN (minutes on a CPU), a grid and two films."""
    loaded = _load(Path("demo"), set_)
    again = _command("demo", "--out", str(root), *_set_words(set_), job=True)
    with _job(loaded, again):
        # resume: run again, the demo continues where it stopped (or renders again when finished)
        _stop_if_interrupted(pipeline.run(loaded, root, resume=True, listener=_Printer()), again)


@app.command()
def studio(workspace: Path = typer.Option(Path("."), "--workspace", help="folder that holds runs/ and data/ "
                                          "(given runs/ or a run folder: the folder above)"),
           port: int = typer.Option(8765, "--port", min=0, max=65535,
                                    help="port to listen on (another free one if taken; 0: any)"),
           host: str = typer.Option("127.0.0.1", "--host", help="address to listen on; any other than loopback "
                                                                "needs the token printed at start"),
           no_browser: bool = typer.Option(False, "--no-browser", help="do not open a browser")):
    """Open the studio: watch runs train live, compare them and compose films in the browser."""
    from artgan import studio as web  # here: starlette and uvicorn only for this command

    try:
        web.serve(workspace, host, port, browser=not no_browser, say=out.print)
    except KeyboardInterrupt:
        pass


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
    # "_targets": no option is named so (pydantic keeps names with a leading _ out of the fields)
    params = [param("_targets", param.KEYWORD_ONLY, annotation=List[Path] if many else Path,
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
        key = "_help" if name == "help" else name  # click keeps --help's value under "help"
        params.append(param(key, param.KEYWORD_ONLY, annotation=Optional[bool] if switch else Optional[str],
                            default=typer.Option(None, f"{flag}/--no-{flag[2:]}" if switch else flag,
                                                 metavar=None if switch else rendering.metavar(field),
                                                 help=escape(option["help"] + note), show_default=False)))
    if info.cls.uses_model and "device" not in fields:  # only a renderer that runs a model uses a device
        params.append(param("device", param.KEYWORD_ONLY, annotation=str,
                            default=typer.Option("auto", "--device", help="auto, cpu, cuda or mps")))

    def command(**values):
        targets = values.pop("_targets")
        device = "auto" if "device" in fields else values.pop("device", "auto")
        if "_help" in values:
            values["help"] = values.pop("_help")
        for path in rendering.render(info.name, targets if many else [targets], values, device):
            _say("rendered", path)

    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    single = typer.Typer(add_completion=False)
    single.command(info.name, help=info.summary)(command)
    return typer.main.get_command(single)


class _Printer(pipeline.Listener):
    """Prints what the pipeline tells: the dataset's counts and skips, where training went, the files rendered."""

    def dataset_ready(self, report) -> None:
        ds = report.dataset
        verb = "reused" if report.reused else "built"
        out.print(f"dataset {verb}: {ds.count} images of {ds.resolution}px in {ds.folder}")
        for key, count in report.per_source.items():
            out.print(f"  {key}: {count} images")
        if report.skipped:
            out.print(f"  skipped {len(report.skipped)} (listed in {ds.folder / 'dataset.json'}):")
            for reason, count in report.skip_reasons().most_common(10):
                out.print(f"    {count} x {reason}")

    def trained(self, run: artgan.Run) -> None:
        now = run.step - run.started_at
        if run.interrupted:
            out.print(f"stopped ({_SIGNALS.get(run.stopped_by, 'signal')}) at step {run.step} of "
                      f"{run.recipe.train.steps}, {run.images_seen} images seen, {run.seconds:.0f}s of training")
        elif now:
            resumed = f" ({now} in this session)" if run.started_at else ""
            out.print(f"trained {run.step} steps{resumed}, {run.images_seen} images seen, {run.seconds:.0f}s")
        _say("run folder", run.dir)
        _say("snapshots", run.folder.snapshots_dir)
        _say("checkpoints", run.folder.checkpoints_dir)
        _say("metrics", run.folder.metrics_file)

    def rendered(self, path: Path) -> None:
        _say("rendered", path)


def _stop_if_interrupted(runs, again: str, renders: bool = True) -> None:
    """After Ctrl-C or SIGTERM stopped training: say how to go on (``again``, a command that
    ``renders`` when done or not), and exit with the shell's status for that signal (130, 143)."""
    last = runs[-1] if isinstance(runs, list) else runs
    if not last.interrupted:
        return
    out.print(f"continue (then it renders): {again}" if renders else f"continue: {again}")
    if last.recipe.render:
        out.print("render what there is now:")
        for step in last.recipe.render:
            out.print("  " + command_line(rendering.command_line(step.name, last.dir, step.options)))
    raise typer.Exit(128 + last.stopped_by)


def _command(*words: str, job: bool = False) -> str:
    """An artgan command line to print, with the --plugins-dir folders this one loaded; ``job``:
    started as torchrun started this process, on as many processes (plain artgan without torchrun)."""
    folders = [] if os.environ.get("ARTGAN_PLUGINS_DIR") else plugins.loaded_dirs()
    size = int(os.environ.get("WORLD_SIZE", "1"))
    start = ["artgan"]
    if job and size > 1:
        here = int(os.environ.get("LOCAL_WORLD_SIZE", size))  # processes per machine
        nodes = [f"--nnodes={size // here}"] if here < size else []
        start = ["torchrun", *nodes, f"--nproc_per_node={here}", "-m", "artgan"]
    return command_line([*start, *[w for folder in folders for w in ("--plugins-dir", folder)], *words])


def _rank() -> int:
    """This process's rank in the torchrun job that started it (0 without torchrun)."""
    return int(os.environ.get("RANK", "0"))


def _tell(line: str) -> None:
    """Print an error line; in a torchrun job only rank 0 does (see _job for the others' errors)."""
    if not _rank():
        err.print(line)


def _set_words(overrides: Optional[List[str]]) -> list[str]:
    return [word for override in overrides or [] for word in ("--set", override)]


_SIGNALS = {int(signal.SIGINT): "Ctrl-C", int(signal.SIGTERM): "SIGTERM"}


class _Terminated(KeyboardInterrupt):
    """SIGTERM outside training: the command ends as Ctrl-C ends it (cleanups run), status 143.
    (Training itself stops after its step and saves; see artgan.training.)"""

    signum = int(signal.SIGTERM)


def _end_on_sigterm(signum, frame):
    raise _Terminated


class _ReaderGone:
    """sys.stdout or sys.stderr that outlives its reader (``artgan run … | head -1``): from the
    first write that finds the pipe closed, the stream goes to os.devnull and the work goes on,
    which a BrokenPipeError would end; nor is anything left to flush into the pipe at exit."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())  # what the stream still holds is flushed there
        os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main() -> None:
    """Console entry point."""
    signal.signal(signal.SIGTERM, _end_on_sigterm)
    if sys.stdout is not None and sys.stderr is not None:  # None under pythonw: nothing to guard
        # Redirected on Windows, output is in the ANSI code page, which has no letters for most
        # names (a file called 中文.jpg): they are written as \u escapes, not a crash.
        if isinstance(sys.stdout, io.TextIOWrapper):
            sys.stdout.reconfigure(errors="backslashreplace")
        sys.stdout, sys.stderr = _ReaderGone(sys.stdout), _ReaderGone(sys.stderr)
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
