"""Encoder for the AWS event-stream binary framing (`application/vnd.amazon.eventstream`).

Wire format (all integers big-endian):

    total length u32 | headers length u32 | prelude CRC32 (of the 8 bytes before it)
    headers: name length u8, name (utf-8), value type u8, value
    payload
    message CRC32 (of every byte before it)

Only the encoder lives here; tests check it with botocore's own decoder
(`botocore.eventstream.EventStreamBuffer`).
"""

from __future__ import annotations

import json
import struct
from binascii import crc32
from collections.abc import Mapping
from typing import Any

HeaderValue = str | bytes | bool | int

_PRELUDE = struct.Struct(">II")
_U32 = struct.Struct(">I")

# Header value type tags from the event-stream specification.
_BOOL_TRUE, _BOOL_FALSE, _INT32, _INT64, _BYTES, _STRING = 0, 1, 4, 5, 6, 7

# Bedrock pads event payloads with a "p" key so that message sizes do not leak the
# length of the generated text; clients must ignore it. We do the same, so a client
# that chokes on unknown keys fails here rather than against AWS.
_PAD_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    if len(raw_name) > 255:
        raise ValueError(f"header name too long: {name!r}")
    out = bytes([len(raw_name)]) + raw_name
    if isinstance(value, bool):  # before int: bool is an int subclass
        return out + bytes([_BOOL_TRUE if value else _BOOL_FALSE])
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return out + bytes([_INT32]) + struct.pack(">i", value)
        return out + bytes([_INT64]) + struct.pack(">q", value)
    raw = value if isinstance(value, bytes) else value.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise ValueError(f"header value too long for {name!r}")
    kind = _BYTES if isinstance(value, bytes) else _STRING
    return out + bytes([kind]) + struct.pack(">H", len(raw)) + raw


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One complete event-stream message: prelude, headers, payload and both CRCs."""
    raw_headers = b"".join(_encode_header(k, v) for k, v in headers.items())
    total = _PRELUDE.size + 4 + len(raw_headers) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(raw_headers))
    head = prelude + _U32.pack(crc32(prelude) & 0xFFFFFFFF)
    body = head + raw_headers + payload
    return body + _U32.pack(crc32(body) & 0xFFFFFFFF)


def _padded_json(payload: Mapping[str, Any]) -> bytes:
    data = dict(payload)
    size = len(json.dumps(payload, separators=(",", ":")))
    data["p"] = _PAD_ALPHABET[: 1 + size % len(_PAD_ALPHABET)]
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def encode_event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An `event` message such as `contentBlockDelta`, with a JSON payload."""
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, _padded_json(payload))


def encode_exception(exception_type: str, payload: Mapping[str, Any]) -> bytes:
    """An in-stream modelled exception, e.g. `modelStreamErrorException`.

    botocore raises `EventStreamError` (a `ClientError`) whose code is this name."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, json.dumps(dict(payload)).encode("utf-8"))


def corrupt(message: bytes) -> bytes:
    """The same message with its trailing message CRC flipped (prelude stays valid,
    so a decoder reads the whole frame and then rejects it)."""
    bad_crc = _U32.unpack(message[-4:])[0] ^ 0xFFFFFFFF
    return message[:-4] + _U32.pack(bad_crc)
