"""``smspartner-etl simulator``: serve the SMS Partner simulator on loopback until Ctrl-C.

Auto-discovered by etl/cli/__init__.py through the module-level ``command``.
"""

from __future__ import annotations

from importlib import resources

import click

from etl.simulator import SimulatorServer
from etl.simulator.seedfile import build, load


@click.command("simulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (keep it on loopback).")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 picks a free one).")
@click.option("--seed-file", type=click.Path(exists=True, dir_okay=False), default=None, help="JSON or TOML seed file; default: the demo seed.")
@click.option("--api-key", default=None, help="Override the seed file's (fake) API key.")
@click.option("--frozen-clock", is_flag=True, help="Do not let simulated time follow wall time (drive it via /_sim/clock).")
def simulator_command(host: str, port: int, seed_file: str | None, api_key: str | None, frozen_clock: bool) -> None:
    """Run a fake SMS Partner API (a test double: its keys are not real secrets)."""
    if seed_file is None:
        spec = load(str(resources.files("etl.simulator").joinpath("demo_seed.json")))
    else:
        spec = load(seed_file)
    sim = build(spec, api_key=api_key)
    if frozen_clock:
        sim.clock.running = False
    server = SimulatorServer(sim, host=host, port=port)
    click.echo(f"SMS Partner simulator listening on {server.base_url}")
    click.echo(f"API key (fake, simulator only, not a real secret): {sim.api_key}")
    click.echo(f"Control endpoints: {server.control_url}/state (clock, faults, quirks, truth)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


command = simulator_command
