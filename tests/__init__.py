import pytest

# The shared helpers assert too: rewrite them as pytest rewrites the tests.
pytest.register_assert_rewrite("tests.support")
