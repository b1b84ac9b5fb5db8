package board

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// writeTree creates files (path relative to root -> content) under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cpuinfo", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const (
	debianBookwormOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`
	raspbianBullseyeOSRelease = `PRETTY_NAME="Raspbian GNU/Linux 11 (bullseye)"
NAME="Raspbian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=raspbian
ID_LIKE=debian
`
	archOSRelease = `NAME="Arch Linux"
PRETTY_NAME="Arch Linux"
ID=arch
BUILD_ID=rolling
ANSI_COLOR="38;2;23;147;209"
LOGO=archlinux-logo
`
	// From the same GL-USB150 capture as gl-usb150-mips24kc.txt. OpenWrt
	// 18.06 had no /etc/os-release yet.
	openwrt1806Release = `DISTRIB_ID='OpenWrt'
DISTRIB_RELEASE='18.06.1'
DISTRIB_REVISION='r7258-5eb055306f'
DISTRIB_TARGET='ar71xx/generic'
DISTRIB_ARCH='mips_24kc'
DISTRIB_DESCRIPTION='OpenWrt 18.06.1 r7258-5eb055306f'
DISTRIB_TAINTS='busybox'
`
)

func TestDetect(t *testing.T) {
	goarch := runtime.GOARCH
	tests := []struct {
		name  string
		files map[string]string
		want  Info
		line  string
	}{
		{
			name: "raspberry pi 4, arm64",
			files: map[string]string{
				"proc/cpuinfo":                  sample(t, "rpi4-arm64.txt"),
				"proc/device-tree/model":        "Raspberry Pi 4 Model B Rev 1.1\x00",
				"proc/device-tree/compatible":   "raspberrypi,4-model-b\x00brcm,bcm2711\x00",
				"proc/meminfo":                  "MemTotal:        3884376 kB\nMemFree:         3227504 kB\n",
				"sys/devices/system/cpu/online": "0-3\n",
				"etc/os-release":                debianBookwormOSRelease,
			},
			want: Info{
				Model: "Raspberry Pi 4 Model B Rev 1.1", SoC: "brcm,bcm2711", CPU: "Cortex-A72",
				OS: "Debian GNU/Linux 12 (bookworm)", MemTotal: 3884376 * 1024, NumCPU: 4, GOARCH: goarch,
			},
			line: "Raspberry Pi 4 Model B Rev 1.1 (brcm,bcm2711), 4x Cortex-A72, 3.7 GiB, Debian GNU/Linux 12 (bookworm), " + goarch,
		},
		{
			// No device tree in procfs: the model comes from sysfs; no
			// cpu/online file: the CPUs are counted in cpuinfo.
			name: "raspberry pi zero w, armv6",
			files: map[string]string{
				"proc/cpuinfo":                            sample(t, "rpi-zero-w-armv6.txt"),
				"sys/firmware/devicetree/base/model":      "Raspberry Pi Zero W Rev 1.1\x00",
				"sys/firmware/devicetree/base/compatible": "raspberrypi,model-zero-w\x00brcm,bcm2835\x00",
				"proc/meminfo":                            "MemTotal:         443504 kB\n",
				"etc/os-release":                          raspbianBullseyeOSRelease,
			},
			want: Info{
				Model: "Raspberry Pi Zero W Rev 1.1", SoC: "brcm,bcm2835", CPU: "ARM1176",
				OS: "Raspbian GNU/Linux 11 (bullseye)", MemTotal: 443504 * 1024, NumCPU: 1, GOARCH: goarch,
			},
			line: "Raspberry Pi Zero W Rev 1.1 (brcm,bcm2835), 1x ARM1176, 433 MiB, Raspbian GNU/Linux 11 (bullseye), " + goarch,
		},
		{
			// Raspberry Pi without any device tree exposed: the kernel's
			// Model line names the board, Hardware the SoC family.
			name: "raspberry pi zero w, cpuinfo only",
			files: map[string]string{
				"proc/cpuinfo": sample(t, "rpi-zero-w-armv6.txt"),
			},
			want: Info{
				Model: "Raspberry Pi Zero W Rev 1.1", SoC: "BCM2835", CPU: "ARM1176", NumCPU: 1, GOARCH: goarch,
			},
			line: "Raspberry Pi Zero W Rev 1.1 (BCM2835), 1x ARM1176, " + goarch,
		},
		{
			name: "gl.inet gl-usb150, mips 24kc, openwrt ar71xx",
			files: map[string]string{
				"proc/cpuinfo":        sample(t, "gl-usb150-mips24kc.txt"),
				"proc/meminfo":        "MemTotal:          61000 kB\nMemFree:           34068 kB\n",
				"etc/openwrt_release": openwrt1806Release,
			},
			want: Info{
				Model: "GL.iNet GL-USB150", SoC: "Atheros AR9330 rev 1", CPU: "MIPS 24Kc V7.4",
				OS:             "OpenWrt 18.06.1 r7258-5eb055306f",
				OpenWrtRelease: "18.06.1", OpenWrtTarget: "ar71xx/generic", OpenWrtArch: "mips_24kc",
				MemTotal: 61000 * 1024, NumCPU: 1, GOARCH: goarch,
			},
			line: "GL.iNet GL-USB150 (Atheros AR9330 rev 1), 1x MIPS 24Kc V7.4, 60 MiB, OpenWrt 18.06.1 r7258-5eb055306f, ar71xx/generic mips_24kc, " + goarch,
		},
		{
			name: "starfive visionfive 2, riscv64",
			files: map[string]string{
				"proc/cpuinfo":                sample(t, "visionfive2-riscv64.txt"),
				"proc/device-tree/model":      "StarFive VisionFive 2 v1.3B\x00",
				"proc/device-tree/compatible": "starfive,visionfive-2-v1.3b\x00starfive,jh7110\x00",
				"proc/meminfo":                "MemTotal:        8130036 kB\n",
				"etc/os-release":              archOSRelease,
			},
			want: Info{
				Model: "StarFive VisionFive 2 v1.3B", SoC: "starfive,jh7110", CPU: "sifive,u74-mc rv64imafdc",
				OS: "Arch Linux", MemTotal: 8130036 * 1024, NumCPU: 4, GOARCH: goarch,
			},
			line: "StarFive VisionFive 2 v1.3B (starfive,jh7110), 4x sifive,u74-mc rv64imafdc, 7.8 GiB, Arch Linux, " + goarch,
		},
		{
			// x86: numeric "model" must not be taken for a board name; the
			// board comes from DMI.
			name: "x86 pc",
			files: map[string]string{
				"proc/cpuinfo":                  sample(t, "amd-epyc-x86_64.txt"),
				"proc/meminfo":                  "MemTotal:       24684084 kB\n",
				"sys/devices/system/cpu/online": "0-1\n",
				"sys/class/dmi/id/sys_vendor":   "QEMU\n",
				"sys/class/dmi/id/product_name": "Standard PC (Q35 + ICH9, 2009)\n",
				"etc/os-release":                debianBookwormOSRelease,
			},
			want: Info{
				Model: "QEMU Standard PC (Q35 + ICH9, 2009)", CPU: "AMD EPYC",
				OS: "Debian GNU/Linux 12 (bookworm)", MemTotal: 24684084 * 1024, NumCPU: 2, GOARCH: goarch,
			},
			line: "QEMU Standard PC (Q35 + ICH9, 2009), 2x AMD EPYC, 23.5 GiB, Debian GNU/Linux 12 (bookworm), " + goarch,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tc.files)
			got := Detect(PathsUnder(root))
			if got != tc.want {
				t.Errorf("Detect:\n got %+v\nwant %+v", got, tc.want)
			}
			if s := got.String(); s != tc.line {
				t.Errorf("String:\n got %q\nwant %q", s, tc.line)
			}
		})
	}
}

func TestDetectEmptyTreeLogsAndFallsBack(t *testing.T) {
	var logs bytes.Buffer
	p := PathsUnder(t.TempDir())
	p.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	got := Detect(p)
	want := Info{NumCPU: runtime.NumCPU(), GOARCH: runtime.GOARCH}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !strings.Contains(logs.String(), "cpuinfo") || !strings.Contains(logs.String(), "not present") {
		t.Errorf("missing files not logged:\n%s", logs.String())
	}
	if s := got.String(); !strings.HasPrefix(s, "unknown board, ") {
		t.Errorf("String() = %q", s)
	}
}

func TestDetectLiveSystem(t *testing.T) {
	// The live system must at least give the architecture and a CPU count;
	// the rest depends on the machine running the test.
	got := Detect(Paths{})
	if got.GOARCH != runtime.GOARCH || got.NumCPU < 1 {
		t.Errorf("Detect(live) = %+v", got)
	}
	t.Logf("this machine: %s", got)
}

func TestCountCPUList(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"0", 1}, {"0-3\n", 4}, {"0,2-3,8", 4}, {"0-1,4-7", 6},
		{"", 0}, {"x", 0}, {"3-1", 0}, {"-1", 0}, {"0-", 0},
	}
	for _, tc := range tests {
		if got := countCPUList(tc.in); got != tc.want {
			t.Errorf("countCPUList(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	in := "# comment\nA=bare\nB='single $x'\nC=\"double \\\"q\\\" \\$HOME \\\\ \\n\"\n\nnoequals\nD=\nE=\"\"\n"
	got := parseEnvFile([]byte(in))
	want := map[string]string{
		"A": "bare", "B": "single $x", "C": `double "q" $HOME \ \n`, "D": "", "E": "",
	}
	if len(got) != len(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"MemTotal:        3884376 kB\n", 3884376 * 1024},
		{"MemFree: 1 kB\nMemTotal: 2 kB\n", 2048},
		{"MemTotal: 100\n", 100},
		{"MemTotal: lots kB\n", 0},
		{"MemTotal:\n", 0},
		{"", 0},
	}
	for _, tc := range tests {
		if got := parseMemTotal([]byte(tc.in)); got != tc.want {
			t.Errorf("parseMemTotal(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestCPUNameOldARMKernel(t *testing.T) {
	// ARM kernels before 3.8 print the CPU name under "Processor" and an
	// unknown core must not be dropped.
	in := "Processor\t: ARMv7 Processor rev 2 (v7l)\nprocessor\t: 0\nCPU implementer\t: 0x51\nCPU part\t: 0x04d\n"
	c := parseCPUInfo([]byte(in))
	if c.processors != 1 || c.cpuName() != "ARMv7 Processor rev 2 (v7l)" {
		t.Errorf("got %+v, name %q", c, c.cpuName())
	}
	c = parseCPUInfo([]byte("processor\t: 0\nCPU implementer\t: 0x51\nCPU part\t: 0x04d\n"))
	if got := c.cpuName(); got != "ARM implementer 0x51 part 0x04d" {
		t.Errorf("cpuName = %q", got)
	}
}
