"""The built-in ``command`` and ``webhook`` sink types, registered like any plugin's sinks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    from imagen.plugins.registry import SinkRegister


@hookimpl
def register_sinks(register: SinkRegister) -> None:
    from imagen.sinks.builtin import (
        COMMAND_SAMPLE,
        WEBHOOK_SAMPLE,
        CommandSettings,
        CommandSink,
        WebhookSettings,
        WebhookSink,
    )

    register("command", CommandSink, CommandSettings, sample=COMMAND_SAMPLE)
    register("webhook", WebhookSink, WebhookSettings, sample=WEBHOOK_SAMPLE)
