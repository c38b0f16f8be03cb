package procfs

// ParseStat is parseStat, for the table tests of the parser.
var ParseStat = parseStat
