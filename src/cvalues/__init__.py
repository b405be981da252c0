"""cvalues: measure how well large language models hold human values in Chinese.

Level-1 safety and Level-2 responsibility, by the CValues method (Xu et al. 2023,
arXiv 2307.09705).
"""

__version__ = "0.1.0"
