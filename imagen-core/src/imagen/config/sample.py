"""``imagen config sample`` / ``init``: the core's commented sample with every plugin's blocks."""

from __future__ import annotations

import textwrap

CORE_HEAD = """\
# imagen configuration. Secrets never go here: name the environment variable that holds
# them with a *_env key (api_token_env: REPLICATE_API_TOKEN).
#
# The instance used when --backend is not given. "mock" is built in (offline placeholder).
default_backend: mock

output:
  directory: ~/Pictures/imagen
  # Fields: date time datetime slug seed n count backend model style hash width height,
  # with Python format specs ({seed:010d}); "/" makes sub-folders.
  naming: "{date}/{time}-{slug}-{seed}"
  write_metadata_json: true     # <image>.json beside each image
  embed_metadata: true          # prompt and settings inside PNGs (iTXt + A1111 parameters)
  preview: auto                 # auto | on | off (auto: only on a TTY inside tmux)
  cloud_sync: auto              # auto | on | off for every sink (IMAGEN_CLOUD_SYNC, --no-cloud)

history:
  enabled: true                 # record every take in a local SQLite file
  store_prompt: true            # false keeps only the prompt's sha256

# Your own style presets, merged over the built-in ones (see: imagen styles).
styles:
  my-style:
    prompt: "{prompt}, watercolor, soft light"
    negative: "text, watermark"
    aspect_ratio: "3:2"

server:
  host: 127.0.0.1
  port: 8750
  token_env: IMAGEN_SERVER_TOKEN
"""


def assemble_sample() -> str:
    """The full commented sample: core settings, then every installed backend and sink."""
    from imagen.plugins.loader import registry

    reg = registry()
    parts = [
        CORE_HEAD,
        "\n# Backend instances: name -> {type, ...the adapter's own settings...}\nbackends:\n",
    ]
    for kind in sorted(reg.backends.values(), key=lambda k: (k.type != "mock", k.type)):
        if kind.sample.strip():
            parts.append(textwrap.indent(kind.sample.rstrip() + "\n", "  ") + "\n")
    sinks = [
        sink for sink in sorted(reg.sinks.values(), key=lambda k: k.type) if sink.sample.strip()
    ]
    if sinks:
        parts.append(
            "# Sinks run after each take is on disk: name -> {type, enabled, ...}\nsinks:\n"
        )
        for sink in sinks:
            parts.append(textwrap.indent(sink.sample.rstrip() + "\n", "  ") + "\n")
    # One queue block is active (the built-in local one); other types' are shown commented.
    for queue in sorted(reg.queues.values(), key=lambda k: (k.type != "local", k.type)):
        if queue.sample.strip():
            sample = queue.sample.rstrip() + "\n"
            if queue.type != "local":
                sample = textwrap.indent(sample, "# ", lambda line: True)
            parts.append("\n" + sample)
    # Blocks plugins own (register_settings), each at the top level under its key.
    for block in sorted(reg.settings.values(), key=lambda k: k.key):
        if block.sample.strip():
            parts.append("\n" + block.sample.rstrip() + "\n")
    return "".join(parts).rstrip() + "\n"
