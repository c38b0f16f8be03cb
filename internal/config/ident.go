package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/supervisor/supervisor/internal/probe"
	"github.com/supervisor/supervisor/internal/supervise"
)

// Keys of the contiguous block in programKeys: identity, limits, environment
// file and instances. They are applied in endSection (user, group, env_file,
// instances) or by their setters (the rest).

// ExpandKeys are the program keys whose values get ${VAR} expansion (Expand),
// in the order endSection applies them. A key added to programKeys whose value
// is a path (a log file, say) should be listed here; keys not in programKeys
// are ignored.
var ExpandKeys = []string{"command", "directory", "environment", "env_file", "pid_file", "ready_probe", "live_probe", "stdout_log", "stderr_log"}

// rawKeys are kept as written, per section, for endSection: ExpandKeys (to be
// expanded again per instance) and the keys endSection resolves.
func isRawKey(k string) bool {
	return slices.Contains(ExpandKeys, k) || k == "user" || k == "group" || k == "instances"
}

// maxInstances bounds instances: every instance is a process and a name.
const maxInstances = 1000

// Expand replaces ${NAME} in s with lookup(NAME), ${NAME:-WORD} with WORD when
// NAME is unset or empty, and $$ with a single $. A $ followed by anything else
// is kept as is ($HOME, $1 reach the program literally). NAME is letters,
// digits and '_', not starting with a digit. A NAME that lookup does not know
// is an error, as is an unterminated ${. Expansion is textual: it happens before
// quotes and backslashes are read, so a value with spaces becomes several words
// in command unless quoted ("${DIR}").
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q (write $$ for a literal $)", s)
		}
		ref := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validVarName(name) {
			return "", fmt.Errorf("${%s}: %q is not a variable name (letters, digits and '_', not starting with a digit; write $$ for a literal $)", ref, name)
		}
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			if name == "INSTANCE" {
				return "", errors.New("${INSTANCE} is not set: it is the instance number only in a program with instances = N")
			}
			return "", fmt.Errorf("${%s}: %s is not set in the supervisor's environment (${%s:-} allows it to be unset; $${%s} is a literal ${%s})", name, name, name, name, name)
		}
		b.WriteString(v)
		i += 2 + end
	}
	return b.String(), nil
}

func validVarName(n string) bool {
	if n == "" || n[0] >= '0' && n[0] <= '9' {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !isNameByte(n[i]) {
			return false
		}
	}
	return true
}

// lookupFor is the lookup of Expand for a program: the supervisor's
// environment, and INSTANCE when instance is not "".
func lookupFor(instance string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if name == "INSTANCE" && instance != "" {
			return instance, true
		}
		return os.LookupEnv(name)
	}
}

// expandEarly expands a value of key as it is read, for its setter's syntax
// checks (endSection expands it again, per instance), and keeps the raw value
// of the keys endSection needs. INSTANCE is "0" here: whether the program has
// instances is known only at its end.
func (p *parser) expandEarly(key, val string) (string, error) {
	if p.kind != sectDefaults && p.kind != sectProgram {
		return val, nil
	}
	if key == "instances" && p.kind == sectDefaults {
		return "", errors.New("cannot be set in [defaults]: set it in the program that runs several copies")
	}
	if isRawKey(key) {
		m := &p.baseRaw
		if p.kind == sectProgram {
			m = &p.cur.raw
		}
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[key] = val
	}
	if !slices.Contains(ExpandKeys, key) {
		return val, nil
	}
	return Expand(val, lookupFor("0"))
}

// rawValue is the value key has for pr as written (its own, else
// [defaults]'), with the line and section to name in an error.
func (p *parser) rawValue(pr *program, key string) (val string, line int, section string, ok bool) {
	if v, ok := pr.raw[key]; ok {
		return v, pr.keys[key], "program:" + pr.spec.Name, true
	}
	if v, ok := p.baseRaw[key]; ok {
		return v, p.baseKeys[key], "defaults", true
	}
	return "", 0, "", false
}

// applyExpanded sets every key of ExpandKeys that pr or [defaults] sets on s
// again, expanded for instance ("" for none), then env_file over s.Env.
func (p *parser) applyExpanded(pr *program, s *supervise.Spec, instance string) error {
	s.Env = nil // set again from environment and env_file, below
	var fileEnv []string
	for _, key := range ExpandKeys {
		raw, line, section, ok := p.rawValue(pr, key)
		if !ok {
			continue
		}
		fail := func(msg string, err error) error {
			return &Error{File: p.file, Line: line, Section: section, Key: key, Msg: msg, Err: err}
		}
		v, err := Expand(raw, lookupFor(instance))
		if err != nil {
			return fail(err.Error(), nil)
		}
		if key == "env_file" {
			if fileEnv, err = readEnvFile(v); err != nil {
				return fail(err.Error(), err)
			}
			continue
		}
		if err := programKeys[key].set(s, v); err != nil {
			return fail(err.Error(), nil)
		}
	}
	if fileEnv != nil {
		s.Env = MergeEnv(fileEnv, s.Env) // environment wins over env_file
	}
	for _, ps := range []**probe.Spec{&s.ReadyProbe, &s.LiveProbe} {
		if *ps != nil {
			c := **ps
			applyProbeTiming(&c, p.baseProbe)
			applyProbeTiming(&c, pr.probe)
			*ps = &c
		}
	}
	return nil
}

