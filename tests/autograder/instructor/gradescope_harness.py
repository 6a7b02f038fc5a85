"""``unshare -m --propagation private python gradescope_harness.py PLAN.json``: Gradescope's
harness, as it really runs, in a private mount namespace (nothing of the real ``/`` changes).

Needs root. In the namespace it builds a new root on a tmpfs: the machine's system folders bound
read-only, a writable copy of ``/etc`` (``setup.sh``'s ``useradd`` writes there), a fresh ``/tmp``
and an empty ``/autograder``; it ``pivot_root``s into it (not ``chroot``, inside which the kernel
refuses user namespaces). Then, exactly as Gradescope's image build and harness do:

1. the bundle is unzipped into ``/autograder/source``, ``source/run_autograder`` is copied to
   ``/autograder/run_autograder``, and ``setup.sh`` runs once, as root, in ``/autograder/source``;
2. for each run of the plan: ``/autograder/submission`` gets the submission (a folder's contents,
   or one file such as ``handin.zip``), ``/autograder/results`` is emptied, and
   ``/autograder/run_autograder`` runs as root with the working directory ``/autograder``, plainly
   or under ``docker_seccomp.py`` (Docker's default profile, as far as namespaces go). Its
   results.json and stdout (the autograder output the course staff see) are copied to the plan's
   ``out`` folder.

PLAN.json: {"bundle", "out", "newroot", "launcher", "user", "repo", "submissions": {name: path},
"runs": [{"name", "submission", "seccomp": "" | "docker" | "docker-no-landlock", "check_args",
"env"}]}. ``out/harness.json`` says what happened outside the runs (setup.sh, the uid of the
unprivileged user, whether ``unshare -U`` fails under the filter).

The machine's interpreter (``sys.executable``) plays the image's system-wide Python (Gradescope's
``setup.sh`` installs NumPy with it): when it lives under a private home folder (pyenv in
``/root``), the new root shows only that interpreter's folder there, traversable by everyone.
pip runs with ``PIP_NO_INDEX=1``: the test never uses the network (the dependencies are present).
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

SPECIAL = {"proc", "sys", "dev"}  # bound whole (recursively), writable as they are


def sh(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True)


def bind(src, dest, read_only=True):
    sh("mount", "--rbind", str(src), str(dest))
    if read_only:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(dest)], capture_output=True)


def world_traversable(path):
    return bool(os.stat(path).st_mode & stat.S_IXOTH)


def build_root(new, repo):
    sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(new))
    prefix = Path(os.path.realpath(sys.prefix))
    skip = {Path(repo).resolve().parts[1], "autograder", "tmp", "etc"}
    for entry in sorted(os.listdir("/")):
        src, dest = Path("/") / entry, new / entry
        if src.is_symlink():
            os.symlink(os.readlink(src), dest)
        elif not src.is_dir() or entry in skip - {prefix.parts[1]}:
            continue
        elif entry in SPECIAL:
            dest.mkdir()
            bind(src, dest, read_only=False)
        elif world_traversable(src):
            dest.mkdir()
            bind(src, dest)
    shutil.copytree("/etc", new / "etc", symlinks=True)
    for name in ("tmp", "autograder"):
        (new / name).mkdir()
        sh("mount", "-t", "tmpfs", "-o", "mode=1777" if name == "tmp" else "mode=0755", "tmpfs",
           str(new / name))
    # the interpreter: under a folder others cannot enter (/root), show only its own folder
    for depth in range(1, len(prefix.parts)):
        ancestor = Path(*prefix.parts[:depth + 1])
        if not world_traversable(ancestor):
            target = new / ancestor.relative_to("/")
            if not target.exists():
                target.mkdir()
            sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(target))
            inner = new / prefix.relative_to("/")
            inner.mkdir(parents=True)
            bind(prefix, inner)
            break


def pivot(new):
    old = new / ".old-root"
    old.mkdir()
    os.chdir(new)
    sh("pivot_root", ".", ".old-root")
    os.chdir("/")
    sh("umount", "-l", "/.old-root")
    os.rmdir("/.old-root")


def unzip(bundle, dest):
    """Unzip keeping each entry's mode, as Gradescope's build does."""
    with zipfile.ZipFile(bundle) as zf:
        for info in zf.infolist():
            path = zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(path, mode)


def environment():
    """The harness's environment: a plain root shell with the image's python3 on the PATH."""
    path = os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/sbin", "/usr/local/bin",
                            "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    return {"PATH": path, "HOME": "/root", "LANG": "C.UTF-8", "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore"}


def place(submission, dest):
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    if submission.is_dir():
        shutil.copytree(submission, dest, dirs_exist_ok=True)
    else:
        shutil.copy(submission, dest / submission.name)


def main(plan_file):
    plan = json.loads(Path(plan_file).read_text())
    new, out = Path(plan["newroot"]), Path(plan["out"])
    stage = new.parent / "stage"  # the plan's files, seen from the new root as /harness
    stage.mkdir()
    shutil.copy(plan["bundle"], stage / "autograder.zip")
    shutil.copy(plan["launcher"], stage / "docker_seccomp.py")
    for name, path in plan["submissions"].items():
        (shutil.copytree if Path(path).is_dir() else shutil.copy)(path, stage / name)
    build_root(new, plan["repo"])
    (new / "harness").mkdir()
    bind(stage, new / "harness")
    (new / "harness-out").mkdir()
    bind(out, new / "harness-out", read_only=False)
    pivot(new)
    harness, out, env = Path("/harness"), Path("/harness-out"), environment()
    # Gradescope's image build
    (Path("/autograder/source")).mkdir()
    unzip(harness / "autograder.zip", "/autograder/source")
    shutil.copy("/autograder/source/run_autograder", "/autograder/run_autograder")
    setup = subprocess.run(["bash", "./setup.sh"], cwd="/autograder/source", env=env,
                           capture_output=True, text=True)
    launcher = [sys.executable, str(harness / "docker_seccomp.py")]
    refused = subprocess.run(launcher + ["unshare", "-U", "true"], capture_output=True,
                             text=True, env=env)
    facts = {"setup_status": setup.returncode, "setup_output": setup.stdout + setup.stderr,
             "unshare_under_filter": [refused.returncode, refused.stderr.strip()]}
    try:
        import pwd
        facts["user_uid"] = pwd.getpwnam(plan["user"]).pw_uid
    except KeyError:
        facts["user_uid"] = None
    (out / "harness.json").write_text(json.dumps(facts))
    if setup.returncode != 0:
        return 1
    # Gradescope's harness, once per submission
    for run in plan["runs"]:
        place(harness / run["submission"], Path("/autograder/submission"))
        shutil.rmtree("/autograder/results", ignore_errors=True)
        cmd = ["/autograder/run_autograder"]
        if run["seccomp"]:
            cmd = launcher + (["--no-landlock"] if run["seccomp"] == "docker-no-landlock"
                              else []) + cmd
        proc = subprocess.run(cmd, cwd="/autograder", capture_output=True, text=True,
                              env=dict(env, GRADER_CHECK_ARGS=run.get("check_args", ""),
                                       **run.get("env", {})))
        (out / f"{run['name']}.stdout").write_text(
            f"exit status {proc.returncode}\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        results = Path("/autograder/results/results.json")
        if results.is_file():
            shutil.copy(results, out / f"{run['name']}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
