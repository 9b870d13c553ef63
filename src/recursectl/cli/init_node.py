"""`recursectl init --runtime nodejsNN.x`: a Node.js project in the seed's spirit."""

from __future__ import annotations

import json

from recursectl.build import runtimes
from recursectl.build.package import templates_dir

HANDLER = "handler.js:recursiveExample"


def node_files(name: str, runtime: str) -> dict[str, str]:
    """handler.js, package.json and the recursectl.toml lines of a Node project."""
    from recursectl.aws.model import lambda_runtimes

    runtimes.check(runtime, runtimes.NODE, known=lambda_runtimes())
    templates = templates_dir()
    config = (
        (templates / "recursectl.toml")
        .read_text(encoding="utf-8")
        .replace("{name}", name)
        .replace('handler = "handler.py:handler"', f'handler = "{HANDLER}"')
        .replace('runtime = "python3.13"', f'runtime = "{runtime}"')
        .replace("together with recursectl_chain.py", "together with recursectl_chain.cjs")
        .replace("self-invoke made through boto3", "self-invoke made through the AWS SDK")
    )
    manifest = {
        "name": name.lower(),
        "version": "1.0.0",
        "private": True,
        "description": "A recursive Lambda function, deployed with recursectl",
        "main": "handler.js",
        "license": "UNLICENSED",
        # The runtime provides @aws-sdk/client-lambda; `dependencies` would be packaged.
        "dependencies": {},
    }
    return {
        "recursectl.toml": config,
        "handler.js": (templates / "node" / "init" / "handler.js").read_text(encoding="utf-8"),
        "package.json": json.dumps(manifest, indent=2) + "\n",
    }
