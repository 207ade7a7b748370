"""Writing a take to disk: its file name (:mod:`.naming`), the metadata embedded in the image
(:mod:`.pngmeta`), the JSON sidecar (:mod:`.sidecar`), atomic no-clobber files and the pair
commit (:mod:`.files`), one take written as a whole (:mod:`.write`) and the tmux preview
(:mod:`.preview`).
"""
