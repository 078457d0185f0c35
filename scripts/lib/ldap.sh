# shellcheck shell=bash
# OpenLDAP (slapd 2.5) for the portal: one instance per profile under $STATE_DIR/ldap, on 127.0.0.1
# only: ldap:// (plain, and StartTLS) and ldaps://. cn=config comes from scripts/ldap/slapd.ldif.tmpl
# and is rebuilt (slapadd -n0) on every cold start, so template edits apply and the rootdn password
# always matches secrets.env; the directory data ($STATE_DIR/ldap/data) is kept. The base entries
# (scripts/ldap/base.ldif.tmpl) are loaded once, with ldapadd as the rootdn.
# TLS: a CA of the profile's own and a server certificate for 127.0.0.1, made with openssl at the
# first start that finds them missing (an older data folder gets them on its next start) and kept
# in $STATE_DIR/ldap/tls (keys 0600; .local is git-ignored). The portal trusts the CA through the
# folder tls/ca, which holds the CA certificate only (docs/decisions/0014-ldap-lockout-and-tls.md).

LDAP_SUFFIX="dc=example,dc=org"
LDAP_ROOT_DN="cn=admin,$LDAP_SUFFIX"
LDAP_SERVICE_DN="uid=svc-portal,ou=services,$LDAP_SUFFIX"
LDAP_ADMIN_UID="admin"
LDAP_TEMPLATE_DIR="$SCRIPTS_DIR/ldap"

# Our own ldap-utils calls ignore ldap.conf / ~/.ldaprc (TLS settings there would get in the way).
export LDAPNOINIT=1

ldap_port() {
  case $PROFILE in
    run) echo 13389 ;;
    test) echo 23389 ;;
  esac
}

ldaps_port() {
  case $PROFILE in
    run) echo 13636 ;;
    test) echo 23636 ;;
  esac
}

# Renew the server certificate (and the CA) when it expires within this many seconds.
LDAP_CERT_MIN_REMAINING=$((30 * 24 * 3600))

ldap_paths() {
  LDAP_DIR="$STATE_DIR/ldap"
  LDAP_CONF_DIR="$LDAP_DIR/slapd.d"
  LDAP_DATA_DIR="$LDAP_DIR/data"
  LDAP_PID_FILE="$LDAP_DIR/slapd.pid"
  LDAP_BASE_MARKER="$LDAP_DATA_DIR/.portal-base-loaded"
  LDAP_LOG="$LOG_DIR/slapd.log"
  LDAP_SETUP_LOG="$LOG_DIR/ldap-setup.log"
  LDAP_PORT=$(ldap_port)
  LDAP_URI="ldap://127.0.0.1:$LDAP_PORT"
  LDAPS_PORT=$(ldaps_port)
  LDAPS_URI="ldaps://127.0.0.1:$LDAPS_PORT"
  LDAP_TLS_DIR="$LDAP_DIR/tls"
  LDAP_CA_DIR="$LDAP_TLS_DIR/ca"
  LDAP_CA_CERT="$LDAP_CA_DIR/ca.crt"
  LDAP_CA_KEY="$LDAP_TLS_DIR/ca.key"
  LDAP_SERVER_CERT="$LDAP_TLS_DIR/server.crt"
  LDAP_SERVER_KEY="$LDAP_TLS_DIR/server.key"
}

# ldap_pid: the slapd PID from slapd.pid when that process is alive.
ldap_pid() {
  local pid
  pid=$(pid_from_file "$LDAP_PID_FILE") || return 1
  pid_running "$pid" slapd || return 1
  printf '%s' "$pid"
}

ldap_ready() {
  ldapsearch -x -LLL -o nettimeout=2 -H "$LDAP_URI" -s base -b "" namingContexts >/dev/null 2>&1
}

# _ldap_tls_search URI [-ZZ]: an anonymous root DSE search over TLS that trusts only the profile's CA.
# LDAPNOINIT would make libldap ignore the LDAPTLS_* variables, so it is unset for this one call;
# variables take precedence over ldap.conf and ~/.ldaprc.
_ldap_tls_search() {
  env -u LDAPNOINIT LDAPTLS_CACERT="$LDAP_CA_CERT" LDAPTLS_REQCERT=demand \
    ldapsearch -x -LLL -o nettimeout=2 -H "$@" -s base -b "" namingContexts >/dev/null 2>&1
}

# ldap_tls_ready: StartTLS on the ldap:// port and the ldaps:// port both verify against the CA.
ldap_tls_ready() {
  _ldap_tls_search "$LDAP_URI" -ZZ && _ldap_tls_search "$LDAPS_URI"
}

