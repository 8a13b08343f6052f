"""What several test files share (fixtures' builders, fakes, the kill-and-resume machinery); never tests themselves.

Test files import these as `helpers.NAME` (`tests/` is on sys.path: `pythonpath` in pyproject.toml), and no test
file imports another."""
