"""PNG text chunks are inserted without touching pixels; sizes are read from headers."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin, features

from imagen.output import pngmeta
from imagen.output.pngmeta import a1111_parameters, embed, image_size, png_size, read_text_chunks

BYTES_PER_PIXEL = {"L": 1, "P": 1, "I;16": 2, "RGB": 3, "RGBA": 4}


def chunks_of(png: bytes) -> list[tuple[bytes, bytes]]:
    """Parse chunks independently of the module under test, checking every CRC."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    found, offset = [], 8
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset : offset + 8])
        data = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data), kind
        found.append((kind, data))
        offset += 12 + length
    return found


def pillow_png(
    mode: str, width: int, height: int, pixels: bytes, info: PngImagePlugin.PngInfo
) -> bytes:
    image = Image.frombytes(mode, (width, height), pixels)
    if mode == "P":
        image.putpalette(bytes(range(256)) * 3)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def interlaced_gray_png(width: int, height: int, pixels: bytes) -> bytes:
    """An Adam7-interlaced 8-bit grayscale PNG (Pillow cannot write interlaced PNGs)."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2)]
    passes.append((0, 1, 1, 2))
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        columns = range(x0, width, dx)
        if not columns:
            continue
        for y in range(y0, height, dy):
            raw.append(0)
            raw.extend(pixels[y * width + x] for x in columns)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


keywords = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20
).map(lambda key: f"x-{key}")
ours = st.dictionaries(keywords, st.text(max_size=200), max_size=4)


@st.composite
def pillow_pngs(draw: st.DrawFn) -> bytes:
    mode = draw(st.sampled_from(sorted(BYTES_PER_PIXEL)))
    width, height = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    pixels = draw(
        st.binary(
            min_size=width * height * BYTES_PER_PIXEL[mode],
            max_size=width * height * BYTES_PER_PIXEL[mode],
        )
    )
    info = PngImagePlugin.PngInfo()
    for index, (kind, value) in enumerate(
        draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["tEXt", "zTXt", "iTXt", "iTXt-zip"]), st.text(max_size=50)
                ),
                max_size=3,
            )
        )
    ):
        key = f"orig-{index}"
        if kind == "iTXt":
            info.add_itxt(key, value)
        elif kind == "iTXt-zip":
            info.add_itxt(key, value, zip=True)
        else:
            info.add_text(
                key, value.encode("latin-1", "replace").decode("latin-1"), zip=kind == "zTXt"
            )
    return pillow_png(mode, width, height, pixels, info)


@st.composite
def interlaced_pngs(draw: st.DrawFn) -> bytes:
    width, height = draw(st.integers(1, 17)), draw(st.integers(1, 17))
    pixels = draw(st.binary(min_size=width * height, max_size=width * height))
    png = interlaced_gray_png(width, height, pixels)
    assert Image.open(io.BytesIO(png)).tobytes() == pixels  # the helper itself is right
    return png


def decode(png: bytes) -> tuple[str, tuple[int, int], bytes, dict[str, str]]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.mode, image.size, image.tobytes(), dict(image.text)  # type: ignore[attr-defined]


@settings(max_examples=60, deadline=None)
@given(png=st.one_of(pillow_pngs(), interlaced_pngs()), itxt=ours, text=ours)
def test_embedding_keeps_pixels_and_every_original_chunk(
    png: bytes, itxt: dict[str, str], text: dict[str, str]
) -> None:
    text = {f"t{key}": value for key, value in text.items()}
    out = embed(png, itxt=itxt, text=text)

    mode, size, pixels, original_text = decode(png)
    out_mode, out_size, out_pixels, out_text = decode(out)
    assert (out_mode, out_size, out_pixels) == (mode, size, pixels)

    expected = {**original_text, **itxt, **text}
    assert out_text == expected
    assert read_text_chunks(out) == expected

    before, after = chunks_of(png), chunks_of(out)
    inserted = len(itxt) + len(text)
    assert after[0] == before[0]
    assert after[1 + inserted :] == before[1:]
    assert {kind for kind, _data in after[1 : 1 + inserted]} <= {b"iTXt", b"tEXt"}


def test_itxt_is_uncompressed_utf8_with_empty_language_and_translation() -> None:
    out = embed(interlaced_gray_png(1, 1, b"\0"), itxt={"imagen": "東京 ✓"}, text={})
    assert chunks_of(out)[1] == (b"iTXt", b"imagen\0\0\0\0\0" + "東京 ✓".encode())


def test_latin1_text_is_written_as_text_chunk() -> None:
    out = embed(interlaced_gray_png(1, 1, b"\0"), itxt={}, text={"parameters": "café, Steps: 4"})
    assert chunks_of(out)[1] == (b"tEXt", b"parameters\0" + "café, Steps: 4".encode("latin-1"))


def test_non_latin1_text_falls_back_to_itxt_with_the_same_keyword() -> None:
    out = embed(interlaced_gray_png(1, 1, b"\0"), itxt={}, text={"parameters": "東京"})
    kind, data = chunks_of(out)[1]
    assert kind == b"iTXt"
    assert data.startswith(b"parameters\0")
    assert read_text_chunks(out) == {"parameters": "東京"}


def test_lone_surrogates_are_replaced_rather_than_failing() -> None:
    out = embed(interlaced_gray_png(1, 1, b"\0"), itxt={"k": "a\udcffb"}, text={})
    assert read_text_chunks(out) == {"k": "a?b"}


@pytest.mark.parametrize("data", [b"", b"GIF89a....", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n"])
def test_non_png_input_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="PNG"):
        embed(data, itxt={"k": "v"}, text={})


def test_truncated_png_is_refused() -> None:
    png = interlaced_gray_png(4, 4, bytes(16))
    with pytest.raises(ValueError, match="truncated"):
        embed(png[:-20], itxt={"k": "v"}, text={})


def test_png_whose_first_chunk_is_not_ihdr_is_refused() -> None:
    png = interlaced_gray_png(1, 1, b"\0")
    idat_first = png[:8] + png[33:]
    with pytest.raises(ValueError, match="IHDR"):
        embed(idat_first, itxt={}, text={})


@pytest.mark.parametrize("key", ["", "x" * 80, "a\0b", " lead", "two  spaces", "東京", "tab\tkey"])
def test_invalid_keywords_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="keyword"):
        embed(interlaced_gray_png(1, 1, b"\0"), itxt={key: "v"}, text={})


def test_compressed_chunks_written_by_pillow_are_read() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("z", "zipped latin-1 ä", zip=True)
    info.add_itxt("i", "zipped utf-8 東京", zip=True)
    png = pillow_png("L", 2, 2, bytes(4), info)
    assert read_text_chunks(png) == {"z": "zipped latin-1 ä", "i": "zipped utf-8 東京"}


def test_png_size_reads_ihdr() -> None:
    assert png_size(pillow_png("RGB", 7, 3, bytes(63), PngImagePlugin.PngInfo())) == (7, 3)


def test_png_size_refuses_non_png() -> None:
    with pytest.raises(ValueError, match="PNG"):
        png_size(b"not a png")


# --- image_size ---------------------------------------------------------------------------


def encoded(
    fmt: str, size: tuple[int, int], mode: str = "RGB", options: dict[str, object] | None = None
) -> bytes:
    out = io.BytesIO()
    color = (255, 0, 0, 128) if mode == "RGBA" else (255, 0, 0)
    Image.new(mode, size, color).save(out, format=fmt, **(options or {}))
    return out.getvalue()


sizes = st.tuples(st.integers(1, 300), st.integers(1, 300))


@settings(max_examples=25, deadline=None)
@given(size=sizes, progressive=st.booleans())
def test_jpeg_size_is_read_from_the_frame_header(size: tuple[int, int], progressive: bool) -> None:
    assert (
        image_size(encoded("JPEG", size, options={"progressive": progressive}), "image/jpeg")
        == size
    )


@settings(max_examples=25, deadline=None)
@given(size=sizes)
def test_gif_and_png_sizes_are_read_from_the_header(size: tuple[int, int]) -> None:
    assert image_size(encoded("GIF", size), "image/gif") == size
    assert image_size(encoded("PNG", size), "image/png") == size


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
@pytest.mark.parametrize(
    ("mode", "options", "kind"),
    [("RGB", {}, b"VP8 "), ("RGB", {"lossless": True}, b"VP8L"), ("RGBA", {}, b"VP8X")],
)
@settings(max_examples=10, deadline=None)
@given(size=sizes)
def test_webp_size_is_read_for_lossy_lossless_and_extended_files(
    mode: str, options: dict[str, object], kind: bytes, size: tuple[int, int]
) -> None:
    data = encoded("WEBP", size, mode, options)
    assert data[12:16] == kind
    assert image_size(data, "image/webp") == size


def test_unknown_media_type_or_garbage_gives_none() -> None:
    assert image_size(b"whatever", "image/avif") is None
    assert image_size(b"garbage", "image/png") is None
    assert image_size(b"\xff\xd8\xff", "image/jpeg") is None
    assert image_size(b"RIFF\0\0\0\0WEBPVP8 ", "image/webp") is None


# --- A1111 parameters ---------------------------------------------------------------------


def test_a1111_parameters_have_prompt_negative_and_settings_lines() -> None:
    text = a1111_parameters(
        prompt="a cat",
        negative_prompt="blurry",
        steps=20,
        seed=1,
        width=512,
        height=512,
        model="flux-schnell",
    )
    assert (
        text
        == "a cat\nNegative prompt: blurry\nSteps: 20, Seed: 1, Size: 512x512, Model: flux-schnell"
    )


def test_a1111_parameters_leave_out_missing_parts() -> None:
    text = a1111_parameters(
        prompt="a cat", negative_prompt=None, steps=None, seed=7, width=None, height=None, model=""
    )
    assert text == "a cat\nSeed: 7"


def test_a1111_parameters_with_nothing_but_a_prompt() -> None:
    text = a1111_parameters(
        prompt="a cat",
        negative_prompt="",
        steps=None,
        seed=None,
        width=None,
        height=None,
        model=None,
    )
    assert text == "a cat"


def test_a1111_values_with_commas_colons_or_newlines_are_json_quoted() -> None:
    text = a1111_parameters(
        prompt="p",
        negative_prompt=None,
        steps=None,
        seed=None,
        width=None,
        height=None,
        model="owner/model:v1",
        extra={"Backend": "a, b", "Note": 'two\nlines "quoted"', "Plain": "ok"},
    )
    settings_line = text.split("\n", 1)[1]
    assert settings_line == (
        'Model: "owner/model:v1", Backend: "a, b", Note: "two\\nlines \\"quoted\\"", Plain: ok'
    )


# --- hand-made files: the edges real encoders rarely write ---------------------------------


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_chunks_after_ihdr(*extra: bytes) -> bytes:
    """A 1x1 PNG with ``extra`` chunks between IHDR and the image data."""
    png = interlaced_gray_png(1, 1, b"\0")
    return png[:33] + b"".join(extra) + png[33:]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a....", r"^not a PNG file \(bad signature\)$"),
        (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IDAT", bytes(13)) + chunk(b"IEND", b""),
            r"^not a PNG file \(IHDR is not the first chunk\)$",
        ),
        (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", bytes(12)) + chunk(b"IEND", b""),
            r"^not a PNG file \(IHDR is not the first chunk\)$",
        ),
        (interlaced_gray_png(1, 1, b"\0")[:-12], r"^truncated PNG file \(no IEND chunk\)$"),
    ],
)
def test_a_file_that_is_not_a_whole_png_is_refused_with_one_exact_reason(
    data: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        embed(data, itxt={"k": "v"}, text={})


def test_a_chunk_length_past_the_end_of_the_file_is_refused_as_truncated() -> None:
    png = interlaced_gray_png(1, 1, b"\0")
    corrupt = png[:33] + struct.pack(">I", 0xFFFFFFF4) + png[37:]  # IDAT's length, corrupted
    with pytest.raises(ValueError, match="truncated"):
        embed(corrupt, itxt={"k": "v"}, text={})


@pytest.mark.parametrize("key", ["Creation Time", "x" * 79, "\xa1x", "caf\xe9"])
def test_keywords_at_the_edges_of_the_rules_are_accepted(key: str) -> None:
    out = embed(interlaced_gray_png(1, 1, b"\0"), itxt={key: "v"}, text={})
    assert read_text_chunks(out) == {key: "v"}


@pytest.mark.parametrize("key", ["del\x7f", "nbsp\xa0"])
def test_keywords_with_delete_or_a_non_breaking_space_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="keyword"):
        embed(interlaced_gray_png(1, 1, b"\0"), itxt={}, text={key: "v"})


def test_a_latin1_value_holding_nul_is_written_as_itxt_and_reads_back() -> None:
    out = embed(interlaced_gray_png(1, 1, b"\0"), itxt={}, text={"parameters": "a\0b"})
    kind, data = chunks_of(out)[1]
    assert kind == b"iTXt"
    assert data.startswith(b"parameters\0")
    assert read_text_chunks(out) == {"parameters": "a\0b"}


@pytest.mark.parametrize("after_flags", [b"no separators", b"en\0one separator"])
def test_an_itxt_chunk_without_its_separators_is_skipped_and_the_earlier_value_kept(
    after_flags: bytes,
) -> None:
    png = with_chunks_after_ihdr(
        chunk(b"tEXt", b"imagen\0good"), chunk(b"iTXt", b"imagen\0\0\0" + after_flags)
    )
    assert read_text_chunks(png) == {"imagen": "good"}


def test_a_malformed_chunk_does_not_stop_the_chunks_after_it_from_being_read() -> None:
    png = with_chunks_after_ihdr(chunk(b"iTXt", b"broken\0"), chunk(b"tEXt", b"after\0yes"))
    assert read_text_chunks(png) == {"after": "yes"}


def test_invalid_utf8_in_an_itxt_chunk_is_read_with_replacement_characters() -> None:
    png = with_chunks_after_ihdr(chunk(b"iTXt", b"k\0\0\0\0\0a\xffb"))
    assert read_text_chunks(png) == {"k": "a\ufffdb"}


def test_a_compressed_chunk_that_inflates_past_the_limit_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pngmeta, "_MAX_INFLATED", 1024)
    png = with_chunks_after_ihdr(
        chunk(b"zTXt", b"small\0\0" + zlib.compress(b"s" * 1024)),
        chunk(b"zTXt", b"large\0\0" + zlib.compress(b"l" * 1025)),
        chunk(b"iTXt", b"larger\0\1\0\0\0" + zlib.compress(b"l" * 4096)),
    )
    assert read_text_chunks(png) == {"small": "s" * 1024}


def jpeg(*segments: bytes) -> bytes:
    return b"\xff\xd8" + b"".join(segments) + b"\xff\xd9"


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def frame(width: int, height: int) -> bytes:
    """A baseline start-of-frame segment (SOF0) for three components."""
    return segment(0xC0, b"\x08" + struct.pack(">HH", height, width) + b"\x03" + bytes(9))


def test_jpeg_fill_bytes_before_a_marker_are_skipped() -> None:
    assert image_size(jpeg(b"\xff", frame(640, 480)), "image/jpeg") == (640, 480)


@pytest.mark.parametrize("marker", [0x01, 0xD0, 0xD7, 0xD8])
def test_jpeg_markers_without_a_length_are_skipped(marker: int) -> None:
    assert image_size(jpeg(bytes([0xFF, marker]), frame(640, 480)), "image/jpeg") == (640, 480)


@pytest.mark.parametrize("after_end", [b"", b"\x00\x02"])
def test_nothing_after_a_jpeg_end_of_image_is_read(after_end: bytes) -> None:
    data = b"\xff\xd8\xff\xd9" + after_end + frame(640, 480)
    assert image_size(data, "image/jpeg") is None


def test_a_jpeg_segment_longer_than_32k_before_the_frame_is_skipped() -> None:
    icc_profile = segment(0xE2, bytes(40_000))
    assert image_size(jpeg(icc_profile, frame(640, 480)), "image/jpeg") == (640, 480)


def test_sizes_over_32767_are_read_from_jpeg_and_gif_headers() -> None:
    assert image_size(jpeg(frame(40_000, 50_000)), "image/jpeg") == (40_000, 50_000)
    for version in (b"GIF87a", b"GIF89a"):
        header = version + struct.pack("<HH", 40_000, 3) + bytes(3)
        assert image_size(header, "image/gif") == (40_000, 3)


@pytest.mark.parametrize(("width", "height"), [(0, 480), (640, 0)])
def test_a_jpeg_frame_with_a_zero_dimension_gives_none(width: int, height: int) -> None:
    assert image_size(jpeg(frame(width, height)), "image/jpeg") is None


def test_image_jpg_is_read_as_jpeg() -> None:
    assert image_size(encoded("JPEG", (7, 3)), "image/jpg") == (7, 3)


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
@pytest.mark.parametrize(("mode", "options"), [("RGB", {}), ("RGB", {"lossless": True})])
def test_a_webp_whose_header_or_chunk_kind_is_unknown_gives_none(
    mode: str, options: dict[str, object]
) -> None:
    data = encoded("WEBP", (7, 3), mode, options)
    assert image_size(data[:12] + b"VP8?" + data[16:], "image/webp") is None
    assert image_size(b"RIFX" + data[4:], "image/webp") is None


def test_a1111_quoted_values_keep_non_ascii_characters() -> None:
    text = a1111_parameters(
        prompt="p",
        negative_prompt=None,
        steps=None,
        seed=None,
        width=None,
        height=None,
        model="東京, night",
    )
    assert text == 'p\nModel: "東京, night"'


def test_a1111_size_needs_both_width_and_height() -> None:
    text = a1111_parameters(
        prompt="p", negative_prompt=None, steps=None, seed=None, width=512, height=None, model=None
    )
    assert text == "p"
