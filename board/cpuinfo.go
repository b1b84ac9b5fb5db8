package board

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// cpuInfo is what Detect takes from /proc/cpuinfo. Each architecture prints
// a different set of "key : value" lines:
//
//	ARM (RPi kernels) processor, model name (32-bit only), CPU implementer,
//	                  CPU part, ... then Hardware, Revision, Serial, Model
//	MIPS              system type, machine (OpenWrt), processor, cpu model
//	RISC-V            processor, hart, isa, mmu, uarch, mvendorid
//	x86               processor, vendor_id, model name, model (a number)
//
// Keys are matched case-sensitively: x86 "model" is a number while the
// Raspberry Pi "Model" is the board name, and old ARM kernels print
// "Processor : ARMv6-compatible ..." (the CPU name) beside
// "processor : 0" (a CPU index).
type cpuInfo struct {
	model       string // "Model" (Raspberry Pi kernels)
	machine     string // "machine" (MIPS: the board, from OpenWrt's DT or mach file)
	hardware    string // "Hardware" (ARM: SoC family, e.g. BCM2835)
	systemType  string // "system type" (MIPS: the SoC)
	modelName   string // "model name" (x86, 32-bit ARM); "Processor" on old ARM
	cpuModel    string // "cpu model" (MIPS core, e.g. "MIPS 24Kc V7.4")
	uarch       string // "uarch" (RISC-V, e.g. "sifive,u74-mc")
	isa         string // "isa" (RISC-V, e.g. "rv64imafdc_zicntr...")
	implementer string // "CPU implementer" (ARM, e.g. "0x41")
	part        string // "CPU part" (ARM, e.g. "0xd08")
	processors  int    // number of "processor : N" lines
}

// parseCPUInfo reads the first value of every key it knows; the per-CPU
// blocks repeat the same values on the boards edgemq targets.
func parseCPUInfo(b []byte) cpuInfo {
	var c cpuInfo
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxInfoFile)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		switch key {
		case "processor":
			if _, err := strconv.Atoi(val); err == nil {
				c.processors++
			}
		case "Processor": // ARM kernels before 3.8
			setFirst(&c.modelName, val)
		case "Model":
			setFirst(&c.model, val)
		case "machine":
			setFirst(&c.machine, val)
		case "Hardware":
			setFirst(&c.hardware, val)
		case "system type":
			setFirst(&c.systemType, val)
		case "model name":
			setFirst(&c.modelName, val)
		case "cpu model":
			setFirst(&c.cpuModel, val)
		case "uarch":
			setFirst(&c.uarch, val)
		case "isa":
			setFirst(&c.isa, val)
		case "CPU implementer":
			setFirst(&c.implementer, val)
		case "CPU part":
			setFirst(&c.part, val)
		}
	}
	return c
}

func setFirst(dst *string, val string) {
	if *dst == "" {
		*dst = val
	}
}

// cpuName names the CPU core: the ARM core from its part number (arm64
// kernels print no "model name"), else "model name" (x86, 32-bit ARM),
// else the MIPS "cpu model", else the RISC-V microarchitecture and base ISA.
func (c cpuInfo) cpuName() string {
	if name := armCoreName(c.implementer, c.part); name != "" {
		return name
	}
	if c.modelName != "" {
		return c.modelName
	}
	if c.cpuModel != "" {
		return c.cpuModel
	}
	if c.uarch != "" || c.isa != "" {
		base, _, _ := strings.Cut(c.isa, "_") // rv64imafdc_zicntr_zicsr... -> rv64imafdc
		switch {
		case c.uarch == "":
			return base
		case base == "":
			return c.uarch
		}
		return c.uarch + " " + base
	}
	if c.part != "" {
		return "ARM implementer " + c.implementer + " part " + c.part
	}
	return ""
}

// armCoreName maps the (implementer, part) pair of an Arm Ltd core to its
// name, for the cores found on single-board computers and routers. The
// numbers are the MIDR part numbers from Arm's technical reference manuals
// (the same table util-linux lscpu uses).
func armCoreName(implementer, part string) string {
	if implementer != "0x41" {
		return ""
	}
	switch part {
	case "0xb76":
		return "ARM1176"
	case "0xc07":
		return "Cortex-A7"
	case "0xc08":
		return "Cortex-A8"
	case "0xc09":
		return "Cortex-A9"
	case "0xc0d":
		return "Cortex-A12"
	case "0xc0e":
		return "Cortex-A17"
	case "0xc0f":
		return "Cortex-A15"
	case "0xd03":
		return "Cortex-A53"
	case "0xd04":
		return "Cortex-A35"
	case "0xd05":
		return "Cortex-A55"
	case "0xd07":
		return "Cortex-A57"
	case "0xd08":
		return "Cortex-A72"
	case "0xd09":
		return "Cortex-A73"
	case "0xd0a":
		return "Cortex-A75"
	case "0xd0b":
		return "Cortex-A76"
	case "0xd0c":
		return "Neoverse-N1"
	case "0xd0d":
		return "Cortex-A77"
	}
	return ""
}

// countCPUList counts the CPUs in a sysfs cpu list such as "0-3" or
// "0,2-3,8". It returns 0 for anything it cannot parse.
func countCPUList(s string) int {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

// parseEnvFile reads a shell-style KEY=value file (/etc/os-release,
// /etc/openwrt_release): values may be bare, 'single-quoted' or
// "double-quoted" with backslash escapes for " \ $ and `.
func parseEnvFile(b []byte) map[string]string {
	m := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || key == "" {
			continue
		}
		m[key] = unquoteEnv(val)
	}
	return m
}

func unquoteEnv(v string) string {
	if len(v) < 2 {
		return v
	}
	switch q := v[0]; {
	case q == '\'' && v[len(v)-1] == '\'':
		return v[1 : len(v)-1]
	case q == '"' && v[len(v)-1] == '"':
		v = v[1 : len(v)-1]
		var sb strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
			}
			sb.WriteByte(v[i])
		}
		return sb.String()
	}
	return v
}

// parseMemTotal returns MemTotal from /proc/meminfo in bytes, or 0.
func parseMemTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != "MemTotal" {
			continue
		}
		fields := strings.Fields(val) // "3884376 kB"
		if len(fields) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n *= 1024
		}
		return n
	}
	return 0
}
