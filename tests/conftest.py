pytest_plugins = [
    "tests.fixtures.people",
    "tests.fixtures.sandbox",
    "tests.fixtures.pipeline",
    "tests.fixtures.browser",
    "tests.fixtures.receiver",
]
