"""The route parameter types of the web app, from the grammar in ``ids`` (which stays free of
FastAPI, so that the commands that check task ids do not import the web framework)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam

from cvalues.annotate.ids import MAX_ROW_ID, TASK_ID_PATTERN

# A value outside them fails validation, which the app answers with 404.
TaskIdParam = Annotated[str, PathParam(pattern=TASK_ID_PATTERN, max_length=64)]
RowIdParam = Annotated[int, PathParam(ge=0, le=MAX_ROW_ID)]
