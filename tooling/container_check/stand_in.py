"""The stand-in for the base image the Dockerfiles name (podman path): built with debootstrap from Debian's
packages when no Docker engine can pull the real one, cached in podman's storage under a hash of all its
inputs, and how images built on it differ from images built on the real base.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tooling.container_check.errors import CheckFailed
from tooling.container_check.processes import output, run_logged, tail
from tooling.container_check.report import Report, say, timed

# The stand-in base: what the issue that introduced it specifies, and nothing else.
STAND_IN_VARIANT = "minbase"
STAND_IN_PACKAGES = ("python3", "python3-venv", "ca-certificates")
STAND_IN_LABEL = "org.creditrisk.stand-in.hash"
STAND_IN_CACHE_REPO = "localhost/creditrisk-stand-in"
STAND_IN_CHANGES = (
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)
# pip inside the build verifies the package index against this bundle (Debian's ca-certificates
# package writes it); the host's copy goes in, so the build trusts what the host trusts.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
APT_DIR = Path("/etc/apt")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_IMAGE = re.compile(r"^(?:docker\.io/(?:library/)?)?python:(?P<python>\d+\.\d+\.\d+)-slim-(?P<suite>[a-z]+)"
                        r"(?P<digest>@sha256:[0-9a-f]{64})?$")
INSTALL_HINT = "apt-get install --no-install-recommends podman buildah debootstrap (what .ci/run does)"


def apt_source_uris(apt_dir: Path, suite: str) -> list[str]:
    """Mirrors the host's apt sources use for `suite` (deb822 .sources and one-line .list)."""
    uris = []
    for path in sorted(apt_dir.glob("sources.list.d/*.sources")):
        for paragraph in re.split(r"\n\s*\n", path.read_text()):
            fields = {}
            for line in paragraph.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and suite in fields.get("suites", []):
                uris += fields.get("uris", [])
    for path in [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*.list"))]:
        for line in path.read_text().splitlines() if path.exists() else []:
            words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                uris.append(words[1])
    return uris


def debian_mirror(suite: str, apt_dir: Path = APT_DIR) -> str:
    return os.environ.get("DEBIAN_MIRROR") or next(iter(apt_source_uris(apt_dir, suite)), DEFAULT_MIRROR)


def stand_in_recipe(base: str, mirror: str, ca_bundle: Path = HOST_CA_BUNDLE) -> dict[str, object]:
    match = BASE_IMAGE.match(base)
    if not match:
        raise CheckFailed(f"the stand-in imitates python:<x.y.z>-slim-<debian suite> only, not {base!r}")
    if match.group("digest"):
        raise CheckFailed(f"{base} is pinned by digest, which no locally built stand-in can match")
    if not ca_bundle.is_file():
        raise CheckFailed(f"{ca_bundle} is missing: install Debian's ca-certificates package on the host")
    return {"base": base, "python": match.group("python"), "suite": match.group("suite"),
            "variant": STAND_IN_VARIANT, "packages": list(STAND_IN_PACKAGES), "mirror": mirror,
            "changes": list(STAND_IN_CHANGES), "python_link": "/usr/local/bin/python -> /usr/bin/python3",
            "ca_bundle_sha256": hashlib.sha256(ca_bundle.read_bytes()).hexdigest()}


def recipe_hash(recipe: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def image_config_or_none(image: str) -> dict | None:
    """`podman image inspect`'s record of the image, or None when podman has no such image."""
    completed = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, timeout=60)
    return json.loads(completed.stdout)[0] if completed.returncode == 0 else None


def is_real_base(inspected: dict, python: str) -> bool:
    """The official image records its Python version in PYTHON_VERSION; a stand-in does not."""
    return f"PYTHON_VERSION={python}" in ((inspected.get("Config") or {}).get("Env") or [])


def ensure_stand_in(base: str, work: Path, report: Report, rebuild: bool = False) -> None:
    """Make `base` resolve to the stand-in in podman's storage, building it only when no
    image carries the hash of its current inputs."""
    recipe = stand_in_recipe(base, debian_mirror(str(BASE_IMAGE.match(base).group("suite"))))
    digest = recipe_hash(recipe)
    cached = f"{STAND_IN_CACHE_REPO}:{digest}"
    found = image_config_or_none(base)
    labels = (found or {}).get("Labels") or {}
    report.base.update(image=base, stand_in=True, hash=digest, mirror=recipe["mirror"])
    if found is not None and is_real_base(found, str(recipe["python"])) and not rebuild:
        report.base.update(stand_in=False, reused=True)
        report.notes.append(f"{base} in podman's storage is the real image (PYTHON_VERSION {recipe['python']}): "
                            "used instead of a stand-in")
        return
    if not rebuild and labels.get(STAND_IN_LABEL) == digest:
        report.base.update(reused=True)
    elif not rebuild and image_config_or_none(cached) is not None:
        output(["podman", "tag", cached, base])
        report.base.update(reused=True)
    else:
        with timed(report.base):
            build_stand_in(recipe, digest, work / "stand-in", [base, cached])
        report.base.update(reused=False)
    say(f"    stand-in {digest} {'reused' if report.base['reused'] else 'built'}")


def build_stand_in(recipe: dict[str, object], digest: str, work: Path, names: list[str]) -> None:
    for tool in ("debootstrap", "tar"):
        if not shutil.which(tool):
            raise CheckFailed(f"{tool} is needed to build the stand-in base: {INSTALL_HINT}")
    rootfs, log = work / "rootfs", work / "debootstrap.log"
    work.mkdir(parents=True)
    say(f"    debootstrap --variant={recipe['variant']} {recipe['suite']} from {recipe['mirror']}")
    completed = run_logged(["debootstrap", f"--variant={recipe['variant']}", f"--include={','.join(recipe['packages'])}",
                            str(recipe["suite"]), str(rootfs), str(recipe["mirror"])], log, timeout=1200)
    if completed.returncode != 0:
        raise CheckFailed(f"debootstrap failed (is {recipe['mirror']} reachable?):\n{tail(log)}")
    shutil.copyfile(HOST_CA_BUNDLE, rootfs / HOST_CA_BUNDLE.relative_to("/"))
    (rootfs / "usr/local/bin/python").symlink_to("/usr/bin/python3")
    for cache in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for path in (rootfs / cache).glob("*"):
            if path.is_file():
                path.unlink()
    changes = [*recipe["changes"], f"LABEL {STAND_IN_LABEL}={digest}"]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    imported = run_logged(["podman", "import", *[f"--change={change}" for change in changes], "-", names[0]],
                          work / "import.log", timeout=600, stdin=tar.stdout)
    tar.stdout.close()
    if tar.wait() != 0 or imported.returncode != 0:
        raise CheckFailed(f"importing the stand-in failed:\n{tail(work / 'import.log')}")
    for name in names[1:]:
        output(["podman", "tag", names[0], name])
    shutil.rmtree(work, ignore_errors=True)


def stand_in_differences(report: Report, facts: dict[str, str]) -> None:
    """How the images built on the stand-in differ from images built on the real base."""
    if not report.base.get("stand_in"):
        return
    real = str(report.base["image"])
    version = BASE_IMAGE.match(real).group("python")
    report.differences += [
        f"Python {facts['python']} from Debian's python3 package, against {version} built from source in {real}",
        f"python is {facts['executable']} with a link in /usr/local/bin; {real} installs it in /usr/local",
        f"the venv's pip is {facts['pip']} (Debian's ensurepip wheel); {real}'s ensurepip brings its own pip",
        "no pip outside the venv (the Dockerfiles use only the venv's)",
        "debootstrap's minbase (apt, no docs stripped) instead of debian:<suite>-slim; no PYTHON_VERSION or "
        "GPG_KEY in the environment",
        "the host's CA bundle in /etc/ssl/certs/ca-certificates.crt, not Debian's as shipped",
        "built by podman (Docker image format, chroot isolation), not BuildKit",
        "run by buildah on the host's network: servers moved to free loopback ports instead of port mappings; "
        "no memory or CPU limits (peak memory is measured against compose's limits instead); no restart "
        "policies; the named volume is a host directory owned like the image's /workspace",
    ]
