package board

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// Info describes the box edgemq runs on. Fields that could not be found
// are empty or zero.
type Info struct {
	// Model is the board: "Raspberry Pi 4 Model B Rev 1.1",
	// "GL.iNet GL-USB150", "StarFive VisionFive 2 v1.3B".
	Model string
	// SoC is the chip: the last device-tree "compatible" entry
	// ("brcm,bcm2711"), else the MIPS "system type" or ARM "Hardware".
	SoC string
	// CPU is the core: "Cortex-A72", "MIPS 24Kc V7.4",
	// "sifive,u74-mc rv64imafdc", "AMD EPYC".
	CPU string
	// OS is the distribution: os-release PRETTY_NAME, else OpenWrt's
	// DISTRIB_DESCRIPTION.
	OS string
	// OpenWrt fields come from /etc/openwrt_release (DISTRIB_RELEASE,
	// DISTRIB_TARGET, DISTRIB_ARCH); empty elsewhere.
	OpenWrtRelease string
	OpenWrtTarget  string
	OpenWrtArch    string
	// MemTotal is /proc/meminfo MemTotal in bytes: the RAM the kernel
	// manages, a little less than what is soldered on the board.
	MemTotal int64
	// MemLimit is the memory limit of the cgroup edgemq runs in (a
	// container, a systemd MemoryMax=), 0 when there is none.
	MemLimit int64
	// NumCPU counts the online CPUs (hardware threads).
	NumCPU int
	// GOARCH is the architecture this binary was built for.
	GOARCH string
}

// Detect reads what the kernel and the distribution say about the box.
// Every source is optional; absent files leave fields empty. Sources, in
// order of preference:
//
//	Model    device-tree model (procfs, then sysfs), cpuinfo Model (RPi),
//	         cpuinfo machine (MIPS), DMI sys_vendor + product_name (PCs)
//	SoC      device-tree compatible (last entry), cpuinfo system type, Hardware
//	CPU      cpuinfo (see cpuName)
//	OS       os-release PRETTY_NAME, NAME VERSION, openwrt_release DISTRIB_DESCRIPTION
//	NumCPU   sysfs devices/system/cpu/online, cpuinfo processor lines, runtime.NumCPU
//	MemLimit proc/self/cgroup and mountinfo, then the cgroup's memory.max or memory.limit_in_bytes
func Detect(fs Paths) Info {
	fs = fs.withDefaults()
	in := Info{GOARCH: runtime.GOARCH}
	cpu := parseCPUInfo(fs.read(fs.Proc, "cpuinfo"))

	dtDirs := []string{
		filepath.Join(fs.Proc, "device-tree"),
		filepath.Join(fs.Sys, "firmware", "devicetree", "base"),
	}
	for _, dir := range dtDirs {
		if in.Model = dtString(fs.read(dir, "model")); in.Model != "" {
			if compat := dtStrings(fs.read(dir, "compatible")); len(compat) > 1 {
				in.SoC = compat[len(compat)-1]
			}
			break
		}
	}
	if in.Model == "" {
		in.Model = cpu.model
	}
	if in.Model == "" && cpu.machine != "" && cpu.machine != "Unknown" {
		in.Model = cpu.machine
	}
	if in.Model == "" {
		in.Model = dmiModel(fs)
	}
	if in.SoC == "" {
		in.SoC = cpu.systemType
	}
	if in.SoC == "" {
		in.SoC = cpu.hardware
	}
	in.CPU = cpu.cpuName()

	osr := parseEnvFile(fs.read(fs.Etc, "os-release"))
	in.OS = osr["PRETTY_NAME"]
	if in.OS == "" {
		in.OS = strings.TrimSpace(osr["NAME"] + " " + osr["VERSION"])
	}
	if owrt := parseEnvFile(fs.read(fs.Etc, "openwrt_release")); len(owrt) > 0 {
		in.OpenWrtRelease = owrt["DISTRIB_RELEASE"]
		in.OpenWrtTarget = owrt["DISTRIB_TARGET"]
		in.OpenWrtArch = owrt["DISTRIB_ARCH"]
		if in.OS == "" {
			in.OS = owrt["DISTRIB_DESCRIPTION"]
		}
	}

	in.MemTotal = parseMemTotal(fs.read(fs.Proc, "meminfo"))
	in.MemLimit = cgroupMemLimit(fs)

	in.NumCPU = countCPUList(string(fs.read(filepath.Join(fs.Sys, "devices", "system", "cpu"), "online")))
	if in.NumCPU == 0 {
		in.NumCPU = cpu.processors
	}
	if in.NumCPU == 0 {
		in.NumCPU = runtime.NumCPU()
	}
	return in
}

// Memory is the RAM edgemq may use: MemTotal, or the cgroup's limit when
// that is smaller. 0 when neither is known.
func (in Info) Memory() int64 {
	if in.MemLimit > 0 && (in.MemTotal <= 0 || in.MemLimit < in.MemTotal) {
		return in.MemLimit
	}
	return in.MemTotal
}

// dmiModel names a PC from its firmware tables: "LENOVO 20L8S02D00".
func dmiModel(fs Paths) string {
	dir := filepath.Join(fs.Sys, "class", "dmi", "id")
	vendor := strings.TrimSpace(string(fs.read(dir, "sys_vendor")))
	product := strings.TrimSpace(string(fs.read(dir, "product_name")))
	return strings.TrimSpace(vendor + " " + product)
}

// String is one line for `edgemq version` and $SYS, for example
//
//	Raspberry Pi 4 Model B Rev 1.1 (brcm,bcm2711), 4x Cortex-A72, 3.7 GiB, Debian GNU/Linux 12 (bookworm), arm64
//	GL.iNet GL-USB150 (Atheros AR9330 rev 1), 1x MIPS 24Kc V7.4, 61 MiB, OpenWrt 18.06.1 r7258-5eb055306f, ar71xx/generic mips_24kc, mips
func (in Info) String() string {
	parts := make([]string, 0, 6)
	board := in.Model
	if board == "" {
		board = "unknown board"
	}
	if in.SoC != "" && !strings.Contains(board, in.SoC) {
		board += " (" + in.SoC + ")"
	}
	parts = append(parts, board)
	if in.NumCPU > 0 || in.CPU != "" {
		cpu := in.CPU
		if cpu == "" {
			cpu = "CPU"
		}
		parts = append(parts, fmt.Sprintf("%dx %s", in.NumCPU, cpu))
	}
	if in.MemTotal > 0 {
		mem := formatBytes(in.MemTotal)
		if in.MemLimit > 0 && in.MemLimit < in.MemTotal {
			mem += " (cgroup limit " + formatBytes(in.MemLimit) + ")"
		}
		parts = append(parts, mem)
	}
	if in.OS != "" {
		parts = append(parts, in.OS)
	}
	if owrt := strings.TrimSpace(in.OpenWrtTarget + " " + in.OpenWrtArch); owrt != "" {
		parts = append(parts, owrt)
	}
	parts = append(parts, in.GOARCH)
	return strings.Join(parts, ", ")
}

// formatBytes prints a memory size the way a board is sold: MiB below
// 1 GiB, GiB with one decimal above.
func formatBytes(n int64) string {
	const mib, gib = 1 << 20, 1 << 30
	if n < gib {
		return fmt.Sprintf("%d MiB", (n+mib/2)/mib)
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/gib)
}
