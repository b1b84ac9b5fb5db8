// Package faults is edgemq's fault suite: scenarios that break what a
// gateway on a factory wall meets (full flash, clock jumps, power cuts,
// flaky uplinks, exhausted resources, bad peers, long runs) and check that
// edgemq keeps serving, loses nothing it acknowledged, and says what is
// wrong.
//
// Each scenario is a Go test in this package that drives the real edgemq
// binary (or brokers in-process where that is the point) with real clients
// and a real upstream, and ends by calling Report with PASS/FAIL and its
// figures. `make faults` runs them all at full length and prints one line
// per scenario and a closing "N passed, M failed" (scripts/faults.sh);
// `make test` runs the same tests in their short form (a few cycles, small
// counts), selected by testing.Short() being false and EDGEMQ_FAULTS unset.
//
// Lengths: Full() reports whether EDGEMQ_FAULTS=full (make faults). The
// soak (TestSoak) runs for EDGEMQ_SOAK (make soak DURATION=1h), writing
// its samples to EDGEMQ_SOAK_OUT.csv and .png (default
// docs/soak/soak-<duration>); without EDGEMQ_SOAK it is a 12-second
// self-check of the same load, with the loss and leak checks but no trend
// verdict.
package faults
