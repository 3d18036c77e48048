"""The ML pipeline: dataset snapshot -> training -> squeezing -> measurement -> gates.

Nothing here imports TensorFlow at module import time; `tf_runtime.import_tf()`
does it on first use so that `origami validate` and `origami plan` stay fast.
"""
