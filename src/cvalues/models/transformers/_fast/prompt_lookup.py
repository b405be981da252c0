"""Prompt lookup drafts for greedy decoding (as ``generate(prompt_lookup_num_tokens=...)``).

The tokens that followed the latest earlier occurrence of a row's last 2-3 tokens are proposed
as the next ones; the decoder checks them all in one model call and keeps those that equal its
own argmax. A small model answering a multi-choice prompt often quotes a reply, which this
predicts well. A row's draft starts at FIRST_DRAFT tokens, grows by 2 (up to ``max_draft``)
while drafts are accepted whole and shrinks after a miss: the batch's call is as wide as its
longest draft, so bad guesses cost.
"""

from __future__ import annotations

from collections.abc import Sequence

MIN_NGRAM = 2
MAX_NGRAM = 3
FIRST_DRAFT = 4
MAX_DRAFT = 10


class PromptLookup:
    """Drafts for one row: the tokens after the latest earlier occurrence of its last n tokens."""

    def __init__(self, tokens: Sequence[int], stop_tokens: Sequence[int], max_draft: int = MAX_DRAFT) -> None:
        self.tokens = list(tokens)
        self._stop = set(stop_tokens)
        self._latest: dict[tuple[int, ...], int] = {}
        self._indexed = 0  # n-grams ending before this index are in ``_latest``
        self.max_draft = max_draft
        self.budget = min(FIRST_DRAFT, max_draft)

    def record(self, drafted: int, accepted: int) -> None:
        if drafted and accepted == drafted:
            self.budget = min(self.max_draft, self.budget + 2)
        elif drafted:
            self.budget = max(min(1, self.max_draft), min(self.budget - 1, accepted + 1))

    def append(self, tokens: Sequence[int]) -> None:
        self.tokens.extend(tokens)

    def draft(self, limit: int) -> list[int]:
        tokens = self.tokens
        # Index the n-grams that now have a continuation (all but those ending at the last token).
        for end in range(self._indexed, len(tokens) - 1):
            for n in range(MIN_NGRAM, min(MAX_NGRAM, end + 1) + 1):
                self._latest[tuple(tokens[end - n + 1 : end + 1])] = end + 1
        self._indexed = max(self._indexed, len(tokens) - 1)
        limit = min(limit, self.budget)
        if limit < 1:
            return []
        for n in range(min(MAX_NGRAM, len(tokens)), MIN_NGRAM - 1, -1):
            follows = self._latest.get(tuple(tokens[-n:]))
            if follows is not None:
                proposal = tokens[follows : follows + limit]
                for i, token in enumerate(proposal):
                    if token in self._stop:  # never draft past an end token
                        return proposal[:i]
                return proposal
        return []
