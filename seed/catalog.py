"""The value mixes the demo data is drawn from: hosts, guests, results and their errors.

Weights are rough shares seen in the real service (Debian 12 hosts with amd64 CPUs
dominate, PVE 9 and Debian 13 grow over the year, a failure is most often a generic
shell error or APT). Values are spelled as the current client sends them.
"""

from __future__ import annotations

from seed.weighted import Weighted

# Guest OS of LXC/VM runs; the late table is drawn more often as the range nears now.
OS_EARLY = Weighted(
    [
        (("debian", "12"), 62), (("debian", "13"), 4), (("ubuntu", "22.04"), 9),
        (("ubuntu", "24.04"), 13), (("alpine", "3.21"), 8), (("alpine", "3.22"), 4),
    ]
)  # fmt: skip
OS_LATE = Weighted(
    [
        (("debian", "12"), 30), (("debian", "13"), 42), (("ubuntu", "22.04"), 4),
        (("ubuntu", "24.04"), 14), (("alpine", "3.21"), 3), (("alpine", "3.22"), 7),
    ]
)  # fmt: skip
ALPINE = Weighted([(("alpine", "3.21"), 40), (("alpine", "3.22"), 60)])
PVE_EARLY = Weighted(
    [
        ("8.1.4", 8), ("8.2.4", 14), ("8.2.7", 10), ("8.3.0", 14), ("8.3.5", 16),
        ("8.4.1", 26), ("8.4.5", 6), ("9.0.3", 2), ("incus-6.0.4", 3), ("incus-6.12", 1),
    ]
)  # fmt: skip
PVE_LATE = Weighted(
    [
        ("8.3.5", 5), ("8.4.1", 17), ("8.4.5", 9), ("8.4.14", 6), ("9.0.3", 18),
        ("9.0.10", 18), ("9.1.1", 22), ("incus-6.0.5", 3), ("incus-6.18", 2),
    ]
)  # fmt: skip
KERNELS = {"8": ("6.8.12-11-pve", "6.8.12-13-pve"), "9": ("6.14.8-2-pve", "6.17.2-1-pve")}
INCUS_KERNELS = ("6.1.0-37-amd64", "6.12.48+deb13-amd64")
METHODS = Weighted(
    [
        ("default", 62), ("advanced", 17), ("appdefaults", 6), ("generated", 4),
        ("mydefaults-global", 7), ("mydefaults-app", 4),
    ]
)  # fmt: skip
REPOS = Weighted(
    [
        (("ProxmoxVE", "community-scripts/ProxmoxVE"), 93),
        (("ProxmoxVED", "community-scripts/ProxmoxVED"), 5),
        (("external", "community-scripts/ProxmoxVE-fork"), 2),
    ]
)

# (cpu_vendor, cpu_model), then the GPU found beside it.
CPUS_AMD64 = Weighted(
    [
        (("intel", "Intel(R) N100"), 16),
        (("intel", "Intel(R) Core(TM) i5-8500T CPU @ 2.10GHz"), 12),
        (("intel", "Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz"), 8),
        (("intel", "Intel(R) Core(TM) i5-12500H"), 7),
        (("intel", "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"), 6),
        (("intel", "Intel(R) Celeron(R) J4125 CPU @ 2.00GHz"), 5),
        (("amd", "AMD Ryzen 7 5800X 8-Core Processor"), 9),
        (("amd", "AMD Ryzen 5 5600G with Radeon Graphics"), 8),
        (("amd", "AMD Ryzen 7 7840HS w/ Radeon 780M Graphics"), 6),
        (("amd", "AMD EPYC 7302 16-Core Processor"), 4),
        (("amd", "AMD Ryzen 9 7950X 16-Core Processor"), 3),
    ]
)
CPUS_ARM64 = Weighted([(("arm", "Cortex-A76"), 60), (("arm", "Neoverse-N1"), 40)])
GPUS_INTEL = Weighted(
    [
        (("intel", "Intel Corporation Alder Lake-N [UHD Graphics]"), 40),
        (("intel", "Intel Corporation CoffeeLake-S GT2 [UHD Graphics 630]"), 30),
        (("nvidia", "NVIDIA Corporation GA106 [GeForce RTX 3060]"), 10),
        (("unknown", ""), 20),
    ]
)
GPUS_AMD = Weighted(
    [
        (("amd", "Advanced Micro Devices, Inc. [AMD/ATI] Cezanne"), 35),
        (("nvidia", "NVIDIA Corporation TU104 [GeForce RTX 2080]"), 15),
        (("nvidia", "NVIDIA Corporation AD102 [GeForce RTX 4090]"), 5),
        (("unknown", ""), 45),
    ]
)
GPUS_NONE = Weighted([(("unknown", ""), 100)])
# Payload v1 describes passthrough by device kind, v2 as yes/no.
PASSTHROUGH_V1 = Weighted([("none", 55), ("igpu", 25), ("dgpu", 8), ("vgpu", 1), ("unknown", 11)])
PASSTHROUGH_V2 = Weighted([("no", 68), ("yes", 32)])
RAM_SPEEDS = Weighted(
    [("", 40), ("2400", 10), ("2666", 12), ("3200", 25), ("4800", 8), ("5600", 5)]
)

