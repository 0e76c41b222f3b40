"""Package discovery that pyproject.toml cannot express on its own.

The backends, the specs and the examples live at the top of the repository (DESIGN.md's layout) but install
inside the package as refjit.backends.*, refjit.specs and refjit.examples; every package below those folders is
found automatically, so a new module folder never goes missing from the wheel.
"""

from setuptools import find_packages, setup

packages = find_packages(include=["refjit", "refjit.*"])
packages += ["refjit.backends"] + [f"refjit.backends.{p}" for p in find_packages("backends")]
packages += ["refjit.specs", "refjit.examples"]

setup(
    packages=packages,
    package_dir={"refjit": "refjit", "refjit.backends": "backends", "refjit.specs": "specs",
                 "refjit.examples": "examples"},
)
