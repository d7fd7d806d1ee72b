"""What README.md and docs/ say about the command line, the options and the files is what the code
does: every command and flag is documented, the documented defaults are the schemas' defaults,
links between pages resolve, and a check the docs promise before any work comes before it."""
import re
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from artgan import plugins
from artgan.cli import app
from artgan.film import FilmOptions
from artgan.recipe import TrainOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "plugin-template" / "README.md"]


def _commands():
    """(name, click command) of every command artgan itself defines, and of each built-in renderer
    under `render`, from the same typer app the `artgan` executable runs."""
    root = typer.main.get_command(app)
    context = root.context_class(root)
    for name in root.list_commands(context):
        command = root.get_command(context, name)
        if getattr(command.callback, "__module__", None) != "artgan.cli":
            continue  # a command a plugin registered in this test session
        yield name, command
        if name == "render":
            sub_context = command.context_class(command, parent=context)
            for renderer in command.list_commands(sub_context):
                if _builtin("renderer", renderer):
                    yield f"render {renderer}", command.get_command(sub_context, renderer)


def _builtin(kind: str, name: str) -> bool:
    return plugins.get(kind, name).cls.__module__.startswith("artgan_plugins")


def _flags(command) -> list[str]:
    return [flag for param in command.params for flag in [*param.opts, *param.secondary_opts]
            if flag.startswith("--") and flag != "--help"]


COMMANDS = dict(_commands())
CORE = [name for name in COMMANDS if not name.startswith("render ")]


def test_the_command_tree_is_found():
    assert {"run", "demo", "sample", "studio", "render", "render timelapse", "render credits"} <= set(COMMANDS)


@pytest.mark.parametrize("name", CORE)
def test_every_command_and_its_flags_are_in_the_readme(name):
    """README's table of commands is the reference of the command line: a new command or flag
    that is not in it fails here."""
    command = COMMANDS[name]
    assert f"`artgan {name}" in README, f"artgan {name} has no row in README.md's Commands"
    missing = [flag for flag in _flags(command) if not re.search(rf"{re.escape(flag)}\b", README)]
    assert not missing, f"artgan {name}: {missing} not in README.md"


def test_the_global_options_are_in_the_readme():
    root = typer.main.get_command(app)
    missing = [flag for param in root.params for flag in [*param.opts, *param.secondary_opts]
               if flag != "--help" and not re.search(rf"`{re.escape(flag)}[` ]", README)]
    assert not missing, missing


def test_each_builtin_renderer_is_named_in_the_readme_render_row():
    row = next(line for line in README.splitlines() if line.startswith("| `artgan render NAME"))
    names = [name.split()[1] for name in COMMANDS if name.startswith("render ")]
    assert names and all(f"`{name} " in row for name in names), (names, row)


def _section(text: str, heading: str) -> str:
    """The text under the line ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split()[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(rf"^#{{1,{len(level)}}} ", text[start:], re.M)
    return text[start:start + following.start()] if following else text[start:]


RENDERERS_MD = (ROOT / "docs" / "renderers.md").read_text()
SHARED_FILM_OPTIONS = RENDERERS_MD.split("These options are shared by every film renderer")[1].split("\n## ")[0]


@pytest.mark.parametrize("name", [name.split()[1] for name in COMMANDS if name.startswith("render ")])
def test_every_renderer_option_is_in_its_section_of_renderers_md(name):
    """`artgan render NAME --OPTION` is the renderer's option `OPTION` (dashes for underscores):
    each is documented in the renderer's section, or in the table of options every film shares."""
    cls = plugins.get("renderer", name).cls
    documented = _section(RENDERERS_MD, f"## {name}")
    if issubclass(cls.Options, FilmOptions):
        documented += SHARED_FILM_OPTIONS
    flags = {flag for param in COMMANDS[f"render {name}"].params for flag in param.opts
             if flag.startswith("--")} - {"--device"}  # --no-gif and such are the switches' other sides
    missing = [option for option in cls.Options.model_fields if f"`{option}`" not in documented]
    assert not missing, f"docs/renderers.md, ## {name}: {missing} not documented"
    assert {f"--{option.replace('_', '-')}" for option in cls.Options.model_fields} >= flags


def _table_rows(text: str) -> list[tuple[list[str], str]]:
    """The (option names, default cell) of the first table of ``text`` whose header is
    `| option | default | …`."""
    rows, inside = [], False
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if re.match(r"\| option \| default \|", line, re.I):
            inside = True
        elif inside and line.startswith("| `"):
            rows.append((re.findall(r"`(\w+)`", cells[0]), cells[1]))
        elif inside and not line.startswith("|"):
            break
    return rows


def _as_written(value) -> str:
    """A default as the docs' tables write it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:g}" if value < 1e6 else str(int(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_as_written(item) for item in value) + "]"
    return str(value)


def _default_cell(cell: str) -> str:
    """A table cell's default, as a bare value: `"reflect"` is reflect, 25.0 is 25, 1,000 stays."""
    cell = cell.strip("`")
    try:
        return _as_written(tomllib.loads(f"v = {cell}")["v"])
    except tomllib.TOMLDecodeError:
        return cell


