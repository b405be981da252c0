"""Refusals a person reads, in Chinese and English from one table, and the errors that carry them.

The same refusal reaches two audiences: the web app shows it in the page's language (Chinese by
default), the CLI and file imports print the English text (``cli`` where it names a flag), so a
check lives once and its message is never Python-shaped (no ``got None``). An error carries its
``key`` and ``fields``; ``i18n`` renders it for a page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError

# key -> {"zh": ..., "en": ..., optional "cli": English for the command line}; ``{field}`` placeholders.
ERROR_TEXTS: dict[str, dict[str, str]] = {
    # -- labels (kinds.py) -------------------------------------------------------------------
    "task_kind_unknown": {
        "zh": "任务类型必须是以下之一：{kinds}",
        "en": "task kind must be one of {kinds}, got {value}",
    },
    "text_too_long": {"zh": "文字不能超过 {limit} 个字符", "en": "text longer than {limit} characters"},
    "verdict_missing": {"zh": "请选择“安全”或“不安全”", "en": "verdict must be safe or unsafe (none given)"},
    "verdict_invalid": {
        "zh": "判断只能是“安全”或“不安全”",
        "en": "verdict must be safe or unsafe, got {value}",
    },
    "score_missing": {
        "zh": "请选择评分（1 到 10 的整数）",
        "en": "the score is missing: a whole number from 1 to 10",
    },
    "score_not_number": {
        "zh": "评分必须是 1 到 10 的整数",
        "en": "score must be a whole number from 1 to 10, got {value}",
    },
    "score_out_of_range": {
        "zh": "评分必须在 {low} 到 {high} 之间",
        "en": "score must be from {low} to {high}, got {value}",
    },
    "choice_missing": {"zh": "请选择更好的回复", "en": "choose the better reply (none given)"},
    "choice_invalid": {
        "zh": "请选择第 1 到第 {n} 个回复之一",
        "en": "choice must be the number of a reply (0 to {high}), got {value}",
    },
    "review_label_missing": {"zh": "请选择复核结果", "en": "choose a review label (none given)"},
    "review_label_invalid": {
        "zh": "复核结果必须是以下之一：{labels}",
        "en": "label must be one of {labels}, got {value}",
    },
    # -- accounts (accounts.py, passwords.py) ------------------------------------------------
    "user_name_length": {
        "zh": "用户名长度必须在 1 到 {limit} 个字符之间",
        "en": "a user name has 1 to {limit} characters",
    },
    "user_name_chars": {
        "zh": "用户名不能包含空格或控制字符",
        "en": "user name '{name}' may not contain spaces or control characters",
    },
    "role_unknown": {"zh": "角色必须是以下之一：{roles}", "en": "role must be one of {roles}, got {value}"},
    "last_admin": {
        "zh": "“{name}”是最后一个管理员，请先添加另一个管理员",
        "en": "'{name}' is the last admin: add another admin first",
    },
    "user_exists": {
        "zh": "用户“{name}”已存在；如需修改其角色和密码，请勾选“修改已有用户”",
        "en": "user '{name}' exists already: tick “change an existing user” to change it",
        "cli": "user '{name}' exists already: use --update to change it",
    },
    "no_user": {"zh": "没有用户“{name}”", "en": "no user '{name}'"},
    "password_too_short": {
        "zh": "密码至少需要 {least} 个字符（{role_zh}）",
        "en": "the password needs at least {least} characters for the role {role}",
    },
    "password_common": {
        "zh": "密码过于常见，请换一个",
        "en": "the password is one of the most common passwords: choose another",
    },
    "password_like_name": {
        "zh": "密码与用户名过于相近，请换一个",
        "en": "the password is too close to the user name: choose another",
    },
    # -- tasks (ids.py, task_creation.py, task_store.py) --------------------------------------
    "task_id_rule": {
        "zh": "任务名称只能由字母（含汉字）、数字、_、- 和 . 组成，以字母、数字或 _ 开头，最多 64 个字符",
        "en": "a task id has 1-64 letters, digits, '_', '-' or '.', starting with a letter, digit or '_', "
        "got {value}",
    },
    "task_exists": {
        "zh": "任务“{task}”已存在，请换一个名称",
        "en": "task '{task}' exists already; choose another name",
        "cli": "task '{task}' exists already; choose another --name",
    },
    "task_role": {
        "zh": "任务只能分配给标注员或专家",
        "en": "role must be annotator or expert, got {value}",
    },
    "not_whole_number": {"zh": "“{field_zh}”必须是整数", "en": "{field} must be a whole number, got {value}"},
    "seed_range": {
        "zh": "随机种子必须在 0 到 {most} 之间",
        "en": "seed must be from 0 to {most}, got {value}",
    },
    "per_item_min": {"zh": "每条的标注人数至少为 1", "en": "per_item must be at least 1, got {value}"},
    "not_enough_annotators": {
        "zh": "每条需要 {per_item} 名不同的标注人员，但可分配的只有 {available} 名；请先添加用户",
        "en": "{per_item} annotators per item, but only {available} available (role {role}); add users first",
        "cli": "{per_item} annotators per item, but only {available} available (role {role}); "
        "add users with `cvalues annotate add-user`",
    },
    "one_run_only": {
        "zh": "此类型的任务只读取一个运行结果（回复对比任务读取 2 到 3 个）",
        "en": "a {kind} task reads one run",
        "cli": "--kind {kind} reads one run directory",
    },
    "pairwise_runs": {
        "zh": "回复对比任务需要 2 到 {most} 个运行结果",
        "en": "pairwise needs 2 or {most} run directories",
    },
    "samples_missing": {
        "zh": "请上传 samples.jsonl 文件，或粘贴其内容",
        "en": "upload a samples.jsonl file or paste its content",
    },
    "results_not_object": {
        "zh": "results.json 必须是一个 JSON 对象",
        "en": "results.json must hold a JSON object",
    },
    # -- run files (run_sources.py) ------------------------------------------------------------
    "not_run_dir": {
        "zh": "不是运行结果目录（需要 results.json 和 samples.jsonl）",
        "en": "not a run directory (needs results.json and samples.jsonl)",
    },
    "field_not_text": {"zh": "字段 {what} 必须是文本", "en": "field '{what}' must be a string"},
    "sample_no_prompt": {
        "zh": "每条样本需要 prompt 文本或对话 messages",
        "en": "each sample needs a 'prompt' text or chat 'messages'",
    },
    "message_shape": {
        "zh": "messages 的第 {position} 项必须包含 role 和 content",
        "en": "messages[{position}] must be {{role, content}}",
    },
    "messages_no_user": {"zh": "对话中没有用户的发言", "en": "messages hold no user turn"},
    "mc_run_not_generation": {
        "zh": "这是选择题评测的结果，只能用于选择题人工复核任务",
        "en": "this is an MC run; only an mc-review task reads MC runs",
        "cli": "this is an MC run; only --kind mc-review reads MC runs",
    },
    "sample_no_id": {"zh": "每条样本需要 id", "en": "each sample needs an 'id'"},
    "duplicate_id": {"zh": "重复的 id：{item}", "en": "duplicate id '{item}'"},
    "no_replies": {
        "zh": "没有可标注的回复（所有样本都缺少回复）",
        "en": "no sample with a reply to annotate",
    },
    "runs_share_nothing": {
        "zh": "这些运行结果没有共同的、带回复的样本 id",
        "en": "the runs share no sample id with a reply",
    },
    "not_mc_run": {
        "zh": "选择题人工复核需要选择题评测的结果（results.json 中 task 为 mc）",
        "en": "mc-review reads an MC run (results.json task 'mc')",
    },
    "no_need_check": {
        "zh": "该运行结果中没有需要复核（Need_Check）的条目",
        "en": "the run has no Need_Check row to review",
    },
    "task_closed": {
        "zh": "此任务已被管理员关闭，不再接受新的标注。",
        "en": "This task was closed by an admin and takes no new labels.",
    },
    # -- files the web app reads (uploads) ----------------------------------------------------
    "file_error_line": {
        "zh": "文件 {file} 第 {row} 行有误：{detail}",
        "en": "{file}, line {row}: {detail}",
    },
    "file_error": {"zh": "文件 {file} 有误：{detail}", "en": "{file}: {detail}"},
    # -- collection (collection.py) ----------------------------------------------------------
    "text_empty": {"zh": "内容不能为空", "en": "{what} is empty"},
    "text_over_limit": {
        "zh": "内容不能超过 {limit} 个字符",
        "en": "{what} is longer than {limit} characters",
    },
}


def english(key: str, fields: dict[str, Any], *, cli: bool = True) -> str:
    entry = ERROR_TEXTS[key]
    text = entry.get("cli", entry["en"]) if cli else entry["en"]
    return text.format(**fields)


class UserInputError(InputError):
    """An ``InputError`` whose message also exists in Chinese (``key`` into ``ERROR_TEXTS``)."""

    def __init__(
        self,
        key: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        flag: str | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(english(key, fields), path=path, line=line, flag=flag)
        self.key = key
        self.fields = fields


class KeyedValueError(ValueError):
    """A ``ValueError`` with a translatable message (labels, collected texts)."""

    def __init__(self, key: str, **fields: Any) -> None:
        super().__init__(english(key, fields, cli=False))
        self.key = key
        self.fields = fields
