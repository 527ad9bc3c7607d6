"""Which rescore code is running: the git commit it was imported from, for the bench's
records and each run's segments.jsonl (train/provenance.py).

A checkout (an editable install, PYTHONPATH=src) names its commit, "+dirty" when tracked
files of the package have changed. An installed copy (`pip install .`) has no checkout
beside it; a git repository around it (site-packages in a project's `.venv`) is another
code's, so only a package whose files that repository tracks counts. For an installed
copy the commit is what pip recorded at install time (PEP 610's direct_url.json), which
it does only for `pip install git+URL@rev`, or else the one setuptools-scm wrote into the
version when the copy was built from a checkout (`pip install .`: 0.1.1.dev170+g818b90ae7,
".dYYYYMMDD" after it when the checkout had uncommitted changes). A copy built without git
(a source archive: the fallback version 0.1.0) names none, nor does one built at a release
tag (version X.Y.Z: the tag names the commit): None.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import List, Optional

PACKAGE_DIR = Path(__file__).resolve().parent
DISTRIBUTION = "rescore"


def code_commit(package_dir: Path = PACKAGE_DIR) -> Optional[str]:
    """The commit of the rescore code in `package_dir` (git's abbreviation in a checkout,
    pip's full id for a git install), or None where neither says."""
    return checkout_commit(package_dir) or installed_commit(package_dir)


def checkout_commit(package_dir: Path) -> Optional[str]:
    """HEAD of the git work tree that tracks `package_dir` ("+dirty" when its tracked files
    differ from HEAD), or None when git is missing or the package is not tracked there."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(package_dir), *args], capture_output=True,
                              text=True, timeout=10)
    try:
        if git("ls-files", "--error-unmatch", "--", "__init__.py").returncode != 0:
            return None  # no repository, or one that does not track this copy (a .venv)
        head = git("rev-parse", "--short", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".").stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def installed_commit(package_dir: Path, search_path: Optional[List[str]] = None
                     ) -> Optional[str]:
    """The commit pip recorded when it installed the copy in `package_dir` from git, or None.
    `search_path`: where to look for installed packages (default sys.path). Metadata of
    another installed copy than the one imported (PYTHONPATH pointing elsewhere) is not
    taken for this one's."""
    path = sys.path if search_path is None else search_path
    for dist in metadata.distributions(name=DISTRIBUTION, path=path):
        installed = Path(dist.locate_file(f"{DISTRIBUTION}/__init__.py"))
        if installed.resolve() == (Path(package_dir) / "__init__.py").resolve():
            return (commit_from_direct_url(dist.read_text("direct_url.json"))
                    or commit_from_version(dist.version))
    return None


# setuptools-scm's local version part: "+g<abbreviated commit>", then ".d<date>" when the
# work tree was dirty at build time (its default local scheme, node-and-date; with
# node-and-timestamp ".d<date><time>"). At a release tag it writes no commit: the tag names it.
SCM_LOCAL_VERSION = re.compile(r"\+g(?P<commit>[0-9a-f]{7,40})(?P<dirty>\.d\d{8}(\d{6})?)?$")


def commit_from_version(version: Optional[str]) -> Optional[str]:
    """The commit setuptools-scm put into a built copy's version ("+dirty" when the checkout
    had uncommitted changes), or None for a version without one (a release or fallback)."""
    match = SCM_LOCAL_VERSION.search(version or "")
    if match is None:
        return None
    return match["commit"] + ("+dirty" if match["dirty"] else "")


def commit_from_direct_url(text: Optional[str]) -> Optional[str]:
    """vcs_info.commit_id of a PEP 610 direct_url.json (None for a folder, an archive or an
    index install, which record no commit, and for an unreadable file)."""
    try:
        commit = json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None
    return commit if isinstance(commit, str) and commit else None
