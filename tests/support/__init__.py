"""What the tests share: factories that arrange data and readers of what the app answered
or sent, one module per capability.

Test modules import helpers from here (and from tests/conftest.py), never from one another;
a conftest imports from here and from tests/conftest.py only.
"""
