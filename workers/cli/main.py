"""``guardstream``: the command line of the whole system.

Heavy imports happen inside the commands, so ``--help`` answers at once.
"""

from __future__ import annotations

import typer

from workers.cli import audit, demo, dev, model, worker

app = typer.Typer(
    name="guardstream",
    help="Streaming moderation of live chat with Libra-Guard safeguard models served by Triton.\n\n"
    "Settings come from GUARDSTREAM_<SECTION>__<FIELD> environment variables or the YAML file named "
    "by GUARDSTREAM_CONFIG; defaults fit the local stack of `guardstream dev up`.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(dev.app, name="dev")
app.add_typer(model.app, name="model")
app.add_typer(audit.app, name="audit")
app.command("worker")(worker.run_worker)
app.command("demo")(demo.run_demo)


if __name__ == "__main__":
    app()
