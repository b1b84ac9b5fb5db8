package board

// Sizing holds suggested values for the limits a user left unset, scaled
// to the RAM of the box. See Defaults for where the numbers come from.
type Sizing struct {
	// Tier names the memory class the numbers were chosen for: "64MB",
	// "128MB", "256MB", "512MB" or "large".
	Tier string

	MaxConnections    int   // limits.max_connections
	MaxQueuedMessages int   // limits.max_queued_messages (per client)
	MaxQueuedBytes    int64 // limits.max_queued_bytes (per client)
	RetainedMax       int   // limits.retained_max

	// Badger options (64-bit boards). BadgerValueThreshold must stay at
	// most 15% of BadgerMemTableSize (badger refuses to open otherwise),
	// and badger caps one write transaction at that same 15%: the group
	// commit must split larger batches. A BadgerBlockCacheSize of 0 means
	// "run without compression": badger panics when compression is on and
	// the block cache is 0.
	BadgerMemTableSize     int64
	BadgerNumMemtables     int
	BadgerValueLogFileSize int64
	BadgerValueThreshold   int64
	BadgerBlockCacheSize   int64

	// PreferBolt suggests bbolt over badger for `engine: auto` even on a
	// 64-bit CPU: below 192 MiB badger's fixed costs (memtables, compactor
	// goroutines, value-log GC) crowd out the broker.
	PreferBolt bool

	// MemLimit is the suggested Go soft memory limit in bytes
	// (debug.SetMemoryLimit), to apply when GOMEMLIMIT is not set in the
	// environment; 0 when the RAM is unknown (leave the runtime default).
	MemLimit int64
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// Sizing cost model, in bytes; Defaults' doc comment explains it and
// TestDefaultsFitBudget holds every tier to it.
const (
	costPerConnection     = 16 * kib // idle conn target 8 KiB, doubled for read/write buffers in use
	costPerQueuedMessage  = 256      // message header, topic and queue slot, beyond the payload
	costPerRetained       = 1 * kib  // topic + small payload + trie node
	stalledClients        = 8        // subscribers assumed stuck at their queue bound at once
	badgerArenaNum        = 13       // badger sizes a memtable arena at about 1.3x MemTableSize
	badgerArenaDen        = 10
	budgetReservedEighths = 1 // of MemLimit, kept for the runtime, codec buffers, bridges, GC slack
)

// sizingTier is one memory class of Defaults.
type sizingTier struct {
	minTotal int64 // the smallest MemTotal of the class
	// limitNum/limitDen of MemTotal is the suggested GOMEMLIMIT: 3/8 up to
	// 128 MB, where an OpenWrt router's kernel, wifi driver, dnsmasq and
	// netifd already hold about a third of RAM, and 1/2 from 256 MB up.
	limitNum, limitDen int64
	s                  Sizing
}

// sizingTiers returns the classes, smallest first. minTotal is below the
// nominal size because the kernel reports less than what is soldered on
// (its own code, and on a Raspberry Pi the GPU's share): a "512 MB" Pi
// Zero says ~430 MiB.
func sizingTiers() [5]sizingTier {
	return [5]sizingTier{
		{0, 3, 8, Sizing{
			Tier: "64MB", MaxConnections: 100, MaxQueuedMessages: 100, MaxQueuedBytes: 256 * kib, RetainedMax: 1000,
			BadgerMemTableSize: 2 * mib, BadgerNumMemtables: 2, BadgerValueLogFileSize: 16 * mib,
			BadgerValueThreshold: 64 * kib, BadgerBlockCacheSize: 0, PreferBolt: true,
		}},
		{96 * mib, 3, 8, Sizing{
			Tier: "128MB", MaxConnections: 250, MaxQueuedMessages: 250, MaxQueuedBytes: 512 * kib, RetainedMax: 2500,
			BadgerMemTableSize: 4 * mib, BadgerNumMemtables: 2, BadgerValueLogFileSize: 32 * mib,
			BadgerValueThreshold: 256 * kib, BadgerBlockCacheSize: 0, PreferBolt: true,
		}},
		{192 * mib, 1, 2, Sizing{
			Tier: "256MB", MaxConnections: 500, MaxQueuedMessages: 500, MaxQueuedBytes: 1 * mib, RetainedMax: 5000,
			BadgerMemTableSize: 8 * mib, BadgerNumMemtables: 3, BadgerValueLogFileSize: 64 * mib,
			BadgerValueThreshold: 1 * mib, BadgerBlockCacheSize: 8 * mib,
		}},
		{384 * mib, 1, 2, Sizing{
			Tier: "512MB", MaxConnections: 1000, MaxQueuedMessages: 1000, MaxQueuedBytes: 2 * mib, RetainedMax: 10000,
			BadgerMemTableSize: 16 * mib, BadgerNumMemtables: 3, BadgerValueLogFileSize: 128 * mib,
			BadgerValueThreshold: 1 * mib, BadgerBlockCacheSize: 16 * mib,
		}},
		{768 * mib, 1, 2, Sizing{
			Tier: "large", MaxConnections: 1000, MaxQueuedMessages: 1000, MaxQueuedBytes: 4 * mib, RetainedMax: 10000,
			BadgerMemTableSize: 32 * mib, BadgerNumMemtables: 4, BadgerValueLogFileSize: 256 * mib,
			BadgerValueThreshold: 1 * mib, BadgerBlockCacheSize: 32 * mib,
		}},
	}
}

// Defaults suggests limits for a box with memTotal bytes of RAM (Info.MemTotal,
// as the kernel reports it). memTotal <= 0 (unknown) gets the "large"
// tier without a memory limit: those are the documented config defaults.
//
// The reasoning. edgemq gets a budget B = MemLimit, a fraction of RAM
// (3/8 up to the 128 MB tier, 1/2 above: the rest is the kernel's, the
// page cache's that keeps bbolt and badger tables fast, and the other
// daemons'). Within B, with the costs this package assumes,
//
//	connections   MaxConnections x 16 KiB (8 KiB idle target, doubled when busy)
//	slow clients  8 clients stuck at MaxQueuedBytes, plus 256 B per queued message:
//	              the per-client bound protects the others from one stuck
//	              subscriber, not from all of them at once
//	retained      RetainedMax x 1 KiB
//	badger        NumMemtables x MemTableSize x 1.3 (arena) + BlockCacheSize
//	reserve       1/8 of B for the runtime, codec buffers, bridges and GC slack
//
// must fit in B at the smallest MemTotal of the tier (TestDefaultsFitBudget
// checks it). The tiers are by reported MemTotal: below 96 MiB is a 64 MB
// router, below 192 MiB a 128 MB one, below 384 MiB a 256 MB board, below
// 768 MiB a 512 MB one (a Pi Zero reports ~430 MiB), "large" above. The
// "large" tier's broker limits are the documented config defaults; they
// do not grow with RAM, so a big box behaves like the documentation says.
//
// Badger: memtables shrink with RAM (badger's own default, 5 x 64 MiB plus
// a 256 MiB block cache, would not fit a 1 GB Pi), the value threshold
// follows badger's 15% rule, and value-log files stay small so value-log
// GC reclaims flash in small steps and a file never exceeds the default
// max_disk_bytes (256 MiB). Below 192 MiB PreferBolt is set.
func Defaults(memTotal int64) Sizing {
	tiers := sizingTiers()
	i := len(tiers) - 1
	if memTotal > 0 {
		for i > 0 && memTotal < tiers[i].minTotal {
			i--
		}
	}
	s := tiers[i].s
	if memTotal > 0 {
		s.MemLimit = memTotal / tiers[i].limitDen * tiers[i].limitNum
	}
	return s
}
