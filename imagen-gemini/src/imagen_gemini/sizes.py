"""Gemini picks the pixel size itself; imagen maps a requested size to its nearest aspect ratio.

The table is Gemini 2.5 Flash Image's (each size costs 1290 output tokens); the snapping is the
toolkit's: ``snap_to_table(request, ASPECT_RATIOS)``. An explicit aspect ratio wins over
width/height; with neither, Gemini decides (square for text-to-image, the reference's shape for
image-to-image).
"""

from __future__ import annotations

#: Supported ``imageConfig.aspectRatio`` values and the pixel size Gemini answers with.
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
