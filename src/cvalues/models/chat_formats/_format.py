"""What a conversation format is: messages in, the exact prompt string and stop strings out.

Models released before ``chat_template`` existed build their prompt in their authors' inference
code. A ``ChatFormat`` is that code's prompt building, as data plus one small function: the
function receives the current question, the earlier (question, reply) pairs and the system text
(``None`` when the request has none), and returns the prompt string the model receives.

``render(messages)`` turns chat messages (``{"role", "content"}``; an optional leading system
message, then user / assistant alternating, ending with a user message) into that call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cvalues.core.errors import InputError

ChatMessage = dict[str, str]
Turn = tuple[str, str]
# (query, history, system) -> prompt
PromptBuilder = Callable[[str, Sequence[Turn], str | None], str]


@dataclass(frozen=True)
class RenderedPrompt:
    """The string the model receives and the strings that end its reply.

    ``passages``: for a Fusion-in-Decoder model (ChatPLUG) the encoder reads several passages
    separately; ``prompt`` is then those passages one per line, for display.
    """

    prompt: str
    stop: tuple[str, ...] = ()
    passages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"prompt": self.prompt, "stop": list(self.stop)}
        if self.passages:
            data["passages"] = list(self.passages)
        return data


@dataclass(frozen=True)
class ChatFormat:
    """One model family's conversation format.

    ``sources``: where the format was read, as ``owner/repo: path`` (the authors' own code).
    ``causal``: False for a model that no causal-LM backend can run (ChatPLUG's FiD
    encoder-decoder); its prompt can still be rendered.
    """

    name: str
    description: str
    build: PromptBuilder
    sources: tuple[str, ...]
    stop: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    causal: bool = True
    passages: Callable[[str, Sequence[Turn], str | None], tuple[str, ...]] | None = field(
        default=None, repr=False
    )

    def render(self, messages: Sequence[ChatMessage]) -> RenderedPrompt:
        system, history, query = split_conversation(messages)
        return self.render_turns(query, history, system)

    def render_turns(
        self, query: str, history: Sequence[Turn] = (), system: str | None = None
    ) -> RenderedPrompt:
        passages = self.passages(query, history, system) if self.passages else ()
        prompt = "\n".join(passages) if passages else self.build(query, history, system)
        return RenderedPrompt(prompt=prompt, stop=self.stop, passages=passages)


def split_conversation(messages: Sequence[ChatMessage]) -> tuple[str | None, list[Turn], str]:
    """``(system, [(user, assistant), ...], last user message)``, or an InputError saying why not."""
    rest = list(messages)
    system = None
    if rest and rest[0].get("role") == "system":
        system = rest.pop(0).get("content", "")
    if not rest or rest[-1].get("role") != "user":
        raise InputError("a conversation for a chat format must end with a user message")
    history: list[Turn] = []
    body, query = rest[:-1], rest[-1]["content"]
    if len(body) % 2:
        raise InputError("a conversation for a chat format alternates user and assistant messages")
    for user, assistant in zip(body[0::2], body[1::2], strict=True):
        if user.get("role") != "user" or assistant.get("role") != "assistant":
            raise InputError(
                "a conversation for a chat format alternates user and assistant messages "
                f"(found {user.get('role')!r} then {assistant.get('role')!r})"
            )
        history.append((user["content"], assistant["content"]))
    return system, history, query


def with_system_line(prompt: str, system: str | None) -> str:
    """Formats without a system slot: the system text on its own line before the prompt.

    Their official code has no system message; without one the prompt is exactly theirs.
    """
    return prompt if not system else f"{system}\n{prompt}"
