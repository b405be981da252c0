"""Local models run with transformers: ``hf:<dir-or-hub-id>`` and ``gguf:<file.gguf>``.

``TransformersBackend`` is the public face. ``loading`` reads weights (and converts GGUF files
once); ``_fast`` is the CPU fast path, which uses private torch/transformers internals and is
used only where ``_fast.coverage`` says it is tested (``--engine fast``, the default); elsewhere,
or with ``--engine plain``, plain transformers ``generate`` / forward passes run.
"""

from cvalues.models.transformers.backend import TransformersBackend

__all__ = ["TransformersBackend"]
