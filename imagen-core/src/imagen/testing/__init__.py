"""Test helpers for adapter authors: the backend contract suite and a local server runner.

    from imagen.testing import BackendContract

    class TestMyBackendContract(BackendContract):
        def make_backend(self):
            return MyBackend("test", MySettings(url=self.server_url))

Run it with pytest; every ``test_*`` method of ``BackendContract`` then runs against your
backend. ``imagen.testing.servers.serve_app`` starts an aiohttp app on a real loopback socket
in a background thread for fake provider servers (needs ``imagen-core[testing]``).
``imagen.testing.processes`` starts real server programs so that they die with the test run,
even one killed by SIGKILL.
"""

from imagen.testing.contract import BackendContract

__all__ = ["BackendContract"]
