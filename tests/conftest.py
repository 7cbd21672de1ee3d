pytest_plugins = ["tests.fixtures.people", "tests.fixtures.pipeline"]
