#!/usr/bin/env bash
# The heavy packaging checks, on one release build:
#  1. the container: the binary the Dockerfile copies runs in a root that holds only what the
#     Dockerfile copies plus the libraries distroless/cc provides, as the image's user, with the
#     image's configuration, in its own network namespace; its HEALTHCHECK command succeeds.
#  2. the Debian package: `cargo deb` builds it, `dpkg-deb` shows what it holds, `dpkg --root`
#     installs it into a throwaway root (postinst creates the user there), and purges it.
# Every step either passes or fails the script; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}
export CARGO_TERM_COLOR=never

fail() { echo "check-packaging: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

work=$(mktemp -d)
agent=""
cleanup() {
  if [ -n "$agent" ]; then kill -TERM "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

step "release build"
cargo build --release --locked --bin sluice
bin=$target/release/sluice
[ -x "$bin" ] || fail "no $bin"

# --- 1. the container root -------------------------------------------------------------------
step "ldd: only what gcr.io/distroless/cc-debian12 provides (glibc, libgcc)"
ldd "$bin" | tee "$work/ldd.txt"
while read -r lib _; do
  case "$lib" in
    linux-vdso.so.*|libgcc_s.so.1|libc.so.6|libm.so.6|libdl.so.2|libpthread.so.0|librt.so.1|/lib64/ld-linux-x86-64.so.2|/lib/ld-linux-aarch64.so.1) ;;
    *) fail "the binary needs $lib, which distroless/cc does not have" ;;
  esac
done < "$work/ldd.txt"

step "container root: the Dockerfile's files only"
root=$work/root
# What the Dockerfile's runtime stage copies (install/mkdir lines of its build stage).
install -s -D -m 0755 "$bin" "$root/usr/bin/sluice"
install -D -m 0644 packaging/docker/sluice.yaml "$root/etc/sluice/sluice.yaml"
mkdir -p "$root/usr/share/sluice" "$root/var/lib/sluice"
cp -r enrichment-data "$root/usr/share/sluice/enrichment-data"
chown 65532:65532 "$root/var/lib/sluice"
# What the base image provides that the binary uses: the libraries ldd lists.
for lib in $(awk '/=>/ { print $3 } /^\t\/lib/ { print $1 }' "$work/ldd.txt"); do
  cp --parents -L "$lib" "$root"
done
grep -q 'COPY --from=build /out/usr/bin/sluice /usr/bin/sluice' packaging/docker/Dockerfile \
  || fail "the Dockerfile no longer copies the binary to /usr/bin/sluice; update this script"
grep -q 'USER 65532:65532' packaging/docker/Dockerfile || fail "the Dockerfile's USER changed"
echo "files in the root: $(find "$root" -type f | wc -l)"

# Everything below runs in a fresh network namespace, so the image's fixed ports (8686, 5514,
# 8080) cannot collide with anything on this machine.
step "container root: run, HEALTHCHECK, one syslog message, SIGTERM"
cat > "$work/container.sh" <<'EOS'
set -euo pipefail
root=$1
ip link set lo up
chroot --userspec=65532:65532 "$root" /usr/bin/sluice validate -c /etc/sluice/sluice.yaml
chroot --userspec=65532:65532 "$root" /usr/bin/sluice run -c /etc/sluice/sluice.yaml 2>"$root/../sluice.log" &
pid=$!
ok=""
for _ in $(seq 1 150); do
  if chroot --userspec=65532:65532 "$root" /usr/bin/sluice health --url http://127.0.0.1:8686 >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || { cat "$root/../sluice.log"; echo "HEALTHCHECK never passed"; exit 1; }
ok=""
for _ in $(seq 1 150); do
  if chroot --userspec=65532:65532 "$root" /usr/bin/sluice health --ready --url http://127.0.0.1:8686; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || { cat "$root/../sluice.log"; echo "never ready"; exit 1; }
printf '<38>Mar  5 10:02:45 bastion-01 sshd[4188]: Failed password for root from 203.0.113.50 port 41830 ssh2\n' \
  > /dev/tcp/127.0.0.1/5514
out=$root/var/lib/sluice/out/syslog.ndjson
for _ in $(seq 1 150); do [ -s "$out" ] && break; sleep 0.2; done
grep -q '"source.ip":"203.0.113.50"\|"ip":"203.0.113.50"' "$out" || { cat "$root/../sluice.log"; echo "no normalized record in $out"; exit 1; }
kill -TERM "$pid"
wait "$pid" || { echo "exit status $? after SIGTERM"; exit 1; }
echo "container root: healthy, ready, delivered, stopped cleanly"
EOS
if ! unshare --net true 2>/dev/null; then
  fail "unshare --net is not permitted here (needs CAP_SYS_ADMIN); cannot isolate the image's fixed ports"
