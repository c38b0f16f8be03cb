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

// SetLightSpawnMinFds sets the number of fds from which r forks through the
// light spawner (0: always, -1: never) and returns the number it replaced.
func (r *Reaper) SetLightSpawnMinFds(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.lightMin
	r.lightMin = n
	return old
}

// LightSpawns is how many processes r forked through the light spawner.
func (r *Reaper) LightSpawns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lightSpawns
}

// LightSpawnerErr is why r's light spawner cannot work here (unshare or
// pidfd_getfd refused), once it was tried; nil otherwise.
func (r *Reaper) LightSpawnerErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.light == nil {
		return nil
	}
	return r.light.err
}
