"""The `netc` command line. Exit codes: 0 ok, 1 `check` found differences, 2 user error, 3 internal error."""
from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import time
from typing import Iterator

import click

from netc.diagnostics import NetcError, render, render_error

EXIT_OK, EXIT_DIFF, EXIT_USER, EXIT_INTERNAL = 0, 1, 2, 3


def _limits(pairs: tuple[str, ...]):
    from netc.registry import Limits
    limits = Limits()
    for pair in pairs:
        name, _, value = pair.partition("=")
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            raise click.BadParameter(f"expected NAME=INTEGER, found `{pair}`", param_hint="--limit")
        limits = limits.raised(name.strip(), int(value))
    return limits


map_option = click.option("--map", "weights_map", type=click.Path(dir_okay=False), default=None,
                          help="YAML map pinning spec ops to a Keras model's layers or a PyTorch checkpoint's modules "
                               "(see `weights match`).")
subtree_option = click.option("--subtree", default=None, metavar="NAME",
                              help="The object of a TF checkpoint holding the model (a detector's `backbone`); "
                                   "default: the one subtree that fits the spec.")

limit_option = click.option("--limit", "limits", multiple=True, metavar="NAME=N",
                            help="Raise a safety limit (repeats, channels, kernel, stride, input_size, expansion, "
                                 "params, nodes).")



def plugin_option(fn):
    """`--plugin FILE.py` (repeatable): load a plugin of user blocks for this command's compilation."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, plugins: tuple[str, ...] = (), **kwargs):
        from netc.plugins import named
        with named(plugins):
            return fn(*args, **kwargs)
    return click.option("--plugin", "plugins", multiple=True, metavar="FILE.py",
                        help="Load a plugin registering user blocks, ops or modules (repeatable).")(wrapper)


def quiet_option(fn):
    """`--quiet`: no progress line. Long work shows one on stderr only when stderr is a terminal (netc/progress.py)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, quiet: bool = False, **kwargs):
        from netc import progress
        with progress.shown(quiet):
            return fn(*args, **kwargs)
    return click.option("--quiet", "-q", is_flag=True,
                        help="No progress line on stderr (shown only when stderr is a terminal).")(wrapper)


deploy_option = click.option("--deploy", is_flag=True,
                             help="Deploy-time form: every BN folded into its conv, RepVGG branches fused "
                                  "into one 3x3 conv.")


def _one_shot() -> bool:
    """netc runs as the program (``main()`` without argv): the process ends with the command. Kept in the
    click context of this call, so commands run from Python (tests, threads) are unaffected."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and (ctx.find_root().obj or {}).get("one_shot"))


@contextlib.contextmanager
def _gc_one_shot(active: bool = True) -> Iterator[None]:
    """Where the process ends with the model it builds, the cyclic GC would only re-scan that model, at each
    collection and again at exit (more than a second on a 10,000-block spec): pause it, then move what is
    alive to its permanent generation (``gc.freeze``). Called from Python (tests), nothing changes."""
    if not (active and _one_shot()):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _warn(checked) -> None:
    if checked.warnings:
        from netc import progress
        progress.clear()
    for w in checked.warnings:
        click.echo(render(w, {checked.spec.file: checked.spec.lines}), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netc")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Compile tf_netbuilder-notation network specs (.net or YAML) to ONNX and Keras."""
    ctx.obj = {**(ctx.obj or {}), "debug": debug}


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@deploy_option
@limit_option
@plugin_option
def summary(spec: str, as_json: bool, deploy: bool, limits: tuple[str, ...]) -> None:
    """Layers, shapes, parameters and MACs of SPEC (no TensorFlow, no onnxruntime)."""
    from netc.compiler import check_spec
    from netc.semantic.summary import deployed, summary_data, summary_table
    with _gc_one_shot():
        checked = check_spec(spec, limits=_limits(limits))
        _warn(checked)
        if deploy:
            checked = deployed(checked)
        if as_json:
            click.echo(json.dumps(summary_data(checked), indent=2))
        else:
            click.echo(summary_table(checked), nl=False)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--to", "target", type=click.Choice(["net", "yaml"]), default="net", show_default=True,
              help="Output form.")
def fmt(spec: str, target: str) -> None:
    """Print SPEC (either form) in canonical `.net` or YAML form."""
    from netc.frontends.fmt import to_net, to_yaml
    from netc.frontends.load import load_spec
    parsed = load_spec(spec)
    if parsed.modular is not None:   # the modular YAML form prints as itself, whatever `--to` says
        from netc.frontends.modular import to_modular_yaml
        click.echo(to_modular_yaml(parsed.modular), nl=False)
        return
    click.echo(to_yaml(parsed) if target == "yaml" else to_net(parsed), nl=False)


