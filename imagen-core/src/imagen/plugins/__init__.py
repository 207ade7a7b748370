"""Plugins: the hook specs (:mod:`.hookspecs`, with ``hookimpl``), the plugin manager and the
merged registry of what plugins registered (:mod:`.loader`, :mod:`.registry`), the cached
entry points (:mod:`.entrypoints`), calling the per-take hooks safely (:mod:`.hookcalls`) and
imagen's own parts, registered through the same hooks (:mod:`.builtin`).

Plugins mark their hook functions with ``imagen.hookimpl``.
"""