// MergeEnv returns base with over's settings added, each variable once: a
// variable over sets replaces base's, in base's place (also svconf's rule for
// supervisord's environments).
func MergeEnv(base, over []string) []string {
	out := slices.Clone(base)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i := slices.IndexFunc(out, func(e string) bool { return strings.HasPrefix(e, k+"=") }); i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// resolveUser looks up user and group for pr in the user database.
func (p *parser) resolveUser(pr *program) error {
	name, line, section, ok := p.rawValue(pr, "user")
	gname, gline, gsection, gok := p.rawValue(pr, "group")
	if !ok {
		if gok {
			return &Error{File: p.file, Line: gline, Section: gsection, Key: "group", Msg: "needs user (the group a user's processes run under)"}
		}
		pr.spec.User = nil
		return nil
	}
	u, err := lookupUser(name)
	if err != nil {
		return &Error{File: p.file, Line: line, Section: section, Key: "user", Msg: err.Error(), Err: err}
	}
	if gok {
		gid, err := lookupGroup(gname)
		if err != nil {
			return &Error{File: p.file, Line: gline, Section: gsection, Key: "group", Msg: err.Error(), Err: err}
		}
		u.Gid = gid
		if !slices.Contains(u.Groups, gid) {
			u.Groups = append(u.Groups, gid)
		}
	}
	pr.spec.User = u
	return nil
}

// lookupUser finds a user by name, or by uid for a number.
func lookupUser(v string) (*supervise.User, error) {
	var u *user.User
	var err error
	if isDigits(v) {
		u, err = user.LookupId(v)
	} else {
		u, err = user.Lookup(v)
	}
	if err != nil {
		var unknownName user.UnknownUserError
		var unknownID user.UnknownUserIdError
		if errors.As(err, &unknownName) || errors.As(err, &unknownID) {
			return nil, fmt.Errorf("no user %q in the user database", v)
		}
		return nil, fmt.Errorf("look up user %q: %w", v, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q: uid %q, gid %q: not numbers", v, u.Uid, u.Gid)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("supplementary groups of user %q: %w", v, err)
	}
	su := &supervise.User{Name: u.Username, Uid: uint32(uid), Gid: uint32(gid), Home: u.HomeDir}
	for _, id := range ids {
		g, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("user %q: group id %q: not a number", v, id)
		}
		if !slices.Contains(su.Groups, uint32(g)) {
			su.Groups = append(su.Groups, uint32(g))
		}
	}
	if !slices.Contains(su.Groups, su.Gid) {
		su.Groups = append([]uint32{su.Gid}, su.Groups...)
	}
	return su, nil
}

// lookupGroup finds a group by name, or by gid for a number.
func lookupGroup(v string) (uint32, error) {
	var g *user.Group
	var err error
	if isDigits(v) {
		g, err = user.LookupGroupId(v)
	} else {
		g, err = user.LookupGroup(v)
	}
	if err != nil {
		var unknownName user.UnknownGroupError
		var unknownID user.UnknownGroupIdError
		if errors.As(err, &unknownName) || errors.As(err, &unknownID) {
			return 0, fmt.Errorf("no group %q in the group database", v)
		}
		return 0, fmt.Errorf("look up group %q: %w", v, err)
	}
	gid, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q: gid %q: not a number", v, g.Gid)
	}
	return uint32(gid), nil
}

// instances returns pr's instance count: 0 without the key.
func (p *parser) instances(pr *program) int {
	v, _, _, ok := p.rawValue(pr, "instances")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(v) // checked by its setter
	return n
}

// prepareProgram resolves pr's user and expands its keys, for the checks
// endSection makes: for the first instance, if it has instances.
func (p *parser) prepareProgram(pr *program) error {
	if err := p.resolveUser(pr); err != nil {
		return err
	}
	inst := ""
	if p.instances(pr) > 0 {
		inst = "0"
	}
	return p.applyExpanded(pr, &pr.spec, inst)
}

