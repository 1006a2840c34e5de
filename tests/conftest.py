import pytest
import torch

from r2route.engine import encode_prompt
from r2route.pair import PairConfig, load_pair

QUESTIONS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "Weng earns $12 an hour for babysitting. How much did she earn?",
    "hi",
    "Betty is saving money for a new wallet which costs $100. Betty has only half of the money she needs. "
    "Her parents decided to give her $15 for that purpose, and her grandparents twice as much as her parents.",
]


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run only where a GPU is."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pair():
    torch.set_num_threads(2)
    return load_pair(PairConfig(pair="tiny", device="cpu"))


@pytest.fixture(scope="session")
def prompts(pair):
    return [encode_prompt(pair.tokenizer, q) for q in QUESTIONS]
