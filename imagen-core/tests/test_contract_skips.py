"""The contract suite reports a test it could not run as skipped, naming the missing hook:
an adapter that lacks ``make_slow_backend`` or ``make_backend_for`` must not see it passed."""

from __future__ import annotations

import pytest

from imagen.testing import BackendContract


class WithoutOptionalHooks(BackendContract):
    """Only ``make_backend``, which the tests below never reach."""


@pytest.mark.parametrize(
    ("test", "hook"),
    [
        ("test_cancellation_leaves_no_task_or_connection_behind", "make_slow_backend"),
        ("test_http_failures_map_to_framework_errors", "make_backend_for"),
    ],
)
def test_a_contract_test_without_its_hook_is_skipped_naming_the_hook(test: str, hook: str) -> None:
    with pytest.raises(pytest.skip.Exception, match=hook):
        getattr(WithoutOptionalHooks(), test)()
