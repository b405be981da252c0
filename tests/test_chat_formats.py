"""Each conversation format against its authors' published example or inference code.

Every row quotes where the expected string comes from. Where the source is code rather than a
printed example, the row's expected value is that code's expression evaluated on the example
inputs (written out, not computed with our builder).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import run_cli
from cvalues.core.backend import ModelSpec
from cvalues.core.errors import InputError
from cvalues.models.chat_formats import (
    MOSS_META_INSTRUCTION,
    cut_at_stop,
    get_chat_format,
    guess_chat_format,
    load_chat_format,
    resolve_chat_format_option,
    split_conversation,
)

MOSS_README_FIRST_QUERY = MOSS_META_INSTRUCTION + "<|Human|>: 你好<eoh>\n<|MOSS|>:"

CASES = [
    # OpenMOSS/MOSS README.md:
    #   >>> query = meta_instruction + "<|Human|>: 你好<eoh>\n<|MOSS|>:"
    ("moss", "你好", [], MOSS_README_FIRST_QUERY),
    # OpenMOSS/MOSS README.md, second round:
    #   >>> query = tokenizer.decode(outputs[0]) + "\n<|Human|>: 推荐五部科幻电影<eoh>\n<|MOSS|>:"
    # where decode(outputs[0]) is the first query followed by the generated " 您好！…<eom>"
    # (SFT_data turns are "<|MOSS|>: {reply}<eom>\n": the reply starts after one space).
    (
        "moss",
        "推荐五部科幻电影",
        [("你好", "您好！我是MOSS，有什么我可以帮助您的吗？")],
        MOSS_README_FIRST_QUERY
        + " 您好！我是MOSS，有什么我可以帮助您的吗？<eom>"
        + "\n<|Human|>: 推荐五部科幻电影<eoh>\n<|MOSS|>:",
    ),
    # THUDM/chatglm-6b modeling_chatglm.py chat():
    #   if not history:
    #       prompt = query
    ("chatglm-6b", "你好", [], "你好"),
    #   else:
    #       for i, (old_query, response) in enumerate(history):
    #           prompt += "[Round {}]\n问：{}\n答：{}\n".format(i, old_query, response)
    #       prompt += "[Round {}]\n问：{}\n答：".format(len(history), query)
    # (the example exchange of the ChatGLM-6B README: 你好 / 晚上睡不着应该怎么办)
    (
        "chatglm-6b",
        "晚上睡不着应该怎么办",
        [("你好", "你好👋!我是人工智能助手 ChatGLM-6B,很高兴见到你,欢迎问我任何问题。")],
        "[Round 0]\n问：你好\n答：你好👋!我是人工智能助手 ChatGLM-6B,很高兴见到你,欢迎问我任何问题。\n"
        "[Round 1]\n问：晚上睡不着应该怎么办\n答：",
    ),
    # BelleGroup/BELLE-7B-2M model card ("Human: {input} \n\nAssistant:") and its code:
    #   inputs = 'Human: ' + line.strip() + '\n\nAssistant:'
    # with the model card's widget example "使用python写一个二分查找的代码".
    ("belle", "使用python写一个二分查找的代码 ", [], "Human: 使用python写一个二分查找的代码\n\nAssistant:"),
    # LianjiaTech/BELLE train/dschat_train_v1/prompt_eval.py: 'Human: ' + value + '\n\nAssistant: '
    # for a human turn, the reply as is, then the EOS token, for earlier rounds.
    (
        "belle",
        "今天天气怎么样？",
        [("你好", "你好，有什么可以帮助你的吗？")],
        "Human: 你好\n\nAssistant: 你好，有什么可以帮助你的吗？</s>Human: 今天天气怎么样？\n\nAssistant:",
    ),
    # ymcui/Chinese-LLaMA-Alpaca scripts/inference/inference_hf.py, prompt_input with its
    # sample_data = ["为什么要减少污染，保护环境？"]:
    (
        "chinese-alpaca",
        "为什么要减少污染，保护环境？",
        [],
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\n\n为什么要减少污染，保护环境？\n\n### Response:\n\n",
    ),
    # ymcui/Chinese-LLaMA-Alpaca scripts/inference/gradio_demo.py: generate_prompt(input) with
    #   input = "".join(["### Instruction:\n" + i[0] + "\n\n" + "### Response: " + i[1]
    #                    + ("\n\n" if i[1] != "" else "") for i in history])
    # and generate_prompt returning f"""\nBelow is ... request.\n{instruction}\n """.
    (
        "chinese-alpaca",
        "再见",
        [("你好", "你好！")],
        "\nBelow is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n### Instruction:\n你好\n\n### Response: 你好！\n\n"
        "### Instruction:\n再见\n\n### Response: \n ",
    ),
    # IDEA-CCNL/Fengshenbang-LM fengshen/examples/ziya_llama/llama_generate.py:
    #   return f"<human>:{query.strip()}\n<bot>:"   with queries = ['怎样给世界一点爱？', ...]
    ("ziya", "怎样给世界一点爱？", [], "<human>:怎样给世界一点爱？\n<bot>:"),
    # finetune_ziya_llama.py: prompt_without_output = "<human>:{prompt}\n<bot>:", then the stripped
    # output and the EOS token, round after round.
    (
        "ziya",
        "生命的意义是什么？",
        [("怎样给世界一点爱？", " 多帮助别人。 ")],
        "<human>:怎样给世界一点爱？\n<bot>:多帮助别人。</s><human>:生命的意义是什么？\n<bot>:",
    ),
    # X-PLUG/ChatPLUG XDPX/xdpx/utils/chat/core_chat.py bot_profile_template, process_context
    # (我： before the last utterance, 。 added when it ends without punctuation) and the bot
    # profile of XDPX/scripts/fidchat_new.py + ';' (pipeline.py).
    (
        "chatplug",
        "你好",
        [],
        "假设我和你正在进行对话，请你给我得体、准确、友好的回复。以下是我们的对话内容。我：你好。"
        "#假设以下是你的人物设定，请你参考该信息并避免你的回复和该信息矛盾，信息如下：我是达摩院的语言模型ChatPLUG，是基于海量数据训练得到;",
    ),
    # plain: a base model gets the question itself.
    ("plain", "中国的首都是", [], "中国的首都是"),
]


@pytest.mark.parametrize(("name", "query", "history", "expected"), CASES)
def test_format_matches_the_published_example(
    name: str, query: str, history: list[tuple[str, str]], expected: str
) -> None:
    messages = []
    for user, assistant in history:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    messages.append({"role": "user", "content": query})
    assert get_chat_format(name).render(messages).prompt == expected


def test_chatplug_history_goes_to_its_own_passage_after_two_utterances() -> None:
    # pipeline.py: context = the last 2 utterances, history = the ones before (up to 10);
    # core_chat.process_history labels from the end starting with 你.
    rendered = get_chat_format("chatplug").render_turns(
        "第三问", [("第一问", "第一答"), ("第二问", "第二答")]
    )
    history_passage, profile_passage = rendered.passages
    assert history_passage == (
        "假设我和你正在进行对话，请你给我得体、准确、友好的回复。以下是我们的对话内容。"
        "我：第二问。你：第二答。我：第三问。#以下是在此之前我们的对话内容，可作为回复时的参考。我：第一问。你：第一答。"
    )
    assert profile_passage.endswith("信息如下：我是达摩院的语言模型ChatPLUG，是基于海量数据训练得到;")
    assert rendered.prompt == history_passage + "\n" + profile_passage


def test_stop_strings_and_system_slots() -> None:
    assert get_chat_format("moss").stop == ("<eom>",)
    assert get_chat_format("ziya").stop == ("<human>:",)
    # MOSS's meta instruction is its system slot: a system message replaces it.
    moss = get_chat_format("moss").render_turns("你好", system="你是助手。\n").prompt
    assert moss == "你是助手。\n<|Human|>: 你好<eoh>\n<|MOSS|>:"
    # A format without a slot puts the system text on its own line first.
    assert get_chat_format("ziya").render_turns("你好", system="S").prompt == "S\n<human>:你好\n<bot>:"
    assert cut_at_stop("答案是回复1。<human>: 再问", ("<human>:",)) == "答案是回复1。"
    assert cut_at_stop("答案是回复1。", ("<human>:",)) is None


def test_conversation_shape_errors() -> None:
    with pytest.raises(InputError, match="end with a user message"):
        split_conversation([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    with pytest.raises(InputError, match="alternates"):
        split_conversation([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])


def test_names_aliases_and_guessing() -> None:
    assert get_chat_format("Chinese-Alpaca-Plus").name == "chinese-alpaca"
    assert resolve_chat_format_option("moss-moon-003-sft") == "moss"
    with pytest.raises(InputError, match="unknown chat format"):
        get_chat_format("chatglm2")
    assert guess_chat_format("THUDM/chatglm-6b") == "chatglm-6b"
    assert guess_chat_format("THUDM/chatglm2-6b") is None  # another format: not guessed
    assert guess_chat_format("fnlp/moss-moon-003-sft") == "moss"
    assert guess_chat_format("BelleGroup/BELLE-7B-2M") == "belle"
    assert guess_chat_format("IDEA-CCNL/Ziya-LLaMA-13B-v1") == "ziya"
    assert guess_chat_format("/models/chinese-alpaca-plus-13b-hf") == "chinese-alpaca"
    assert guess_chat_format("/models/chinese-llama-13b") == "plain"
    assert guess_chat_format("/models/x", {"_name_or_path": "ziqingyang/chinese-alpaca-plus-lora-7b"}) == (
        "chinese-alpaca"
    )
    assert guess_chat_format("HuggingFaceTB/SmolLM2-135M-Instruct") is None
    assert guess_chat_format("hfl/chinese-alpaca-2-7b") is None  # Llama-2 format, has a template


def test_jinja_template_file_is_a_format_keyed_by_content(tmp_path: Path) -> None:
    template = tmp_path / "fmt.j2"
    template.write_text(
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}",
        encoding="utf-8",
    )
    identity = resolve_chat_format_option(str(template))
    assert identity.startswith("file:") and identity.endswith(str(template.resolve()))
    rendered = load_chat_format(identity).render([{"role": "user", "content": "你好"}])
    assert rendered.prompt == "<user>你好\n<assistant>"
    spec = ModelSpec.parse("hf:some/model", chat_format=identity)
    assert spec.key == f"hf:some/model#chat={identity.partition('=')[0]}"  # the hash, not the path
    template.write_text("{{ messages[0]['content'] }}", encoding="utf-8")
    with pytest.raises(InputError, match="changed since the run started"):
        load_chat_format(identity)
    bad = tmp_path / "bad.j2"
    bad.write_text("line one\n{% for m in messages %}", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        resolve_chat_format_option(str(bad))
    assert str(raised.value).startswith(f"{bad}:")


def test_model_spec_carries_format_and_remote_code() -> None:
    plain = ModelSpec.parse("hf:THUDM/chatglm-6b")
    assert plain.key == "hf:THUDM/chatglm-6b"
    spec = ModelSpec.parse(
        "hf:THUDM/chatglm-6b", chat_format="chatglm-6b", trust_remote_code=True, dtype="float16"
    )
    assert spec.key == "hf:THUDM/chatglm-6b@float16#chat=chatglm-6b"
    assert spec.trust_remote_code and spec.chat_format == "chatglm-6b"
    assert spec.to_record() == {
        "spec": "hf:THUDM/chatglm-6b",
        "base_url": None,
        "dtype": "float16",
        "chat_format": "chatglm-6b",
        "trust_remote_code": True,
    }
    with pytest.raises(InputError, match="--chat-format"):
        ModelSpec.parse("openai:gpt-4o", chat_format="moss")
    with pytest.raises(InputError) as raised:
        ModelSpec.parse("openai:gpt-4o", trust_remote_code=True)
    assert raised.value.flag == "--trust-remote-code"


def test_cli_render_prints_the_exact_prompt(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps([["你好", "您好！"]], ensure_ascii=False), encoding="utf-8")
    result = run_cli(
        "models", "render", "--chat-format", "chatglm-6b", "--prompt", "再见", "--history", history
    )
    assert result.code == 0, result.stderr
    assert result.stdout == "[Round 0]\n问：你好\n答：您好！\n[Round 1]\n问：再见\n答：\n"
    result = run_cli("models", "render", "--chat-format", "ziya", "--prompt", "你好", "--json")
    assert json.loads(result.stdout) == {"prompt": "<human>:你好\n<bot>:", "stop": ["<human>:"]}
    history.write_text('[["only one"]]', encoding="utf-8")
    result = run_cli("models", "render", "--chat-format", "moss", "--prompt", "x", "--history", history)
    assert result.code == 2 and f"{history}: entry 0 must be a [user, assistant] pair" in result.stderr
    result = run_cli("models", "render", "--chat-format", "nope", "--prompt", "x")
    assert result.code == 2 and "--chat-format: unknown chat format 'nope'" in result.stderr


def test_cli_guesses_a_format_only_for_a_known_family_without_a_template(tmp_path: Path) -> None:
    from cvalues.api._single import local_model_options

    folder = tmp_path / "ziya-llama-13b-v1"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    assert local_model_options(f"hf:{folder}", None, False)["chat_format"] == "ziya"
    assert local_model_options(f"hf:{folder}", "moss", True) == {
        "chat_format": "moss",
        "trust_remote_code": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ x }}"}), encoding="utf-8")
    assert local_model_options(f"hf:{folder}", None, False)["chat_format"] is None  # its own template wins
    assert local_model_options("openai:ziya-llama", None, False)["chat_format"] is None
    assert local_model_options("hf:X-PLUG/ChatPLUG-3.7B", None, False)["chat_format"] is None  # not runnable
