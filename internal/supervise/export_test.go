package supervise

// For the black-box tests (package supervise_test): names only tests need.

// Kinds lists the three kinds of worker, from the least isolated to the most: a
// goroutine in the supervisor, the supervisor binary re-executed, an external
// program (SpawnExec; SpawnForkExec is the same kind, started another way).
var Kinds = []SpawnerKind{SpawnGoroutine, SpawnReexec, SpawnExec}

// CheckCgroups is checkCgroups.
var CheckCgroups = checkCgroups

// KillMode is the kill mode Serve chose (chosenKillMode).
func (s *Supervisor) KillMode() KillMode { return s.chosenKillMode() }
