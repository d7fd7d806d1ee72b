"""The plugin manager: entry points (group "artgan", built-ins included) and loose .py files."""
from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import json
import os
import sys
import typing
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pluggy

from artgan import hookspecs
from artgan.errors import ArtganError
from artgan.kinds import KINDS, Options, Plugin

GROUP = "artgan"
REGISTER_HOOKS = {
    "source": "register_sources",
    "preprocessor": "register_preprocessors",
    "model": "register_models",
    "renderer": "register_renderers",
}

pm = pluggy.PluginManager(GROUP)
pm.add_hookspecs(hookspecs)
_provenance: dict[str, str] = {}  # plugin name in pm -> where it came from
_loaded = False
_tracing = False  # ARTGAN_TRACE_PLUGINS: print every hook call, result and registration


def hooks():
    """The hook caller, with installed plugins loaded on first use.

    Loading waits until then because plugin modules import artgan themselves.
    """
    global _loaded, _tracing
    if not _loaded:
        _loaded = True
        if os.environ.get("ARTGAN_TRACE_PLUGINS", "0") not in ("", "0"):
            _tracing = True
            pm.add_hookcall_monitoring(_trace_call, _trace_result)
        load_entry_points()
        if os.environ.get("ARTGAN_PLUGINS_DIR"):
            load_plugins_dir(os.environ["ARTGAN_PLUGINS_DIR"])
    return pm.hook


