"""Test helpers for adapter authors.

    from imagen.testing import BackendContract

    class TestMyBackendContract(BackendContract):
        def make_backend(self):
            return MyBackend("test", MySettings(url=self.server_url))

Run it with pytest; every ``test_*`` method of ``BackendContract`` then runs against your
backend. The rest (aiohttp is needed only by the fake-server parts: ``imagen-core[testing]``):

- ``FakeServer`` (``imagen.testing.fakes``): the scaffold of a fake provider server, with an
  auth check, a queue of scripted faults, a record of calls and holds released by the test.
- ``serve_app`` (``imagen.testing.servers``): an aiohttp app on a real loopback socket in a
  background thread.
- ``ScratchHome``, ``run_imagen``, ``Ran`` (``imagen.testing.cli``): the real ``imagen``
  command as its own process, in a home, config and output folder of the test's own.
- ``sample_generation()`` (``imagen.testing.samples``): a finished take for hook and sink tests.
- ``imagen.testing.processes`` starts real server programs so that they die with the test run,
  even one killed by SIGKILL.
- ``WorkerBox``, ``worker_box``, ``eventually`` (``imagen.testing.workers``): real
  ``imagen worker`` processes on a queue, with a gate backend whose calls a test counts.
"""

from imagen.testing.cli import Ran, ScratchHome, run_imagen, scratch_env
from imagen.testing.contract import BackendContract
from imagen.testing.fakes import ANY, Call, FakeServer, Fault, FormField, Gate
from imagen.testing.samples import sample_generation
from imagen.testing.servers import serve_app

__all__ = [
    "ANY",
    "BackendContract",
    "Call",
    "FakeServer",
    "Fault",
    "FormField",
    "Gate",
    "Ran",
    "ScratchHome",
    "run_imagen",
    "sample_generation",
    "scratch_env",
    "serve_app",
]