# _ldap_cert_usable CERT: the file holds a certificate that is valid for LDAP_CERT_MIN_REMAINING more seconds.
_ldap_cert_usable() {
  [[ -s $1 ]] && openssl x509 -noout -checkend "$LDAP_CERT_MIN_REMAINING" -in "$1" >/dev/null 2>&1
}

# _ldap_ensure_tls: the CA and the server certificate, made when missing, expiring or not matching each other;
# kept otherwise. Keys are written with umask 077 and end up 0600; only the CA certificate goes into tls/ca.
_ldap_ensure_tls() {
  mkdir -p -- "$LDAP_TLS_DIR" "$LDAP_CA_DIR"
  chmod 0700 -- "$LDAP_TLS_DIR"
  chmod 0755 -- "$LDAP_CA_DIR"
  local made=""
  if ! _ldap_cert_usable "$LDAP_CA_CERT" || [[ ! -s $LDAP_CA_KEY ]]; then
    printf '%s scripts/services: making the LDAP test CA\n' "$(date -Is)" >>"$LDAP_SETUP_LOG"
    (
      umask 077
      openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/O=GPU Jupyter Portal/CN=Portal $PROFILE LDAP test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$LDAP_CA_KEY.new" -out "$LDAP_CA_CERT.new"
    ) >>"$LDAP_SETUP_LOG" 2>&1 || die "ldap: openssl could not make the test CA (see $LDAP_SETUP_LOG)"
    mv -f -- "$LDAP_CA_KEY.new" "$LDAP_CA_KEY"
    mv -f -- "$LDAP_CA_CERT.new" "$LDAP_CA_CERT"
    chmod 0644 -- "$LDAP_CA_CERT"
    made=1
  fi
  if [[ -n $made ]] || ! _ldap_cert_usable "$LDAP_SERVER_CERT" || [[ ! -s $LDAP_SERVER_KEY ]] ||
    ! openssl verify -CAfile "$LDAP_CA_CERT" "$LDAP_SERVER_CERT" >/dev/null 2>&1; then
    printf '%s scripts/services: making the LDAP server certificate\n' "$(date -Is)" >>"$LDAP_SETUP_LOG"
    local ext="$LDAP_TLS_DIR/server.ext" csr="$LDAP_TLS_DIR/server.csr"
    CLEANUP_PATHS+=("$ext" "$csr")
    # libldap checks the name it connected to, and "localhost" may resolve back to another name: 127.0.0.1 is
    # what the portal and the tests use, so the certificate names the address (shared/reference/ldap.md §1.5).
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$ext"
    (
      umask 077
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "/O=GPU Jupyter Portal/CN=127.0.0.1" -keyout "$LDAP_SERVER_KEY.new" -out "$csr" &&
        openssl x509 -req -in "$csr" -CA "$LDAP_CA_CERT" -CAkey "$LDAP_CA_KEY" -set_serial "0x$(openssl rand -hex 16)" \
          -days 825 -extfile "$ext" -out "$LDAP_SERVER_CERT.new"
    ) >>"$LDAP_SETUP_LOG" 2>&1 || die "ldap: openssl could not make the server certificate (see $LDAP_SETUP_LOG)"
    mv -f -- "$LDAP_SERVER_KEY.new" "$LDAP_SERVER_KEY"
    mv -f -- "$LDAP_SERVER_CERT.new" "$LDAP_SERVER_CERT"
    chmod 0644 -- "$LDAP_SERVER_CERT"
    rm -f -- "$ext" "$csr"
  fi
  chmod 0600 -- "$LDAP_CA_KEY" "$LDAP_SERVER_KEY"
  # OpenSSL-based libldap looks CA certificates up by subject hash; GnuTLS (Debian's) reads every file.
  local link
  link="$LDAP_CA_DIR/$(openssl x509 -noout -hash -in "$LDAP_CA_CERT").0"
  if [[ ! -L $link ]]; then
    rm -f -- "$LDAP_CA_DIR"/*.0
    ln -s ca.crt "$link"
  fi
}

# _ldap_hash SECRET_KEY: {SSHA} hash of a secret; the clear text goes through a pipe, not argv.
_ldap_hash() {
  local pw hash
  pw=$(secret_get "$1")
  hash=$(slappasswd -h '{SSHA}' -T <(printf '%s' "$pw")) || die "ldap: slappasswd failed"
  [[ $hash == '{SSHA}'* ]] || die "ldap: slappasswd returned no {SSHA} hash"
  printf '%s' "$hash"
}

# _ldap_bind_ok DN SECRET_KEY
_ldap_bind_ok() {
  local pw
  pw=$(secret_get "$2")
  ldapwhoami -x -o nettimeout=5 -H "$LDAP_URI" -D "$1" -y <(printf '%s' "$pw") >/dev/null 2>&1
}

_ldap_build_config() {
  local tmpl="$LDAP_TEMPLATE_DIR/slapd.ldif.tmpl" ldif="$LDAP_DIR/slapd.ldif" tmpdir="$LDAP_DIR/slapd.d.new"
  local rootpw
  [[ -r $tmpl ]] || die "ldap: template $tmpl missing"
  rootpw=$(_ldap_hash LDAP_ROOT_PASSWORD)
  (
    umask 077
    sed -e '/^#/d' \
      -e "s|@BASE@|$(sed_repl_escape "$LDAP_DIR")|g" \
      -e "s|@TLS_DIR@|$(sed_repl_escape "$LDAP_TLS_DIR")|g" \
      -e "s|@SUFFIX@|$(sed_repl_escape "$LDAP_SUFFIX")|g" \
      -e "s|@SERVICE_DN@|$(sed_repl_escape "$LDAP_SERVICE_DN")|g" \
      -e "s|@ROOTPW@|$(sed_repl_escape "$rootpw")|g" \
      "$tmpl" >"$ldif"
  )
  if grep -q '@[A-Z_]*@' "$ldif"; then die "ldap: unreplaced placeholder in $ldif"; fi
  rm -rf -- "$tmpdir"
  mkdir -m 0700 -- "$tmpdir"
  CLEANUP_PATHS+=("$tmpdir")
  printf '%s scripts/services: slapadd -n0 %s\n' "$(date -Is)" "$ldif" >>"$LDAP_SETUP_LOG"
  if ! slapadd -n0 -F "$tmpdir" -l "$ldif" -q >>"$LDAP_SETUP_LOG" 2>&1; then
    log_tail "$LDAP_SETUP_LOG"
    die "ldap: slapadd -n0 of $ldif failed"
  fi
  rm -rf -- "$LDAP_CONF_DIR"
  mv -- "$tmpdir" "$LDAP_CONF_DIR"
}

_ldap_load_base() {
  local tmpl="$LDAP_TEMPLATE_DIR/base.ldif.tmpl" svc_hash admin_hash rootpw out
  [[ -r $tmpl ]] || die "ldap: template $tmpl missing"
  svc_hash=$(_ldap_hash LDAP_SERVICE_PASSWORD)
  admin_hash=$(_ldap_hash SEED_ADMIN_PASSWORD)
  rootpw=$(secret_get LDAP_ROOT_PASSWORD)
  # The filled LDIF (hashes only) is piped to ldapadd and never written to disk.
  printf '%s scripts/services: ldapadd base entries\n' "$(date -Is)" >>"$LDAP_SETUP_LOG"
  if ! out=$(
    sed -e '/^#/d' \
      -e "s|@SUFFIX@|$(sed_repl_escape "$LDAP_SUFFIX")|g" \
      -e "s|@SERVICE_PASSWORD_HASH@|$(sed_repl_escape "$svc_hash")|g" \
      -e "s|@ADMIN_PASSWORD_HASH@|$(sed_repl_escape "$admin_hash")|g" \
      "$tmpl" |
      ldapadd -x -o nettimeout=10 -H "$LDAP_URI" -D "$LDAP_ROOT_DN" -y <(printf '%s' "$rootpw") 2>&1
  ); then
    printf '%s\n' "$out" >>"$LDAP_SETUP_LOG"
    return 1
  fi
  printf '%s\n' "$out" >>"$LDAP_SETUP_LOG"
  date -Is >"$LDAP_BASE_MARKER"
}

ldap_start() {
  ldap_paths
  local pid t0
  t0=$(now_ms)
  if pid=$(ldap_pid); then
    if ldap_ready || wait_until 10 "$pid" -- ldap_ready; then
      # A slapd started by an older version of this script serves plain LDAP only; the portal's default is TLS.
      ldap_tls_ready || die "ldap: pid $pid answers on $LDAP_URI but not with TLS on it and on $LDAPS_URI" \
        "(started by an older scripts/lib/ldap.sh?): run 'scripts/services restart $PROFILE ldap'"
      info "ldap: already running (pid $pid, $LDAP_URI, $LDAPS_URI)"
      return 0
    fi
    log_tail "$LDAP_LOG"
    die "ldap: pid $pid is alive but $LDAP_URI does not answer; run 'scripts/services stop $PROFILE' and retry"
  fi
  rm -f -- "$LDAP_PID_FILE" "$LDAP_DIR/slapd.args"
  local port
  for port in "$LDAP_PORT" "$LDAPS_PORT"; do
    if port_open "$port"; then
      die "ldap: port 127.0.0.1:$port is already in use by another process"
    fi
  done

  ensure_packages slapd:slapd slapadd:slapd slappasswd:slapd \
    ldapsearch:ldap-utils ldapadd:ldap-utils ldapwhoami:ldap-utils openssl:openssl
  secret_ensure LDAP_ROOT_PASSWORD LDAP_SERVICE_PASSWORD SEED_ADMIN_PASSWORD

  mkdir -p -- "$LDAP_DIR" "$LDAP_DATA_DIR"
  chmod 0700 -- "$LDAP_DIR" "$LDAP_DATA_DIR"
  _ldap_ensure_tls
  _ldap_build_config

  printf '%s scripts/services: starting slapd on %s %s\n' "$(date -Is)" "$LDAP_URI" "$LDAPS_URI" >>"$LDAP_LOG"
  # -d none: stay in the foreground (we detach it ourselves) and print only fatal errors.
  spawn_detached "$LDAP_LOG" slapd -h "$LDAP_URI/ $LDAPS_URI/" -F "$LDAP_CONF_DIR" -d none
  local spawned=$SPAWNED_PID rc=0
  wait_until "$START_TIMEOUT" "$spawned" -- ldap_ready || rc=$?
  if ((rc)); then
    log_tail "$LDAP_LOG"
    if ((rc == 2)); then die "ldap: slapd exited during startup"; fi
    stop_pid slapd "$spawned" slapd
    die "ldap: $LDAP_URI not answering after ${START_TIMEOUT}s"
  fi
  # slapd writes olcPidFile itself; fall back to the PID we spawned if it has not (yet).
  if ! pid=$(ldap_pid); then
    pid_running "$spawned" slapd || {
      log_tail "$LDAP_LOG"
      die "ldap: answering, but no live slapd process found"
    }
    pid=$spawned
    printf '%s\n' "$pid" >"$LDAP_PID_FILE"
  fi
  if ! ldap_tls_ready; then
    log_tail "$LDAP_LOG"
    die "ldap: slapd answers on $LDAP_URI but StartTLS or $LDAPS_URI fails with the CA $LDAP_CA_CERT"
  fi

  if [[ ! -e $LDAP_BASE_MARKER ]]; then
    if ! _ldap_load_base; then
      # leave no half-loaded directory behind: the next start loads the base again from scratch
      stop_pid slapd "$pid" slapd
      rm -rf -- "$LDAP_DATA_DIR"
      log_tail "$LDAP_SETUP_LOG"
      die "ldap: loading the base entries failed (the data folder was reset)"
    fi
    info "ldap: base entries loaded"
  elif ! _ldap_bind_ok "$LDAP_SERVICE_DN" LDAP_SERVICE_PASSWORD; then
    die "ldap: running, but the service account password in $SECRETS_FILE does not match the directory" \
      "(secrets.env lost?). Stop the profile and delete $LDAP_DIR to re-seed."
  fi
  info "ldap: started (pid $pid, $LDAP_URI with StartTLS, $LDAPS_URI, data $LDAP_DIR) in $(elapsed_since "$t0")"
}

ldap_stop() {
  ldap_paths
  local pid
  if ! pid=$(ldap_pid); then
    rm -f -- "$LDAP_PID_FILE"
    info "ldap: not running"
    return 0
  fi
  stop_pid slapd "$pid" slapd
  rm -f -- "$LDAP_PID_FILE" "$LDAP_DIR/slapd.args"
  info "ldap: stopped (pid $pid)"
}

ldap_status() {
  ldap_paths
  service_status ldap ldap_pid ldap_ready "127.0.0.1:$LDAP_PORT,$LDAPS_PORT" "$LDAP_DIR"
}

ldap_env() {
  ldap_paths
  local svc_pw admin_pw root_pw
  svc_pw=$(secret_require LDAP_SERVICE_PASSWORD)
  admin_pw=$(secret_require SEED_ADMIN_PASSWORD)
  root_pw=$(secret_require LDAP_ROOT_PASSWORD)
  [[ -s $LDAP_CA_CERT ]] || die "ldap: no CA certificate $LDAP_CA_CERT yet; run: scripts/services restart $PROFILE ldap"
  emit_export Ldap__Host 127.0.0.1
  emit_export Ldap__Port "$LDAP_PORT"
  emit_export Ldap__Security StartTls
  emit_export Ldap__TrustedCertificatesDirectory "$LDAP_CA_DIR"
  emit_export PORTAL_LDAPS_PORT "$LDAPS_PORT"
  emit_export Ldap__BaseDn "$LDAP_SUFFIX"
  emit_export Ldap__ServiceDn "$LDAP_SERVICE_DN"
  emit_export Ldap__ServicePassword "$svc_pw"
  emit_export PORTAL_SEED_ADMIN_USERNAME "$LDAP_ADMIN_UID"
  emit_export PORTAL_SEED_ADMIN_PASSWORD "$admin_pw"
  emit_export PORTAL_LDAP_ROOT_DN "$LDAP_ROOT_DN"
  emit_export PORTAL_LDAP_ROOT_PASSWORD "$root_pw"
}
