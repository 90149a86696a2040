#!/bin/sh
# Boot a Debian 13 (trixie) root as a QEMU guest with systemd as pid 1 and a pure
# cgroup v2 hierarchy, and run lxcri's cgroup v2 / systemd smoke set inside it
# (scripts/guest-smoke-inside.py): the demo, a memory limit and `update`,
# `--systemd-cgroup`, podman with the systemd cgroup manager, an lxc container with
# lxc.cgroup2.memory.max. This host (hybrid cgroup v1, no systemd) cannot run those
# paths itself, and a chroot shares its cgroups.
#
#   guest-smoke.sh [ROOT]      default ROOT: build/debian13/full
#
# ROOT is a trixie root made by debian-root.sh holding a clone of lxcri at
# $LXCRI_GUEST_LXCRI (default /root/lxcri) with its .venv built by `make venv`; the
# packages the guest needs are added to it (apt-get inside). The guest boots ROOT's
# own kernel (linux-image-amd64) with a small initramfs made by ROOT's initramfs-tools,
# from an ext4 image
# made from ROOT with `mkfs.ext4 -d` (no loop device, no mount): ROOT itself is
# never written by the guest. A second small ext4 disk carries the smoke script;
# systemd runs it through `systemd.run=` and powers off. Results arrive on a
# virtio-serial port (build/guest/results.log), the serial console goes to
# build/guest/console.log. KVM only where cpuinfo shows vmx or svm, else TCG.
#
# Prints one PASS/FAIL line per check and exits non-zero on any FAIL or a missing
# result. The VM has a hard timeout ($LXCRI_GUEST_TIMEOUT s, default 600), after
# which QEMU is killed by its PID; the disk images are removed in every case.
# LXCRI_GUEST_KEEP=1 keeps the guest's disk as build/guest/root.img for a post-mortem.
# Other knobs: LXCRI_GUEST_OUT (build/guest), LXCRI_GUEST_MEM (MiB, 3072),
# LXCRI_GUEST_CPUS (2), LXCRI_GUEST_FREE_MB (free space in the root image, 2048).
set -eu
here=$(dirname "$(realpath "$0")")
root=$(realpath -m "${1:-build/debian13/full}")
out=$(realpath -m "${LXCRI_GUEST_OUT:-build/guest}")
timeout=${LXCRI_GUEST_TIMEOUT:-600}
mem=${LXCRI_GUEST_MEM:-3072}
cpus=${LXCRI_GUEST_CPUS:-2}
lxcri_dir=${LXCRI_GUEST_LXCRI:-/root/lxcri}
CHECKS="platform demo memory-limit update systemd-cgroup podman-systemd lxc-memory"
# systemd as init, the kernel and its initramfs, D-Bus for systemd's cgroup manager,
# the engines, busybox for the bundles, and libcrun's runtime libraries. AppArmor's
# userspace as on Proxmox VE: the kernel enables AppArmor, and liblxc then loads a
# generated profile for each container with apparmor_parser (without it liblxc fails:
# "Failed to write AppArmor profile"). apparmor.service, which loads every profile in
# /etc/apparmor.d at boot (about 20 s under TCG), is masked; the lxc check loads the
# lxc package's profiles itself.
GUEST_PKGS="systemd-sysv udev dbus kmod linux-image-amd64 initramfs-tools busybox-static
            podman conmon lxc apparmor python3 python3-venv libyajl2 libseccomp2 libcap2
            libsystemd0 libgcrypt20"

say() { echo "guest-smoke: $*"; }
die() { echo "guest-smoke: error: $*" >&2; exit 2; }
now_ms() { date +%s%3N; }
secs() { echo "$(( ($2 - $1) / 1000 )).$(( ($2 - $1) % 1000 / 100 ))"; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get in the root, files owned by root in the image)"
for tool in qemu-system-x86_64 mkfs.ext4; do
    command -v "$tool" >/dev/null ||
        die "$tool missing: sh scripts/install-packages.sh qemu-system-x86 e2fsprogs (make guest-smoke does)"
