"""Human evaluation: a web app for safety labels, responsibility scores, pairwise comparisons and
MC-answer review, with accounts and roles, agreement and adjudication, exports, and red-team and
expert prompt collection.

``create_app(store)`` builds the FastAPI app; the ``cvalues annotate`` commands drive the rest.
Names are imported on first use, so the commands that do not serve pages never import FastAPI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Accounts": "cvalues.annotate.accounts",
    "User": "cvalues.annotate.accounts",
    "TaskAgreement": "cvalues.annotate.agreement_report",
    "agreement_lines": "cvalues.annotate.agreement_report",
    "disagreement_rows": "cvalues.annotate.agreement_report",
    "task_agreement": "cvalues.annotate.agreement_report",
    "create_app": "cvalues.annotate.app",
    "Collection": "cvalues.annotate.collection",
    "EXPORT_FORMATS": "cvalues.annotate.exchange",
    "export_task": "cvalues.annotate.exchange",
    "import_labels": "cvalues.annotate.exchange",
    "write_task_results": "cvalues.annotate.human_results",
    "RedTeamTarget": "cvalues.annotate.redteam_target",
    "TaskStore": "cvalues.annotate.task_store",
}

if TYPE_CHECKING:
    from cvalues.annotate.accounts import Accounts, User
    from cvalues.annotate.agreement_report import (
        TaskAgreement,
        agreement_lines,
        disagreement_rows,
        task_agreement,
    )
    from cvalues.annotate.app import create_app
    from cvalues.annotate.collection import Collection
    from cvalues.annotate.exchange import EXPORT_FORMATS, export_task, import_labels
    from cvalues.annotate.human_results import write_task_results
    from cvalues.annotate.redteam_target import RedTeamTarget
    from cvalues.annotate.task_store import TaskStore


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cvalues.annotate' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "EXPORT_FORMATS",
    "Accounts",
    "Collection",
    "RedTeamTarget",
    "TaskAgreement",
    "TaskStore",
    "User",
    "agreement_lines",
    "create_app",
    "disagreement_rows",
    "export_task",
    "import_labels",
    "task_agreement",
    "write_task_results",
]
