# shellcheck shell=bash
# Throwaway PostgreSQL and MariaDB servers for tests.
#
# Usage (from a bash script with `set -euo pipefail`):
#   . scripts/lib/servers.sh
#   servers_install            # apt-get install the servers if missing (root)
#   trap servers_stop EXIT
#   servers_start              # exports POSTGRES_DB_URL and MYSQL_DB_URL
#
# Both servers listen on 127.0.0.1 only, on the first free port from 55432
# (PostgreSQL) and 53306 (MariaDB). Data, sockets and logs live in one temp dir
# that servers_stop removes. If POSTGRES_DB_URL and MYSQL_DB_URL are already
# set, servers_start reuses them and starts nothing. On failure servers_start
# prints the server log tail and exits the calling script.

SERVERS_DIR=""
SERVERS_TIMEOUT="${SERVERS_TIMEOUT:-60}"

_servers_pg_bin() {
	local d
	d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
	[[ -n "$d" && -x "$d/postgres" ]] && echo "$d"
}

_servers_mariadbd() {
	PATH="$PATH:/usr/sbin:/sbin" command -v mariadbd || PATH="$PATH:/usr/sbin:/sbin" command -v mysqld
}

# Runs a command as the postgres user when root (initdb refuses to run as root).
_servers_as_pg() {
	if [[ $EUID -eq 0 ]]; then
		(cd "$SERVERS_DIR" && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

_servers_mysql() {
	mariadb --no-defaults -uroot -S "$SERVERS_DIR/my/sock" "$@"
}

# Prints the first port >= $1 that nothing on 127.0.0.1 accepts connections on.
_servers_free_port() {
	local p
	for ((p = $1; p < $1 + 200; p++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "servers: no free port in $1..$(($1 + 199))" >&2
	return 1
}

_servers_fail() {
	echo "servers: $1 did not start; last lines of $2:" >&2
	tail -n 30 "$2" >&2 2>/dev/null || true
	exit 1
}

servers_install() {
	if [[ -n "$(_servers_pg_bin)" && -n "$(_servers_mariadbd)" ]]; then
		return 0
	fi
	echo "servers: installing postgresql and mariadb-server" >&2
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql mariadb-server
}

servers_start() {
	if [[ -n "${POSTGRES_DB_URL:-}" && -n "${MYSQL_DB_URL:-}" ]]; then
		echo "servers: using existing POSTGRES_DB_URL and MYSQL_DB_URL"
		return 0
	fi
	local pgbin mariadbd pgport myport pgver myver i
	pgbin=$(_servers_pg_bin) || { echo "servers: PostgreSQL not installed" >&2; exit 1; }
	mariadbd=$(_servers_mariadbd) || { echo "servers: MariaDB not installed" >&2; exit 1; }

	SERVERS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gormkit-db.XXXXXX")
	chmod 755 "$SERVERS_DIR"
	mkdir "$SERVERS_DIR/pg" "$SERVERS_DIR/my"
	if [[ $EUID -eq 0 ]]; then chown postgres: "$SERVERS_DIR/pg"; fi

	# Initialise both data dirs before taking the port lock.
	_servers_as_pg "$pgbin/initdb" -D "$SERVERS_DIR/pg/data" -U postgres -N \
		--encoding=UTF8 --no-locale --auth-local=trust --auth-host=scram-sha-256 \
		>"$SERVERS_DIR/pg/initdb.log" 2>&1 || _servers_fail initdb "$SERVERS_DIR/pg/initdb.log"
	mariadb-install-db --no-defaults --datadir="$SERVERS_DIR/my/data" --user="$(id -un)" \
		--auth-root-authentication-method=normal --skip-test-db \
		>"$SERVERS_DIR/my/install.log" 2>&1 || _servers_fail mariadb-install-db "$SERVERS_DIR/my/install.log"

	# Hold a lock from picking the ports until both servers listen, so that
	# concurrent invocations don't pick the same ports.
	local lock="${TMPDIR:-/tmp}/gormkit-servers.lock"
	{ exec 9>>"$lock"; } 2>/dev/null || exec 9<"$lock" # another user's lock file
	flock -w "$SERVERS_TIMEOUT" 9 || { echo "servers: timed out waiting for port lock" >&2; exit 1; }

	pgport=$(_servers_free_port 55432) || exit 1
	cat >>"$SERVERS_DIR/pg/data/postgresql.conf" <<-EOF
		listen_addresses = '127.0.0.1'
		port = $pgport
		unix_socket_directories = '$SERVERS_DIR/pg'
		max_connections = 200
		fsync = off
		synchronous_commit = off
		full_page_writes = off
	EOF
	_servers_as_pg "$pgbin/pg_ctl" start -D "$SERVERS_DIR/pg/data" -l "$SERVERS_DIR/pg/log" \
		-w -t "$SERVERS_TIMEOUT" >/dev/null 9>&- || _servers_fail PostgreSQL "$SERVERS_DIR/pg/log"

	myport=$(_servers_free_port 53306) || exit 1
	"$mariadbd" --no-defaults --user="$(id -un)" --datadir="$SERVERS_DIR/my/data" \
		--bind-address=127.0.0.1 --port="$myport" --socket="$SERVERS_DIR/my/sock" \
		--pid-file="$SERVERS_DIR/my/pid" --log-error="$SERVERS_DIR/my/log" \
		--skip-log-bin --innodb-flush-log-at-trx-commit=0 --max-connections=300 \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
		</dev/null >>"$SERVERS_DIR/my/log" 2>&1 9>&- &
	echo $! >"$SERVERS_DIR/my/bgpid"
	for ((i = 0; ; i++)); do
		mariadb-admin --no-defaults -uroot -S "$SERVERS_DIR/my/sock" ping >/dev/null 2>&1 && break
		if ((i >= SERVERS_TIMEOUT * 10)) || ! kill -0 "$(<"$SERVERS_DIR/my/bgpid")" 2>/dev/null; then
			_servers_fail MariaDB "$SERVERS_DIR/my/log"
		fi
		sleep 0.1
	done

	flock -u 9
	exec 9>&-

	_servers_as_pg "$pgbin/psql" -X -q -h "$SERVERS_DIR/pg" -p "$pgport" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 <<-EOF
			CREATE ROLE gormkit LOGIN CREATEDB PASSWORD 'gormkit';
			CREATE DATABASE gormkit OWNER gormkit;
		EOF
	_servers_mysql <<-EOF
		CREATE DATABASE gormkit;
		CREATE USER 'gormkit'@'127.0.0.1' IDENTIFIED BY 'gormkit';
		CREATE USER 'gormkit'@'localhost' IDENTIFIED BY 'gormkit';
		GRANT ALL ON \`gormkit%\`.* TO 'gormkit'@'127.0.0.1', 'gormkit'@'localhost';
	EOF

	export POSTGRES_DB_URL="postgres://gormkit:gormkit@127.0.0.1:$pgport/gormkit?sslmode=disable"
	export MYSQL_DB_URL="mysql://gormkit:gormkit@127.0.0.1:$myport/gormkit"

	pgver=$(_servers_as_pg "$pgbin/psql" -X -tA -h "$SERVERS_DIR/pg" -p "$pgport" -U postgres -d postgres -c 'SHOW server_version')
	myver=$(_servers_mysql -N -e 'SELECT VERSION()')
	echo "servers: PostgreSQL ${pgver%% *} on :$pgport, MariaDB ${myver%%-*} on :$myport"
}

servers_stop() {
	[[ -n "$SERVERS_DIR" && -d "$SERVERS_DIR" ]] || return 0
	local pgbin pid i
	if [[ -f "$SERVERS_DIR/pg/data/postmaster.pid" ]] && pgbin=$(_servers_pg_bin); then
		_servers_as_pg "$pgbin/pg_ctl" stop -D "$SERVERS_DIR/pg/data" -m fast -w >/dev/null 2>&1 || true
	fi
	if [[ -f "$SERVERS_DIR/my/bgpid" ]]; then
		pid=$(<"$SERVERS_DIR/my/bgpid")
		kill "$pid" 2>/dev/null || true # SIGTERM is a clean shutdown for mariadbd
		for ((i = 0; i < SERVERS_TIMEOUT * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -rf "$SERVERS_DIR"
	SERVERS_DIR=""
}
