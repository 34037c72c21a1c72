"""chimcollect top in tmux: the screen shows the instrumented process and
its routes with rates, a sort key changes the sort line, `q` quits (the
pane's command ends). Without a terminal, top prints one snapshot."""
import shutil
import subprocess
import threading
import time
from fleettest import *  # noqa: F403

if not shutil.which("tmux"):
    skip("tmux not installed (tools/deps.sh --test)")

d = segdir()
app, port = start_app(d)
load(port, ["/ok", "/users/5"], 5)
sess = f"chimtop{os.getpid()}"
tmux = ["tmux", "-L", sess]
stop_load = threading.Event()


def keep_loading():
    while not stop_load.is_set():
        load(port, ["/users/9", "/ok"], 20)
        time.sleep(0.05)


def screen():
    return subprocess.run(tmux + ["capture-pane", "-p", "-t", sess], capture_output=True,
                          text=True).stdout


def wait_screen(pred, timeout=10):
    end = time.time() + timeout
    s = ""
    while time.time() < end:
        s = screen()
        if pred(s):
            return s
        time.sleep(0.2)
    return s


th = threading.Thread(target=keep_loading)
th.start()
try:
    subprocess.run(tmux + ["new-session", "-d", "-s", sess, "-x", "160", "-y", "40",
                           f"{COLLECT} top --dir {d}; echo TOP-EXITED $?; sleep 30"], check=True)
    s = wait_screen(lambda s: "/users/{id}" in s and "python" in s)
    check(str(app.pid) in s and "python" in s, "top shows the process (pid, exe)")
    check("/users/{id}" in s and "/ok" in s, "top shows its routes")
    s = wait_screen(lambda s: any(ln.split()[2:3] != ["0.0"] for ln in s.splitlines()
                                  if "/users/{id}" in ln))
    row = [ln for ln in s.splitlines() if "/users/{id}" in ln]
    check(row and float(row[0].split()[2]) > 0, f"route throughput above 0 ({row[:1]})")
    subprocess.run(tmux + ["send-keys", "-t", sess, "p"], check=True)
    s = wait_screen(lambda s: "sort: p95" in s, 5)
    check("sort: p95" in s, "key p sorts by P95")
    subprocess.run(tmux + ["send-keys", "-t", sess, "q"], check=True)
    s = wait_screen(lambda s: "TOP-EXITED" in s, 5)
    check("TOP-EXITED 0" in s, "q quits with status 0")
finally:
    stop_load.set()
    th.join()
    subprocess.run(tmux + ["kill-server"], capture_output=True)
snap = subprocess.run([COLLECT, "top", "--dir", d], capture_output=True, text=True, timeout=20)
check(snap.returncode == 0 and "/users/{id}" in snap.stdout and "\x1b" not in snap.stdout,
      "not a terminal: one plain snapshot")
stop(app)
finish([d])
