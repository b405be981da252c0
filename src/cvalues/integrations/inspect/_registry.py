"""The module inspect_ai's entry point imports: importing it registers the tasks (``@task``)."""

from cvalues.integrations.inspect._tasks import cvalues_generate, cvalues_mc, mc_answer, refusal

__all__ = ["cvalues_generate", "cvalues_mc", "mc_answer", "refusal"]