fi
unshare --net bash "$work/container.sh" "$root"
owner=$(stat -c %u "$root/var/lib/sluice/out/syslog.ndjson")
[ "$owner" = 65532 ] || fail "output written as uid $owner, not the image's user"

# --- 2. the Debian package -------------------------------------------------------------------
step "cargo deb"
command -v cargo-deb >/dev/null || fail "cargo-deb is missing: run scripts/test-deps.sh"
rm -rf "$target/debian"
cargo deb --no-build --locked --strip
deb=$(ls "$target"/debian/sluice_*.deb)
echo "$deb: $(stat -c %s "$deb") bytes"

step "dpkg-deb: metadata and contents"
dpkg-deb --info "$deb" | tee "$work/info.txt"
grep -q '^ Package: sluice$' "$work/info.txt" || fail "package name"
grep -q '^ Depends: .*libc6' "$work/info.txt" || fail "no libc6 dependency"
grep -q '^ Depends: .*adduser' "$work/info.txt" || fail "no adduser dependency"
size=$(awk '/^ Installed-Size:/ { print $2 }' "$work/info.txt")
[ "$size" -lt 40000 ] || fail "Installed-Size ${size} KiB: is the binary stripped?"
dpkg-deb --contents "$deb" | tee "$work/contents.txt"
for f in ./usr/bin/sluice ./lib/systemd/system/sluice.service ./etc/sluice/sluice.yaml \
         ./usr/share/sluice/enrichment-data/README.md ./usr/share/sluice/prometheus/alerts.yml \
         ./usr/share/sluice/grafana/sluice.json ./usr/share/doc/sluice/operations.md; do
  grep -q " $f\$" "$work/contents.txt" || fail "$f is not in the package"
done
grep -Eq '^-rwxr-xr-x (root/root|0/0) .* \./usr/bin/sluice$' "$work/contents.txt" || fail "binary mode or owner"
mkdir "$work/control"
dpkg-deb --control "$deb" "$work/control"
grep -qx '/etc/sluice/sluice.yaml' "$work/control/conffiles" || fail "the configuration is not a conffile"
for s in postinst prerm postrm; do
  [ -x "$work/control/$s" ] || fail "no $s"
  sh -n "$work/control/$s" || fail "$s: syntax"
done

step "dpkg --root: install into a throwaway root"
R=$work/dpkgroot
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers" "$R/etc"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\nadm:x:4:\n' > "$R/etc/group"
printf 'root:*:19000:0:99999:7:::\n' > "$R/etc/shadow"
printf 'root:*::\nadm:*::\n' > "$R/etc/gshadow"
# The root has no libc6 or adduser: dependencies are the host's business (checked above).
dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null -i "$deb"
grep -q '^sluice:x:[0-9]*:[0-9]*:Sluice log agent:/var/lib/sluice:/usr/sbin/nologin$' "$R/etc/passwd" \
  || fail "postinst did not create the sluice user: $(cat "$R/etc/passwd")"
grep -q '^sluice:' "$R/etc/group" || fail "no sluice group"
uid=$(awk -F: '$1 == "sluice" { print $3 }' "$R/etc/passwd")
[ "$(stat -c '%u %a' "$R/var/lib/sluice")" = "$uid 750" ] || fail "/var/lib/sluice: $(stat -c '%u %a' "$R/var/lib/sluice")"
dpkg --root="$R" -s sluice | grep -q '^Status: install ok installed$' || fail "not installed"
"$R/usr/bin/sluice" --version
"$R/usr/bin/sluice" validate -c "$R/etc/sluice/sluice.yaml"
# The installed unit, with its commands pointed into the root.
sed "s#/usr/bin/sluice#$R/usr/bin/sluice#g" "$R/lib/systemd/system/sluice.service" > "$work/sluice.service"
if command -v systemd-analyze >/dev/null; then
  out=$(systemd-analyze verify "$work/sluice.service" 2>&1) || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
else
  fail "systemd-analyze is missing: run scripts/test-deps.sh"
fi

step "dpkg --root: upgrade in place keeps the edited conffile"
echo "# edited by the admin" >> "$R/etc/sluice/sluice.yaml"
dpkg --root="$R" --force-script-chrootless --force-depends --force-confold --log=/dev/null -i "$deb"
grep -q 'edited by the admin' "$R/etc/sluice/sluice.yaml" || fail "the upgrade replaced the edited configuration"

step "dpkg --root: purge"
dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null --purge sluice
[ ! -e "$R/usr/bin/sluice" ] || fail "binary left after purge"
[ ! -e "$R/etc/sluice/sluice.yaml" ] || fail "conffile left after purge"
[ ! -e "$R/var/lib/sluice" ] || fail "state left after purge"

echo "check-packaging: OK"