def _format_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--format NAME`: one of the backends' names (checked here, listed in the error)."""
    from netc.backends import BACKENDS
    if value is not None and value not in BACKENDS:
        raise click.BadParameter(f"`{value}` is no format; choose one of {', '.join(BACKENDS)}")
    return value


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("-o", "--output", "out", required=True,
              help="model.onnx, model.keras, model.py (PyTorch, + model.safetensors), model.pt2 (torch.export), "
                   "or a directory (SavedModel).")
@click.option("--format", "fmt_opt", default=None, metavar="NAME", callback=_format_option,
              help="Override the format chosen from OUT: a backend's name (onnx, keras, savedmodel, torch, "
                   "torch-export, tf2onnx).")
@click.option("--via", default="direct", show_default=True, metavar="ROUTE",
              help="Another route to OUT's format: `tf2onnx` (Keras + tf2onnx) for ONNX.")
@click.option("--opset", type=click.IntRange(13, 21), default=17, show_default=True)
@click.option("--io-layout", type=click.Choice(["nchw", "nhwc"]), default="nchw", show_default=True,
              help="Layout of the ONNX or PyTorch model's image inputs and outputs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the weight initialisation.")
@click.option("--weights", type=click.Path(), default=None,
              help="Trained weights: a tf_netbuilder checkpoint prefix, a netc .npz, a Keras model "
                   "(.keras, .weights.h5, .h5, SavedModel directory), or a PyTorch checkpoint (.pth, .pt, "
                   ".safetensors).")
@map_option
@subtree_option
@deploy_option
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True,
              help="ONNX weights and compute: float16, or int8 (static QDQ quantization, per-channel weights).")
@click.option("--io-dtype", type=click.Choice(["float32", "float16"]), default="float32", show_default=True,
              help="Inputs/outputs of an fp16 model.")
@click.option("--calibrate", type=click.IntRange(1, 100000), default=None, metavar="N",
              help="int8: calibrate on N inputs drawn like `check`'s (default 16), or the first N files of "
                   "--calibration-data.")
@click.option("--calibration-data", type=click.Path(), default=None, metavar="DIR",
              help="int8: calibrate on the .npy / image files of DIR (raw pixels, resized to the input size).")
@click.option("--serve", type=click.Choice(["triton", "tf-serving"]), default=None,
              help="Write a serving layout into the directory OUT: a Triton model repository or a TF Serving "
                   "model base path.")
@click.option("--name", default=None, help="Served model name (default: the spec file's name).")
@click.option("--max-batch-size", type=click.IntRange(0, 1 << 20), default=8, show_default=True,
              help="Triton's max_batch_size (0: no batching).")
@click.option("--external-data/--no-external-data", default=None,
              help="ONNX: weights in OUT.data beside OUT (ONNX external data). Default: only for models "
                   "past protobuf's 2 GiB limit.")
@limit_option
@plugin_option
@quiet_option
def build(spec: str, out: str, fmt_opt: str | None, via: str, opset: int, io_layout: str, seed: int,
          weights: str | None, weights_map: str | None, subtree: str | None, deploy: bool, precision: str,
          io_dtype: str, calibrate: int | None, calibration_data: str | None, serve: str | None, name: str | None,
          max_batch_size: int, limits: tuple[str, ...], external_data: bool | None = None) -> None:
    """Compile SPEC into OUT (ONNX, native Keras, or a TF SavedModel directory)."""
    from netc.backends import backend_for, route, via_backend
    from netc.compiler import compile as compile_model
    t0 = time.perf_counter()
    _weights_options(weights, weights_map, subtree)
    if serve is not None or precision != "fp32" or io_dtype != "float32" or calibrate or calibration_data:
        from netc.deploy.build import build as deploy_build, check_request
        if fmt_opt is not None:
            raise NetcError("`--format` does not go with --precision / --serve")
        other = None if via == "direct" else via_backend(via)   # another route to ONNX (`--via`)
        check_request(spec, out, serve=serve, name=name, route=other, precision=precision, io_dtype=io_dtype,
                      calibrate=calibrate, calibration_data=calibration_data, io_layout=io_layout)
        if other is not None:
            other.require(f"`--via {via}`")
        model = compile_model(spec, seed=seed, weights=weights, limits=_limits(limits), weights_map=weights_map,
                              weights_subtree=subtree)
        _warn(model.checked)
        wrote = deploy_build(model, spec, out, serve=serve, name=name, max_batch_size=max_batch_size, route=other,
                             precision=precision, io_dtype=io_dtype, calibrate=calibrate,
                             calibration_data=calibration_data, opset=opset, io_layout=io_layout, seed=seed,
                             deploy=deploy)
        click.echo(f"wrote {wrote} ({serve or 'onnx'}, {precision}; {model.checked.params:,} parameters) "
                   f"in {time.perf_counter() - t0:.2f} s", err=True)
        return
    backend = route(backend_for(out, fmt_opt), via)
    from netc.backends.options import backend_options
    options = backend_options(backend, {"opset": opset, "io_layout": io_layout, "external_data": external_data})
    backend.check_target(out)
    backend.require(f"`-o {os.path.basename(out) or out}` (the {backend.name} backend)")
    with _gc_one_shot(active=backend.requires is None):   # heavy frameworks keep their GC
        model = compile_model(spec, seed=seed, weights=weights, limits=_limits(limits), weights_map=weights_map,
                              weights_subtree=subtree)
        _warn(model.checked)
        model.save(out, backend=backend.name, deploy=deploy, **options)
    params = model.checked.params
    if deploy:   # the artifact's own count: BNs folded into convs, RepVGG branches fused
        from netc.semantic.summary import deployed
        params = deployed(model.checked).params
    click.echo(f"wrote {out} ({backend.route_of or backend.name}"
               f"{f', via {backend.name}' if backend.route_of else ''}"
               f"{', deployed' if deploy else ''}; {params:,} parameters) in "
               f"{time.perf_counter() - t0:.2f} s", err=True)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--weights", type=click.Path(), default=None,
              help="Trained weights (checkpoint prefix, .npz, or a Keras model: then it is a column too).")
@map_option
@subtree_option
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--atol", type=float, default=None, help="Also require max|diff| <= ATOL (default: no absolute bound, only --rtol).")
@click.option("--rtol", type=float, default=None,
              help="Tolerance on max|diff| / max|reference| (default: max(1e-4, 3x the reference's float32 noise, "
                   "measured by running the Keras reference in float32 and in float64)).")
@click.option("--provider", type=click.Choice(["cpu", "cuda", "tensorrt"]), default="cpu", show_default=True,
              help="onnxruntime execution provider of the ONNX routes (cuda/tensorrt: also compared to the CPU run).")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp32", show_default=True,
              help="Also check the fp16 / int8 artifact against the float32 reference (tolerances: docs/deploy.md).")
@click.option("--calibrate", type=click.IntRange(1, 100000), default=None, metavar="N",
              help="int8: calibration inputs (default 16).")
@click.option("--all", "all_routes", is_flag=True,
              help="Also compare the tf2onnx route, the reloaded SavedModel and the .pt2 program.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--deploy", is_flag=True,
              help="Also compare the deployed ONNX, Keras and PyTorch models (BNs folded, RepVGG branches "
                   "fused) against the training-form Keras model.")
@limit_option
@plugin_option
@quiet_option
def check(spec: str, weights: str | None, weights_map: str | None, subtree: str | None, seed: int,
          atol: float | None, rtol: float | None, provider: str, precision: str, calibrate: int | None,
          all_routes: bool, as_json: bool, deploy: bool,
          limits: tuple[str, ...]) -> None:
    """Build every backend from the same weights, run them on the same inputs, compare."""
    from netc.check import format_report, run_check
    _weights_options(weights, weights_map, subtree)
    from netc.deploy.providers import require
    require(provider)   # before any model is built: a missing provider is the user's to fix (exit 2)
    report = run_check(spec, weights=weights, seed=seed, atol=atol, rtol=rtol, provider=provider,
                       all_routes=all_routes, deploy=deploy, limits=_limits(limits), weights_map=weights_map,
                       weights_subtree=subtree,
                       precision=precision, calibrate=calibrate)
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report), nl=False)
    sys.exit(EXIT_OK if report["ok"] else EXIT_DIFF)


def _weights_options(weights: str | None, weights_map: str | None, subtree: str | None) -> None:
    """`--map` and `--subtree` say how to read `--weights`: without it they would be silently ignored."""
    for flag, value in (("--map", weights_map), ("--subtree", subtree)):
        if value is not None and weights is None:
            raise NetcError(f"`{flag} {value}` says how to read trained weights, but no `--weights` is given")


@cli.group()
def weights() -> None:
    """Work with trained weights."""


@weights.command("export")
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--weights", "source", type=click.Path(), required=True,
              help="Checkpoint prefix, .npz, Keras model (.keras, .weights.h5, .h5, SavedModel directory), or "
                   "PyTorch checkpoint (.pth, .pt, .safetensors).")
@click.option("-o", "--output", "out", required=True, help="The .npz file to write.")
@map_option
@subtree_option
@limit_option
@plugin_option
def weights_export(spec: str, source: str, out: str, weights_map: str | None, subtree: str | None,
                   limits: tuple[str, ...]) -> None:
    """Write SPEC's weights from any source as a netc .npz (names and layouts in docs/weights.md)."""
    from netc.atomic import check_target
    from netc.compiler import compile as compile_model
    from netc.weights.npz import save_npz
    check_target(out)
    model = compile_model(spec, weights=source, limits=_limits(limits), weights_map=weights_map,
                              weights_subtree=subtree)
    save_npz(model.checked.graph, model.weights, out)
    click.echo(f"wrote {out} ({len(model.weights)} arrays)", err=True)


@weights.command("match")
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--from", "source", type=click.Path(), required=True,
              help="A PyTorch checkpoint (.pth, .pt, .safetensors), or the Keras model: .keras, legacy .h5, "
                   ".weights.h5, a SavedModel directory, or a TF checkpoint "
                   "of a Keras model.")
@map_option
@subtree_option
@click.option("--write-map", "write_map", type=click.Path(dir_okay=False), default=None,
              help="Write the pairing found as a YAML map file, to review and keep.")
@click.option("--json", "as_json", is_flag=True, help="Print the pairing as JSON.")
@limit_option
@plugin_option
@quiet_option
def weights_match(spec: str, source: str, weights_map: str | None, subtree: str | None, write_map: str | None,
                  as_json: bool, limits: tuple[str, ...]) -> None:
    """Pair SPEC's weights with a Keras model's layers (or a TF checkpoint's, or a PyTorch checkpoint's
    modules), and print the pairing and the evidence of each pair."""
    from netc.compiler import check_spec, sources_of
    from netc.weights.keras_match import format_pairing, write_map as save_map
    from netc.weights.sources import pair_source
    from netc import progress
    progress.step(f"checking {spec}")
    checked = check_spec(spec, limits=_limits(limits))
    _warn(checked)
    progress.step(f"reading {source} and pairing its layers")
    with sources_of(checked.spec):   # errors at a spec line print it with a caret
        pairing = pair_source(checked, source, weights_map, subtree)
        progress.step(f"reading the paired weights of {source}")
        pairing.values()   # every variable readable and of the right size
    progress.clear()
    for w in pairing.warnings:
        click.echo(render(w), err=True)
    if as_json:
        click.echo(json.dumps({"source": source, "format": pairing.source.kind,
                               "by": "structure" if pairing.source.topology else "order",
                               "evidence": pairing.evidence_counts(), "weights": pairing.rows()}, indent=2))
    else:
        click.echo(format_pairing(pairing), nl=False)
    if write_map:
        save_map(pairing, write_map)
        click.echo(f"wrote {write_map} ({len(pairing.pairs)} pairs)", err=True)


@cli.command()
@click.option("--stdio", is_flag=True, help="Talk over stdin/stdout (the default and only transport).")
@click.option("--plugin", "plugins", multiple=True, metavar="FILE.py", help="Load a plugin for every document.")
def lsp(stdio: bool, plugins: tuple[str, ...]) -> None:
    """Language server for editors (LSP over stdio): live errors, shapes, completion, navigation."""
    from netc.lsp import serve
    serve(plugins)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps outcomes to exit codes; user errors never show a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    from netc.optional import quiet_tensorflow
    quiet_tensorflow()   # before any command imports TensorFlow
    try:
        cli.main(args=args, prog_name="netc", standalone_mode=False, obj={"one_shot": argv is None})
    except NetcError as err:
        click.echo(render_error(err), err=True)
        sys.exit(EXIT_USER)
    except click.exceptions.Abort as err:
        if isinstance(err.__cause__, EOFError) and not debug:   # click turns any EOFError into Abort: a bug
            _internal(err.__cause__)
        if isinstance(err.__cause__, EOFError):
            raise err.__cause__ from None
        click.echo("aborted", err=True)
        sys.exit(EXIT_USER)
    except click.ClickException as err:
        err.show()
        sys.exit(EXIT_USER)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException as err:  # noqa: BLE001 - netc's own bugs
        if debug:
            raise
        _internal(err)
    sys.exit(EXIT_OK)


def _internal(err: BaseException) -> None:
    click.echo(f"netc: internal error: {type(err).__name__}: {err}. This is a bug in netc; please report it "
               f"with the spec and command (run with --debug for the traceback).", err=True)
    sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":  # pragma: no cover
    main()
