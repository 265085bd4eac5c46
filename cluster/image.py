"""Build the ``raftkv`` container image without any registry.

There is nothing to pull, so the image is assembled ``FROM scratch``: the node is
compiled on the host (``cargo build --release`` in ``cluster/node``), then a root
filesystem is staged with

* ``/raftkv`` (the stripped binary) as the entrypoint,
* every shared library ``ldd`` lists for it, at the path ``ldd`` names (symlinks
  resolved to real files), and the dynamic loader at the binary's interpreter path,
* libfaketime (``/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1``) and its
  libraries, so clock faults can be injected with ``LD_PRELOAD``,
* ``/etc/nsswitch.conf`` (plus glibc's files/dns NSS modules) so host names resolve,
* empty ``/tmp`` and ``/data``.

A ``Dockerfile`` that copies that tree is written next to it and built with the
``docker`` Python SDK, tagged ``raftkv:<crate version>`` and ``raftkv:latest``.

Usage::

    python -m cluster.image [--tag raftkv:0.1.0] [--debug]

or ``from cluster.image import build_image; build_image()``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parent / "node"
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
NSS_MODULES = ("libnss_files.so.2", "libnss_dns.so.2")
LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu")
IMAGE_NAME = "raftkv"

NSSWITCH = """\
passwd:         files
group:          files
hosts:          files dns
networks:       files
"""

DOCKERFILE = """\
FROM scratch
COPY rootfs/ /
ENV LD_LIBRARY_PATH={lib_path}
LABEL org.opencontainers.image.title="raftkv" org.opencontainers.image.version="{version}"
EXPOSE 8000 9000
ENTRYPOINT ["/raftkv"]
"""


def crate_version() -> str:
    """The ``version`` of the raftkv crate (``cluster/node/Cargo.toml``)."""
    with open(NODE_DIR / "Cargo.toml", "rb") as f:
        return str(tomllib.load(f)["package"]["version"])


def cargo_build(release: bool = True) -> Path:
    """Compile the node; returns the binary's path."""
    cmd = ["cargo", "build", "--bin", "raftkv", "-j", os.environ.get("CARGO_BUILD_JOBS", "2")]
    if release:
        cmd.append("--release")
    subprocess.run(cmd, cwd=NODE_DIR, check=True)
    binary = NODE_DIR / "target" / ("release" if release else "debug") / "raftkv"
    if not binary.is_file():
        raise FileNotFoundError(f"cargo did not produce {binary}")
    return binary


def interpreter(binary: Path) -> str | None:
    """The ELF program interpreter (dynamic loader) path of ``binary``."""
    out = subprocess.run(
        ["readelf", "-l", str(binary)], capture_output=True, text=True, check=False
    )
    m = re.search(r"Requesting program interpreter: ([^\]]+)\]", out.stdout)
    return m.group(1).strip() if m else None


def shared_libs(path: Path) -> list[str]:
    """Absolute paths of the libraries ``ldd`` resolves for ``path`` (loader included)."""
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=True).stdout
    libs: list[str] = []
    for line in out.splitlines():
        line = line.strip()
        if "=>" in line:
            target = line.split("=>", 1)[1].strip().split(" (", 1)[0].strip()
            if target.startswith("/"):
                libs.append(target)
            elif target != "" and "not found" in line:
                raise RuntimeError(f"ldd: {line}")
        elif line.startswith("/"):
            libs.append(line.split(" (", 1)[0].strip())
    return libs


def _install(src: str | Path, rootfs: Path, dest: str | None = None) -> None:
    """Copy the real file behind ``src`` to ``rootfs/<dest or src>``."""
    target = rootfs / (dest or str(src)).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    real = Path(os.path.realpath(src))
    shutil.copy2(real, target)


def stage_rootfs(binary: Path, rootfs: Path) -> None:
    """Lay out the image's root filesystem under ``rootfs``."""
    rootfs.mkdir(parents=True, exist_ok=True)
    _install(binary, rootfs, "/raftkv")
    os.chmod(rootfs / "raftkv", 0o755)
    files: set[str] = set(shared_libs(binary))
    loader = interpreter(binary)
    if loader:
        files.add(loader)
    if FAKETIME_LIB.is_file():
        files.add(str(FAKETIME_LIB))
        files.update(shared_libs(FAKETIME_LIB))
    else:
        print(
            f"warning: {FAKETIME_LIB} missing (apt-get install libfaketime); "
            "clock faults will not work in this image",
            file=sys.stderr,
        )
    for name in NSS_MODULES:
        for d in LIB_DIRS:
            if Path(d, name).exists():
                files.add(str(Path(d, name)))
                break
    for f in sorted(files):
        _install(f, rootfs)
    etc = rootfs / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "nsswitch.conf").write_text(NSSWITCH)
    (etc / "passwd").write_text("root:x:0:0:root:/:/raftkv\n")
    (etc / "group").write_text("root:x:0:\n")
    for d, mode in (("tmp", 0o1777), ("data", 0o755)):
        (rootfs / d).mkdir(exist_ok=True)
        os.chmod(rootfs / d, mode)


def build_image(tag: str | None = None, release: bool = True) -> str:
    """Build the node and its image; returns the tag.

    ``tag`` defaults to ``raftkv:<crate version>``; ``raftkv:latest`` is always
    applied too. Nothing is pulled (the base is ``scratch``).
    """
    try:
        import docker
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise RuntimeError("the docker Python SDK is missing: pip install docker") from e

    version = crate_version()
    tag = tag or f"{IMAGE_NAME}:{version}"
    binary = cargo_build(release)
    with tempfile.TemporaryDirectory(prefix="raftkv-image-") as tmp:
        ctx = Path(tmp)
        stage_rootfs(binary, ctx / "rootfs")
        (ctx / "Dockerfile").write_text(
            DOCKERFILE.format(lib_path=":".join(LIB_DIRS), version=version)
        )
        client = docker.from_env()
        image, _logs = client.images.build(
            path=str(ctx), tag=tag, pull=False, rm=True, forcerm=True
        )
    for extra in {f"{IMAGE_NAME}:{version}", f"{IMAGE_NAME}:latest"} - {tag}:
        repo, _, t = extra.partition(":")
        image.tag(repo, t)
    return tag


def image_size(tag: str) -> int:
    """Size in bytes of a local image."""
    import docker

    return int(docker.from_env().images.get(tag).attrs["Size"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m cluster.image", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--tag", default=None, help="image tag (default raftkv:<crate version>)")
    p.add_argument("--debug", action="store_true", help="use a debug build instead of release")
    args = p.parse_args(argv)
    try:
        tag = build_image(args.tag, release=not args.debug)
    except (subprocess.CalledProcessError, RuntimeError, FileNotFoundError) as e:
        print(f"image build failed: {e}", file=sys.stderr)
        return 1
    print(f"built {tag} (+ {IMAGE_NAME}:latest), {image_size(tag) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
