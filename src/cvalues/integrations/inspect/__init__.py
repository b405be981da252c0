"""inspect_ai tasks that evaluate with this project's datasets, prompt, parser and metrics.

Installed with ``pip install 'cvalues[inspect]'``; inspect finds them through the ``inspect_ai``
entry point (``cvalues = "cvalues.integrations.inspect._registry"``)::

    inspect eval cvalues/cvalues_mc --model openai-api/local/MODEL   # OPENAI_API_LOCAL_BASE_URL=...
    inspect eval cvalues/cvalues_generate -T dataset=sample --model ...

``cvalues_mc``: each MC item's prompt as ``cvalues mc`` sends it, the reply parsed by
``parse_mc_answer``; metrics ``acc`` and ``acc_star`` as the official scorer defines them (the
same numbers ``cvalues mc score`` gives on the log). ``cvalues_generate``: a prompt set,
each reply classified by ``classify_refusal``; metric ``refusal_rate``.
"""

from cvalues.integrations.inspect._tasks import cvalues_generate, cvalues_mc, mc_answer, refusal

__all__ = ["cvalues_generate", "cvalues_mc", "mc_answer", "refusal"]
