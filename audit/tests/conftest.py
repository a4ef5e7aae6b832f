from accounts.tests.conftest import fast_passwords  # noqa: F401 - the fixture, for these tests too
