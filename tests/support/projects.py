"""Users' projects for the packaging tests: an sdist whose build code leaves a proof, a Node
project whose dependency has install scripts that would leave one."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import textwrap
from pathlib import Path

BACKEND = textwrap.dedent(
    '''
    """A build backend with no requirements: a wheel that is pure, or tagged for this CPython
    the way a compiled C extension's wheel is."""
    import base64, hashlib, os, sys, sysconfig, zipfile

    NAME, VERSION, PURE = {name!r}, "1.0", {pure!r}

    def _tag():
        if PURE:
            return "py3-none-any"
        py = "cp%d%d" % sys.version_info[:2]
        return "%s-%s-%s" % (py, py, sysconfig.get_platform().replace("-", "_").replace(".", "_"))

    def get_requires_for_build_wheel(config_settings=None):
        return []

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        dist, tag = "%s-%s" % (NAME, VERSION), _tag()
        info = dist + ".dist-info/"
        files = {{
            NAME + ".py": b"VALUE = 42\\n",
            info + "METADATA": ("Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n"
                                % (NAME, VERSION)).encode(),
            info + "WHEEL": ("Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: %s\\n"
                             "Tag: %s\\n" % (str(PURE).lower(), tag)).encode(),
        }}
        def digest(data):
            raw = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            return "sha256=" + raw.decode()
        record = "".join("%s,%s,%d\\n" % (n, digest(d), len(d)) for n, d in files.items())
        files[info + "RECORD"] = (record + info + "RECORD,,\\n").encode()
        name = "%s-%s.whl" % (dist, tag)
        with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as archive:
            for member, data in files.items():
                archive.writestr(member, data)
        return name
    '''
)


PYPROJECT = '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'


def make_sdist(folder: Path, name: str, pure: bool, proof: Path | None = None) -> None:
    """`name-1.0.tar.gz`: an sdist with an in-tree build backend (no build dependencies).

    With `proof`, the backend appends a line to that file whenever pip runs it (on import:
    any build hook, metadata included), as a setup.py or any build code could.
    """
    ran = f"open({str(proof)!r}, 'a').write({name!r} + ' build code ran\\n')\n" if proof else ""
    members = {
        "pyproject.toml": PYPROJECT,
        "backend.py": ran + BACKEND.format(name=name, pure=pure),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
    }
    if not pure:
        members[f"{name}.c"] = "/* the extension module's source */\n"
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / f"{name}-1.0.tar.gz", "w:gz") as archive:
        for member, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-1.0/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def project_with_scripted_dependency(app: Path, proof: Path) -> None:
    """A handler whose `file:` dependency has install and postinstall scripts that each write
    a proof file (as a package's scripts would do anything else on the deployer's machine)."""
    dep = app / "vendor" / "noisy"
    dep.mkdir(parents=True)
    write = "require('fs').appendFileSync(process.env.PROOF_FILE, '{hook}\\n')"
    (dep / "package.json").write_text(
        json.dumps(
            {
                "name": "noisy",
                "version": "1.0.0",
                "bin": {"noisy-tool": "tool.sh"},
                "scripts": {
                    "install": f'node -e "{write.format(hook="install")}"',
                    "postinstall": f'node -e "{write.format(hook="postinstall")}"',
                },
            }
        )
    )
    (dep / "index.js").write_text("module.exports = () => 'quiet';\n")
    (dep / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    (dep / "tool.sh").chmod(0o755)
    (app / "handler.js").write_text(
        "const noisy = require('noisy');\nexports.main = async () => noisy();\n"
    )
    (app / "package.json").write_text(
        json.dumps(
            {"name": "app", "version": "1.0.0", "dependencies": {"noisy": "file:./vendor/noisy"}}
        )
    )
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--offline", "--ignore-scripts", "--no-audit",
         "--no-fund", "--install-links=true"],
        cwd=app, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert not proof.exists()  # writing the lock file ran nothing
