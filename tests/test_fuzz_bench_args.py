"""`fastrnn bench` options that used to end in a traceback (each failed before its fix): --threads beyond a C int
(torch's "Overflow when unpacking long"), and a --chart path in a folder that does not exist (FileNotFoundError
after the whole benchmark had run). Both are now usage errors, before anything runs."""
import pytest

from fastrnn.benchmark import parse_args


@pytest.mark.parametrize("argv, message", [(["--threads", "99999999999"], "--threads must be at most"),
                                           (["--chart", "/nonexistent/folder/chart.png"], "folder does not exist")])
def test_bad_options_are_usage_errors_before_anything_runs(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_good_options_pass(tmp_path):
    args = parse_args(["--threads", "2", "--chart", str(tmp_path / "chart.png")])
    assert args.threads == 2
