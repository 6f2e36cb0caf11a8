#!/usr/bin/env bash
# slurm_local_cluster.sh - a real single-node SLURM cluster for CI / development.
# vpbench's copy of shared/reference/slurm_local_cluster.sh; tests/workflow/conftest.py starts it.
#
# Target: Debian 12 (bookworm, Slurm 22.05 from apt), run as root, no systemd
# (daemons are started directly). Tested in a 2-CPU / 24 GiB gVisor VM.
# Idempotent: run it as often as you like; it installs what is missing,
# (re)writes the config, starts only the daemons that are not running,
# restarts slurmctld/slurmd if the generated config changed, and waits until
# the node is IDLE.
#
# Usage:
#   slurm_local_cluster.sh [start]        install + configure + start + wait (default)
#   slurm_local_cluster.sh stop           stop the daemons THIS script started (by PID)
#   slurm_local_cluster.sh status         show daemons and sinfo
#   slurm_local_cluster.sh selftest       srun/sbatch/squeue(/sacct) smoke test
#   slurm_local_cluster.sh reset          stop, wipe slurm state/spool dirs, start again
#   Options (any command): --with-accounting | --no-accounting
#
# Environment knobs (defaults in brackets):
#   SLURM_LOCAL_ACCOUNTING   [0]      1 = MariaDB + slurmdbd, so `sacct` works and
#                                     the Snakemake SLURM plugin can use its default
#                                     status command (sacct) and validate accounts.
#                                     0 = no accounting; run Snakemake with
#                                     `--slurm-status-command squeue` (profiles/slurm-local).
#                                     GPUs appear as a TRES (sacct ReqTRES) only in mode 1:
#                                     slurmctld refuses AccountingStorageTRES=gres/gpu
#                                     without slurmdbd; use `scontrol show job` instead.
#   SLURM_LOCAL_FAKE_GPUS    [2]      number of fake GPUs (GRES gpu:<type>:N); 0 = none.
#                                     They are symlinks to /dev/null, so jobs get
#                                     CUDA_VISIBLE_DEVICES but no real device.
#   SLURM_LOCAL_GPU_TYPE     [fake]   GRES type, i.e. what `gpu_model` must say.
#   SLURM_LOCAL_PARTITION    [debug]
#   SLURM_LOCAL_ACCOUNT      [local]  (accounting mode only) account created for root
#   SLURM_LOCAL_CLUSTER      [localcluster]
#   SLURM_LOCAL_MEM_RESERVE_MB [512]  memory kept back from RealMemory
#   SLURM_LOCAL_SKIP_INSTALL [0]      1 = do not call apt-get
#   SLURM_LOCAL_TIMEOUT      [90]     seconds to wait for each daemon / the node
set -euo pipefail

ACCOUNTING="${SLURM_LOCAL_ACCOUNTING:-0}"
FAKE_GPUS="${SLURM_LOCAL_FAKE_GPUS:-2}"
GPU_TYPE="${SLURM_LOCAL_GPU_TYPE:-fake}"
PARTITION="${SLURM_LOCAL_PARTITION:-debug}"
ACCOUNT="${SLURM_LOCAL_ACCOUNT:-local}"
CLUSTER="${SLURM_LOCAL_CLUSTER:-localcluster}"
MEM_RESERVE_MB="${SLURM_LOCAL_MEM_RESERVE_MB:-512}"
SKIP_INSTALL="${SLURM_LOCAL_SKIP_INSTALL:-0}"
TIMEOUT="${SLURM_LOCAL_TIMEOUT:-90}"

CMD="start"
for arg in "$@"; do
  case "$arg" in
    --with-accounting) ACCOUNTING=1 ;;
    --no-accounting) ACCOUNTING=0 ;;
    start|stop|status|selftest|reset|restart) CMD="$arg" ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/!p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

ETC=/etc/slurm
STATE_DIR=/run/slurm-local          # PID files of the daemons *we* started
RUN_DIR=/run/slurm                  # slurmctld/slurmd/slurmdbd PidFile location
LOG_DIR=/var/log/slurm
CTLD_SPOOL=/var/spool/slurmctld
SLURMD_SPOOL=/var/spool/slurmd
GPU_DIR=/run/slurm-local/fakegpu
DB_PASS=slurmlocal                  # loopback-only MariaDB user for slurmdbd
H="$(hostname -s 2>/dev/null || hostname)"

