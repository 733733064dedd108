"""Print pip requirements that pin the given packages to the lowest release `pyproject.toml` admits.

`make test` runs the suite twice: on the newest releases the declared ranges admit (what a fresh install gets) and,
in a second environment, on these lowest ones. A lower bound is read from a `>=` or `==` clause.

    python scripts/lowest_requirements.py transformers  ->  transformers==5.23.0
"""

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement


def lowest_pins(names: list[str], pyproject: Path = Path(__file__).parents[1] / "pyproject.toml") -> list[str]:
    declared = {
        (requirement := Requirement(line)).name: requirement
        for line in tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    }
    pins = []
    for name in names:
        if name not in declared:
            raise SystemExit(f"{name!r} is not a dependency in {pyproject}.")
        bounds = [spec.version for spec in declared[name].specifier if spec.operator in (">=", "==")]
        if len(bounds) != 1:
            raise SystemExit(f"{declared[name]} needs exactly one `>=` or `==` bound to test its lowest release.")
        pins.append(f"{name}=={bounds[0]}")
    return pins


if __name__ == "__main__":
    print(" ".join(lowest_pins(sys.argv[1:])))