# Guest sizes of LXC/VM runs.
CORES = Weighted([(1, 28), (2, 44), (4, 20), (6, 2), (8, 5), (16, 1)])
RAM_MB = Weighted([(512, 10), (1024, 24), (2048, 36), (3072, 4), (4096, 17), (8192, 7), (16384, 2)])
DISK_GB = Weighted([(2, 8), (4, 22), (6, 6), (8, 30), (10, 10), (16, 8), (20, 8), (32, 6), (64, 2)])
CT_TYPES = Weighted([(1, 82), (0, 10), (2, 8)])  # 1 unprivileged, 2 privileged (VMs: always 2)

# Exit codes of failed runs (codes 42 and 99 are not in the reference table).
FAILURE_CODES = Weighted(
    [
        (1, 22), (2, 2), (100, 14), (127, 7), (137, 3), (134, 1), (139, 1), (141, 1),
        (6, 3), (7, 2), (22, 4), (28, 3), (35, 1), (124, 2), (126, 1), (10, 1), (128, 1),
        (150, 4), (151, 1), (153, 2), (154, 1), (160, 2), (161, 2), (162, 1),
        (170, 1), (173, 1), (180, 1), (190, 1), (203, 1), (206, 2), (208, 1),
        (209, 3), (210, 1), (214, 4), (217, 2), (218, 2), (222, 3), (225, 1), (231, 2),
        (243, 3), (247, 1), (249, 1), (254, 1), (255, 3), (101, 1), (102, 1), (42, 1), (99, 1),
    ]
)  # fmt: skip
# How an abort is reported: status "aborted" with the signal's exit code.
ABORT_CODES = Weighted([(130, 62), (143, 24), (129, 14)])

# Commands a failure happened at, by the exit code's family.
COMMANDS_BY_CATEGORY = {
    "network": ("curl -fsSL -o /tmp/release.tar.gz https://github.com/$REPO/releases/latest",
                "wget -q https://github.com/$REPO/archive/refs/heads/main.zip"),
    "timeout": ("curl -fsSL --max-time 60 https://github.com/$REPO/releases/latest",
                "timeout 300 bash -c 'until pg_isready; do sleep 2; done'"),
    "dependency": ("apt-get install -y nodejs", "apt-get install -y libvips-dev",
                   "apt-get -y dist-upgrade", "pip install -r requirements.txt",
                   "uv sync --frozen"),
    "service": ("systemctl enable -q --now $APP.service", "make -j4",
                "npm run build", "systemctl restart $APP"),
    "database": ("sudo -u postgres psql -c 'CREATE DATABASE app'",
                 "mariadb -u root -e 'CREATE DATABASE app'", "mongosh --eval 'db.runCommand(1)'"),
    "runtime": ("node server.js --migrate", "npm ci --omit=dev", "pnpm install --frozen-lockfile"),
    "proxmox": ("pct create $CTID $TEMPLATE_STORAGE:vztmpl/$TEMPLATE", "pct start $CTID",
                "pveam download local $TEMPLATE"),
    "storage": ("pct create $CTID $TEMPLATE_STORAGE:vztmpl/$TEMPLATE", "pvesm alloc $STORAGE"),
    "config": ("pct set $CTID -net0 name=eth0,bridge=vmbr0", "msg_error 'invalid CTID'"),
    "permission": ("chmod +x /opt/app/start.sh", "/opt/app/bin/setup"),
    "resource": ("npm run build", "cargo build --release", "yarn install"),
}  # fmt: skip
DEFAULT_COMMANDS = ("bash /opt/app/install.sh", "$STD apt-get update", "python3 manage.py migrate")
LOG_LINES = (
    "E: Unable to locate package",
    "npm ERR! code ERESOLVE",
    "Job for app.service failed because the control process exited with error code.",
    "dpkg: error processing package (--configure)",
    "Killed",
    "curl: (22) The requested URL returned error: 404",
    "FATAL: password authentication failed for user app",
)