done
[ -f "$root/.lxcri-root" ] || die "$root is not a root made by scripts/debian-root.sh"
[ -x "$root$lxcri_dir/.venv/bin/lxcri" ] ||
    die "no lxcri in $root$lxcri_dir/.venv: clone lxcri to $lxcri_dir in the root and run" \
        "\`make venv\` there (sh scripts/in-root.sh $root sh -c 'cd $lxcri_dir && make venv')"

t0=$(now_ms)
# shellcheck disable=SC2086 # the package list is meant to split
sh "$here/debian-root.sh" trixie "$root" $GUEST_PKGS

kernel=$(ls "$root"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] || die "no kernel in $root/boot"
kver=${kernel##*/vmlinuz-}
mkdir -p "$out"
# A small initramfs of ROOT's initramfs-tools with only what mounts the root disk
# (virtio_blk, ext4 and their dependencies): Debian's MODULES=most one (37 MB) spends
# about 10 s of a TCG boot loading modules. Cached in $out per kernel.
initrd="$out/initrd.img-$kver"
if [ ! -s "$initrd" ] || [ "$kernel" -nt "$initrd" ]; then
    say "making a small initramfs for $kver"
    rm -f "$root/var/tmp/lxcri-guest-initrd"
    sh "$here/in-root.sh" "$root" sh -euc "rm -rf /tmp/conf; cp -a /etc/initramfs-tools /tmp/conf
        sed -i 's/^MODULES=.*/MODULES=list/' /tmp/conf/initramfs.conf
        printf 'virtio_blk\next4\n' >/tmp/conf/modules
        mkinitramfs -d /tmp/conf -o /var/tmp/lxcri-guest-initrd $kver" 2>"$out/initrd.log" ||
        die "mkinitramfs failed, see $out/initrd.log"
    mv "$root/var/tmp/lxcri-guest-initrd" "$initrd"
fi
img="$out/root.img.$$"
smokeimg="$out/smoke.img.$$"
stage="$out/stage.$$"
qpid=""
alive() { [ -n "$qpid" ] && [ -e "/proc/$qpid" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$qpid/status" 2>/dev/null; }
cleanup() {
    if alive; then
        kill "$qpid" 2>/dev/null || true
        sleep 2
        alive && kill -9 "$qpid" 2>/dev/null || true
        wait "$qpid" 2>/dev/null || true
    fi
    if [ -n "${LXCRI_GUEST_KEEP:-}" ] && [ -f "$img" ]; then
        mv "$img" "$out/root.img" && say "kept the guest's disk: $out/root.img (debugfs -R 'cat PATH')"
    fi
    rm -rf "$img" "$smokeimg" "$stage"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -f "$out/console.log" "$out/results.log" "$out/qemu.log" "$out/root.img"

# The smoke disk: the in-guest script and its entry point.
mkdir -p "$stage"
cp "$here/guest-smoke-inside.py" "$stage/"
cat >"$stage/run.sh" <<EOF
#!/bin/sh
# Started by systemd (systemd.run= on the kernel command line); made by guest-smoke.sh.
port=""
i=0
while [ -z "\$port" ] && [ \$i -lt 100 ]; do  # port names arrive asynchronously
    for d in /sys/class/virtio-ports/*; do
        [ "\$(cat "\$d/name" 2>/dev/null)" = lxcri.results ] && port=/dev/\${d##*/}
    done
    [ -n "\$port" ] || sleep 0.1
    i=\$((i + 1))
done
exec "$lxcri_dir/.venv/bin/python" -P /smoke/guest-smoke-inside.py --lxcri-dir "$lxcri_dir" \${port:+--results "\$port"}
EOF
chmod 755 "$stage/run.sh" "$stage/guest-smoke-inside.py"
mkfs.ext4 -q -F -L lxcri-smoke -d "$stage" "$smokeimg" 16M

size=$(( $(du -sm "$root" | cut -f1) + ${LXCRI_GUEST_FREE_MB:-2048} ))
say "making a ${size} MiB ext4 image of $root"
truncate -s "${size}M" "$img"
mkfs.ext4 -q -F -L lxcri-root -d "$root" "$img"
t_img=$(now_ms)

if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then
    accel=kvm cpu=host
else
    accel=tcg cpu=max  # /dev/kvm without vmx/svm here is nested PVM: stock kernels do not boot
fi
# Modules udev would load for q35's chipset and -cpu max that nothing here uses: under
# TCG each costs boot time and vCPU time the checks need.
noise=kvm_amd,kvm_intel,kvm,irqbypass,ahci,libahci,libata,lpc_ich,i2c_i801,i2c_smbus,iTCO_wdt
noise=$noise,iTCO_vendor_support,intel_pmc_bxt,pcspkr,psmouse,serio_raw,evdev,button,efi_pstore
noise=$noise,ccp,aesni_intel,ghash_clmulni_intel,crypto_simd,cryptd,sha1_ssse3,sha256_ssse3
noise=$noise,sha512_ssse3,crct10dif_pclmul,powernow_k8
cmdline="root=/dev/vda rw console=ttyS0,115200 panic=-1 mitigations=off
 systemd.unified_cgroup_hierarchy=1 systemd.firstboot=off systemd.show_status=error
 systemd.wants=basic.target systemd.mask=apparmor.service systemd.mount-extra=/dev/vdb:/smoke:ext4:ro systemd.run=/smoke/run.sh
 systemd.run_success_action=poweroff systemd.run_failure_action=poweroff
 modprobe.blacklist=$noise"
say "booting $(basename "$kernel") ($accel, q35, $cpus vCPU, $mem MiB); console: $out/console.log"
qemu-system-x86_64 -name lxcri-guest-smoke -machine q35,accel=$accel -cpu $cpu \
    -smp "$cpus" -m "$mem" -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$kernel" -initrd "$initrd" -append "$(echo $cmdline)" \
    -drive "file=$img,format=raw,if=virtio,cache=unsafe" \
    -drive "file=$smokeimg,format=raw,if=virtio,readonly=on" \
    -chardev "file,id=con,path=$out/console.log" -serial chardev:con \
    -device virtio-serial-pci \
    -chardev "file,id=res,path=$out/results.log" \
    -device virtserialport,chardev=res,name=lxcri.results \
    -device virtio-rng-pci \
    </dev/null >"$out/qemu.log" 2>&1 &
qpid=$!
t_start=$(now_ms)
t_first=""
printed=0
timed_out=""
while alive; do
    if [ -s "$out/results.log" ]; then
        [ -n "$t_first" ] || t_first=$(now_ms)
        lines=$(wc -l <"$out/results.log")
        if [ "$lines" -gt "$printed" ]; then
            sed -n "$((printed + 1)),${lines}p" "$out/results.log" | sed 's/^/  guest: /'
            printed=$lines
        fi
    fi
    if [ $(( $(now_ms) - t_start )) -gt $((timeout * 1000)) ]; then
        timed_out=1
        say "the VM ran past ${timeout}s: killing QEMU (pid $qpid)"
        kill "$qpid" 2>/dev/null || true
        sleep 2
        alive && kill -9 "$qpid" 2>/dev/null || true
        break
    fi
    sleep 1
done
qrc=0
wait "$qpid" || qrc=$?
qpid=""
t_end=$(now_ms)
touch "$out/results.log"
lines=$(wc -l <"$out/results.log")
[ "$lines" -gt "$printed" ] && sed -n "$((printed + 1)),${lines}p" "$out/results.log" | sed 's/^/  guest: /'

why="the guest ended without a result for it (QEMU exit $qrc; see $out/console.log)"
[ -n "$timed_out" ] && why="the VM was killed after ${timeout}s (see $out/console.log)"
grep -q '^DONE' "$out/results.log" || say "no DONE from the guest: $why"
passed=0
failed=0
echo
for c in $CHECKS; do
    line=$(grep -E "^(PASS|FAIL) $c:" "$out/results.log" | tail -n 1 || true)
    [ -n "$line" ] || line="FAIL $c: $why"
    echo "$line"
    case $line in PASS*) passed=$((passed + 1)) ;; *) failed=$((failed + 1)) ;; esac
done
echo
first=none
[ -n "$t_first" ] && first="$(secs "$t_start" "$t_first")s"
say "times: image $(secs "$t0" "$t_img")s, QEMU start to first result $first," \
    "VM $(secs "$t_start" "$t_end")s, total $(secs "$t0" "$t_end")s ($accel)"
grep -h '^INFO boot' "$out/results.log" | sed 's/^INFO /guest-smoke: /' || true
echo "guest-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