// appendProgram appends pr's spec, checked, to the group, or its instances'
// specs: NAME-0 .. NAME-(N-1), each with SUPERVISOR_INSTANCE=i in its
// environment and ${INSTANCE} expanded to i, each validated again.
func (p *parser) appendProgram(pr *program) error {
	n := p.instances(pr)
	if n == 0 {
		p.group.Programs = append(p.group.Programs, pr.spec)
		return nil
	}
	base := pr.spec.Name
	pr.instanceNames = nil
	for i := range n {
		no := strconv.Itoa(i)
		s := cloneSpec(pr.spec)
		s.Name = base + "-" + no
		if err := p.applyExpanded(pr, &s, no); err != nil {
			return err
		}
		s.Env = MergeEnv(s.Env, []string{"SUPERVISOR_INSTANCE=" + no})
		if err := s.Validate(); err != nil {
			// validateError finds the section by the program's name in the
			// message: the instance's, for the moment.
			pr.spec.Name = s.Name
			e := p.validateError(err)
			pr.spec.Name = base
			if e.Section == "program:"+s.Name {
				e.Section = "program:" + base
			}
			return e
		}
		p.group.Programs = append(p.group.Programs, s)
		pr.instanceNames = append(pr.instanceNames, s.Name)
	}
	return nil
}

// expandInstanceDeps makes after and requires that name a program with
// instances name all its instances.
func (p *parser) expandInstanceDeps() {
	inst := map[string][]string{}
	for _, pr := range p.programs {
		if pr.instanceNames != nil {
			inst[pr.spec.Name] = pr.instanceNames
		}
	}
	if len(inst) == 0 {
		return
	}
	expand := func(names []string) []string {
		var out []string
		for _, n := range names {
			if all, ok := inst[n]; ok {
				out = append(out, all...)
			} else {
				out = append(out, n)
			}
		}
		return out
	}
	for i := range p.group.Programs {
		s := &p.group.Programs[i]
		s.After, s.Requires = expand(s.After), expand(s.Requires)
	}
}

// The setters of the block's keys.

func checkUserName(kind string) func(*supervise.Spec, string) error {
	return func(_ *supervise.Spec, v string) error {
		if strings.ContainsAny(v, " \t:,") {
			return fmt.Errorf("%q is not a %s name or number", v, kind)
		}
		return nil // looked up by endSection
	}
}

func setUmask(s *supervise.Spec, v string) error {
	m, err := strconv.ParseUint(v, 8, 32)
	if err != nil || m > 0o777 {
		return fmt.Errorf("%q is not an octal umask (000-777, as 022)", v)
	}
	u := uint32(m)
	s.Limits.Umask = &u
	return nil
}

func rlimitField(key string) field {
	res := supervise.RlimitKeys[key]
	return field{set: func(s *supervise.Spec, v string) error {
		cur, max, err := parseRlimit(v)
		if err != nil {
			return err
		}
		l := slices.DeleteFunc(slices.Clone(s.Limits.Rlimits), func(r supervise.Rlimit) bool { return r.Resource == res })
		s.Limits.Rlimits = append(l, supervise.Rlimit{Resource: res, Cur: cur, Max: max})
		return nil
	}}
}

// parseRlimit reads N, unlimited, or SOFT:HARD (each N or unlimited).
func parseRlimit(v string) (cur, max uint64, err error) {
	one := func(s string) (uint64, error) {
		if s == "unlimited" || s == "infinity" {
			return supervise.Unlimited, nil
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == math.MaxUint64 {
			return 0, fmt.Errorf("%q is not a limit (a whole number, unlimited, or SOFT:HARD)", v)
		}
		return n, nil
	}
	soft, hard, pair := strings.Cut(v, ":")
	if cur, err = one(soft); err != nil {
		return 0, 0, err
	}
	if !pair {
		return cur, cur, nil
	}
	if max, err = one(hard); err != nil {
		return 0, 0, err
	}
	if cur > max {
		return 0, 0, fmt.Errorf("%q: the soft limit is above the hard limit", v)
	}
	return cur, max, nil
}

func signedField(lo, hi int, ptr func(*supervise.Spec) **int) field {
	return field{set: func(s *supervise.Spec, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is not between %d and %d", n, lo, hi)
		}
		*ptr(s) = &n
		return nil
	}}
}

func checkInstances(_ *supervise.Spec, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxInstances {
		return fmt.Errorf("%q: want a whole number from 1 to %d", v, maxInstances)
	}
	return nil
}

func checkEnvFile(_ *supervise.Spec, v string) error {
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, `'`) {
		return fmt.Errorf("%q: quotes are not processed in env_file; write the path without them", v)
	}
	return nil // read by endSection
}

// LookupUser finds a user as the user key does: by name, or by uid for a
// number, with the supplementary groups of the group database and the home
// directory. An unknown user is an error saying so. For package svconf.
func LookupUser(v string) (*supervise.User, error) { return lookupUser(v) }

// LookupGroup finds a group's gid as the group key does: by name, or by gid
// for a number. For package svconf.
func LookupGroup(v string) (uint32, error) { return lookupGroup(v) }
