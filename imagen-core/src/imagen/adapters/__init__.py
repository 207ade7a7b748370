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
stays off the path of ``imagen --help``; names are looked up on first use, so a plugin's light
module (its ``info`` class, its prices) that needs one helper does not load the whole kit.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Looked up on first use: a plugin's light module (its ``info``, its prices) that needs one
# helper does not pay for the whole kit (httpx-free as it is) on ``imagen backends``.
_EXPORTS = {
    "DOWNLOAD_POLICY": "imagen.adapters.api",
    "ErrorHook": "imagen.adapters.api",
    "Failure": "imagen.adapters.api",
    "HttpApi": "imagen.adapters.api",
    "bearer": "imagen.adapters.api",
    "body_message": "imagen.adapters.api",
    "error_for_status": "imagen.adapters.api",
    "header": "imagen.adapters.api",
    "json_object": "imagen.adapters.api",
    "json_or_none": "imagen.adapters.api",
    "ERROR_BODY_LIMIT": "imagen.adapters.http",
    "IMAGE_LIMIT": "imagen.adapters.http",
    "JSON_LIMIT": "imagen.adapters.http",
    "NO_RETRY": "imagen.adapters.http",
    "Deadline": "imagen.adapters.http",
    "DeadlineExceeded": "imagen.adapters.http",
    "ForeignOrigin": "imagen.adapters.http",
    "ResponseTooLarge": "imagen.adapters.http",
    "Retry": "imagen.adapters.http",
    "RetryPolicy": "imagen.adapters.http",
    "hint_in_text": "imagen.adapters.http",
    "make_client": "imagen.adapters.http",
    "retry_after_header": "imagen.adapters.http",
    "scrub": "imagen.adapters.http",
    "send": "imagen.adapters.http",
    "MAX_REF_BYTES": "imagen.adapters.images",
    "ImageInfo": "imagen.adapters.images",
    "decode_base64": "imagen.adapters.images",
    "decode_data_uri": "imagen.adapters.images",
    "inspect_image": "imagen.adapters.images",
    "is_data_uri": "imagen.adapters.images",
    "read_image_file": "imagen.adapters.images",
    "sniff_media_type": "imagen.adapters.images",
    "MEGAPIXEL": "imagen.adapters.sizes",
    "SizeChoice": "imagen.adapters.sizes",
    "UnreadableRatio": "imagen.adapters.sizes",
    "nearest_ratio": "imagen.adapters.sizes",
    "parse_ratio": "imagen.adapters.sizes",
    "snap_to_rules": "imagen.adapters.sizes",
    "snap_to_table": "imagen.adapters.sizes",
    "EventParser": "imagen.adapters.sse",
    "EventStream": "imagen.adapters.sse",
    "ServerEvent": "imagen.adapters.sse",
    "TakeProgress": "imagen.adapters.takes",
    "Takes": "imagen.adapters.takes",
    "run_takes": "imagen.adapters.takes",
    "describe_url": "imagen.adapters.text",
    "one_line": "imagen.adapters.text",
    "remote_text": "imagen.adapters.text",
    "Progress": "imagen.models",
}


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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'imagen.adapters' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
