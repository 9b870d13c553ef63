"""recursectl: deploy, invoke and watch self-invoking AWS Lambda functions safely."""

__version__ = "0.1.0"
