"""Print pip requirements that pin the given packages to the lowest release echo_hf's requirements admit.

`make test` runs the suite twice: on the newest releases the declared ranges admit (what a fresh install gets) and,
in a second environment, on these lowest ones. The ranges are read from the installed package's metadata (made
from `pyproject.toml` by `pip install -e .`); a lower bound is a `>=` or `==` clause.

    python scripts/lowest_requirements.py transformers  ->  transformers==5.23
"""

import sys
from importlib.metadata import requires

from packaging.requirements import Requirement


def lowest_pins(names: list[str]) -> list[str]:
    declared = {(requirement := Requirement(line)).name: requirement for line in requires("echo_hf") or []}
    pins = []
    for name in names:
        if name not in declared:
            raise SystemExit(f"{name!r} is not a requirement of echo_hf.")
        bounds = [spec.version for spec in declared[name].specifier if spec.operator in (">=", "==")]
        if len(bounds) != 1:
            raise SystemExit(f"{declared[name]} needs exactly one `>=` or `==` bound to test its lowest release.")
        pins.append(f"{name}=={bounds[0]}")
    return pins


if __name__ == "__main__":
    print(" ".join(lowest_pins(sys.argv[1:])))
