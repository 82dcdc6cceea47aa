#!/usr/bin/env bash
# Reproduces the ingest figures of docs/performance.md: warroom against Prometheus
# Alertmanager (and a bare net/http server as the ceiling), one run after another, with
# the load generator on the same machine as the server.
#
#   scripts/bench/run.sh                 # everything, ~25 s per measurement
#   ONLY="alertmanager warroom" scripts/bench/run.sh
#   DURATION=10s WARMUP=2s ROUNDS=3 OUT=/tmp/bench scripts/bench/run.sh
#   NICE=-15 scripts/bench/run.sh        # as root on a shared machine: the servers and the
#                                        # generator take the CPU before other work
#   CASES="single" ROUNDS=5 scripts/bench/run.sh   # only some of the measurements:
#       single (1 alert/request), batch (100/request), open10k (10,000 open incidents),
#       formats (Suricata EVE), memory (100k-in-10k and Alertmanager's re-sent alerts)
#
# It installs nothing. It needs: go (builds warroom and the baseline server), curl, and
# for the comparison Debian's prometheus-alertmanager (apt-get install
# prometheus-alertmanager). Every server it starts listens on 127.0.0.1 and is stopped
# on exit. Results: one text report per measurement and summary.tsv in $OUT. Each warroom
# database is deleted when its server stops (KEEP_DB=1 keeps them: several GB in all).
set -euo pipefail

SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")/../.."
ROOT=$PWD
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
ONLY=${ONLY:-"baseline alertmanager warroom"}
CASES=${CASES:-"single batch open10k formats memory"}
OUT=${OUT:-$(mktemp -d /tmp/warroom-bench.XXXXXX)}
AM_BIN=${ALERTMANAGER:-$(command -v prometheus-alertmanager || command -v alertmanager || true)}
WR_PORT=${WR_PORT:-18080}
AM_PORT=${AM_PORT:-19093}
BASE_PORT=${BASE_PORT:-18099}
NICE=${NICE:-0}
RUN=(nice -n "$NICE")
if [[ $NICE != 0 && -r /proc/sys/kernel/sched_autogroup_enabled && $(cat /proc/sys/kernel/sched_autogroup_enabled) == 1 ]]; then
	# With autogroup scheduling, nice only ranks processes within one session: run in a
	# session of our own and give that session's group the priority instead.
	if [[ -z ${WARROOM_BENCH_SESSION:-} ]]; then
		export WARROOM_BENCH_SESSION=1
		exec setsid --wait "$SELF" "$@"
	fi
	echo "$NICE" >/proc/self/autogroup
	RUN=()
fi
mkdir -p "$OUT"

want() { [[ " $ONLY " == *" $1 "* ]]; }
case_on() { [[ " $CASES " == *" $1 "* ]]; }
for c in $CASES; do
	case $c in
	single | batch | open10k | formats | memory) ;;
	*)
		printf 'CASES: unknown case %q; choose from: single batch open10k formats memory\n' "$c" >&2
		exit 2
		;;
	esac
done
say() { printf '%s\n' "$*" >&2; }

missing=()
command -v go >/dev/null || missing+=("go (Go 1.26: https://go.dev/dl or the project's CI image)")
command -v curl >/dev/null || missing+=("curl (apt-get install curl)")
if want alertmanager && [[ -z $AM_BIN ]]; then
	missing+=("prometheus-alertmanager (apt-get install prometheus-alertmanager), or ONLY=\"baseline warroom\" to skip it")
