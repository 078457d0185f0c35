# JupyterHub 3.0 (Debian bookworm) for the portal's JupyterHub spawner backend on loopback.
# Started by scripts/lib/jupyterhub.sh (scripts/services start test); see ../../shared/reference/backends.md,
# "Probe 1". Everything comes from the environment that script sets:
#   JHUB_BASE                  state folder (sqlite db, cookie secret, proxy pid file, user homes)
#   JHUB_PORT                  public proxy port (API: http://127.0.0.1:PORT/hub/api); PORT+1 proxy API, PORT+81 hub
#   JHUB_SECRETS_FILE          KEY=VALUE file holding JUPYTERHUB_PORTAL_TOKEN (read here, never passed on or logged)
#   JHUB_CONCURRENT_SPAWN_LIMIT  spawns pending at once before the API answers 429 (default 100)
#   JHUB_SPAWN_RETRY_RANGE     "MIN,MAX" seconds the hub suggests in Retry-After with a 429 (default 1,2)
#   JHUB_SLOW_SPAWN / JHUB_SLOW_STOP  seconds POST/DELETE .../server wait before answering 202 (default 0: always 202)
#   JHUB_HTTP_TIMEOUT          seconds a new single-user server has to answer (default 20)
#   JHUB_LOG_LEVEL             default INFO
# Runs as root with SimpleLocalProcessSpawner: every "user" is a process of root with HOME under JHUB_BASE/home.
import json
import os
import re

BASE = os.environ["JHUB_BASE"]
PORT = int(os.environ["JHUB_PORT"])


def _read_secret(path, key):
    with open(path, encoding="utf-8") as secrets:
        for line in secrets:
            name, _, value = line.rstrip("\n").partition("=")
            if name == key and value:
                return value
    raise SystemExit(f"{key} missing from {path}; run scripts/services start")


PORTAL_TOKEN = _read_secret(os.environ["JHUB_SECRETS_FILE"], "JUPYTERHUB_PORTAL_TOKEN")

# Debian's configurable-http-proxy lives in /usr/share/nodejs; a non-Debian nodejs (nodesource) does not search
# there -> "Cannot find module 'commander'".
os.environ["NODE_PATH"] = "/usr/share/nodejs"

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

# --- network: everything on loopback --------------------------------------------------------------------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{PORT}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{PORT + 81}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 1}"
c.ConfigurableHTTPProxy.should_start = True
c.ConfigurableHTTPProxy.pid_file = f"{BASE}/jupyterhub-proxy.pid"
c.Spawner.ip = "127.0.0.1"
c.Spawner.port = 0  # a free port per single-user server

# --- state ----------------------------------------------------------------------------------------------------
c.JupyterHub.db_url = f"sqlite:///{BASE}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{BASE}/jupyterhub_cookie_secret"
c.JupyterHub.cleanup_servers = True  # SIGTERM stops the single-user servers and the proxy
c.JupyterHub.cleanup_proxy = True

# --- auth: no real users; the portal is a service with a token and narrow scopes ------------------------------
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.services = [{"name": "portal", "api_token": PORTAL_TOKEN}]
c.JupyterHub.load_roles = [
    {
        "name": "portal",
        "description": "What the portal's JupyterHub backend needs: create users, start and stop their servers, "
        "read their state and progress, mint and revoke short-lived tokens that open a user's server.",
        # Proven enough (GET /hub/api/user lists what they expand to): admin:users covers creating and reading
        # users (users, read:users, list:users), admin:servers covers starting, stopping and reading servers and
        # their progress (servers, read:servers, delete:servers). Minting a user's token needs only `tokens`: its
        # scopes are checked against the user's own (access:servers!user=NAME is part of every user's `self`).
        "scopes": ["admin:users", "admin:servers", "tokens"],
        "services": ["portal"],
    },
]

