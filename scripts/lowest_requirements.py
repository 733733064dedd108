"""Print pip requirements that pin the given packages to the lowest release echo_hf's requirements admit.

`make test` runs the suite twice: on the newest releases the declared ranges admit (what a fresh install gets) and,
in a second environment, on these lowest ones. The ranges are read from the installed package's metadata (made
from `pyproject.toml` by `pip install -e .`), extras included (`peft`, in `lora` and `dev`); a lower bound is a
`>=` or `==` clause, and a package declared more than once must have the same lower bound everywhere.

    python scripts/lowest_requirements.py transformers peft  ->  transformers==5.23 peft==0.18
"""

import sys
from importlib.metadata import requires

from packaging.requirements import Requirement


def lowest_pins(names: list[str]) -> list[str]:
    declared: dict[str, list[Requirement]] = {}
    for line in requires("echo_hf") or []:  # extras come as `peft>=0.18; extra == "lora"`
        requirement = Requirement(line)
        declared.setdefault(requirement.name, []).append(requirement)
    pins = []
    for name in names:
        if name not in declared:
            raise SystemExit(f"{name!r} is not a requirement of echo_hf (nor of its extras).")
        bounds = {
            requirement: [spec.version for spec in requirement.specifier if spec.operator in (">=", "==")]
            for requirement in declared[name]
        }
        if any(len(found) != 1 for found in bounds.values()):
            raise SystemExit(f"{declared[name]} need exactly one `>=` or `==` bound each to test the lowest release.")
        lowest = {found[0] for found in bounds.values()}
        if len(lowest) != 1:
            raise SystemExit(f"{name} is declared with different lower bounds {sorted(lowest)}: make them agree.")
        pins.append(f"{name}=={lowest.pop()}")
    return pins


if __name__ == "__main__":
    print(" ".join(lowest_pins(sys.argv[1:])))