@dataclass(frozen=True)
class PluginInfo:
    """A registered plugin class and where it came from."""

    name: str
    kind: str
    cls: type[Plugin]
    provider: str  # the pluggy plugin that registered it
    distribution: str  # "artgan 0.1.0", "loose file /path/x.py", "in-process"…

    @property
    def summary(self) -> str:
        doc = (self.cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @property
    def version(self) -> str:
        """What identifies the plugin's code: its distribution and version ("artgan 0.1.0"), and
        the hash of the file that defines it, which changes with the code even where the version
        does not (a loose file, an editable install). An ArtganError once that file has changed
        since this process loaded the class: the code that runs is still the old one."""
        loaded = _loaded_code(self.cls)
        if loaded is None:  # defined in a notebook cell or at the prompt
            return self.distribution
        if _code_hash(self.cls) != loaded:
            raise ArtganError(f'{loaded[0]}: changed since this process loaded {self.kind} plugin "{self.name}", '
                              "which still runs its old code; restart the kernel (or the command), then run again")
        return f"{self.distribution} sha256:{loaded[1]}"

    def describe(self) -> dict:
        """Name, kind, origin and every option with its type, default and help, as plain data."""
        options = []
        for name, field in self.cls.Options.model_fields.items():
            required = field.is_required()
            options.append({
                "name": name, "type": _type_name(field.annotation), "required": required,
                "default": None if required else _plain(field.get_default(call_default_factory=True)),
                "help": field.description or "",
            })
        return {"name": self.name, "kind": self.kind, "distribution": self.distribution,
                "provider": self.provider, "summary": self.summary, "options": options}


# Each plugin class's file and its hash as this process first saw them, with the class imported:
# the code that runs, whatever the file says later (a notebook's kernel keeps the old code).
_first_seen: dict[type, tuple[Path, str] | None] = {}


def _loaded_code(cls: type) -> tuple[Path, str] | None:
    if cls not in _first_seen:
        _first_seen[cls] = _code_hash(cls)
    return _first_seen[cls]


def _code_hash(cls: type) -> tuple[Path, str] | None:
    """The file that defines ``cls`` and its hash now; None for a class without a file."""
    try:
        source = Path(inspect.getsourcefile(cls) or "")
        return source, hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    except (OSError, TypeError):
        return None


def _type_name(annotation) -> str:
    # get_type_hints drops Annotated constraints (artgan.kinds.Seed) at any depth: users read "int"
    annotation = typing.get_type_hints(type("Hint", (), {"__annotations__": {"x": annotation}}))["x"]
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("pathlib.", "")


def _plain(value):
    """A default as JSON-friendly data (paths and tuples become strings and lists)."""
    return json.loads(json.dumps(value, default=str))


def register(plugin: object, name: str | None = None, provenance: str = "in-process") -> str:
    """Register a plugin object (a module or anything with hookimpls); returns its name. One
    registered in-process again under its name (a notebook cell run again) replaces the earlier."""
    try:
        hash(plugin)
    except TypeError:
        raise ArtganError(f"{name or plugin}: a plugin must be hashable (a module, class or "
                          "ordinary object; not a SimpleNamespace)") from None
    _check_hooks(plugin, getattr(plugin, "__file__", None) or name or repr(plugin))
    if name is not None and pm.has_plugin(name):
        if _provenance.get(name) != "in-process" or provenance != "in-process":
            raise ArtganError(f"{name}: a plugin of this name is registered already ({_provenance.get(name)}); "
                              "register yours under another name")
        unregister(name)
    try:
        registered = pm.register(plugin, name=name)
    except ValueError:  # pluggy's message lists every plugin registered
        raise ArtganError(f"{name or plugin!r}: this plugin is registered already, under the name "
                          f"{pm.get_name(plugin)!r}") from None
    _provenance[registered] = provenance
    return registered


HOOKS = {name: list(inspect.signature(spec).parameters)
         for name, spec in vars(hookspecs).items() if hasattr(spec, f"{GROUP}_spec")}


def _check_hooks(plugin: object, where: str) -> None:
    """Refuse, in one line naming the plugin's file, a hook that artgan would never call
    (misspelt, or without @artgan.hookimpl) or could not call (an argument the hook lacks)."""
    for attr in dir(plugin):
        marked = pm.parse_hookimpl_opts(plugin, attr) is not None
        if not marked and attr not in HOOKS:
            continue
        function = getattr(plugin, attr, None)
        if not callable(function):
            continue
        if not marked:
            raise ArtganError(f"{where}: {attr} has no @artgan.hookimpl above it, so artgan never calls it; add it")
        if attr not in HOOKS:
            close = difflib.get_close_matches(attr, HOOKS, n=1)
            hint = f'did you mean "{close[0]}"' if close else "docs/plugin-hooks.md lists them"
            raise ArtganError(f"{where}: {attr} is not an artgan hook; {hint}?")
        taken = [p.name for p in inspect.signature(function).parameters.values()
                 if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        unknown = [arg for arg in taken if arg not in HOOKS[attr]]
        if unknown:
            raise ArtganError(f"{where}: {attr}({', '.join(taken)}): the hook gives no {', '.join(unknown)}; "
                              f"take any of {', '.join(HOOKS[attr])}, by these names")


def unregister(name: str) -> None:
    """Remove a plugin registered with :func:`register`."""
    pm.unregister(name=name)
    _provenance.pop(name, None)


_loaded_dirs: list[str] = []


def loaded_dirs() -> list[str]:
    """The loose plugin folders loaded so far (worker processes load them again)."""
    return list(_loaded_dirs)


def load_entry_points() -> None:
    """Register every plugin module published under the entry-point group "artgan"."""
    for ep in entry_points(group=GROUP):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown distribution"
        name = f"{ep.dist.name if ep.dist else '?'}:{ep.name}"
        if pm.get_plugin(name) is not None:
            continue
        try:
            register(ep.load(), name=name, provenance=dist)
        except Exception as exc:  # one broken plugin must not take the tool down
            print(f"artgan: plugin {name} ({ep.value}, {dist}) failed to load, so it is left out: "
                  f"{exc}; fix it, or pip uninstall {ep.dist.name if ep.dist else 'it'}", file=sys.stderr)


def load_plugins_dir(folder: str | os.PathLike) -> None:
    """Register every loose ``*.py`` file in ``folder`` as a plugin."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtganError(f"{folder}: plugins folder does not exist; pass an existing folder")
    if str(folder.resolve()) not in _loaded_dirs:
        _loaded_dirs.append(str(folder.resolve()))
    for path in sorted(folder.glob("*.py")):
        name = f"file:{path.resolve()}"
        if pm.get_plugin(name) is not None:
            continue
        spec = importlib.util.spec_from_file_location(f"artgan_loose_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # pydantic resolves annotations through sys.modules
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ArtganError(f"{path}: plugin file failed to import: {exc}") from exc
        register(module, name=name, provenance=f"loose file {path}")


def _trace(text: str) -> None:
    print(f"artgan trace: {text}", file=sys.stderr, flush=True)


def _short(value) -> str:
    """A value as the trace shows it: arrays and tensors by shape, anything else cut to a line."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__}{tuple(value.shape)} {value.dtype}"
    text = repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _trace_call(hook_name, hook_impls, kwargs):
    args = ", ".join(f"{key}={_short(value)}" for key, value in kwargs.items())
    callees = ", ".join(impl.plugin_name for impl in reversed(hook_impls)) or "no plugin"
    _trace(f"{hook_name}({args}) -> {callees}")


def _trace_result(outcome, hook_name, hook_impls, kwargs):
    if outcome.exception is not None:
        _trace(f"{hook_name} raised {outcome.exception!r}")
    else:
        _trace(f"{hook_name} returned {_short(outcome.get_result())}")


def collect(kind: str) -> dict[str, PluginInfo]:
    """Every plugin class of ``kind``, by name; a name registered twice is an error."""
    hook_name = REGISTER_HOOKS[kind]
    found: dict[str, PluginInfo] = {}
    # Call each implementation on its own, so a duplicate name can say who registered both.
    for impl in reversed(getattr(hooks(), hook_name).get_hookimpls()):
        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        provider = impl.plugin_name

        def add(name: str, cls: type[Plugin], provider=provider) -> None:
            if name in found:
                raise ArtganError(
                    f'{kind} plugin name "{name}" is registered twice: by {found[name].provider}'
                    f" and by {provider}; uninstall or rename one of them"
                )
            if not (isinstance(cls, type) and issubclass(cls, KINDS[kind])):
                raise ArtganError(
                    f'{provider}: {kind} "{name}" must be a subclass of artgan.{KINDS[kind].__name__}'
                )
            if not (isinstance(cls.Options, type) and issubclass(cls.Options, Options)):
                raise ArtganError(f'{provider}: the Options of {kind} "{name}" must be a subclass of artgan.Options, '
                                  "which checks a recipe's keys against them")
            found[name] = PluginInfo(name, kind, cls, provider, _provenance.get(provider, "?"))
            _loaded_code(cls)  # the code as it is now, when it is first registered
            if _tracing:
                _trace(f"  {provider} registered {kind} {name!r}: {cls.__module__}.{cls.__qualname__}")

        returned = pm.subset_hook_caller(hook_name, remove_plugins=others)(register=add)
        if returned:
            raise ArtganError(f"{provider}: {hook_name} returned {returned[0]!r:.80}, which artgan ignores; "
                              "call register(name, cls) for each plugin instead")
    return found


def get(kind: str, name: str) -> PluginInfo:
    """The plugin ``name`` of ``kind``; an unknown name suggests the closest known one."""
    plugins = collect(kind)
    if name in plugins:
        return plugins[name]
    close = difflib.get_close_matches(name, plugins, n=1, cutoff=0.5)
    hint = f'did you mean "{close[0]}"?' if close else "see `artgan plugins` for the list"
    raise ArtganError(f'unknown {kind} plugin "{name}"; {hint}')


def all_plugins() -> list[PluginInfo]:
    """Every registered plugin of every kind, sorted by kind then name."""
    return [info for kind in REGISTER_HOOKS for _, info in sorted(collect(kind).items())]


