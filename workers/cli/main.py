"""``guardstream``: the command line of the whole system.

Heavy imports happen inside the commands, so ``--help`` answers at once. The dev tooling's commands
(``dev``, ``bench``, ``chaos``, ``demo``, ``guard``) come from ``devtools`` as entry points (plugins.py).
"""

from __future__ import annotations

import typer

from workers.cli import (
    analysis,
    audit,
    escalate,
    explain,
    model,
    model_versions,
    policy,
    review,
    stream_worker,
    train,
    worker,
)
from workers.cli import eval as eval_cli
from workers.cli.plugins import CommandLine, add_plugin_commands

app = typer.Typer(
    name="guardstream",
    help="Streaming moderation of live chat with Libra-Guard safeguard models served by Triton.\n\n"
    "Settings come from GUARDSTREAM_<SECTION>__<FIELD> environment variables or the YAML file named "
    "by GUARDSTREAM_CONFIG; defaults fit the local stack of `guardstream dev up`.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=CommandLine,
)
for name, command in (
    ("list", model_versions.list_versions),
    ("load", model_versions.load_version),
    ("smoke", model_versions.smoke_version),
    ("promote", model_versions.promote_version),
    ("rollback", model_versions.rollback_version),
    ("retire", model_versions.retire_version),
    ("restore", model_versions.restore_versions),
):
    model.app.command(name)(command)
app.add_typer(model.app, name="model")
app.add_typer(audit.app, name="audit")
app.command("explain")(explain.explain_event)
app.add_typer(review.app, name="review")
app.add_typer(escalate.app, name="escalate")
app.command("worker")(worker.run_worker)
app.command("stream-worker")(stream_worker.run_stream_worker)
app.command("analysis")(analysis.run_analysis)
app.add_typer(train.app, name="train")
app.add_typer(policy.app, name="policy")
app.command("eval")(eval_cli.run_eval)
add_plugin_commands(app)


if __name__ == "__main__":
    app()
