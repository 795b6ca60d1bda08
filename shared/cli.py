"""The `mockfarm` command: one click group, with commands contributed by each package.

Each package keeps its own commands next to its code (`compositor/cli.py` for
rendering and fidelity, `shared/stack.py` for the local stack, ...); this module only
gathers them, importing each lazily so that `mockfarm render` needs no service
libraries to be configured.
"""
from __future__ import annotations

import importlib

import click

# (module, attribute) of every command group or command to attach to `mockfarm`.
_COMMAND_SOURCES = [
    ("compositor.cli", "commands"),
    ("compositor.fixtures.cli", "commands"),
    ("compositor.bench", "commands"),
    ("shared.stack", "commands"),
    ("shared.bench_api", "commands"),
    ("shared.db", "commands"),
    ("shared.accounts", "commands"),
    ("shared.products", "commands"),
    ("workers.maintenance", "commands"),
    ("workers.bulkbench", "commands"),
]


@click.group()
def main() -> None:
    """mockfarm: a self-hosted render farm for Photoshop product mockups."""


def _attach_commands() -> None:
    for module_name, attribute in _COMMAND_SOURCES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # A package that has not grown commands yet; any other import error is real.
            if exc.name == module_name:
                continue
            raise
        for command in getattr(module, attribute):
            main.add_command(command)


_attach_commands()


if __name__ == "__main__":
    main()