fi
if ((${#missing[@]})); then
	say "missing, install these first:"
	printf '  - %s\n' "${missing[@]}" >&2
	exit 2
fi

say "building warroom and the baseline server into $OUT"
if ! go build -o "$OUT/warroom" ./cmd/warroom 2>"$OUT/build.log"; then
	say "warroom does not build (the load generator is its 'bench ingest' command):"
	cat "$OUT/build.log" >&2
	exit 1
fi
go build -o "$OUT/baseline" ./scripts/bench/baseline
WARROOM=$OUT/warroom

# Secrets for the example configuration's *_env fields; never printed.
WARROOM_INGEST_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
WARROOM_API_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export WARROOM_INGEST_TOKEN WARROOM_API_TOKEN

SERVER_PID=
stop_server() {
	if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID"
		for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=
	# A warroom run leaves up to a few GB of database behind; KEEP_DB=1 keeps it.
	if [[ -n ${SERVER_DIR:-} && ${KEEP_DB:-0} != 1 ]]; then
		rm -f "$SERVER_DIR"/warroom.db "$SERVER_DIR"/warroom.db-wal "$SERVER_DIR"/warroom.db-shm
	fi
	SERVER_DIR=
}
trap stop_server EXIT

wait_ready() { # url
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || { say "server exited; see its log in $OUT"; return 1; }
		sleep 0.1
	done
	say "no answer from $1 after 10 s"
	return 1
}

# port_free PORT: nothing may answer there before a server starts, or the run would
# measure whatever does (a server left from an earlier run, say).
port_free() {
	if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/"; then
		say "something already listens on 127.0.0.1:$1; stop it or choose another port (WR_PORT, AM_PORT, BASE_PORT)"
		exit 1
	fi
}

start_baseline() {
	port_free "$BASE_PORT"
	"${RUN[@]}" "$OUT/baseline" --listen "127.0.0.1:$BASE_PORT" >"$OUT/baseline.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$BASE_PORT/" && return 0
		sleep 0.1
	done
	return 1
}

start_alertmanager() { # fresh in-memory state, no cluster, a receiver that drops everything
	local dir
	port_free "$AM_PORT"
	dir=$(mktemp -d "$OUT/am.XXXX")
	cat >"$dir/am.yml" <<-'EOF'
		route:
		  receiver: "null"
		receivers:
		  - name: "null"
	EOF
	"${RUN[@]}" "$AM_BIN" --config.file="$dir/am.yml" --storage.path="$dir" --web.listen-address="127.0.0.1:$AM_PORT" \
		--cluster.listen-address= --log.level=warn >"$dir/alertmanager.log" 2>&1 &
	SERVER_PID=$!
	wait_ready "http://127.0.0.1:$AM_PORT/-/ready"
}

start_warroom() { # fresh database with the example configuration
	local dir
	port_free "$WR_PORT"
	dir=$(mktemp -d "$OUT/wr.XXXX")
	"${RUN[@]}" "$WARROOM" serve --config config.example.yaml --listen "127.0.0.1:$WR_PORT" --db "$dir/warroom.db" \
		>"$dir/warroom.log" 2>&1 &
	SERVER_PID=$! SERVER_DIR=$dir
	wait_ready "http://127.0.0.1:$WR_PORT/readyz"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cpu_busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

open_incidents() {
	curl -fsS "http://127.0.0.1:$WR_PORT/metrics" 2>/dev/null |
		awk '/^warroom_incidents\{status="open"\}/ {print $2}' || true
}

printf 'name\talerts_per_s\trequests_per_s\tp50\tp90\tp99\tmax\terrors\treadable_p50\treadable_p99\tserver_cores\tgenerator_cores\tother_cores\tbackground_cores\trss_kb\topen_incidents\tserver_us_per_alert\tgenerator_us_per_request\n' >"$OUT/summary.tsv"

field() { # file key: the value after a report line's key
	awk -v k="$2" 'index($0, k) == 1 { sub("^" k " *", ""); print; exit }' "$1"
}

# wait_idle LABEL: wait (at most 180 s) until the server uses under 5% of a core over
# 2 s, so that work left from one run does not count against the next; the wait is
# written to idle.tsv.
wait_idle() {
	local t0 prev cur n=0 quiet=0 hz
	hz=$(getconf CLK_TCK)
	t0=$(date +%s.%N)
	prev=$(proc_ticks "$SERVER_PID")
	# Idle: under about 5% of a core for 2 s running (four half-seconds), so the room
	# updates held back for the update interval, which come at the bot's 1 s ticks,
	# count as busy too.
	while ((n < 360)); do
		sleep 0.5
		cur=$(proc_ticks "$SERVER_PID")
		if ((cur - prev < hz / 40 + 1)); then
			quiet=$((quiet + 1))
			((quiet >= 4)) && break
		else
			quiet=0
		fi
		prev=$cur
		n=$((n + 1))
	done
	local waited
	waited=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	printf '%s\t%s\n' "$1" "$waited" >>"$OUT/idle.tsv"
	say "   server idle after ${waited} s ($1)"
}

# measure NAME BENCH-ARGS...: one load run against the running server, with the CPU
# the server, the generator and everything else on the machine used meanwhile.
measure() {
	local name=$1
	shift
	local rep=$OUT/$name.txt s0 b0 t0 s1 b1 t1 gen
	say "== $name: warroom bench ingest $*"
	# What the rest of the machine uses while the server idles, just before the run.
	local i0 i1 bg
	i0=$(cpu_busy_ticks)
	sleep 2
	i1=$(cpu_busy_ticks)
	bg=$(awk -v hz="$(getconf CLK_TCK)" -v a="$i0" -v b="$i1" 'BEGIN { printf "%.2f", (b - a) / hz / 2 }')
	s0=$(proc_ticks "$SERVER_PID")
	b0=$(cpu_busy_ticks)
	t0=$(date +%s.%N)
	local TIMEFORMAT='%U %S'
	if ! { time "${RUN[@]}" "$WARROOM" bench ingest "$@" >"$rep" 2>"$rep.err"; } 2>"$rep.time"; then
		say "   the run failed: $(cat "$rep.err")"
	fi
	t1=$(date +%s.%N)
	s1=$(proc_ticks "$SERVER_PID")
	b1=$(cpu_busy_ticks)
	gen=$(tail -1 "$rep.time")
	cat "$rep" >&2
	local cpu rss incs=-
	cpu=$(awk -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v b0="$b0" -v b1="$b1" -v gen="$gen" \
		'BEGIN { split(gen, g, " "); w = t1 - t0; s = (s1 - s0) / hz / w; c = (g[1] + g[2]) / w; o = (b1 - b0) / hz / w - s - c;
		         printf "%.2f\t%.2f\t%.2f", s, c, o }')
	rss=$(rss_kb)
	[[ $SERVER_KIND == warroom ]] && incs=$(open_incidents)
	# CPU per unit of work: server cores ÷ alerts/s and generator cores ÷ requests/s.
	local per
	per=$(awk -v c="$cpu" -v a="$(field "$rep" 'alerts/s')" -v r="$(field "$rep" 'requests/s')" \
		'BEGIN { split(c, x, "\t"); printf "%s\t%s", (a > 0 ? sprintf("%.1f", x[1] / a * 1e6) : "-"), (r > 0 ? sprintf("%.1f", x[2] / r * 1e6) : "-") }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" \
		"$(field "$rep" 'alerts/s')" "$(field "$rep" 'requests/s')" \
		"$(field "$rep" 'latency p50')" "$(field "$rep" 'latency p90')" "$(field "$rep" 'latency p99')" \
		"$(field "$rep" 'latency max')" "$(field "$rep" 'errors' | tr ' ' ',')" \
		"$(field "$rep" 'readable p50')" "$(field "$rep" 'readable p99')" \
		"$cpu" "$bg" "$rss" "${incs:--}" "$per" >>"$OUT/summary.tsv"
	say "   cores used (server, generator, others): $(echo "$cpu" | tr '\t' ' '), others before the run $bg; server RSS ${rss} kB; open incidents ${incs:--}"
}

{
	echo "date:      $(date -u +%FT%TZ)"
	echo "nproc:     $(nproc)"
	echo "cpu:       $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "memory:    $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
	echo "kernel:    $(uname -r)"
	echo "go:        $(go version)"
	echo "warroom:   $("$WARROOM" version)"
	[[ -n $AM_BIN ]] && echo "alertmanager: $("$AM_BIN" --version 2>&1 | head -1)"
	echo "nice:      $NICE ($(cat /proc/self/autogroup 2>/dev/null || echo "no autogroup"))"
	echo "loadavg before: $(cat /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2

T=(--duration "$DURATION" --warmup "$WARMUP")
AM=(--url "http://127.0.0.1:$AM_PORT" --target alertmanager)
WR=(--url "http://127.0.0.1:$WR_PORT" --target warroom)
SINGLE=(--concurrency 16 --batch 1)
BATCH=(--concurrency 8 --batch 100)
am() { want alertmanager; }
wr() { want warroom; }

# after_idle NAME: the server's resident memory now, at its peak, and after 10 s idle.
after_idle() {
	local now hwm after10 drained
	now=$(rss_kb)
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
	sleep 10
	after10=$(rss_kb)
	# warroom: then until the chat backlog (rooms, plans, held-back updates) is done.
	drained=-
	if [[ $SERVER_KIND == warroom ]]; then
		wait_idle "$1"
		drained=$(rss_kb)
		hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$now" "$hwm" "$after10" "$drained" >>"$OUT/memory.tsv"
}
printf 'name\trss_kb\tpeak_rss_kb\trss_kb_after_10s_idle\trss_kb_after_backlog\n' >"$OUT/memory.tsv"

if want baseline && { case_on single || case_on batch; }; then
	SERVER_KIND=baseline
	start_baseline
	case_on single && measure baseline-single-c16 --url "http://127.0.0.1:$BASE_PORT" --source generic "${SINGLE[@]}" "${T[@]}"
	case_on batch && measure baseline-batch100-c8 --url "http://127.0.0.1:$BASE_PORT" --source generic "${BATCH[@]}" "${T[@]}"
	stop_server
fi

# The comparisons alternate Alertmanager and warroom, each on a fresh server, so that a
# change in what else runs on the machine affects both alike; ROUNDS repeats them.
for round in $(seq "${ROUNDS:-1}"); do
	r=r$round
	if am && case_on single; then
		SERVER_KIND=alertmanager
		start_alertmanager && measure "$r-am-single-c16" "${AM[@]}" "${SINGLE[@]}" "${T[@]}"
		stop_server
	fi
	if wr && case_on single; then
		SERVER_KIND=warroom
		start_warroom && measure "$r-wr-single-c16" "${WR[@]}" --source generic "${SINGLE[@]}" --readable-sample 200 "${T[@]}"
		stop_server
	fi
	if am && case_on batch; then
		SERVER_KIND=alertmanager
		start_alertmanager && measure "$r-am-batch100-c8" "${AM[@]}" "${BATCH[@]}" "${T[@]}"
		stop_server
	fi
	if wr && case_on batch; then
		SERVER_KIND=warroom
		start_warroom && measure "$r-wr-batch100-c8" "${WR[@]}" --source generic "${BATCH[@]}" --readable-sample 200 "${T[@]}"
		stop_server
	fi
	if wr && case_on open10k; then
		SERVER_KIND=warroom
		# 10,000 open incidents: 300 requests of 100 alerts open them all first. Each
		# is notifiable, so warroom then opens 10,000 web chat rooms with their opening
		# messages and playbook plans; wait_idle waits for that backlog to drain, so the
		# runs measure ingest with 10,000 open incidents, not the room openings.
		start_warroom
		measure "$r-wr-open-10k-incidents" "${WR[@]}" --source generic "${BATCH[@]}" --requests 300 --incidents 10000
		wait_idle "$r-open-10k"
		# Load into 10 of the 10,000 (the same campaigns as the 10-incident runs): what
		# having 10,000 open costs.
		measure "$r-wr-single-c16-10k-open-hot10" "${WR[@]}" --source generic "${SINGLE[@]}" --incidents 10 --readable-sample 200 "${T[@]}"
		measure "$r-wr-batch100-c8-10k-open-hot10" "${WR[@]}" --source generic "${BATCH[@]}" --incidents 10 --readable-sample 200 "${T[@]}"
		wait_idle "$r-hot10"
		# Load spread over all 10,000: every request of 100 alerts touches 100 different
		# incidents, and every touched incident's room is brought up to date.
		measure "$r-wr-single-c16-10k-open" "${WR[@]}" --source generic "${SINGLE[@]}" --incidents 10000 --readable-sample 200 "${T[@]}"
		wait_idle "$r-spread-single"
		measure "$r-wr-batch100-c8-10k-open" "${WR[@]}" --source generic "${BATCH[@]}" --incidents 10000 --readable-sample 200 "${T[@]}"
		stop_server
	fi
done

if wr && case_on formats; then
	SERVER_KIND=warroom
	start_warroom && measure wr-suricata-single-c16 "${WR[@]}" --source suricata --format suricata "${SINGLE[@]}" "${T[@]}"
	stop_server
	start_warroom && measure wr-suricata-batch100-c8 "${WR[@]}" --source suricata --format suricata "${BATCH[@]}" "${T[@]}"
	stop_server
fi
if wr && case_on memory; then
	SERVER_KIND=warroom
	start_warroom && measure wr-100k-in-10k "${WR[@]}" --source generic "${BATCH[@]}" --requests 1000 --incidents 10000
	after_idle wr-100k-in-10k
	stop_server
fi
if am && case_on memory; then
	SERVER_KIND=alertmanager
	start_alertmanager && measure am-100k-in-10k "${AM[@]}" "${BATCH[@]}" --requests 1000 --incidents 10000
	after_idle am-100k-in-10k
	stop_server
	# Alertmanager's everyday traffic, for reference: the same firing alerts re-sent.
	start_alertmanager
	measure am-repeat-single-c16 "${AM[@]}" "${SINGLE[@]}" --repeat "${T[@]}"
	measure am-repeat-batch100-c8 "${AM[@]}" "${BATCH[@]}" --repeat "${T[@]}"
	stop_server
fi

say ""
say "summary ($OUT/summary.tsv, $OUT/memory.tsv):"
column -t -s $'\t' "$OUT/summary.tsv" >&2 || cat "$OUT/summary.tsv" >&2
column -t -s $'\t' "$OUT/memory.tsv" >&2 || cat "$OUT/memory.tsv" >&2
echo "loadavg after: $(cat /proc/loadavg)" | tee -a "$OUT/machine.txt" >&2