# --- spawner --------------------------------------------------------------------------------------------------
c.JupyterHub.spawner_class = "simple"  # SimpleLocalProcessSpawner: processes of root, no system users
c.SimpleLocalProcessSpawner.home_dir_template = f"{BASE}/home/{{username}}"
c.Spawner.cmd = ["/usr/bin/jupyterhub-singleuser"]
c.Spawner.args = ["--allow-root"]
c.Spawner.default_url = "/tree"
# Debian's jupyter_server 1.23 has no web UI (/tree -> 404): use the classic notebook 6.4 for the browser.
c.Spawner.environment = {"JUPYTERHUB_SINGLEUSER_APP": "notebook.notebookapp.NotebookApp"}
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = int(os.environ.get("JHUB_HTTP_TIMEOUT", "20"))
c.JupyterHub.concurrent_spawn_limit = int(os.environ.get("JHUB_CONCURRENT_SPAWN_LIMIT", "100"))

_TOOLKIT = re.compile(r"\A[0-9]{1,2}\.[0-9]{1,2}(\.[0-9]{1,3})?\Z")
_GPU_LIST = re.compile(r"\A([0-9]{1,2}(,[0-9]{1,2})*)?\Z")


def pre_spawn_hook(spawner):
    """The portal's user_options (JSON body of POST /hub/api/users/NAME/server) -> the server's environment.

    {"cuda": "12.4", "gpus": "0,1", "cpu": 4, "mem_gib": 16}: CUDA_VERSION, CUDA_HOME, CUDA_VISIBLE_DEVICES and
    the spawner's cpu/mem limits (CPU_LIMIT, MEM_LIMIT; SimpleLocalProcessSpawner does not enforce them). A value
    that does not fit fails the spawn at once with a message that says which.
    """
    opts = spawner.user_options or {}
    env = dict(spawner.environment)  # copy: the configured dict is shared by every spawner
    cuda = opts.get("cuda")
    if cuda is not None:
        if not isinstance(cuda, str) or not _TOOLKIT.match(cuda):
            raise ValueError(f"unsupported CUDA toolkit {cuda!r}")
        env["CUDA_VERSION"] = cuda
        env["CUDA_HOME"] = f"/usr/local/cuda-{cuda}"
    gpus = opts.get("gpus", "")
    if not isinstance(gpus, str) or not _GPU_LIST.match(gpus):
        raise ValueError(f"bad GPU list {gpus!r}")
    env["CUDA_VISIBLE_DEVICES"] = gpus
    if opts.get("cpu") is not None:
        spawner.cpu_limit = float(opts["cpu"])
    if opts.get("mem_gib") is not None:
        spawner.mem_limit = f"{int(opts['mem_gib'])}G"
    env["PORTAL_USER_OPTIONS"] = json.dumps(opts, sort_keys=True)
    spawner.environment = env
    spawner.log.info("user_options for %s: %s", spawner.user.name, env["PORTAL_USER_OPTIONS"])


c.Spawner.pre_spawn_hook = pre_spawn_hook

# slow_spawn_timeout 0: POST .../server answers 202 at once and the spawn goes on in the background (deterministic;
# only a spawn that fails before the hub answers gives 500); the same for DELETE with slow_stop_timeout 0.
# spawn_throttle_retry_range: the Retry-After of a 429 (default 30-60 s); JupyterHub 3.0 forgot to make the trait
# configurable ("not recognized"), so it goes into the settings directly.
_retry_min, _retry_max = (int(v) for v in os.environ.get("JHUB_SPAWN_RETRY_RANGE", "1,2").split(","))
c.JupyterHub.tornado_settings = {
    "slow_spawn_timeout": float(os.environ.get("JHUB_SLOW_SPAWN", "0")),
    "slow_stop_timeout": float(os.environ.get("JHUB_SLOW_STOP", "0")),
    "spawn_throttle_retry_range": (_retry_min, _retry_max),
}
c.JupyterHub.log_level = os.environ.get("JHUB_LOG_LEVEL", "INFO")
