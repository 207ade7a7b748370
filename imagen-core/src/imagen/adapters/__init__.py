"""The adapter toolkit: what every backend needs and none should write again.

One import gives an adapter author the whole kit (documented in ``docs/writing-plugins.md``)::

    from imagen.adapters import HttpApi, Deadline, Retry, RetryPolicy, bearer, inspect_image

- **Sending and mapping** (``imagen.adapters.api``): :class:`HttpApi` sends within the take's
  :class:`Deadline`, retries per a declared :class:`RetryPolicy`, keeps keys on their origin,
  bounds bodies, and maps HTTP failures to imagen's errors after the adapter's own ``errors``
  hook has had its say; ``stream`` reads server-sent events as they arrive (``ServerEvent``),
  ``download`` fetches an image URL from an answer with the key kept on its origin.
- **The HTTP layer underneath** (``imagen.adapters.http``): ``make_client``, ``send``, ``Retry``,
  ``RetryPolicy``, ``Deadline``, the body limits.
- **Remote text** (``imagen.adapters.text``): :func:`remote_text` scrubs, flattens, escapes and
  cuts a provider's message, in that order.
- **Images in and out** (``imagen.adapters.images``): media type and size from a header,
  base64 and ``data:`` URIs, image files read with a limit.
- **Sizes** (``imagen.adapters.sizes``): snap a request to a size table or to size rules
  (multiples, ratio, long edge, pixel range), recording what changed.
- **Takes** (``imagen.adapters.takes``): :func:`run_takes` runs several takes of one request
  together, their progress added up.
- **Progress** is :class:`imagen.models.Progress` itself: it never goes backwards and a failing
  callback never stops a generation, so an adapter calls ``progress.update`` directly.

Everything here imports without httpx, Pillow or asyncio, so a backend module that uses it
stays off the path of ``imagen --help``.
"""

from imagen.adapters.api import (
    DOWNLOAD_POLICY,
    ErrorHook,
    Failure,
    HttpApi,
    bearer,
    body_message,
    error_for_status,
    header,
    json_object,
    json_or_none,
)
from imagen.adapters.http import (
    ERROR_BODY_LIMIT,
    IMAGE_LIMIT,
    JSON_LIMIT,
    NO_RETRY,
    Deadline,
    DeadlineExceeded,
    ForeignOrigin,
    ResponseTooLarge,
    Retry,
    RetryPolicy,
    hint_in_text,
    make_client,
    retry_after_header,
    scrub,
    send,
)
from imagen.adapters.images import (
    MAX_REF_BYTES,
    ImageInfo,
    decode_base64,
    decode_data_uri,
    inspect_image,
    is_data_uri,
    read_image_file,
    sniff_media_type,
)
from imagen.adapters.sizes import (
    MEGAPIXEL,
    SizeChoice,
    UnreadableRatio,
    nearest_ratio,
    parse_ratio,
    snap_to_rules,
    snap_to_table,
)
from imagen.adapters.sse import EventParser, EventStream, ServerEvent
from imagen.adapters.takes import TakeProgress, Takes, run_takes
from imagen.adapters.text import describe_url, one_line, remote_text
from imagen.models import Progress

__all__ = [
    "DOWNLOAD_POLICY",
    "ERROR_BODY_LIMIT",
    "IMAGE_LIMIT",
    "JSON_LIMIT",
    "MAX_REF_BYTES",
    "MEGAPIXEL",
    "NO_RETRY",
    "Deadline",
    "DeadlineExceeded",
    "ErrorHook",
    "EventParser",
    "EventStream",
    "Failure",
    "ForeignOrigin",
    "HttpApi",
    "ImageInfo",
    "Progress",
    "ResponseTooLarge",
    "Retry",
    "RetryPolicy",
    "ServerEvent",
    "SizeChoice",
    "TakeProgress",
    "Takes",
    "UnreadableRatio",
    "bearer",
    "body_message",
    "decode_base64",
    "decode_data_uri",
    "describe_url",
    "error_for_status",
    "header",
    "hint_in_text",
    "inspect_image",
    "is_data_uri",
    "json_object",
    "json_or_none",
    "make_client",
    "nearest_ratio",
    "one_line",
    "parse_ratio",
    "read_image_file",
    "remote_text",
    "retry_after_header",
    "run_takes",
    "scrub",
    "send",
    "snap_to_rules",
    "snap_to_table",
    "sniff_media_type",
]
