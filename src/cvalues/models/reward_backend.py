"""Reward models (``hf-rm:<dir-or-hub-id>``): a transformers sequence-classification model with one
output, which scores a conversation whose last message is the reply being judged.

Only ``reward`` requests are answered (``extra["reward"]``: the scalar the model puts on the
conversation); anything else is a failed request that names the kind. The conversation is
rendered with the tokenizer's chat template where it has one, else as ``Role: content`` lines.
Batches are right-padded and each score is read at the last real token, which is what
``AutoModelForSequenceClassification`` does when the model knows its pad token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse
from cvalues.models.chat import plain_chat_prompt
from cvalues.models.transformers.loading import resolve_device, resolve_dtype


class RewardModelBackend:
    def __init__(self, spec: ModelSpec, *, batch_size: int = 8, device: str = "auto") -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise BackendError(
                f"hf-rm: reward models need the hf extra: pip install 'cvalues[hf]' ({exc})"
            ) from exc
        self.spec = spec
        self.batch_size = max(1, batch_size)
        self.max_concurrency = 1
        self._device = resolve_device(device)
        self._tokenizer = AutoTokenizer.from_pretrained(spec.name)
        model = AutoModelForSequenceClassification.from_pretrained(
            spec.name, torch_dtype=resolve_dtype(spec.dtype, self._device)
        )
        if model.config.num_labels != 1:
            raise BackendError(f"{spec.name} has {model.config.num_labels} outputs; a reward model has one")
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        model.config.pad_token_id = self._tokenizer.pad_token_id
        self._tokenizer.padding_side = "right"
        self._model = model.to(self._device).eval()
        self._torch = torch
        self._lock = threading.Lock()

    def _text(self, request: ModelRequest) -> str:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if getattr(self._tokenizer, "chat_template", None):
            return str(self._tokenizer.apply_chat_template(messages, tokenize=False))
        return plain_chat_prompt(messages).removesuffix("\nAssistant:")

    def _score(self, requests: list[ModelRequest]) -> list[ModelResponse]:
        with self._lock, self._torch.inference_mode():
            batch = self._tokenizer(
                [self._text(r) for r in requests], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self._device)
            logits = self._model(**batch).logits[:, 0].float().tolist()
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        return [
            ModelResponse(extra={"reward": float(score)}, input_tokens=int(n), output_tokens=0)
            for score, n in zip(logits, lengths, strict=True)
        ]

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        wrong = [r.kind for r in requests if r.kind != "reward"]
        if wrong:
            return [
                ModelResponse(error=f"hf-rm: a reward model answers reward requests, not {r.kind}")
                for r in requests
            ]
        try:
            return await asyncio.to_thread(self._score, list(requests))
        except Exception as exc:  # one bad batch fails its requests, not the run
            return [ModelResponse(error=f"{type(exc).__name__}: {exc}") for _ in requests]

    async def aclose(self) -> None:
        return None


__all__ = ["RewardModelBackend"]