# (page, heading over the table): the plugin whose options the table lists
OPTION_TABLES = {
    ("sources.md", "## folder"): ("source", "folder"),
    ("sources.md", "## shapes"): ("source", "shapes"),
    ("sources.md", "## video-frames"): ("source", "video-frames"),
    ("sources.md", "## duplicate"): ("source", "duplicate"),
    ("sources.md", "### Download limits"): ("source", "web-search"),
    ("face-align.md", "## Options"): ("preprocessor", "face-align"),
    ("stylegan2.md", "### Options"): ("model", "stylegan2"),
    ("stylegan2.md", "## Augmentation for small datasets"): ("model", "dcgan"),
    ("renderers.md", "## timelapse"): ("renderer", "timelapse"),
    ("renderers.md", "## interpolation"): ("renderer", "interpolation"),
    ("renderers.md", "## loss-plot"): ("renderer", "loss-plot"),
}


@pytest.mark.parametrize("page, heading", list(OPTION_TABLES))
def test_option_tables_give_the_schemas_defaults(page, heading):
    """Each row of a plugin's option table names real options, and a default the table writes as
    a value (a number, a word, a list) is the schema's; a default the schema leaves to the run
    (None: "the recipe's resolution", "auto", "random") is described, not compared."""
    kind, name = OPTION_TABLES[page, heading]
    fields = plugins.get(kind, name).cls.Options.model_fields
    rows = _table_rows(_section((ROOT / "docs" / page).read_text(), heading))
    assert rows, f"docs/{page}: no option table under {heading}"
    wrong = []
    for names, cell in rows:
        cells = cell.split(", ") if len(names) > 1 and cell.count(", ") == len(names) - 1 else [cell] * len(names)
        for option, written in zip(names, cells):
            if option not in fields:
                wrong.append(f"`{option}` is not an option of {name}")
                continue
            default, written = fields[option].default, written.strip("`")
            if isinstance(default, list) and "," in written and not written.startswith("["):
                written = "[" + written + "]"  # jpg, jpeg, png: a list written plainly
            if default is None or not written or "(" in written or "," in written and not written.startswith("["):
                continue  # described in words, per model, or left to the run
            if _default_cell(written) != _as_written(default) and written not in {"all seven"}:
                wrong.append(f"`{option}`: {written} (the schema: {_as_written(default)})")
    assert not wrong, f"docs/{page} {heading}: " + "; ".join(wrong)


def test_the_readme_train_table_gives_the_schemas_defaults():
    section = README.split("### `[train]`")[1].split("\n#")[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M))
    wrong = {key: (rows[key].strip(), _as_written(field.default)) for key, field in TrainOptions.model_fields.items()
             if rows[key].strip() != _as_written(field.default)}
    assert not wrong, f"README.md [train]: documented, schema: {wrong}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_pages_and_to_files_resolve():
    anchors = {page: {_slug(h) for h in re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", page.read_text(), flags=re.S),
                                                     re.M)} for page in PAGES}
    broken = []
    for page in PAGES:
        text = page.read_text()
        for match in re.finditer(r"\]\(([^)\s]+)\)", text):
            target = match.group(1)
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 1}"
            if not resolved.exists():
                broken.append(f"{where}: {target}: no such file")
            elif anchor and resolved in anchors and anchor not in anchors[resolved]:
                broken.append(f"{where}: {target}: no such heading")
    assert not broken, broken


def test_repository_files_the_docs_name_exist():
    """A path such as `benchmarks/startup.py` or tests/test_diversity.py in a page is a file of
    the repository (the plugin tutorial's tests/… are the template's, under examples/)."""
    missing = []
    for page in PAGES:
        for path in set(re.findall(r"(?<![\w/.-])((?:docs|tests|benchmarks|plugins|examples|artgan|\.ci)/[\w./-]*\w)",
                                   page.read_text())):
            if "NAME" in path or "XXXX" in path:
                continue
            candidates = [ROOT / path, ROOT / "examples" / "plugin-template" / path]
            if not any(candidate.exists() for candidate in candidates):
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    assert not missing, missing


def test_compile_with_r1_is_refused_before_the_dataset_is_built(tmp_path):
    """The [train] table says train.compile is refused with R1 before training, and
    docs/guarantees.md that what can be checked before work starts is checked first: the refusal
    comes before the dataset is built, not after."""
    recipe = tmp_path / "r1.toml"
    recipe.write_text('name = "r1"\nresolution = 32\n[[source]]\nuse = "shapes"\ncount = 4\n'
                      '[model]\nuse = "dcgan"\nr1_gamma = 0.1\n[train]\ncompile = true\ndevice = "cpu"\n')
    result = CliRunner().invoke(app, ["run", str(recipe), "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "train.compile = true cannot train with model.r1_gamma" in result.stderr
    assert "dataset" not in result.stdout and not (tmp_path / "data" / "r1").exists()
