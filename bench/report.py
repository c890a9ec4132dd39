"""The benchmark report (`python bench/report.py --help`); the same as `python -m fastrnn bench`."""
import sys

from fastrnn.benchmark import main

sys.exit(main())
