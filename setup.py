"""Installs the top-level cli.py as matcalc/cli.py (pyproject.toml holds the metadata)."""
from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCli(build_py):
    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        if package == "matcalc":
            modules.append(("matcalc", "cli", "cli.py"))
        return modules


setup(cmdclass={"build_py": BuildPyWithCli})
