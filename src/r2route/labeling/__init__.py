"""Router training data, made automatically (R2R's labeling): where the SLM's top-1 differs from
the LLM's answer, does the difference change the reasoning?"""

from .pipeline import LabelConfig, llm_writer, run_labeling
from .verifiers import build_verifier

__all__ = ["LabelConfig", "build_verifier", "llm_writer", "run_labeling"]
