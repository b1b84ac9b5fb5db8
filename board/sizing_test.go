package board

import "testing"

func TestDefaults(t *testing.T) {
	// MemTotal values as the kernels of real boards report them.
	tests := []struct {
		name     string
		memTotal int64
		tier     string
		memLimit int64
	}{
		{"64 MB OpenWrt router", 57_000 * kib, "64MB", 57_000 * kib / 8 * 3},
		{"just below 96 MiB", 96*mib - 1, "64MB", (96*mib - 1) / 8 * 3},
		{"at 96 MiB", 96 * mib, "128MB", 96 * mib / 8 * 3},
		{"128 MB OpenWrt router", 123_000 * kib, "128MB", 123_000 * kib / 8 * 3},
		{"256 MB board", 247_000 * kib, "256MB", 247_000 * kib / 2},
		{"Pi Zero W (512 MB, 64 MB to the GPU)", 443_504 * kib, "512MB", 443_504 * kib / 2},
		{"just below 768 MiB", 768*mib - 1, "512MB", (768*mib - 1) / 2},
		{"Pi 4 1 GB", 944_000 * kib, "large", 944_000 * kib / 2},
		{"Pi 4 4 GB", 3_884_376 * kib, "large", 3_884_376 * kib / 2},
		{"unknown", 0, "large", 0},
		{"nonsense", -1, "large", 0},
	}
	for _, tc := range tests {
		got := Defaults(tc.memTotal)
		if got.Tier != tc.tier || got.MemLimit != tc.memLimit {
			t.Errorf("%s: Defaults(%d) = tier %s, MemLimit %d; want %s, %d",
				tc.name, tc.memTotal, got.Tier, got.MemLimit, tc.tier, tc.memLimit)
		}
	}
}

func TestDefaultsTable(t *testing.T) {
	// The exact suggestions, one row per tier, so a change is deliberate.
	want := map[string]Sizing{
		"64MB": {Tier: "64MB", MaxConnections: 100, MaxQueuedMessages: 100, MaxQueuedBytes: 256 << 10, RetainedMax: 1000,
			BadgerMemTableSize: 2 << 20, BadgerNumMemtables: 2, BadgerValueLogFileSize: 16 << 20, BadgerValueThreshold: 64 << 10,
			BadgerBlockCacheSize: 0, PreferBolt: true},
		"128MB": {Tier: "128MB", MaxConnections: 250, MaxQueuedMessages: 250, MaxQueuedBytes: 512 << 10, RetainedMax: 2500,
			BadgerMemTableSize: 4 << 20, BadgerNumMemtables: 2, BadgerValueLogFileSize: 32 << 20, BadgerValueThreshold: 256 << 10,
			BadgerBlockCacheSize: 0, PreferBolt: true},
		"256MB": {Tier: "256MB", MaxConnections: 500, MaxQueuedMessages: 500, MaxQueuedBytes: 1 << 20, RetainedMax: 5000,
			BadgerMemTableSize: 8 << 20, BadgerNumMemtables: 3, BadgerValueLogFileSize: 64 << 20, BadgerValueThreshold: 1 << 20,
			BadgerBlockCacheSize: 8 << 20},
		"512MB": {Tier: "512MB", MaxConnections: 1000, MaxQueuedMessages: 1000, MaxQueuedBytes: 2 << 20, RetainedMax: 10000,
			BadgerMemTableSize: 16 << 20, BadgerNumMemtables: 3, BadgerValueLogFileSize: 128 << 20, BadgerValueThreshold: 1 << 20,
			BadgerBlockCacheSize: 16 << 20},
		// The documented config defaults (DESIGN.md section 3).
		"large": {Tier: "large", MaxConnections: 1000, MaxQueuedMessages: 1000, MaxQueuedBytes: 4194304, RetainedMax: 10000,
			BadgerMemTableSize: 32 << 20, BadgerNumMemtables: 4, BadgerValueLogFileSize: 256 << 20, BadgerValueThreshold: 1 << 20,
			BadgerBlockCacheSize: 32 << 20},
	}
	for _, mem := range []int64{64 << 20, 128 << 20, 256 << 20, 512 << 20, 0} {
		got := Defaults(mem)
		got.MemLimit = 0
		if w, ok := want[got.Tier]; !ok || got != w {
			t.Errorf("Defaults(%d):\n got %+v\nwant %+v", mem, got, w)
		}
	}
}

// TestDefaultsFitBudget holds every tier to the cost model of Defaults at
// the smallest MemTotal of the tier, and to badger's option rules.
func TestDefaultsFitBudget(t *testing.T) {
	tiers := sizingTiers()
	var prev Sizing
	for i, tier := range tiers {
		s := tier.s
		mem := tier.minTotal
		if i == 0 {
			mem = 56 * mib // the smallest 64 MB router kernel report we support
		}
		budget := Defaults(mem).MemLimit
		if Defaults(mem).Tier != s.Tier {
			t.Fatalf("Defaults(%d) is tier %s, want %s", mem, Defaults(mem).Tier, s.Tier)
		}
		usable := budget - budget*budgetReservedEighths/8
		conns := int64(s.MaxConnections) * costPerConnection
		slow := stalledClients * (s.MaxQueuedBytes + int64(s.MaxQueuedMessages)*costPerQueuedMessage)
		retained := int64(s.RetainedMax) * costPerRetained
		badger := int64(s.BadgerNumMemtables)*s.BadgerMemTableSize*badgerArenaNum/badgerArenaDen + s.BadgerBlockCacheSize
		total := conns + slow + retained + badger
		t.Logf("%-5s at %4d MiB: budget %3d MiB, usable %3d, used %3d (conns %d, slow clients %d, retained %d, badger %d)",
			s.Tier, mem/mib, budget/mib, usable/mib, total/mib, conns/mib, slow/mib, retained/mib, badger/mib)
		if total > usable {
			t.Errorf("%s: model needs %d bytes, budget allows %d", s.Tier, total, usable)
		}

		// Badger refuses ValueThreshold > 15% of MemTableSize and
		// ValueLogFileSize outside [1 MiB, 2 GiB).
		if s.BadgerValueThreshold > s.BadgerMemTableSize*15/100 {
			t.Errorf("%s: value threshold %d > 15%% of memtable %d", s.Tier, s.BadgerValueThreshold, s.BadgerMemTableSize)
		}
		if s.BadgerValueLogFileSize < 1<<20 || s.BadgerValueLogFileSize >= 2<<30 {
			t.Errorf("%s: value log file size %d out of badger's range", s.Tier, s.BadgerValueLogFileSize)
		}
		if s.BadgerNumMemtables < 1 {
			t.Errorf("%s: %d memtables", s.Tier, s.BadgerNumMemtables)
		}

		// More RAM never means smaller limits.
		if i > 0 && (s.MaxConnections < prev.MaxConnections || s.MaxQueuedMessages < prev.MaxQueuedMessages ||
			s.MaxQueuedBytes < prev.MaxQueuedBytes || s.RetainedMax < prev.RetainedMax ||
			s.BadgerMemTableSize < prev.BadgerMemTableSize || s.BadgerBlockCacheSize < prev.BadgerBlockCacheSize) {
			t.Errorf("%s shrinks a limit of %s:\n%+v\n%+v", s.Tier, prev.Tier, s, prev)
		}
		if i > 0 && tier.minTotal <= tiers[i-1].minTotal {
			t.Errorf("tiers out of order at %s", s.Tier)
		}
		prev = s
	}
}