log() { printf '[slurm-local %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# ---------------------------------------------------------------- helpers
pid_alive() {  # pid_alive PID EXPECTED_COMM
  local pid="$1" comm="$2"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]
}
pidfile_alive() {  # pidfile_alive FILE COMM
  [ -s "$1" ] && pid_alive "$(cat "$1")" "$2"
}
wait_for() {  # wait_for DESCRIPTION COMMAND...
  local what="$1"; shift
  local i
  for ((i = 0; i < TIMEOUT * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "timed out after ${TIMEOUT}s waiting for $what"
}
wait_daemon() {  # wait_daemon COMM PIDFILE LOGFILE CHECK... ; fails fast if the daemon dies while starting
  local comm="$1" pidfile="$2" logfile="$3"; shift 3
  local i
  for ((i = 0; i < TIMEOUT * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ -s "$pidfile" ] && ! pid_alive "$(cat "$pidfile")" "$comm"; then
      tail -n 5 "$logfile" >&2 2>/dev/null || true
      die "$comm exited while starting (a 'fatal:' line above says why); see $logfile"
    fi
    sleep 0.5
  done
  die "timed out after ${TIMEOUT}s waiting for $comm; see $logfile"
}

# ---------------------------------------------------------------- install
install_packages() {
  [ "$SKIP_INSTALL" = 1 ] && return 0
  local pkgs=(munge slurm-client slurmctld slurmd)
  [ "$ACCOUNTING" = 1 ] && pkgs+=(slurmdbd mariadb-server)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && { log "packages present: ${pkgs[*]}"; return 0; }
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # wait for a concurrent apt/dpkg (another engineer, another test session) instead of failing at once
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------- config
write_if_changed() {  # write_if_changed PATH MODE < content ; returns 0 if changed
  local path="$1" mode="$2" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then rm -f "$tmp"; return 1; fi
  [ -f "$path" ] && { log "config change in $path:"; diff "$path" "$tmp" >&2 || true; }
  install -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  return 0
}

CONFIG_CHANGED=0
write_config() {
  # slurm tools resolve the node/controller name; containers sometimes lack it
  if ! getent hosts "$H" >/dev/null; then
    log "adding '127.0.0.1 $H' to /etc/hosts"
    echo "127.0.0.1 $H" >>/etc/hosts
  fi
  mkdir -p "$ETC" "$STATE_DIR" "$RUN_DIR" "$LOG_DIR" "$CTLD_SPOOL" "$SLURMD_SPOOL"
  # Hardware as slurmd sees it; keep topology, shave a little memory so the
  # node never registers with less than configured (which would drain it).
  local hw mem cfg_mem
  hw="$(slurmd -C | head -n1)"
  mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")"
  cfg_mem=$((mem - MEM_RESERVE_MB))
  hw="$(sed -e "s/^NodeName=[^ ]*//" -e "s/RealMemory=[0-9]*/RealMemory=$cfg_mem/" <<<"$hw")"

  local gres_line="" gres_types=""
  if [ "$FAKE_GPUS" -gt 0 ]; then
    mkdir -p "$GPU_DIR"
    local i
    for ((i = 0; i < FAKE_GPUS; i++)); do ln -sfn /dev/null "$GPU_DIR/gpu$i"; done
    gres_line=" Gres=gpu:${GPU_TYPE}:${FAKE_GPUS}"
    gres_types="GresTypes=gpu"
  fi

  local acct_lines
  if [ "$ACCOUNTING" = 1 ]; then
    acct_lines="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
  else
    acct_lines="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
  fi

  if write_if_changed "$ETC/slurm.conf" 0644 <<EOF
# generated by slurm_local_cluster.sh - single-node test cluster
ClusterName=$CLUSTER
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$CTLD_SPOOL
SlurmdSpoolDir=$SLURMD_SPOOL
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
$gres_types
$acct_lines
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
InactiveLimit=0
KillWait=30
# keep finished jobs visible to squeue for 10 min: the Snakemake SLURM plugin
# only trusts squeue as status command if MinJobAge >= 3 x its first-check delay
MinJobAge=600
SlurmctldTimeout=120
SlurmdTimeout=300
Waittime=0
NodeName=$H NodeAddr=127.0.0.1 NodeHostname=$H$hw$gres_line State=UNKNOWN
PartitionName=$PARTITION Nodes=$H Default=YES MaxTime=INFINITE State=UP
EOF
  then CONFIG_CHANGED=1; log "wrote $ETC/slurm.conf"; fi

  if [ "$FAKE_GPUS" -gt 0 ]; then
    if write_if_changed "$ETC/gres.conf" 0644 <<EOF
# fake GPUs: slurm drops file-less GPUs and wants char/block devices -> /dev/null links
NodeName=$H Name=gpu Type=$GPU_TYPE File=$GPU_DIR/gpu[0-$((FAKE_GPUS - 1))]
EOF
    then CONFIG_CHANGED=1; log "wrote $ETC/gres.conf"; fi
  else
    if [ -f "$ETC/gres.conf" ]; then rm -f "$ETC/gres.conf"; CONFIG_CHANGED=1; fi
  fi

  if [ "$ACCOUNTING" = 1 ]; then
    if write_if_changed "$ETC/slurmdbd.conf" 0600 <<EOF
AuthType=auth/munge
DbdHost=$H
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$LOG_DIR/slurmdbd.log
PidFile=$RUN_DIR/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=$DB_PASS
EOF
    then CONFIG_CHANGED=1; log "wrote $ETC/slurmdbd.conf"; fi
  fi
}

# ---------------------------------------------------------------- daemons
munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
start_munge() {
  if munge_ok; then log "munged already answering"; return 0; fi
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating munge key"
    if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
    chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
  fi
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged --force
  wait_for munged munge_ok
  cp /run/munge/munged.pid "$STATE_DIR/munged.pid"
  log "munged started (pid $(cat "$STATE_DIR/munged.pid"))"
}

mysql_ok() { mysqladmin --socket=/run/mysqld/mysqld.sock ping; }
start_mariadb() {
  if mysql_ok >/dev/null 2>&1; then log "mariadb already answering"; else
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    setsid nohup mariadbd --user=mysql --datadir=/var/lib/mysql \
      --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
      --bind-address=127.0.0.1 --port=3306 \
      >"$LOG_DIR/mariadb.out" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/mariadbd.pid"
    wait_for mariadb mysql_ok
    log "mariadbd started (pid $(cat "$STATE_DIR/mariadbd.pid"))"
  fi
  mysql --socket=/run/mysqld/mysqld.sock <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
  if pidfile_alive "$RUN_DIR/slurmdbd.pid" slurmdbd; then log "slurmdbd running"; return 0; fi
  rm -f "$RUN_DIR/slurmdbd.pid"
  slurmdbd
  wait_daemon slurmdbd "$RUN_DIR/slurmdbd.pid" "$LOG_DIR/slurmdbd.log" sacctmgr -n list cluster
  cp "$RUN_DIR/slurmdbd.pid" "$STATE_DIR/slurmdbd.pid"
  log "slurmdbd started (pid $(cat "$STATE_DIR/slurmdbd.pid"))"
}

stop_pid() {  # stop_pid NAME COMM PIDFILE
  local name="$1" comm="$2" f="$3" pid i
  [ -s "$f" ] || return 0
  pid="$(cat "$f")"
  if pid_alive "$pid" "$comm"; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do pid_alive "$pid" "$comm" || break; sleep 0.25; done
    pid_alive "$pid" "$comm" && kill -9 "$pid" 2>/dev/null || true
    log "stopped $name (pid $pid)"
  fi
  rm -f "$f"
}

start_slurm() {
  if [ "$CONFIG_CHANGED" = 1 ]; then
    # config changed: restart our slurm daemons so that they pick it up
    stop_pid slurmd slurmd "$STATE_DIR/slurmd.pid"
    stop_pid slurmctld slurmctld "$STATE_DIR/slurmctld.pid"
  fi
  if pidfile_alive "$RUN_DIR/slurmctld.pid" slurmctld; then log "slurmctld running"; else
    rm -f "$RUN_DIR/slurmctld.pid"
    slurmctld
    wait_daemon slurmctld "$RUN_DIR/slurmctld.pid" "$LOG_DIR/slurmctld.log" scontrol ping
    cp "$RUN_DIR/slurmctld.pid" "$STATE_DIR/slurmctld.pid"
    log "slurmctld started (pid $(cat "$STATE_DIR/slurmctld.pid"))"
  fi
  if pidfile_alive "$RUN_DIR/slurmd.pid" slurmd; then log "slurmd running"; else
    rm -f "$RUN_DIR/slurmd.pid"
    slurmd
    wait_daemon slurmd "$RUN_DIR/slurmd.pid" "$LOG_DIR/slurmd.log" pidfile_alive "$RUN_DIR/slurmd.pid" slurmd
    cp "$RUN_DIR/slurmd.pid" "$STATE_DIR/slurmd.pid"
    log "slurmd started (pid $(cat "$STATE_DIR/slurmd.pid"))"
  fi
}

node_state() { sinfo -h -N -n "$H" -o '%T' 2>/dev/null | head -n1; }
node_ready() { case "$(node_state)" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac; }
wait_node_idle() {
  local i st
  for ((i = 0; i < TIMEOUT * 2; i++)); do
    pidfile_alive "$RUN_DIR/slurmd.pid" slurmd || die "slurmd is not running; see $LOG_DIR/slurmd.log"
    st="$(node_state)"
    case "$st" in
      idle|mixed|allocated|completing) log "node $H is $st"; return 0 ;;
      *drain*|*down*|*inval*|*fail*)
        # e.g. drained by an earlier registration with another config
        scontrol update nodename="$H" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  scontrol show node "$H" >&2 || true
  die "node $H did not become idle (state: ${st:-unknown}); see $LOG_DIR/slurmd.log"
}

ensure_account() {
  [ "$ACCOUNTING" = 1 ] || return 0
  sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
  sacctmgr -i add account "$ACCOUNT" Description="local test" Organization=ci >/dev/null 2>&1 || true
  sacctmgr -i add user root DefaultAccount="$ACCOUNT" Account="$ACCOUNT" >/dev/null 2>&1 || true
  sacctmgr -n -P show assoc user=root format=account | grep -qx "$ACCOUNT" \
    || die "could not create association root/$ACCOUNT"
  log "account '$ACCOUNT' ready for root"
}

do_start() {
  local t0=$SECONDS
  install_packages
  write_config
  start_munge
  if [ "$ACCOUNTING" = 1 ]; then
    start_mariadb
    start_slurmdbd
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
  fi
  start_slurm
  wait_node_idle
  ensure_account
  log "cluster up in $((SECONDS - t0))s (partition=$PARTITION, gpus=${FAKE_GPUS}x${GPU_TYPE}, accounting=$ACCOUNTING)"
  if [ "$ACCOUNTING" = 1 ]; then
    log "snakemake: --executor slurm --default-resources slurm_partition=$PARTITION slurm_account=$ACCOUNT --slurm-init-seconds-before-status-checks 2"
  else
    # (--slurm-no-account is a no-op in plugin 2.8.0; without an account the plugin's guess fails harmlessly)
    log "snakemake: --profile profiles/slurm-local, i.e. --executor slurm --default-resources slurm_partition=$PARTITION --slurm-status-command squeue --slurm-init-seconds-before-status-checks 2"
  fi
}

do_stop() {
  stop_pid slurmd slurmd "$STATE_DIR/slurmd.pid"
  stop_pid slurmctld slurmctld "$STATE_DIR/slurmctld.pid"
  stop_pid slurmdbd slurmdbd "$STATE_DIR/slurmdbd.pid"
  stop_pid mariadbd mariadbd "$STATE_DIR/mariadbd.pid"
  stop_pid munged munged "$STATE_DIR/munged.pid"
}

do_status() {
  local n f
  for n in munged mariadbd slurmdbd slurmctld slurmd; do
    f="$STATE_DIR/$n.pid"
    if pidfile_alive "$f" "$n"; then echo "$n: running (pid $(cat "$f"), started by this script)"
    else echo "$n: not started by this script"; fi
  done
  sinfo 2>&1 || true
}

do_selftest() {
  local out jid st i
  out="$(mktemp -d)"
  srun -N1 -n1 hostname
  [ "$FAKE_GPUS" -gt 0 ] && srun --gpus="${GPU_TYPE}:1" bash -c 'echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"'
  jid="$(sbatch --parsable -o "$out/%j.out" --mem=100 --wrap 'echo hello-from-sbatch')"
  for ((i = 0; i < TIMEOUT * 2; i++)); do
    st="$(squeue -h -j "$jid" --states=all -o '%T' 2>/dev/null || true)"
    [ "$st" = COMPLETED ] && break
    sleep 0.5
  done
  [ "$st" = COMPLETED ] || die "sbatch job $jid ended as '${st:-?}'"
  cat "$out/$jid.out"
  if [ "$ACCOUNTING" = 1 ]; then
    for ((i = 0; i < 20; i++)); do
      sacct -X -n -P -j "$jid" -o State | grep -q COMPLETED && break; sleep 0.5
    done
    sacct -X -n -P -j "$jid" -o JobID,State,Account
  fi
  rm -rf "$out"
  log "selftest ok"
}

case "$CMD" in
  start) do_start ;;
  stop) do_stop ;;
  restart) do_stop; do_start ;;
  status) do_status ;;
  selftest) do_selftest ;;
  reset)
    do_stop
    rm -rf "${CTLD_SPOOL:?}"/* "${SLURMD_SPOOL:?}"/*
    do_start ;;
esac
