"""Which rescore code runs (code_version.py): a checkout's commit, never the commit of a
repository that merely contains an installed copy, and for an installed one pip's record
or the commit setuptools-scm wrote into its version.

The checkouts and installed copies are made in tmp folders: a git repository with a
package committed in it, a copy of that package left untracked inside it (site-packages in
a project's .venv), a copy outside any repository, and a site folder with PEP 610 metadata.
"""

import json
import shutil
import subprocess

import pytest

from rescore.code_version import checkout_commit, code_commit, commit_from_direct_url, \
    commit_from_version, installed_commit

PIP_COMMIT = "0123456789abcdef0123456789abcdef01234567"

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                           "-c", "commit.gpgsign=false", *args], capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path):
    """A repository whose src/rescore/__init__.py is committed, with a README beside it."""
    repo = tmp_path / "repo"
    package = repo / "src" / "rescore"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (repo / "README.md").write_text("readme\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    return repo


@needs_git
def test_a_checkout_gives_its_head_and_dirty_only_for_the_package(checkout):
    package = checkout / "src" / "rescore"
    head = git(checkout, "rev-parse", "--short", "HEAD")
    assert len(head) >= 7
    assert checkout_commit(package) == head
    (checkout / "README.md").write_text("changed outside the package\n")
    assert checkout_commit(package) == head  # the code that runs is unchanged
    (package / "__init__.py").write_text('__version__ = "0.2.0"\n')
    assert checkout_commit(package) == head + "+dirty"
    assert code_commit(package) == head + "+dirty"


@needs_git
def test_an_untracked_copy_inside_a_repository_has_no_commit(checkout):
    """`pip install .` into the project's own .venv: git would answer for the repository
    around it, whose HEAD says nothing about the copy."""
    copy = checkout / ".venv" / "lib" / "site-packages" / "rescore"
    shutil.copytree(checkout / "src" / "rescore", copy)
    (checkout / ".gitignore").write_text(".venv/\n")
    assert subprocess.run(["git", "-C", str(copy), "rev-parse", "HEAD"],
                          capture_output=True).returncode == 0  # git itself would answer
    assert checkout_commit(copy) is None
    (checkout / ".gitignore").unlink()  # untracked, not ignored: the same
    assert checkout_commit(copy) is None


@needs_git
def test_a_copy_outside_any_repository_has_no_commit(tmp_path):
    copy = tmp_path / "site" / "rescore"
    copy.mkdir(parents=True)
    (copy / "__init__.py").write_text("")
    if subprocess.run(["git", "-C", str(copy), "rev-parse"], capture_output=True).returncode == 0:
        pytest.skip("the tmp folder is inside a git repository here")
    assert checkout_commit(copy) is None
    assert code_commit(copy) is None  # no installed metadata for this copy either


def site_with_install(tmp_path, direct_url, version="0.1.0"):
    """A site folder holding rescore and its dist-info as pip writes them."""
    site = tmp_path / "site"
    (site / "rescore").mkdir(parents=True)
    (site / "rescore" / "__init__.py").write_text("")
    info = site / f"rescore-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: rescore\nVersion: {version}\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    return site


def test_an_install_from_git_gives_the_commit_pip_recorded(tmp_path):
    site = site_with_install(tmp_path, {"url": "https://github.com/x/rescore.git",
                                        "vcs_info": {"vcs": "git", "commit_id": PIP_COMMIT}})
    assert installed_commit(site / "rescore", [str(site)]) == PIP_COMMIT


def test_an_install_without_git_metadata_or_from_the_index_has_no_commit(tmp_path):
    folder = site_with_install(tmp_path / "a", FOLDER_INSTALL)  # built without git: 0.1.0
    assert installed_commit(folder / "rescore", [str(folder)]) is None
    index = site_with_install(tmp_path / "b", None)  # no direct_url.json at all
    assert installed_commit(index / "rescore", [str(index)]) is None


FOLDER_INSTALL = {"url": "file:///src/rescore", "dir_info": {}}


@pytest.mark.parametrize("version, commit", [
    ("0.1.1.dev170+g818b90ae7", "818b90ae7"),  # `pip install .` of a clean checkout
    ("0.1.1.dev170+g818b90ae7.d20261201", "818b90ae7+dirty"),  # uncommitted changes
    ("0.1.1.dev170+g818b90ae7.d20261201123456", "818b90ae7+dirty"),  # node-and-timestamp
    ("0.1.dev3+g818b90a", "818b90a"),  # setuptools-scm 8: base 0.0, 7 digits
])
def test_a_folder_install_gives_the_commit_in_its_version(tmp_path, version, commit):
    site = site_with_install(tmp_path, FOLDER_INSTALL, version)
    assert installed_commit(site / "rescore", [str(site)]) == commit


def test_pips_record_wins_over_the_version(tmp_path):
    site = site_with_install(tmp_path, {"url": "https://github.com/x/rescore.git",
                                        "vcs_info": {"vcs": "git", "commit_id": PIP_COMMIT}},
                             "0.1.1.dev3+g818b90ae7")
    assert installed_commit(site / "rescore", [str(site)]) == PIP_COMMIT


@pytest.mark.parametrize("version", [None, "", "0.1.0", "0.1.1.dev170", "1.0+local",
                                     "0.1.1.dev2+gxyz1234", "0.1.1.dev2+g81b0",
                                     "0.2.0+d20261201", "0.1.1.dev2+g818b90ae7.d2026"])
def test_a_version_without_a_commit_gives_none(version):
    # a release, setuptools-scm's fallback (no git at build time), other local parts
    assert commit_from_version(version) is None


def test_metadata_of_another_installed_copy_is_not_this_ones(tmp_path):
    site = site_with_install(tmp_path, {"url": "https://github.com/x/rescore.git",
                                        "vcs_info": {"vcs": "git", "commit_id": PIP_COMMIT}})
    elsewhere = tmp_path / "checkout" / "rescore"  # what PYTHONPATH made Python import
    elsewhere.mkdir(parents=True)
    assert installed_commit(elsewhere, [str(site)]) is None


@pytest.mark.parametrize("text", [None, "", "not json", "[1, 2]", '{"vcs_info": "git"}',
                                  '{"vcs_info": {"vcs": "git", "commit_id": ""}}'])
def test_unreadable_or_commitless_direct_url_gives_none(text):
    assert commit_from_direct_url(text) is None
