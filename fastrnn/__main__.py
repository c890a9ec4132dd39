"""Command line: `python -m fastrnn demo | bench | inspect FILE | convert FILE OUT` (also installed as `fastrnn`)."""
import argparse
import sys

from . import __version__


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:   # its options go to the benchmark's own parser, untouched
        from .benchmark import main as bench_main
        return bench_main(argv[1:])
    if argv[:1] == ["demo"]:    # likewise for the demo's options
        from .demo import main as demo_main
        return demo_main(argv[1:])
    parser = argparse.ArgumentParser(prog="fastrnn", description=__doc__)
    parser.add_argument("--version", action="version", version=f"fastrnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="generate text with a shipped character LM and time fastrnn against naive "
                                     "NumPy, torch and ONNX Runtime (options: fastrnn demo --help)")
    commands.add_parser("bench", help="time fastrnn against naive NumPy, torch and ONNX Runtime "
                                      "(options: fastrnn bench --help)")
    inspect = commands.add_parser("inspect", help="list the tensors and recurrent layers of a weights file")
    inspect.add_argument("file")
    convert = commands.add_parser("convert", help="convert a weights file (.pt, .npz, ...) to safetensors")
    convert.add_argument("file")
    convert.add_argument("out")
    args = parser.parse_args(argv)
    from .io import cli
    if args.command == "inspect":
        return cli.inspect_main(args.file)
    return cli.convert_main(args.file, args.out)


if __name__ == "__main__":
    sys.exit(main())
