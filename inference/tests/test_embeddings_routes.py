"""Which routes a model serves, by its catalog mode: /v1/embeddings only embedding models, every
other generation route only chat models (admission.check_mode, called by the auth hook)."""

import pytest

from inference.proxy.admission import InvalidValue, check_mode, worst_case
from inference.proxy.contract import MODE_CHAT, MODE_EMBEDDING, CatalogModel
from inference.proxy.routes import GENERATION_ROUTES

EMBEDDER = CatalogModel("e", "e", 512, input_price_per_mtok="0.02", output_price_per_mtok="0", mode=MODE_EMBEDDING)
CHATTER = CatalogModel("c", "c", 2048, input_price_per_mtok="1", output_price_per_mtok="2", mode=MODE_CHAT)
PATHS = sorted(path for _, path in GENERATION_ROUTES)


@pytest.mark.parametrize("path", PATHS)
def test_it_serves_each_route_with_the_models_of_its_mode_only(path):
    embeddings = path == "/v1/embeddings"
    served, refused = (EMBEDDER, CHATTER) if embeddings else (CHATTER, EMBEDDER)
    check_mode(served, path)
    with pytest.raises(InvalidValue) as error:
        check_mode(refused, path)
    assert (error.value.code, error.value.param) == ("model_not_supported", "model")
    assert repr(refused.name) in str(error.value) and "/v1/embeddings" in str(error.value)


def test_it_reserves_the_input_of_an_embedding_request_and_nothing_generated():
    body = {"model": "e", "input": ["a cat", "a dog"], "encoding_format": "float"}
    worst = worst_case(body, EMBEDDER, "/v1/embeddings")
    assert (worst.completions, worst.cap, worst.cap_field) == (0, 0, None)
    assert worst.tokens == worst.prompt_tokens > len("a cat") + len("a dog")
    assert worst.cost(price_in=20, price_out=10**6) == worst.prompt_tokens * 20  # the output price never counts
    assert worst.metadata() == {}  # no cap is written into the forwarded request
