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


limit_option = click.option("--limit", "limits", multiple=True, metavar="NAME=N",
                            help="Raise a safety limit (repeats, channels, kernel, stride, input_size, expansion, "
                                 "params, nodes).")


_ONE_SHOT = False   # netc runs as the program (main() without argv): the process ends with the command


@contextlib.contextmanager
def _gc_one_shot(active: bool = True) -> Iterator[None]:
    """Where the process ends with the model it builds, the cyclic GC would only re-scan that model, at each
    collection and again at exit (more than a second on a 10,000-block spec): pause it, then move what is
    alive to its permanent generation (``gc.freeze``). Called from Python (tests), nothing changes."""
    if not (_ONE_SHOT and active):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def _warn(checked) -> None:
    for w in checked.warnings:
        click.echo(render(w), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netc")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Compile tf_netbuilder-notation network specs (.net or YAML) to ONNX and Keras."""
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@limit_option
def summary(spec: str, as_json: bool, limits: tuple[str, ...]) -> None:
    """Layers, shapes, parameters and MACs of SPEC (no TensorFlow, no onnxruntime)."""
    from netc.compiler import check_spec
    from netc.semantic.summary import summary_data, summary_table
    with _gc_one_shot():
        checked = check_spec(spec, limits=_limits(limits))
        _warn(checked)
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
    click.echo(to_yaml(parsed) if target == "yaml" else to_net(parsed), nl=False)


def _format_for(out: str, fmt_opt: str | None) -> str:
    if fmt_opt:
        return fmt_opt
    low = out.lower()
    if low.endswith(".onnx"):
        return "onnx"
    if low.endswith(".keras"):
        return "keras"
    if low.endswith((".h5", ".npz", ".pb", ".tflite")):
        raise NetcError(f"cannot tell the format of `{out}`: use a `.onnx` or `.keras` file, a directory "
                        f"for a SavedModel, or `--format`")
    return "savedmodel"


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("-o", "--output", "out", required=True, help="model.onnx, model.keras, or a directory (SavedModel).")
@click.option("--format", "fmt_opt", type=click.Choice(["onnx", "keras", "savedmodel"]), default=None,
              help="Override the format chosen from OUT.")
@click.option("--via", type=click.Choice(["direct", "tf2onnx"]), default="direct", show_default=True,
              help="ONNX route: netc's own emitter, or Keras + tf2onnx.")
@click.option("--opset", type=click.IntRange(13, 21), default=17, show_default=True)
@click.option("--io-layout", type=click.Choice(["nchw", "nhwc"]), default="nchw", show_default=True,
              help="Layout of the ONNX model's inputs and outputs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the weight initialisation.")
@click.option("--weights", type=click.Path(), default=None,
              help="Trained weights: a tf_netbuilder checkpoint prefix or a netc .npz.")
@click.option("--external-data/--no-external-data", default=None,
              help="ONNX: weights in OUT.data beside OUT (ONNX external data). Default: only for models "
                   "past protobuf's 2 GiB limit.")
@limit_option
def build(spec: str, out: str, fmt_opt: str | None, via: str, opset: int, io_layout: str, seed: int,
          weights: str | None, limits: tuple[str, ...], external_data: bool | None = None) -> None:
    """Compile SPEC into OUT (ONNX, native Keras, or a TF SavedModel directory)."""
    from netc.compiler import compile as compile_model
    t0 = time.perf_counter()
    kind = _format_for(out, fmt_opt)
    if via == "tf2onnx" and kind != "onnx":
        raise NetcError("`--via tf2onnx` produces ONNX: give an `.onnx` output")
    if io_layout != "nchw" and kind != "onnx":
        raise NetcError("`--io-layout` applies to ONNX outputs only")
    if external_data and not (kind == "onnx" and via == "direct"):
        raise NetcError("`--external-data` applies to netc's own ONNX route only (`.onnx` output, `--via direct`)")
    direct = kind == "onnx" and via == "direct"
    with _gc_one_shot(active=direct):   # the other routes run TensorFlow: keep its collector
        model = compile_model(spec, seed=seed, weights=weights, limits=_limits(limits))
        _warn(model.checked)
        if direct:
            model.to_onnx(out, opset=opset, io_layout=io_layout, external_data=external_data)
    if via == "tf2onnx":
        from netc.backends.onnx_backend import save_onnx
        from netc.backends.tf2onnx_route import keras_to_onnx
        save_onnx(keras_to_onnx(model.to_keras(), opset=opset), out)
    elif kind == "keras":
        from netc.backends.keras_backend import save_keras
        save_keras(model.to_keras(), out)
    elif kind == "savedmodel":
        from netc.backends.keras_backend import export_savedmodel
        export_savedmodel(model.to_keras(), out)
    click.echo(f"wrote {out} ({kind}{', via tf2onnx' if via == 'tf2onnx' else ''}; "
               f"{model.checked.params:,} parameters) in {time.perf_counter() - t0:.2f} s", err=True)


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--weights", type=click.Path(), default=None, help="Trained weights (checkpoint prefix or .npz).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--atol", type=float, default=None, help="Absolute tolerance (default 1e-5 x max|reference|).")
@click.option("--rtol", type=float, default=1e-4, show_default=True,
              help="Tolerance on max|diff| / max|reference|.")
@click.option("--provider", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--all", "all_routes", is_flag=True, help="Also compare the tf2onnx route and the reloaded SavedModel.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@limit_option
def check(spec: str, weights: str | None, seed: int, atol: float | None, rtol: float, provider: str,
          all_routes: bool, as_json: bool, limits: tuple[str, ...]) -> None:
    """Build every backend from the same weights, run them on the same inputs, compare."""
    from netc.check import format_report, run_check
    report = run_check(spec, weights=weights, seed=seed, atol=atol, rtol=rtol, provider=provider,
                       all_routes=all_routes, limits=_limits(limits))
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report), nl=False)
    sys.exit(EXIT_OK if report["ok"] else EXIT_DIFF)


@cli.group()
def weights() -> None:
    """Work with trained weights."""


@weights.command("export")
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("--weights", "source", type=click.Path(), required=True, help="Checkpoint prefix or .npz.")
@click.option("-o", "--output", "out", required=True, help="The .npz file to write.")
@limit_option
def weights_export(spec: str, source: str, out: str, limits: tuple[str, ...]) -> None:
    """Write SPEC's weights from a checkpoint as a netc .npz (names and layouts in docs/weights.md)."""
    from netc.compiler import compile as compile_model
    from netc.weights.npz import save_npz
    model = compile_model(spec, weights=source, limits=_limits(limits))
    save_npz(model.checked.graph, model.weights, out)
    click.echo(f"wrote {out} ({len(model.weights)} arrays)", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps outcomes to exit codes; user errors never show a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")   # TensorFlow's start-up chatter, when it is imported
    global _ONE_SHOT
    _ONE_SHOT = argv is None
    try:
        cli.main(args=args, prog_name="netc", standalone_mode=False)
    except NetcError as err:
        click.echo(render_error(err), err=True)
        sys.exit(EXIT_USER)
    except click.exceptions.Abort:
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
        click.echo(f"netc: internal error: {type(err).__name__}: {err}. This is a bug in netc; please report it "
                   f"with the spec and command (run with --debug for the traceback).", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()
