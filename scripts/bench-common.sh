# Shared helpers for the benchmark scripts (sourced, not run).
# DATA: where the datasets live (made by ../shared/bench/gen_datasets.sh when it is there).
DATA=${DATA:-${TMPDIR:-/tmp}/diskimg-bench/data}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DISKIMG=${DISKIMG:-$ROOT/target/release/diskimg}
RUNS=${RUNS:-3}
WORK=${WORK:-${TMPDIR:-/tmp}/diskimg-bench/work}
mkdir -p "$DATA" "$WORK"

build_release() {
  [ -n "${NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release --locked -q)
}

# datasets NAME...: makes sure the named datasets exist.
datasets() {
  local missing=0 n
  for n in "$@"; do [ -e "$DATA/$n" ] || missing=1; done
  [ $missing = 0 ] && return 0
  local gen=$ROOT/../shared/bench/gen_datasets.sh
  if [ -x "$gen" ] || [ -f "$gen" ]; then DATA=$DATA bash "$gen" >&2; return; fi
  echo "bench: datasets $* missing in $DATA and ../shared/bench/gen_datasets.sh not found" >&2; exit 2
}

# median_seconds LABEL PREPARE CMD: runs CMD $RUNS times (PREPARE before each), prints the median.
median_seconds() {
  local prepare=$2 cmd=$3 i t times=()
  for i in $(seq "$RUNS"); do
    eval "$prepare"; sync
    /usr/bin/time -f '%e' -o "$WORK/.time" bash -c "$cmd" >/dev/null 2>&1 || { echo "bench: failed: $cmd" >&2; exit 1; }
    times+=("$(tail -1 "$WORK/.time")")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'
}

# alternating_medians PREPARE CMD...: runs each CMD once per round (PREPARE before each), for
# $RUNS rounds, so a change in the machine's load falls on every tool alike. Prints one line per
# CMD: the median, then every run's time.
alternating_medians() {
  local prepare=$1 i c t
  shift
  local -a cmds=("$@") all=()
  for i in $(seq "$RUNS"); do
    for c in "${!cmds[@]}"; do
      eval "$prepare"; sync
      /usr/bin/time -f '%e' -o "$WORK/.time" bash -c "${cmds[$c]}" >/dev/null 2>&1 || { echo "bench: failed: ${cmds[$c]}" >&2; exit 1; }
      all[$c]="${all[$c]:-} $(tail -1 "$WORK/.time")"
    done
  done
  for c in "${!cmds[@]}"; do
    t=$(printf '%s\n' ${all[$c]} | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
    echo "$t${all[$c]}"
  done
}

# peak_rss_mib PREPARE CMD: peak resident memory of one run, in MiB.
peak_rss_mib() {
  eval "$1"
  /usr/bin/time -v -o "$WORK/.rss" bash -c "$2" >/dev/null 2>&1 || { echo "bench: failed: $2" >&2; exit 1; }
  awk '/Maximum resident set size/{printf "%.0f\n", $6/1024}' "$WORK/.rss"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a > 0) printf "%.2f", b / a; else print "inf" }'; }
